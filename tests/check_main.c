/*
 * check_main.c - runs every suite. CK_RUN_SUITE=<name> / CK_RUN_CASE=<name> select a part,
 * CK_FORK=no runs in-process (needed under sanitizers and valgrind).
 */
#include <signal.h>
#include <stdlib.h>

#include "suites.h"

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as msrpload itself does: closed peers fail writes instead */
    SRunner *sr = srunner_create(make_parser_suite());
    srunner_add_suite(sr, make_uri_suite());
    srunner_add_suite(sr, make_values_suite());
    srunner_add_suite(sr, make_writer_suite());
    srunner_add_suite(sr, make_roundtrip_suite());
    srunner_add_suite(sr, make_cli_suite());
    srunner_add_suite(sr, make_loop_suite());
    srunner_add_suite(sr, make_tls_suite());
    srunner_add_suite(sr, make_reasm_suite());
    srunner_add_suite(sr, make_session_suite());
    srunner_add_suite(sr, make_pending_suite());
    srunner_add_suite(sr, make_run_suite());
    srunner_add_suite(sr, make_serve_suite());
    srunner_add_suite(sr, make_conn_suite());
    srunner_add_suite(sr, make_histogram_suite());
    srunner_add_suite(sr, make_scenario_suite());
    srunner_add_suite(sr, make_plot_suite());
    srunner_add_suite(sr, make_report_suite());
    srunner_add_suite(sr, make_digest_suite());
    srunner_add_suite(sr, make_relay_suite());
    srunner_add_suite(sr, make_relay_run_suite());
    srunner_add_suite(sr, make_conform_suite());
    srunner_add_suite(sr, make_faults_suite());
    srunner_add_suite(sr, make_failures_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    int run = srunner_ntests_run(sr);
    srunner_free(sr);
    /* A run that executed nothing is a broken selection, not a success. */
    return (failed == 0 && run > 0) ? EXIT_SUCCESS : EXIT_FAILURE;
}
