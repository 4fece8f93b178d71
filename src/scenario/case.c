/*
 * case.c - the top-level "case" object of a conformance case file
 * (scenarios/conformance/README.md): what the case checks, in which RFC section, at which
 * keyword, and what it needs to run.
 *
 * Owns: struct scenario_case's checks. May not touch: the steps (steps.c, raw.c), the load
 * sections, or how a case is run (src/conform/).
 */
#include "scenario/internal.h"

#include <stdio.h>
#include <string.h>

static int case_string(struct scn__ctx *c, const json_t *obj, const char *key, bool required, char *dst,
                       size_t cap)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        if (required)
            return scn__fail(c, "required key \"%s\" missing", key);
        return 0;
    }
    size_t mark = scn__path_push(c, ".%s", key);
    if (!json_is_string(v) || json_string_length(v) == 0)
        return scn__expected(c, "a non-empty string", v, false);
    if (scn__copy_string(c, v, "a string", dst, cap) != 0)
        return -1;
    scn__path_pop(c, mark);
    return 0;
}

/* An optional array of up to SCENARIO_CASE_MAX_NAMES ids: lower-case letters, digits, '-',
 * '.' and '/' (the alphabet of case ids). */
static int case_names(struct scn__ctx *c, const json_t *obj, const char *key,
                      char (*dst)[SCENARIO_CASE_NAME_LEN], unsigned *n)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    size_t mark = scn__path_push(c, ".%s", key);
    if (!json_is_array(v) || json_array_size(v) > SCENARIO_CASE_MAX_NAMES)
        return scn__expected(c, "an array of at most 8 ids", v, false);
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *e = json_array_get(v, i);
        size_t m = scn__path_push(c, "[%zu]", i);
        if (!json_is_string(e) || json_string_length(e) == 0 ||
            json_string_length(e) >= SCENARIO_CASE_NAME_LEN)
            return scn__expected(c, "an id string of at most 95 characters", e, false);
        for (const char *p = json_string_value(e); *p != '\0'; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
                  *p == '.' || *p == '/'))
                return scn__expected(c, "an id of lower-case letters, digits, '-', '.' and '/'", e,
                                true);
        strcpy(dst[i], json_string_value(e));
        scn__path_pop(c, m);
    }
    *n = (unsigned)json_array_size(v);
    scn__path_pop(c, mark);
    return 0;
}

/* The "client" object of a client case: what --client-cmd is told to do. */
static int check_client(struct scn__ctx *c, const json_t *obj, struct case_client *cl)
{
    static const char *const allowed[] = {"size", "chunk_size", "success_report", "answer",
                                          "report_back", "send_to_client", "timeout", "relay",
                                          NULL};
    static const char *const relays[] = {"none", "auth", "stale", NULL};
    static const char *const reports[] = {"absent", "yes", "no", NULL};
    static const char *const answers[] = {"200", "413", "report-413", NULL};
    static const struct scn__key keys[] = {
        SCN_KEY_INT("size", struct case_client, size, 0, 64 << 20),
        SCN_KEY_INT("chunk_size", struct case_client, chunk_size, 1, 1 << 20),
        SCN_KEY_ENUM("success_report", struct case_client, success_report, reports, NULL),
        SCN_KEY_ENUM("answer", struct case_client, answer, answers, NULL),
        SCN_KEY_BOOL("report_back", struct case_client, report_back),
        SCN_KEY_BOOL("send_to_client", struct case_client, send_to_client),
        SCN_KEY_SECONDS("timeout", struct case_client, timeout, false),
        SCN_KEY_ENUM("relay", struct case_client, relay, relays, NULL),
    };
    size_t mark = scn__path_push(c, ".client");
    if (scn__need_object(c, obj) != 0 || scn__check_keys(c, obj, allowed) != 0)
        return -1;
    cl->timeout = 10;
    if (SCN__READ_KEYS(c, obj, keys, cl) != 0)
        return -1;
    scn__path_pop(c, mark);
    return 0;
}

/* The "sip" object of a SIP case: which check of src/conform/sip_cases.c it runs (the name is
 * looked up there when conform loads its cases). */
static int check_sip(struct scn__ctx *c, const json_t *obj, struct scenario_case *k)
{
    static const char *const allowed[] = {"check", NULL};
    size_t mark = scn__path_push(c, ".sip");
    if (scn__need_object(c, obj) != 0 || scn__check_keys(c, obj, allowed) != 0)
        return -1;
    if (case_string(c, obj, "check", true, k->sip_check, sizeof k->sip_check) != 0)
        return -1;
    scn__path_pop(c, mark);
    return 0;
}

