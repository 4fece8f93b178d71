/*
 * check_conform_sip.c - `msrpload conform --sip-target` (the SIP offer/answer cases, needs
 * "sip") against real SIPp answerers: tests/sip/uas-conform.xml answers as RFC 4975 section 8
 * and RFC 6714 section 4.3 ask, and each bad answerer is that file with one piece replaced (a
 * line of its SDP left out or changed, a branch of its logic cut), so that exactly the case of
 * that piece's sentence gets the verdict its keyword calls for and every other case keeps its
 * good verdict. Also: the exit codes (0, 1, 2 for usage errors and a case file naming no check,
 * 3 with no answerer), --strict with a SHOULD, TAP / JUnit / JSON output, and the same cases
 * through the scripted Kamailio proxy (tools/sip). Without SIPp (or Kamailio for that test) a
 * test is a visible skip (a failure under REQUIRE_SIP=1). Every wait is bounded: conform's own
 * (10 s per final response) and SIPp's.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sip_testutil.h"
#include "suites.h"
#include "testutil.h"

#define GOOD_UAS "tests/sip/uas-conform.xml"
#define NCASES 19

/* A change to the good answerer: every `from` replaced by `to`. */
struct edit {
    const char *from, *to;
};

/* One answerer and the verdicts its run should give: the good verdict of every case but the
 * listed ones. */
struct variant {
    const char *name;
    struct edit edits[4];
    const char *changed[5][2]; /* case id, verdict */
    int exit_code;
};

/* The good answerer's verdicts: it uses no relay, so the two cases about an answerer's relay
 * are skipped (RELAY_EDITS make it answer through one). */
static const char *good_verdict(const char *id)
{
    if (strcmp(id, "6714-4.3/cema-relay-answer") == 0 ||
        strcmp(id, "6714-4.3/no-cema-both-relays") == 0)
        return "skip";
    return "pass";
}

/* The answerer with a relay: a path of two URIs (the relay first), c=/m= the endpoint's
 * (RFC 4976's examples) but in the CEMA answer, where they are the relay's (RFC 6714 4.3). */
#define RELAY_EDITS                                                                              \
    {"m=message [msrp_port] TCP/MSRP *\n"                                                        \
     "      a=path:msrp://[local_ip]:[msrp_port]/u[pid]x[call_number];tcp\n"                     \
     "      a=accept-types:text/plain message/cpim\n      a=msrp-cema",                          \
     "m=message 2855 TCP/MSRP *\n"                                                               \
     "      a=path:msrp://[local_ip]:[msrp_port]/u[pid]x[call_number];tcp\n"                     \
     "      a=accept-types:text/plain message/cpim\n      a=msrp-cema"},                         \
        {"a=path:msrp://[local_ip]:[msrp_port]/",                                                \
         "a=path:msrp://[local_ip]:2855/relay;tcp msrp://[local_ip]:[msrp_port]/"}
#define RELAY_CHANGED                                                                            \
    {"6714-4.3/cema-answer-setup", "skip"}, {"6714-4.3/cema-relay-answer", "pass"},               \
        {"6714-4.3/no-cema-both-relays", "pass"}

