/* check_writer.c - placeholder until the writer tests land (being written now). */
#include "suites.h"

Suite *make_writer_suite(void)
{
    return suite_create("writer");
}