int scn__check_case(struct scn__ctx *c, const json_t *obj)
{
    static const char *const allowed[] = {"id",       "rfc",   "section",   "title",
                                          "requirement", "level", "expected", "needs",
                                          "bind",     "endpoints", "wrong_peer", "aliases",
                                          "requirements", "slow", "websocket", "client", "sip",
                                          NULL};
    static const char *const levels[] = {"MUST", "SHOULD", "MAY", "none", NULL};
    /* In the order of enum case_needs. */
    static const char *const need_names[] = {"target", "relay", "client", "sip", NULL};
    /* In the order of enum case_websocket. */
    static const char *const ws_names[] = {"any", "ws", "raw", "raw-text", "raw-fragmented",
                                           NULL};
    static const struct scn__key keys[] = {
        SCN_KEY_ENUM("needs", struct scenario_case, needs, need_names, NULL),
        SCN_KEY_BOOL("slow", struct scenario_case, slow),
        SCN_KEY_ENUM("websocket", struct scenario_case, websocket, ws_names, NULL),
    };
    static const char *const eps[] = {"none", "a", "ab", NULL};
    struct scenario_case *k = c->sc->kase;
    const json_t *v;
    size_t mark;
    int i;

    if (scn__need_object(c, obj) != 0 || scn__check_keys(c, obj, allowed) != 0)
        return -1;
    if (case_string(c, obj, "id", true, k->id, sizeof k->id) != 0 ||
        case_string(c, obj, "rfc", true, k->rfc, sizeof k->rfc) != 0 ||
        case_string(c, obj, "section", true, k->section, sizeof k->section) != 0 ||
        case_string(c, obj, "title", true, k->title, sizeof k->title) != 0 ||
        case_string(c, obj, "requirement", true, k->requirement, sizeof k->requirement) != 0 ||
        case_string(c, obj, "expected", true, k->expected, sizeof k->expected) != 0 ||
        case_string(c, obj, "wrong_peer", false, k->wrong_peer, sizeof k->wrong_peer) != 0)
        return -1;
    /* The id names the RFC and section it checks: "RFC-SECTION/slug". */
    char prefix[40];
    snprintf(prefix, sizeof prefix, "%s-%s/", k->rfc, k->section);
    if (strncmp(k->id, prefix, strlen(prefix)) != 0 || k->id[strlen(prefix)] == '\0') {
        scn__path_push(c, ".id");
        return scn__fail(c, "expected an id of the form \"%s<name>\", got \"%s\"", prefix, k->id);
    }
    for (const char *p = k->id; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
              *p == '/')) {
            scn__path_push(c, ".id");
            return scn__fail(c, "expected an id of lower-case letters, digits, '-', '.' and '/'");
        }
    if (strcmp(k->rfc, "4975") != 0 && strcmp(k->rfc, "4976") != 0 &&
        strcmp(k->rfc, "7977") != 0 && strcmp(k->rfc, "6714") != 0) {
        scn__path_push(c, ".rfc");
        return scn__fail(c, "expected \"4975\", \"4976\", \"6714\" or \"7977\", got \"%s\"",
                         k->rfc);
    }
    if ((v = json_object_get(obj, "level")) == NULL)
        return scn__fail(c, "required key \"level\" missing");
    mark = scn__path_push(c, ".level");
    if (scn__get_enum(c, v, levels, &i) != 0)
        return -1;
    k->level = (enum case_level)i;
    scn__path_pop(c, mark);
    if (case_names(c, obj, "aliases", k->aliases, &k->num_aliases) != 0 ||
        case_names(c, obj, "requirements", k->requirements, &k->num_requirements) != 0)
        return -1;
    if (SCN__READ_KEYS(c, obj, keys, k) != 0)
        return -1;
    k->bind = k->needs == CASE_TARGET;
    if ((v = json_object_get(obj, "client")) != NULL) {
        if (k->needs != CASE_CLIENT)
            return scn__fail(c, "\"client\" is for client cases (needs \"client\")");
        if (check_client(c, v, &k->client) != 0)
            return -1;
    } else if (k->needs == CASE_CLIENT) {
        return scn__fail(c, "a client case needs its \"client\" object");
    }
    if ((v = json_object_get(obj, "sip")) != NULL) {
        if (k->needs != CASE_SIP)
            return scn__fail(c, "\"sip\" is for SIP offer/answer cases (needs \"sip\")");
        if (check_sip(c, v, k) != 0)
            return -1;
    } else if (k->needs == CASE_SIP) {
        return scn__fail(c, "a SIP case needs its \"sip\" object");
    }
    if ((v = json_object_get(obj, "bind")) != NULL) {
        mark = scn__path_push(c, ".bind");
        if (scn__get_bool(c, v, &k->bind) != 0)
            return -1;
        if (k->bind && k->needs != CASE_TARGET)
            return scn__fail(c, "\"bind\" is for target cases; relay cases use \"endpoints\"");
        scn__path_pop(c, mark);
    }
    if (k->websocket != CASE_WS_ANY && k->needs != CASE_RELAY)
        return scn__fail(c, "\"websocket\" is for relay cases (RFC 7977 5.1: MSRP over "
                            "WebSocket goes through a relay)");
    k->endpoints = k->needs == CASE_RELAY ? CASE_EP_A : CASE_EP_NONE;
    if ((v = json_object_get(obj, "endpoints")) != NULL) {
        mark = scn__path_push(c, ".endpoints");
        if (scn__get_enum(c, v, eps, &i) != 0)
            return -1;
        /* A target case may open a second connection, b, that nothing binds (506 cases). */
        if (k->needs != CASE_RELAY && i != CASE_EP_AB)
            return scn__fail(c, "a target case takes only \"ab\" (a second connection, not bound); "
                           "the other values are for relay cases");
        k->endpoints = (enum case_endpoints)i;
        scn__path_pop(c, mark);
    }
    return 0;
}