static const struct variant VARIANTS[] = {
    {"good", {{NULL, NULL}}, {{NULL, NULL}}, 0},
    {"no-path",
     {{"      a=path:msrp://[local_ip]:[msrp_port]/u[pid]x[call_number];tcp\n", ""}},
     {{"4975-8.2/answer-path", "fail"},
      {"4975-8.1/answer-c-line-path-host", "unobservable"},
      {"4975-8.1/answer-port-matches-path", "unobservable"},
      {"4975-8.2/answer-path-explicit-port", "unobservable"},
      {"4975-8.2/answer-path-unique", "unobservable"}},
     1},
    {"no-accept-types",
     {{"      a=accept-types:text/plain message/cpim\n      a=accept-wrapped",
       "      a=accept-wrapped"}},
     {{"4975-8.6/answer-accept-types", "fail"}},
     1},
    {"media-text", {{"m=message [msrp_port] TCP/MSRP *", "m=text [msrp_port] TCP/MSRP *"}},
     {{"4975-8.1/answer-media-message", "fail"}}, 1},
    {"protocol", {{" TCP/MSRP *", " TCP/MSRPX *"}}, {{"4975-8.1/answer-protocol", "fail"}}, 1},
    {"format", {{"MSRP *\n", "MSRP text/plain\n"}}, {{"4975-8.1/answer-format-star", "fail"}}, 1},
    {"tls-as-tcp", {{"TCP/TLS/MSRP *", "TCP/MSRP *"}},
     {{"4975-8.1/answer-tls-protocol", "fail"}}, 1},
    {"port-mismatch", {{"m=message [msrp_port]", "m=message 9"}},
     {{"4975-8.1/answer-port-matches-path", "fail"}}, 1},
    {"c-mismatch", {{"c=IN IP4 [local_ip]", "c=IN IP4 127.0.0.9"}},
     {{"4975-8.1/answer-c-line-path-host", "fail"}}, 1},
    {"path-no-port", {{"msrp://[local_ip]:[msrp_port]/", "msrp://[local_ip]/"}},
     {{"4975-8.2/answer-path-explicit-port", "fail"},
      {"4975-8.1/answer-port-matches-path", "unobservable"}},
     1},
    {"same-uri", {{"u[pid]x[call_number]", "u[pid]"}}, {{"4975-8.2/answer-path-unique", "fail"}},
     1},
    {"no-decline", {{"m=x-msrpload-none 0 ", "m=x-msrpload-none 9 "}},
     {{"4975-8.1/decline-line-port-zero", "fail"}}, 1},
    /* SHOULDs: non-strict, which fails the run only under --strict */
    {"wrapped-repeat", {{"a=accept-wrapped-types:text/html", "a=accept-wrapped-types:text/plain"}},
     {{"4975-8.6/answer-wrapped-not-repeated", "non-strict"}}, 0},
    /* every type taken: accepting the stream shows nothing of not understanding the type */
    {"takes-unknown", {{"a=accept-types:[^\\r\\n]*(text/plain|\\*)", "a=accept-types:()"}},
     {{"4975-8.6/488-no-understood-type", "unobservable"}}, 0},
    /* RFC 6714 */
    {"cema-no-setup", {{"      a=setup:passive\n", ""}},
     {{"6714-4.3/cema-answer-setup", "fail"}}, 1},
    {"cema-to-relay", {{"a=path:[^\\r\\n ]+ [^\\r\\n]", "a=path:NEVER"}},
     {{"6714-4.3/no-cema-offerer-relay-active", "fail"}}, 1},
    {"takes-middlebox",
     {{"  <nop next=\"refuse\"/>\n  <label id=\"routed\"/>", "  <label id=\"routed\"/>"}},
     {{"6714-4.3/reject-middlebox-offer", "fail"}}, 1},
    /* an answerer that uses a relay, and two that break RFC 6714's rules for one */
    {"relay", {RELAY_EDITS}, {RELAY_CHANGED}, 0},
    {"relay-active", {RELAY_EDITS, {"a=setup:passive", "a=setup:active"}},
     {{"6714-4.3/cema-answer-setup", "skip"},
      {"6714-4.3/cema-relay-answer", "fail"},
      {"6714-4.3/no-cema-both-relays", "pass"}},
     1},
    /* falls back for an active relayed offerer only, so CEMA with both ends relayed */
    {"relay-both-cema", {RELAY_EDITS, {"a=path:[^\\r\\n ]+ [^\\r\\n]", "a=setup:active"}},
     {{"6714-4.3/cema-answer-setup", "skip"},
      {"6714-4.3/cema-relay-answer", "pass"},
      {"6714-4.3/no-cema-both-relays", "fail"}},
     1},
    /* without CEMA support: info where RFC 6714 binds only CEMA-enabled answerers */
    {"no-cema", {{"      a=msrp-cema\n", ""}},
     {{"6714-4.3/answer-msrp-cema", "info"},
      {"6714-4.3/cema-answer-setup", "skip"},
      {"6714-4.3/reject-middlebox-offer", "skip"}},
     0},
};

/* The text of base with edits, each of which must apply. */
static char *edited_from(const char *base, const char *name, const struct edit *edits)
{
    char *text = test_read_text(base);
    ck_assert_ptr_nonnull(text);
    for (size_t e = 0; e < 4 && edits[e].from != NULL; e++) {
        const char *from = edits[e].from, *to = edits[e].to;
        size_t fl = strlen(from), tl = strlen(to), hits = 0;
        for (const char *p = strstr(text, from); p != NULL; p = strstr(p + fl, from))
            hits++;
        ck_assert_msg(hits > 0, "%s: '%s' is not in %s", name, from, base);
        char *out = malloc(strlen(text) + hits * tl + 1);
        ck_assert_ptr_nonnull(out);
        char *o = out;
        const char *p = text;
        for (const char *q = strstr(p, from); q != NULL; q = strstr(p, from)) {
            memcpy(o, p, (size_t)(q - p));
            o += q - p;
            memcpy(o, to, tl);
            o += tl;
            p = q + fl;
        }
        strcpy(o, p);
        free(text);
        text = out;
    }
    return text;
}

/* The good answerer's text with v's edits. */
static char *edited(const struct variant *v)
{
    return edited_from(GOOD_UAS, v->name, v->edits);
}

/* Starts SIPp with the answerer text on a free port (UDP, or TCP with tcp; the text written
 * to dir). Returns the port. */
