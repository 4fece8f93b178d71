/*
 * check_scenario_ws.c - the scenario layer's WebSocket transports (a tcase of the "scenario"
 * suite): topology.transport ws and wss, the relay's per-end caller_transport and
 * answerer_transport, the relay's WebSocket address in its ws://, wss:// and ";ws" forms
 * (RFC 7977 5.2.1), and the options over them (--transport, --caller-transport,
 * --answerer-transport, --relay, --relay-ws) with the messages that name them. The loader's
 * one-line refusals of these keys are rows of check_scenario.c's table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario/scenario.h"
#include "suites.h"
#include "testutil.h"

#define ERR_CAP 2048
#define STEPS "\"steps\":[{\"send\":{}}]"

static struct scenario *load_ok(const char *path)
{
    struct scenario *sc = calloc(1, sizeof *sc);
    char err[ERR_CAP];
    ck_assert_ptr_nonnull(sc);
    ck_assert_msg(scenario_load(path, sc, err, sizeof err) == 0, "%s", err);
    return sc;
}

static void unload(struct scenario *sc)
{
    scenario_free(sc);
    free(sc);
}

START_TEST(test_shipped_relay_ws)
{
    struct scenario *sc = load_ok("scenarios/relay-ws.json");
    ck_assert_str_eq(sc->name, "relay-ws");
    ck_assert_int_eq(sc->topology, SCENARIO_RELAY);
    ck_assert_int_eq(sc->transport, SCENARIO_WS);
    ck_assert_int_eq(sc->end_transport[SCENARIO_CALLER], SCENARIO_WS);
    ck_assert_int_eq(sc->end_transport[SCENARIO_ANSWERER], SCENARIO_WS);
    ck_assert(!sc->tls);
    ck_assert(sc->answer_check_sha256);
    ck_assert_str_eq(sc->relay.uri, "");
    ck_assert_str_eq(sc->relay.ws_uri, ""); /* given with --relay */
    /* chunks far below Kamailio's 11,238-byte frame limit (tools/relay/README.md) */
    ck_assert_uint_eq(sc->steps[1].u.send.chunk_size, 4096);
    unload(sc);
}
END_TEST

/* A file with the relay's WebSocket address given both ways, and the ends apart. */
START_TEST(test_relay_ws_keys)
{
    static const char text[] =
        "{\"name\":\"n\",\"topology\":{\"kind\":\"relay\",\"transport\":\"tls\","
        "\"caller_transport\":\"wss\",\"ca_file\":\"ca.pem\",\"relay\":{\"uri\":"
        "\"msrps://r.example:2856;tcp\",\"ws_uri\":\"wss://r.example/msrp?x=1\","
        "\"user\":\"u\"}}," STEPS "}";
    struct scenario *sc = calloc(1, sizeof *sc);
    char err[ERR_CAP];
    ck_assert_msg(scenario_parse("t.json", text, strlen(text), sc, err, sizeof err) == 0, "%s",
                  err);
    ck_assert_int_eq(sc->end_transport[SCENARIO_CALLER], SCENARIO_WSS);
    ck_assert_int_eq(sc->end_transport[SCENARIO_ANSWERER], SCENARIO_TLS);
    ck_assert(sc->tls);
    ck_assert_str_eq(sc->relay.ws_uri, "wss://r.example/msrp?x=1");
    ck_assert_str_eq(sc->relay.ws_msrp_uri, "msrps://r.example:443;ws");
    ck_assert_str_eq(sc->relay.ws_path, "/msrp?x=1");
    ck_assert(sc->relay.ws_secure && sc->relay.ws_parsed_ok);
    ck_assert_uint_eq(sc->relay.ws_parsed.port, 443);
    struct scenario_overrides o;
    scenario_overrides_init(&o);
    ck_assert_int_eq(scenario_apply_overrides(sc, &o, err, sizeof err), 0);
    scenario_free(sc);
    free(sc);
}
END_TEST

