/*
 * fake_relay.h - a small RFC 4976 relay for the conformance tests, run in a child process.
 *
 * It is just enough of a relay for the 4976-* cases of scenarios/conformance to pass: digest
 * AUTH (users alice/alice-secret and bob/bob-secret, realm "msrpload.test"), Use-Path and
 * Expires (Use-Path URIs named relay.msrpload.test:PORT, RFC 4976 4.2), Authentication-Info
 * on the 200 to AUTH (9.1), 423 below Expires 30, 403 before AUTH, 481 for unknown sessions,
 * relaying between its authenticated clients with the paths rewritten (a client's relay URI
 * only from its own connection, 6.3), hop-by-hop 200s, unparseable or misaddressed responses
 * dropped (6.4.3), a 408 REPORT after 30 s without a response (6.4.1), and a failure REPORT
 * to the sender when the far end refuses a chunk that asked for one.
 *
 * violation breaks exactly one of those rules (NULL or "" for none), so that each relay case
 * can be shown to fail: "relay-without-auth", "keep-malformed-open", "no-481",
 * "respond-fr-no", "answer-report", "accept-bad-password", "no-qop", "no-423",
 * "no-use-path", "keep-from-path", "drop-reports", "no-failure-report", "no-challenge",
 * "accept-basic", "offer-auth-int", "no-authentication-info", "ip-use-path",
 * "any-connection-uri", "response-to-far-path", "merge-message-ids", "flags-all-end",
 * "forward-bad-response", "mangle-binary", "numeric-large-end", "no-408",
 * "take-misaddressed-response"
 * (scenarios/conformance/README.md says what each does). "report-refusals" is no violation
 * but another right way: a SEND it will not forward (no AUTH yet, unknown session) gets a 200
 * and then a failure REPORT (RFC 4976 6.4.1) instead of an error response; "close-refusals"
 * closes the connection instead (RFC 7977 5.3.1 asks only that such a connection be refused).
 */
#ifndef MSRPLOAD_TESTS_FAKE_RELAY_H
#define MSRPLOAD_TESTS_FAKE_RELAY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* True when name is one of the violations above. */
bool fake_relay_known_violation(const char *name);

/*
 * Listens on 127.0.0.1 (a kernel-chosen port, written to *port) and serves in a forked child
 * until fake_relay_stop. Returns the child's pid, or -1.
 */
pid_t fake_relay_start(const char *violation, uint16_t *port);
/*
 * The same over WebSocket (RFC 7977), for the 7977-* cases: each connection is upgraded (101
 * with subprotocol msrp and, for a request with Origin, Access-Control-Allow-Origin), client
 * frames text or binary are read as bytes and fragments put together, each chunk it sends is
 * one binary message. Its own violations: "ws-no-msrp-101", "ws-split-chunks" (each chunk in
 * two messages), "ws-refuse-text" (a text frame closes the connection), "ws-refuse-binary-send"
 * (so does a binary frame holding a SEND), "ws-refuse-bodiless" (400 to a bodiless SEND),
 * "ws-no-fragments" (a frame without FIN or a continuation closes it), "ws-no-cors".
 */
pid_t fake_relay_start_ws(const char *violation, uint16_t *port);
void fake_relay_stop(pid_t pid);

#endif