static uint16_t start_uas_on(struct test_sipp *p, const struct tmp *t, const char *text, bool tcp)
{
    char file[600], msrp_port[16], port_s[16];
    snprintf(file, sizeof file, "%s/uas.xml", t->dir);
    test_write_text(file, text);
    uint16_t port = test_sip_free_port(), mport = test_sip_free_port();
    ck_assert(port != 0 && mport != 0);
    snprintf(port_s, sizeof port_s, "%u", (unsigned)port);
    snprintf(msrp_port, sizeof msrp_port, "%u", (unsigned)mport);
    const char *args[] = {"-sf", file, "-key", "msrp_port", msrp_port, "-i", "127.0.0.1", "-p",
                          port_s, "-t", tcp ? "t1" : "u1", "-timeout", "300s", "-nostdin",
                          NULL};
    test_sipp_start(p, t->dir, args);
    ck_assert_msg(test_sipp_wait_bound(port, tcp), "SIPp did not bind port %u", port);
    return port;
}

/* A test's temporary directory t, and SIPp in it answering as variant v (over TCP with tcp):
 * the port it listens on. */
static uint16_t variant_uas(struct test_sipp *p, struct tmp *t, const struct variant *v, bool tcp)
{
    tmp_make(t);
    char *text = edited(v);
    uint16_t port = start_uas_on(p, t, text, tcp);
    free(text);
    return port;
}

/* Runs conform with extra options; returns its exit code, its standard output in *out. */
static int conform(const struct tmp *t, const char *extra, char **out)
{
    char cmd[2048], path[600];
    snprintf(path, sizeof path, "%s/out.txt", t->dir);
    snprintf(cmd, sizeof cmd, "%s conform %s > %s 2>&1", msrpload_binary(), extra, path);
    int rc = test_run_shell(cmd);
    *out = test_read_text(path);
    ck_assert_ptr_nonnull(*out);
    return rc;
}

/* The verdict of each case in a --json file, checked against v. */
static void check_json(const char *path, const struct variant *v, const char *output)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    ck_assert_msg(root != NULL, "%s: %s\n%s", path, je.text, output);
    json_t *cases = json_object_get(root, "cases");
    ck_assert_uint_eq(json_array_size(cases), NCASES);
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        const char *id = json_string_value(json_object_get(c, "id"));
        const char *got = json_string_value(json_object_get(c, "result"));
        ck_assert(id != NULL && got != NULL);
        const char *want = good_verdict(id);
        for (size_t k = 0; k < 5 && v->changed[k][0] != NULL; k++)
            if (strcmp(v->changed[k][0], id) == 0)
                want = v->changed[k][1];
        ck_assert_msg(strcmp(got, want) == 0, "%s: %s is %s (%s), expected %s\n%s", v->name, id,
                      got, json_string_value(json_object_get(c, "observed")), want, output);
    }
    json_decref(root);
}

/* One answerer: every SIP case against it, each verdict as the variant says. */
START_TEST(answerers)
{
    const struct variant *v = &VARIANTS[_i];
    char test[96];
    snprintf(test, sizeof test, "conform_sip answerer %s", v->name);
    if (test_sipp_skip(test))
        return;
    struct tmp t;
    struct test_sipp p;
    uint16_t port = variant_uas(&p, &t, v, false);
    char extra[1200], *out = NULL;
    snprintf(extra, sizeof extra, "--sip-target sip:answer@127.0.0.1:%u --json %s/r.json",
             (unsigned)port, t.dir);
    int rc = conform(&t, extra, &out);
    char json[600];
    snprintf(json, sizeof json, "%s/r.json", t.dir);
    check_json(json, v, out);
    ck_assert_msg(rc == v->exit_code, "%s: exit %d, expected %d\n%s", v->name, rc, v->exit_code,
                  out);
    free(out);
    if (v->changed[0][0] != NULL && strcmp(v->changed[0][1], "non-strict") == 0) {
        /* --strict counts the SHOULD: the same answerer fails the run */
        snprintf(extra, sizeof extra, "--sip-target sip:answer@127.0.0.1:%u --strict --case %s",
                 (unsigned)port, v->changed[0][0]);
        rc = conform(&t, extra, &out);
        ck_assert_msg(rc == 1 && strstr(out, "non-strict") != NULL, "exit %d\n%s", rc, out);
        free(out);
    }
    test_sipp_wait(&p, 0);
    tmp_remove(&t);
}
END_TEST

