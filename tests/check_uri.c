/* check_uri.c - placeholder until the uri tests land (being written now). */
#include "suites.h"

Suite *make_uri_suite(void)
{
    return suite_create("uri");
}
