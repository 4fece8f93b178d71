/* check_values.c - placeholder until the values tests land (being written now). */
#include "suites.h"

Suite *make_values_suite(void)
{
    return suite_create("values");
}