/* TAP, JUnit and the case lines carry the SIP cases as they do the others. */
START_TEST(formats)
{
    if (test_sipp_skip("conform_sip formats"))
        return;
    const struct variant *bad = &VARIANTS[2];
    ck_assert_str_eq(bad->name, "no-accept-types");
    struct tmp t;
    struct test_sipp p;
    uint16_t port = variant_uas(&p, &t, bad, false);
    char extra[1200], *out = NULL;
    snprintf(extra, sizeof extra,
             "--sip-target sip:answer@127.0.0.1:%u --case 4975-8.6/ --tap --junit %s/r.xml",
             (unsigned)port, t.dir);
    ck_assert_int_eq(conform(&t, extra, &out), 1);
    ck_assert_msg(strstr(out, "TAP version 13\n1..3\n") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "not ok 2 - 4975-8.6/answer-accept-types") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "ok 1 - 4975-8.6/488-no-understood-type") != NULL, "%s", out);
    free(out);
    char path[600];
    snprintf(path, sizeof path, "%s/r.xml", t.dir);
    char *xml = test_read_text(path);
    ck_assert_ptr_nonnull(xml);
    ck_assert_msg(strstr(xml, "<testsuite name=\"RFC 4975-8.6\" tests=\"3\" failures=\"1\"") !=
                      NULL, "%s", xml);
    ck_assert_msg(strstr(xml, "a=path:msrp://127.0.0.1:") != NULL, "no wire record\n%s", xml);
    free(xml);
    /* the plain lines: the failure with its requirement and the SDP exchanged */
    snprintf(extra, sizeof extra, "--sip-target sip:answer@127.0.0.1:%u --case "
             "4975-8.6/answer-accept-types", (unsigned)port);
    ck_assert_int_eq(conform(&t, extra, &out), 1);
    ck_assert_msg(strstr(out, "fail  4975-8.6/answer-accept-types\n") != NULL &&
                      strstr(out, "observed:    the accepted MSRP line has no a=accept-types") !=
                          NULL, "%s", out);
    ck_assert_msg(strstr(out, "a< m=message ") != NULL && strstr(out, "a> a=accept-types:") !=
                      NULL, "%s", out);
    free(out);
    test_sipp_wait(&p, 0);
    tmp_remove(&t);
}
END_TEST

/* SIP over TCP: the target URI's ;transport=tcp picks the agent's transport. */
START_TEST(over_tcp)
{
    if (test_sipp_skip("conform_sip over_tcp"))
        return;
    struct tmp t;
    struct test_sipp p;
    uint16_t port = variant_uas(&p, &t, &VARIANTS[0], true);
    char extra[300], *out = NULL;
    snprintf(extra, sizeof extra, "--sip-target 'sip:answer@127.0.0.1:%u;transport=tcp' --case "
             "4975-8.2/ --verbose", (unsigned)port);
    int rc = conform(&t, extra, &out);
    ck_assert_msg(rc == 0 && strstr(out, "3 cases: 3 passed") != NULL, "exit %d\n%s", rc, out);
    test_sipp_wait(&p, 0);
    /* and the same target over UDP is not there: nothing answers */
    snprintf(extra, sizeof extra, "--sip-target sip:answer@127.0.0.1:%u --case 4975-8.2/answer-path"
             " --timeout-scale 0.1", (unsigned)port);
    free(out);
    rc = conform(&t, extra, &out);
    ck_assert_msg(rc == 3, "exit %d\n%s", rc, out);
    free(out);
    tmp_remove(&t);
}
END_TEST

/* The good answerer's CEMA answer (a=msrp-cema, one URI, its own c=/m=), whole, so that an
 * edit changes that answer alone. */
#define CEMA_ANSWER                                                                              \
    "c=IN IP4 [local_ip]\n      t=0 0\n      m=message [msrp_port] TCP/MSRP *\n"                \
    "      a=path:msrp://[local_ip]:[msrp_port]/u[pid]x[call_number];tcp\n"                      \
    "      a=accept-types:text/plain message/cpim\n      a=msrp-cema"
/* Its plain answer's SDP, with its Content-Type, to be cut off (a 2xx without SDP). */
#define PLAIN_BODY                                                                               \
    "Content-Type: application/sdp\n      Content-Length: [len]\n\n      v=0\n"                   \
    "      o=answer [call_number] 1 IN IP4 [local_ip]\n      s=-\n      c=IN IP4 [local_ip]\n"   \
    "      t=0 0\n      m=message [msrp_port] TCP/MSRP *\n"                                     \
    "      a=path:msrp://[local_ip]:[msrp_port]/u[pid]x[call_number];tcp\n"                      \
    "      a=accept-types:text/plain message/cpim\n      a=accept-wrapped-types:text/html\n"
#define NO_BODY "Content-Length: 0\n"
#define TAKES_MIDDLEBOX                                                                          \
    {"  <nop next=\"refuse\"/>\n  <label id=\"routed\"/>", "  <label id=\"routed\"/>"}
#define TAKES_UNKNOWN {"a=accept-types:[^\\r\\n]*(text/plain|\\*)", "a=accept-types:()"}
#define X10 "xxxxxxxxxx"
#define X100 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10
#define X1000 X100 X100 X100 X100 X100 X100 X100 X100 X100 X100
/* An attribute that makes the plain answer larger than the 8 KB conform keeps. */
#define PAD_EDIT                                                                                 \
    {"      a=accept-wrapped-types:text/html\n",                                                 \
     "      a=accept-wrapped-types:text/html\n      a=x-pad:" X1000 X1000 X1000 X1000 X1000      \
     X1000 X1000 X1000 X1000 "\n"}