/* The command line's transports and relay addresses over a relay scenario; "" = accepted. */
static const struct {
    const char *opts[8];
    const char *want; /* part of the message, or "" */
    enum scenario_transport caller, answerer;
} transport_options[] = {
    {{"--relay", "ws://127.0.0.1:8080/chat"}, "", SCENARIO_WS, SCENARIO_WS},
    {{"--relay", "wss://[::1]"}, "", SCENARIO_WSS, SCENARIO_WSS},
    {{"--relay", "msrps://127.0.0.1:9;ws"}, "", SCENARIO_WSS, SCENARIO_WSS},
    {{"--relay", "msrp://127.0.0.1:1;tcp", "--relay-ws", "msrp://127.0.0.1:2;ws",
      "--caller-transport", "ws"}, "", SCENARIO_WS, SCENARIO_TCP},
    {{"--relay", "ws://127.0.0.1:2/", "--relay-ws", "ws://127.0.0.1:3/"},
     "both are WebSocket addresses", 0, 0},
    {{"--relay", "msrp://127.0.0.1:1;tcp", "--caller-transport", "ws"},
     "the calling end's transport is ws (--caller-transport, topology.caller_transport): it "
     "needs the relay's WebSocket address: --relay ws://HOST:PORT/PATH, or --relay-ws URI", 0, 0},
    {{"--relay", "ws://127.0.0.1:2/", "--answerer-transport", "tcp"},
     "it needs the relay's TCP address: --relay msrp://HOST:PORT;tcp", 0, 0},
    {{"--relay", "ws://127.0.0.1:2/", "--caller-transport", "wss"},
     "the relay's WebSocket address ws://127.0.0.1:2/ is ws (no TLS)", 0, 0},
    {{"--relay", "msrp://127.0.0.1:1;tcp", "--relay-ws", "msrp://127.0.0.1:2;tcp"},
     "--relay-ws msrp://127.0.0.1:2;tcp: expected ws://HOST:PORT/PATH", 0, 0},
    {{"--relay", "ws://127.0.0.1:0/"}, "--relay ws://127.0.0.1:0/: the port must be 1..65535",
     0, 0},
    {{"--relay", "ws://u@h/"}, "a host, no user", 0, 0},
    {{"--transport", "quic"}, "--transport takes tcp, tls, ws or wss, got 'quic'", 0, 0},
    {{"--relay", "msrp://127.0.0.1:1;tcp", "--transport", "ws"},
     "the calling end's transport is ws (--transport, topology.transport)", 0, 0},
};

START_TEST(test_transport_options)
{
    static const char text[] =
        "{\"name\":\"n\",\"topology\":{\"kind\":\"relay\",\"relay\":{\"user\":\"u\"}},"
        STEPS "}";
    struct scenario *sc = calloc(1, sizeof *sc);
    char err[ERR_CAP] = "";
    ck_assert_int_eq(scenario_parse("t.json", text, strlen(text), sc, err, sizeof err), 0);
    struct scenario_overrides o;
    scenario_overrides_init(&o);
    int rc = 0;
    for (unsigned k = 0; k < 8 && transport_options[_i].opts[k] != NULL && rc >= 0; k += 2)
        rc = scenario_override_option(&o, transport_options[_i].opts[k],
                                      transport_options[_i].opts[k + 1], err, sizeof err);
    if (rc >= 0)
        rc = scenario_apply_overrides(sc, &o, err, sizeof err);
    const char *want = transport_options[_i].want;
    if (want[0] == '\0') {
        ck_assert_msg(rc >= 0, "case %d refused: %s", _i, err);
        ck_assert_int_eq(sc->end_transport[SCENARIO_CALLER], transport_options[_i].caller);
        ck_assert_int_eq(sc->end_transport[SCENARIO_ANSWERER], transport_options[_i].answerer);
    } else {
        ck_assert_msg(rc < 0, "case %d accepted", _i);
        ck_assert_msg(strstr(err, want) != NULL, "case %d:\n got: %s\nwant: ...%s...", _i, err,
                      want);
    }
    if (_i == 0) {
        ck_assert_str_eq(sc->relay.ws_msrp_uri, "msrp://127.0.0.1:8080;ws");
        ck_assert_str_eq(sc->relay.ws_path, "/chat");
        ck_assert(!sc->tls);
    }
    if (_i == 1) {
        ck_assert_str_eq(sc->relay.ws_msrp_uri, "msrps://[::1]:443;ws");
        ck_assert(sc->tls);
    }
    scenario_free(sc);
    free(sc);
}
END_TEST

TCase *make_scenario_ws_tcase(void)
{
    TCase *tc = tcase_create("WebSocket");
    tcase_add_test(tc, test_shipped_relay_ws);
    tcase_add_test(tc, test_relay_ws_keys);
    tcase_add_loop_test(tc, test_transport_options, 0,
                        (int)(sizeof(transport_options) / sizeof(transport_options[0])));
    return tc;
}
