/* check_roundtrip.c - placeholder until the roundtrip tests land (being written now). */
#include "suites.h"

Suite *make_roundtrip_suite(void)
{
    return suite_create("roundtrip");
}