/* Its refusal (488) turned into ringing until our CANCEL. */
#define RING_EDITS                                                                               \
    {"SIP/2.0 488 Not Acceptable Here", "SIP/2.0 180 Ringing"},                                  \
        {"  <recv request=\"ACK\"/>\n  <label id=\"done\"/>",                                     \
         "  <recv request=\"CANCEL\"><action><ereg regexp=\"[0-9]+\" search_in=\"hdr\" "          \
         "header=\"CSeq:\" check_it=\"true\" assign_to=\"cseq\"/></action></recv>\n"             \
         "  <send><![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n"      \
         "      [last_To:];tag=[pid]uas[call_number]\n      [last_Call-ID:]\n      [last_CSeq:]\n" \
         "      Content-Length: 0\n\n    ]]></send>\n"                                           \
         "  <send><![CDATA[\n      SIP/2.0 487 Request Terminated\n      [last_Via:]\n"          \
         "      [last_From:]\n      [last_To:];tag=[pid]uas[call_number]\n"                      \
         "      [last_Call-ID:]\n      CSeq: [$cseq] INVITE\n      Content-Length: 0\n\n"         \
         "    ]]></send>\n  <recv request=\"ACK\"/>\n  <label id=\"done\"/>"}

/* It hangs up each call itself (BYE) once the ACK came, and answers the next call 300 ms
 * later, so the first session is over before the second is answered. */
#define HANGS_UP                                                                                 \
    {"assign_to=\"relayed\"/>",                                                                 \
     "assign_to=\"relayed\"/>\n      <ereg regexp=\".*\" search_in=\"hdr\" header=\"From:\" "  \
     "check_it=\"true\" assign_to=\"caller\"/>\n      <ereg regexp=\"sip:[^&gt;;]*\" "            \
     "search_in=\"hdr\" header=\"Contact:\" check_it=\"true\" assign_to=\"contact\"/>"},         \
        {"  <label id=\"plain\"/>\n",                                                           \
         "  <label id=\"plain\"/>\n  <pause milliseconds=\"300\"/>\n"},                            \
        {"  <recv request=\"ACK\"/>\n  <recv request=\"BYE\"/>\n  <send next=\"done\">",          \
         "  <recv request=\"ACK\"/>\n  <send retrans=\"500\"><![CDATA[\n"                         \
         "      BYE [$contact] SIP/2.0\n"                                                          \
         "      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"               \
         "      From: <sip:answer@[local_ip]:[local_port]>;tag=[pid]uas[call_number]\n"           \
         "      To:[$caller]\n      [last_Call-ID:]\n      CSeq: 7 BYE\n      Max-Forwards: 70\n" \
         "      Content-Length: 0\n\n    ]]></send>\n"                                           \
         "  <recv response=\"200\" next=\"done\"/>\n  <send next=\"done\">"}

/* One case against an answerer (base with edits): its verdict, a piece of what it observed,
 * and the run's exit code. */
struct judged {
    const char *name, *base;
    struct edit edits[4];
    const char *cases; /* --case arguments; the first is the one judged */
    const char *options;
    const char *verdict, *observed;
    int exit_code;
};

