/* check_cli.c - placeholder until the cli tests land (being written now). */
#include "suites.h"

Suite *make_cli_suite(void)
{
    return suite_create("cli");
}
