/* suites.h - one libcheck suite per module; check_main.c runs them all. */
#ifndef MSRPLOAD_TESTS_SUITES_H
#define MSRPLOAD_TESTS_SUITES_H

#include <check.h>

Suite *make_parser_suite(void);
Suite *make_uri_suite(void);
Suite *make_values_suite(void);
Suite *make_writer_suite(void);
Suite *make_roundtrip_suite(void);
Suite *make_cli_suite(void);
Suite *make_tls_suite(void);
Suite *make_loop_suite(void);
Suite *make_reasm_suite(void);
Suite *make_session_suite(void);
Suite *make_run_suite(void);
Suite *make_pending_suite(void);
Suite *make_skips_suite(void);
Suite *make_serve_suite(void);
Suite *make_conn_suite(void);
Suite *make_histogram_suite(void);
Suite *make_scenario_suite(void);
TCase *make_scenario_ws_tcase(void); /* check_scenario_ws.c, in the scenario suite */
Suite *make_plot_suite(void);
Suite *make_report_suite(void);
Suite *make_digest_suite(void);
Suite *make_relay_suite(void);
Suite *make_relay_run_suite(void);
Suite *make_relay_ws_suite(void);
Suite *make_relay_ws_run_suite(void);
Suite *make_conform_suite(void);
Suite *make_conform_ws_suite(void);
Suite *make_conform_report_suite(void);
Suite *make_report_html_suite(void);
Suite *make_faults_suite(void);
Suite *make_serve_limits_suite(void);
Suite *make_failures_suite(void);
Suite *make_serve_rules_suite(void);
Suite *make_conform_listen_suite(void);
Suite *make_conform_listen_relay_suite(void);
Suite *make_ws_suite(void);
Suite *make_ws_frame_suite(void);
Suite *make_prom_suite(void);
Suite *make_metrics_suite(void);
Suite *make_sdp_msrp_suite(void);
Suite *make_sip_msg_suite(void);
Suite *make_sip_txn_suite(void);
Suite *make_sip_ua_suite(void);
Suite *make_sip_ua_bye_suite(void); /* check_sip_ua_bye.c: the answerer's BYE held until the ACK */
TCase *make_sip_ua_reg_tcase(void); /* check_sip_ua_reg.c, in the sip_ua suite */
Suite *make_sip_dialog_suite(void);
Suite *make_stages_suite(void);
Suite *make_capacity_suite(void);
TCase *make_capacity_run_tcase(void);   /* check_capacity_run.c, in the capacity suite */
TCase *make_capacity_relay_tcase(void); /* the same, through the scripted Kamailio relay */
Suite *make_shards_suite(void);
Suite *make_cpim_suite(void);
Suite *make_file_transfer_suite(void); /* check_file_transfer.c: send.file */
TCase *make_cpim_run_tcase(void); /* check_cpim_run.c, in the cpim suite */
Suite *make_distrib_suite(void);
Suite *make_churn_suite(void);
Suite *make_data_suite(void);
Suite *make_relay_state_suite(void);
Suite *make_sip_peers_suite(void); /* check_sip_peers.c: Kamailio proxy + SIPp peers */
Suite *make_serve_sip_suite(void); /* check_serve_sip.c: serve --sip called by SIPp */
Suite *make_serve_sip_calls_suite(void); /* check_serve_sip_calls.c: serve --sip called by a raw SIP caller */
Suite *make_sip_run_suite(void);   /* check_sip_run.c: run --sip-proxy through Kamailio */
Suite *make_sip_bench_suite(void); /* check_sip_bench.c: bench sip_calls, SIP_SHM_MB */
Suite *make_conform_sip_suite(void); /* check_conform_sip.c: conform --sip-target vs SIPp */
Suite *make_sip_interop_suite(void); /* check_sip_interop.c: run --sip-target, serve --sip, SIPp */

#endif