static const struct judged JUDGED[] = {
    /* a target that rings and never answers: unobservable, the run goes on (not unreachable) */
    {"ring", "tests/sip/uas-target-ring.xml", {{NULL, NULL}},
     "4975-8.1/answer-media-message --case 4975-8.1/answer-protocol", "--timeout-scale 0.1",
     "unobservable", "rang (180), no final response within 1 s", 0},
    /* the second call rings after an answered first one: not unreachable either */
    {"ring-second", GOOD_UAS, {RING_EDITS},
     "6714-4.3/reject-middlebox-offer", "--timeout-scale 0.2", "unobservable",
     "second call: rang", 0},
    /* a CEMA answer through a relay whose first path URI does not parse (read uninitialised
     * before: valgrind saw it) */
    {"relay-unparsed",
     GOOD_UAS,
     {{CEMA_ANSWER, "c=IN IP4 [local_ip]\n      t=0 0\n      m=message 2855 TCP/MSRP *\n"
                    "      a=path:relay.example:2855 msrp://[local_ip]:[msrp_port]/u[pid];tcp\n"
                    "      a=accept-types:text/plain message/cpim\n      a=msrp-cema"}},
     "6714-4.3/cema-relay-answer", NULL, "unobservable", "relay.example:2855 does not parse", 0},
    /* a 2xx without SDP, or with one too large to keep, is unobservable, never judged */
    {"middlebox-no-sdp", GOOD_UAS, {TAKES_MIDDLEBOX, {PLAIN_BODY, NO_BODY}},
     "6714-4.3/reject-middlebox-offer", NULL, "unobservable", "no SDP answer", 0},
    {"unknown-no-sdp", GOOD_UAS, {TAKES_UNKNOWN, {PLAIN_BODY, NO_BODY}},
     "4975-8.6/488-no-understood-type", NULL, "unobservable", "no SDP answer", 0},
    {"oversized", GOOD_UAS, {PAD_EDIT}, "4975-8.1/answer-media-message", NULL, "unobservable",
     "larger than the 8191 bytes kept", 0},
    /* TLS offered, answered without TLS on both counts: allowed; with msrp: and TCP/TLS/MSRP:
     * protocol and scheme disagree */
    {"tls-declined-tcp", GOOD_UAS,
     {{"TCP/TLS/MSRP *", "TCP/MSRP *"}, {"a=path:msrps://", "a=path:msrp://"}},
     "4975-8.1/answer-tls-protocol", NULL, "unobservable", "not TLS", 0},
    {"tls-msrp-path", GOOD_UAS, {{"a=path:msrps://", "a=path:msrp://"}},
     "4975-8.1/answer-tls-protocol", NULL, "fail", "but the path URI msrp://", 1},
    /* a relay's address or port in c=/m= of an answer without a=msrp-cema: RFC 4975 8.1 asks
     * for the endpoint's; only a CEMA answer (RFC 6714 4.3 item 3) puts the relay's there */
    {"relay-port-no-cema", GOOD_UAS,
     {{"a=path:msrp://[local_ip]:[msrp_port]/",
       "a=path:msrp://[local_ip]:2855/relay;tcp msrp://[local_ip]:[msrp_port]/"},
      {"m=message [msrp_port]", "m=message 2855"}},
     "4975-8.1/answer-port-matches-path", NULL, "fail", "m= port 2855", 1},
    {"relay-c-no-cema", GOOD_UAS,
     {{"a=path:msrp://[local_ip]:[msrp_port]/",
       "a=path:msrp://127.0.0.9:2855/relay;tcp msrp://[local_ip]:[msrp_port]/"},
      {"c=IN IP4 [local_ip]", "c=IN IP4 127.0.0.9"}},
     "4975-8.1/answer-c-line-path-host", NULL, "fail", "c= address 127.0.0.9", 1},
    {"relay-c-cema", GOOD_UAS,
     {{"a=path:msrp://[local_ip]:[msrp_port]/",
       "a=path:msrp://127.0.0.9:2855/relay;tcp msrp://[local_ip]:[msrp_port]/"},
      {"c=IN IP4 [local_ip]", "c=IN IP4 127.0.0.9"},
      {"      a=accept-wrapped-types:text/html\n",
       "      a=accept-wrapped-types:text/html\n      a=msrp-cema\n"}},
     "4975-8.1/answer-c-line-path-host", NULL, "pass", NULL, 0},
    /* 415 is about the SIP body, not the SDP's payload types */
    {"unknown-415", GOOD_UAS,
     {{"SIP/2.0 488 Not Acceptable Here", "SIP/2.0 415 Unsupported Media Type"}},
     "4975-8.6/488-no-understood-type", NULL, "unobservable", "refused with 415", 0},
    /* a CEMA relay answer naming the relay by one name and c= by another: not compared
     * without DNS (RFC 6714 4.4) */
    {"relay-names", GOOD_UAS,
     {{CEMA_ANSWER, "c=IN IP4 other.example\n      t=0 0\n      m=message 2855 TCP/MSRP *\n"
                    "      a=path:msrp://relay.example:2855/r;tcp "
                    "msrp://[local_ip]:[msrp_port]/u[pid];tcp\n"
                    "      a=accept-types:text/plain message/cpim\n      a=msrp-cema"}},
     "6714-4.3/cema-relay-answer", NULL, "unobservable", "not compared without DNS", 0},
    /* the first session is over (the target's BYE) when the second is answered with the same
     * URI: RFC 4975 8.2 forbids reuse only for sessions still going on */
    {"same-uri-after-bye", GOOD_UAS, {{"u[pid]x[call_number]", "u[pid]"}, HANGS_UP},
     "4975-8.2/answer-path-unique", NULL, "unobservable", "the first call had ended", 0},
};

