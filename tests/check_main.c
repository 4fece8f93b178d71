/*
 * check_main.c - runs every suite. CK_RUN_SUITE=<name> / CK_RUN_CASE=<name> select a part,
 * CK_FORK=no runs in-process (needed under sanitizers and valgrind). Ends with the skipped
 * tests and their reasons, then the line "N passed, N failed, N skipped" (passed leaves the
 * skipped ones out; CI reads that line).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "suites.h"
#include "testutil.h"

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
    srunner_add_suite(sr, make_relay_ws_suite());
    srunner_add_suite(sr, make_relay_ws_run_suite());
    srunner_add_suite(sr, make_conform_suite());
    srunner_add_suite(sr, make_conform_ws_suite());
    srunner_add_suite(sr, make_conform_report_suite());
    srunner_add_suite(sr, make_report_html_suite());
    srunner_add_suite(sr, make_faults_suite());
    srunner_add_suite(sr, make_serve_limits_suite());
    srunner_add_suite(sr, make_failures_suite());
    srunner_add_suite(sr, make_serve_rules_suite());
    srunner_add_suite(sr, make_conform_listen_suite());
    srunner_add_suite(sr, make_conform_listen_relay_suite());
    srunner_add_suite(sr, make_ws_suite());
    srunner_add_suite(sr, make_ws_frame_suite());
    srunner_add_suite(sr, make_prom_suite());
    srunner_add_suite(sr, make_metrics_suite());
    srunner_add_suite(sr, make_sdp_msrp_suite());
    srunner_add_suite(sr, make_sip_msg_suite());
    srunner_add_suite(sr, make_sip_txn_suite());
    srunner_add_suite(sr, make_sip_ua_suite());
    srunner_add_suite(sr, make_sip_ua_bye_suite());
    srunner_add_suite(sr, make_sip_dialog_suite());
    srunner_add_suite(sr, make_sip_peers_suite());
    srunner_add_suite(sr, make_sip_run_suite());
    srunner_add_suite(sr, make_sip_bench_suite());
    srunner_add_suite(sr, make_conform_sip_suite());
    srunner_add_suite(sr, make_sip_interop_suite());
    srunner_add_suite(sr, make_cpim_suite());
    srunner_add_suite(sr, make_file_transfer_suite());
    srunner_add_suite(sr, make_skips_suite());
    srunner_add_suite(sr, make_stages_suite());
    srunner_add_suite(sr, make_distrib_suite());
    srunner_add_suite(sr, make_data_suite());
    srunner_add_suite(sr, make_capacity_suite());
    srunner_add_suite(sr, make_shards_suite());
    srunner_add_suite(sr, make_churn_suite());
    srunner_add_suite(sr, make_relay_state_suite());
    srunner_add_suite(sr, make_serve_sip_suite());
    srunner_add_suite(sr, make_serve_sip_calls_suite());
    test_skips_init(); /* before any test is forked, so that every child shares it */
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    int run = srunner_ntests_run(sr);
    srunner_free(sr);
    /* A skipped test returned early, so libcheck counted it among the passes. */
    int skipped = (int)test_skips_count();
    int passed = run - failed - skipped;
    fflush(stdout);
    test_skips_print(stdout);
    printf("%d passed, %d failed, %d skipped\n", passed < 0 ? 0 : passed, failed, skipped);
    fflush(stdout);
    /* A run that executed nothing is a broken selection, not a success. */
    return (failed == 0 && run > 0) ? EXIT_SUCCESS : EXIT_FAILURE;
}