START_TEST(judged)
{
    const struct judged *j = &JUDGED[_i];
    char test[96];
    snprintf(test, sizeof test, "conform_sip judged %s", j->name);
    if (test_sipp_skip(test))
        return;
    struct tmp t;
    tmp_make(&t);
    char *text = edited_from(j->base, j->name, j->edits);
    struct test_sipp p;
    uint16_t port = start_uas_on(&p, &t, text, false);
    free(text);
    char extra[1200], json[600], *out = NULL;
    snprintf(json, sizeof json, "%s/r.json", t.dir);
    snprintf(extra, sizeof extra, "--sip-target sip:answer@127.0.0.1:%u --json %s --case %s %s",
             (unsigned)port, json, j->cases, j->options != NULL ? j->options : "");
    int rc = conform(&t, extra, &out);
    json_error_t je;
    json_t *root = json_load_file(json, 0, &je);
    ck_assert_msg(root != NULL, "%s: %s\n%s", json, je.text, out);
    json_t *cases = json_object_get(root, "cases"), *c = NULL;
    size_t idlen = strcspn(j->cases, " ");
    for (size_t i = 0; c == NULL && i < json_array_size(cases); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(cases, i), "id"));
        if (id != NULL && strlen(id) == idlen && strncmp(id, j->cases, idlen) == 0)
            c = json_array_get(cases, i);
    }
    ck_assert_msg(c != NULL, "%s: no case %.*s\n%s", j->name, (int)idlen, j->cases, out);
    const char *got = json_string_value(json_object_get(c, "result"));
    const char *seen = json_string_value(json_object_get(c, "observed"));
    ck_assert_msg(got != NULL && strcmp(got, j->verdict) == 0, "%s: %s (%s), expected %s\n%s",
                  j->name, got, seen, j->verdict, out);
    ck_assert_msg(j->observed == NULL || (seen != NULL && strstr(seen, j->observed) != NULL),
                  "%s: observed '%s'\n%s", j->name, seen, out);
    ck_assert_msg(rc == j->exit_code && strstr(out, "not run:") == NULL, "%s: exit %d\n%s",
                  j->name, rc, out);
    json_decref(root);
    free(out);
    test_sipp_wait(&p, 0);
    tmp_remove(&t);
}
END_TEST

/* Nobody answers: exit 3 after the first case, the rest not run. */
START_TEST(unreachable)
{
    struct tmp t;
    tmp_make(&t);
    uint16_t port = test_sip_free_port();
    char extra[300], *out = NULL;
    snprintf(extra, sizeof extra, "--sip-target sip:answer@127.0.0.1:%u --timeout-scale 0.1",
             (unsigned)port);
    int rc = conform(&t, extra, &out);
    ck_assert_msg(rc == 3, "exit %d\n%s", rc, out);
    ck_assert_msg(strstr(out, "no final response to the INVITE within 1 s") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "not run: the peer is unreachable") != NULL, "%s", out);
    free(out);
    tmp_remove(&t);
}
END_TEST

/* --quick skips the SIP cases that may wait longer than 20 s: at the default scale the two-call
 * ones (2 x 10 s and 5 s for the hang-ups); a case under the bound runs. */
START_TEST(quick)
{
    struct tmp t;
    tmp_make(&t);
    uint16_t port = test_sip_free_port();
    char extra[300], *out = NULL;
    snprintf(extra, sizeof extra, "--sip-target sip:answer@127.0.0.1:%u --quick --case "
             "4975-8.2/answer-path-unique --case 6714-4.3/reject-middlebox-offer", (unsigned)port);
    int rc = conform(&t, extra, &out);
    ck_assert_msg(rc == 0 && strstr(out, "2 cases: 0 passed") != NULL &&
                      strstr(out, "--quick skips cases marked slow or that may wait over 20 s") !=
                          NULL, "exit %d\n%s", rc, out);
    free(out);
    snprintf(extra, sizeof extra, "--sip-target sip:answer@127.0.0.1:%u --quick --case "
             "4975-8.2/answer-path-explicit-port --timeout-scale 0.3", (unsigned)port);
    rc = conform(&t, extra, &out);
    ck_assert_msg(rc == 3 && strstr(out, "no final response to the INVITE within 3 s") != NULL,
                  "exit %d\n%s", rc, out);
    free(out);
    tmp_remove(&t);
}
END_TEST

START_TEST(usage)
{
    struct tmp t;
    tmp_make(&t);
    char *out = NULL;
    static const char *const bad[] = {
        "--sip-proxy sip:127.0.0.1:5060",
        "--sip-target sip:a@127.0.0.1:5060 --target 'msrp://127.0.0.1:2855/s;tcp'",
        "--sip-target http://127.0.0.1/",
        "--sip-target sip:a@127.0.0.1:5060 --sip-user 'a b'",
        "--sip-target sip:a@127.0.0.1:5060 --delivery bytes",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(conform(&t, bad[i], &out) == 2, "%s\n%s", bad[i], out);
        free(out);
    }
    /* --list shows the SIP cases only with --sip-target */
    ck_assert_int_eq(conform(&t, "--list --sip-target sip:a@127.0.0.1:9", &out), 0);
    ck_assert_msg(strstr(out, "4975-8.2/answer-path ") != NULL && strstr(out, " sip ") != NULL &&
                      strstr(out, "4975-7.2/") == NULL, "%s", out);
    free(out);
    ck_assert_int_eq(conform(&t, "--list", &out), 0);
    ck_assert_msg(strstr(out, "4975-8.2/answer-path") == NULL, "%s", out);
    free(out);
    /* a case file naming a check this build lacks is refused with its file and place */
    char dir[600], file[700], extra[800];
    snprintf(dir, sizeof dir, "%s/cases", t.dir);
    snprintf(extra, sizeof extra, "mkdir -p %s", dir);
    ck_assert_int_eq(test_run_shell(extra), 0);
    snprintf(file, sizeof file, "%s/x.json", dir);
    test_write_text(file, "{\"case\": {\"id\": \"4975-8.2/x\", \"rfc\": \"4975\", \"section\": "
                          "\"8.2\", \"title\": \"t\", \"requirement\": \"r\", \"level\": \"MUST\","
                          " \"expected\": \"e\", \"needs\": \"sip\", \"sip\": {\"check\": "
                          "\"nonesuch\"}}}\n");
    snprintf(extra, sizeof extra, "--sip-target sip:a@127.0.0.1:9 --cases %s", dir);
    ck_assert_int_eq(conform(&t, extra, &out), 2);
    ck_assert_msg(strstr(out, "x.json: $.case.sip.check: no SIP check named \"nonesuch\"") != NULL,
                  "%s", out);
    free(out);
    tmp_remove(&t);
}
END_TEST

/* Through the scripted Kamailio: the target registered there, conform's INVITEs routed by
 * the proxy (which challenges them: --sip-user and --sip-password-file answer). */
START_TEST(through_proxy)
{
    if (test_sipp_skip("conform_sip through_proxy"))
        return;
    struct test_sip s;
    test_sip_start(&s, false, false, "");
    if (test_sip_skip(&s, "conform_sip through_proxy"))
        return;
    struct tmp t;
    struct test_sipp p;
    uint16_t port = variant_uas(&p, &t, &VARIANTS[0], false);
    /* the answerer registers itself first (uac-register.xml, as check_sip_peers does) */
    char cwd[512], reg[700], proxy[64], contact[96], lport[16], log[600];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    snprintf(reg, sizeof reg, "%s/tests/sip/uac-register.xml", cwd);
    snprintf(proxy, sizeof proxy, "127.0.0.1:%u", (unsigned)s.port);
    snprintf(contact, sizeof contact, "sip:sip0007@127.0.0.1:%u", (unsigned)port);
    snprintf(lport, sizeof lport, "%u", (unsigned)test_sip_free_port());
    snprintf(log, sizeof log, "%s/reg.log", t.dir);
    const char *args[] = {"-sf", reg, "-m", "1", "-s", "sip0007", "-au", "sip0007", "-ap",
                          "sippass", "-key", "contact", contact, "-key", "expires", "600",
                          "-i", "127.0.0.1", "-p", lport, "-timeout", "20s", "-nostdin",
                          proxy, NULL};
    struct test_sipp r;
    test_sipp_start(&r, t.dir, args);
    ck_assert_int_eq(test_sipp_wait(&r, 30), 0);
    char pw[600], extra[1500], *out = NULL;
    snprintf(pw, sizeof pw, "%s/pw", t.dir);
    test_write_text(pw, "sippass\n");
    snprintf(extra, sizeof extra,
             "--sip-target sip:sip0007@127.0.0.1:%u --sip-proxy sip:127.0.0.1:%u "
             "--sip-user sip0008 --sip-password-file %s --case 4975-8 --json %s/r.json",
             (unsigned)s.port, (unsigned)s.port, pw, t.dir);
    int rc = conform(&t, extra, &out);
    ck_assert_msg(rc == 0, "exit %d\n%s", rc, out);
    ck_assert_msg(strstr(out, "13 cases: 13 passed") != NULL, "%s", out);
    free(out);
    test_sipp_wait(&p, 0);
    tmp_remove(&t);
    test_sip_stop(&s);
}
END_TEST

Suite *make_conform_sip_suite(void)
{
    Suite *s = suite_create("conform_sip");
    TCase *tc = tcase_create("answerers");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, answerers, 0, (int)(sizeof VARIANTS / sizeof VARIANTS[0]));
    tcase_add_test(tc, formats);
    tcase_add_test(tc, over_tcp);
    tcase_add_loop_test(tc, judged, 0, (int)(sizeof JUDGED / sizeof JUDGED[0]));
    suite_add_tcase(s, tc);
    TCase *tu = tcase_create("usage");
    tcase_set_timeout(tu, 60);
    tcase_add_test(tu, unreachable);
    tcase_add_test(tu, usage);
    tcase_add_test(tu, quick);
    suite_add_tcase(s, tu);
    TCase *tp = tcase_create("proxy");
    tcase_set_timeout(tp, 120);
    tcase_add_test(tp, through_proxy);
    suite_add_tcase(s, tp);
    return s;
}
