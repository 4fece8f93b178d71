/*
 * scenario.c - loads a scenario file (scenarios/README.md): reads it, parses the JSON, checks
 * the top level and hands each section to its checker (sections.c, case.c, steps.c), settles
 * the defaults that depend on several keys, and frees what a scenario owns.
 *
 * Owns: the file's reading, struct scenario's defaults and its lifetime. May not touch: what a
 * section's keys mean (their own files), anything but the file named and the caller's struct.
 */
#include "scenario/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME_WHAT "1 to 63 letters, digits, \".\", \"_\" or \"-\""
/* Scenarios are a few kilobytes; the cap keeps `run /dev/zero` from eating the memory. */
#define MAX_FILE_BYTES (16u << 20)

/* ---- the top-level strings ---------------------------------------------------------------- */

/* The name becomes part of a folder name, so only characters that are safe there. */
static int get_name(struct scn__ctx *c, const json_t *v, char *dst, size_t cap)
{
    if (!json_is_string(v))
        return scn__expected(c, NAME_WHAT, v, false);
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    bool ok = len >= 1 && len < cap;
    for (size_t i = 0; i < len && ok; i++) {
        char ch = s[i];
        ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
             ch == '.' || ch == '_' || ch == '-';
    }
    if (!ok)
        return scn__expected(c, NAME_WHAT, v, true);
    memcpy(dst, s, len + 1);
    return 0;
}

/* ---- load --------------------------------------------------------------------------------- */

static unsigned online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > MAX_THREADS ? MAX_THREADS : (unsigned)n;
}

/* ---- the whole file ----------------------------------------------------------------------- */

static void set_defaults(struct scenario *sc)
{
    sc->threads = 0;
    sc->sessions = 100;
    sc->concurrency = 0; /* = sessions, settled at the end: the file never gives 0 */
    sc->session_rate = 0;
    sc->ramp_up_s = 0;
    sc->endings[SCENARIO_ENDING_CLEAN] = 1; /* load.endings not given: every lifetime ends clean */
    sc->duration_s = 10;
    sc->warm_up_s = 0;
    sc->mode = SCENARIO_CLOSED;
    sc->outstanding = 1;
    sc->rate = 0;
    sc->batch_window_auto = true;
    sc->batch_window_s = 0;
    sc->topology = SCENARIO_EMBEDDED;
    sc->tls = false;
    sc->transport = SCENARIO_TCP;
    sc->relay.users = 1;
    sc->answer_status = 200;
    strcpy(sc->accept_types, "*");
    sc->max_message = 1ull << 40;
    sc->answer_delay_min_ns = sc->answer_delay_max_ns = 0;
    sc->answer_drop = 0;
    sc->answer_reject_after = 0;
}

/* Runs a section's checker with the path pointing at it. */
static int section(struct scn__ctx *c, const json_t *root, const char *key,
                   int (*check)(struct scn__ctx *, const json_t *))
{
    const json_t *v = json_object_get(root, key);
    if (v == NULL)
        return 0;
    size_t mark = scn__path_push(c, ".%s", key);
    if (check(c, v) != 0)
        return -1;
    scn__path_pop(c, mark);
    return 0;
}

static int check_root(struct scn__ctx *c, const json_t *root)
{
    static const char *const load_keys[] = {"name",  "description", "load", "topology",
                                            "steps", "answer",      NULL};
    static const char *const case_keys[] = {"name",  "description", "load", "topology",
                                            "steps", "answer",      "case", NULL};
    struct scenario *sc = c->sc;
    const json_t *v;
    size_t mark;

    /* Only case files list "case" among their keys, so load scenarios read as before. */
    bool has_case = json_is_object(root) && json_object_get(root, "case") != NULL;
    if (scn__need_object(c, root) != 0 || scn__check_keys(c, root, has_case ? case_keys : load_keys) != 0)
        return -1;
    /* A case file: its steps may use the conformance additions, and it needs no name. */
    if ((v = json_object_get(root, "case")) != NULL) {
        c->is_case = true;
        sc->kase = calloc(1, sizeof(*sc->kase));
        if (sc->kase == NULL)
            return scn__fail(c, "out of memory");
        strcpy(sc->name, "conform");
        mark = scn__path_push(c, ".case");
        if (scn__check_case(c, v) != 0)
            return -1;
        scn__path_pop(c, mark);
    }
    if ((v = json_object_get(root, "name")) == NULL) {
        if (!c->is_case)
            return scn__fail(c, "required key \"name\" missing");
    } else {
        mark = scn__path_push(c, ".name");
        if (get_name(c, v, sc->name, sizeof sc->name) != 0)
            return -1;
        scn__path_pop(c, mark);
    }
    if ((v = json_object_get(root, "description")) != NULL) {
        mark = scn__path_push(c, ".description");
        if (scn__copy_string(c, v, "a string", sc->description, sizeof sc->description) != 0)
            return -1;
        scn__path_pop(c, mark);
    }
    if (section(c, root, "load", scn__check_load) != 0 ||
        section(c, root, "topology", scn__check_topology) != 0)
        return -1;
    /* A client case (conform --listen) has no steps: the client under test acts, the
     * checker answers (its "client" object says how). */
    bool client_case = sc->kase != NULL && sc->kase->needs == CASE_CLIENT;
    /* A SIP case (conform --sip-target) neither: its check is code (src/conform/sip_cases.c). */
    if (sc->kase != NULL && sc->kase->needs == CASE_SIP && json_object_get(root, "steps") != NULL)
        return scn__fail(c, "a SIP case has no \"steps\" (its \"case\".\"sip\" names its check)");
    client_case = client_case || (sc->kase != NULL && sc->kase->needs == CASE_SIP);
    if ((v = json_object_get(root, "steps")) == NULL) {
        if (!client_case)
            return scn__fail(c, "required key \"steps\" missing");
    } else if (client_case) {
        return scn__fail(c, "a client case has no \"steps\" (its \"case\".\"client\" says "
                            "what the client does)");
    } else {
        mark = scn__path_push(c, ".steps");
        if (!json_is_array(v) || json_array_size(v) == 0)
            return scn__expected(c, STEPS_WHAT, v, false);
        if (scn__compile_list(c, v) != 0)
            return -1;
        scn__path_pop(c, mark);
    }
    if (section(c, root, "answer", scn__check_answer) != 0)
        return -1;
    /* The receiver compares with the bytes the runner makes up: a content_file is not them. */
    for (unsigned i = 0; sc->answer_check_sha256 && i < sc->num_steps; i++)
        if (sc->steps[i].kind == SCN_STEP_SEND && sc->steps[i].u.send.content != NULL) {
            scn__path_push(c, ".answer.check_sha256");
            return scn__fail(c, "true only when every send makes its body up (size), "
                                "not with content_file");
        }
    if (scn__check_cpim_types(c) != 0)
        return -1;
    scenario_transports_settle(sc);

    /* Settled last, so that they hold whether the file has a "load" section or not. */
    if (sc->concurrency == 0 && sc->sessions > SCENARIO_MAX_CONCURRENCY) {
        scn__path_push(c, ".load.sessions");
        return scn__fail(c, "expected at most %llu sessions when load.concurrency is not given (it "
                    "defaults to load.sessions), got %llu",
                    (unsigned long long)SCENARIO_MAX_CONCURRENCY,
                    (unsigned long long)sc->sessions);
    }
    if (sc->concurrency == 0)
        sc->concurrency = sc->sessions;
    if (sc->threads == 0)
        sc->threads = online_cores();
    return 0;
}

/* The bodies read from content files and the raw templates, owned by their steps. */
static void free_contents(struct scenario *sc)
{
    free(sc->kase);
    sc->kase = NULL;
    for (unsigned i = 0; i < sc->num_steps && i < SCENARIO_MAX_STEPS; i++) {
        struct step *st = &sc->steps[i];
        if (st->kind == SCN_STEP_RECEIVE) {
            scn__conform_free(st->u.receive.conform);
            st->u.receive.conform = NULL;
            continue;
        }
        if (st->kind == SCN_STEP_RAW) {
            scn__conform_free(st->u.raw.conform);
            st->u.raw.conform = NULL;
            free(st->u.raw.pieces);
            free(st->u.raw.text);
            st->u.raw.pieces = NULL;
            st->u.raw.text = NULL;
            st->u.raw.num_pieces = 0;
            st->u.raw.text_len = 0;
            continue;
        }
        if (st->kind != SCN_STEP_SEND)
            continue;
        scn__send_free(&st->u.send);
    }
}

int scenario_parse(const char *path, const char *text, size_t len, struct scenario *sc, char *err,
                   size_t errlen)
{
    return scenario_parse_with_data(path, text, len, NULL, sc, err, errlen);
}

int scenario_parse_with_data(const char *path, const char *text, size_t len,
                             const struct scenario_data *data, struct scenario *sc, char *err,
                             size_t errlen)
{
    memset(sc, 0, sizeof *sc);
    if (errlen > 0)
        err[0] = '\0';
    if (strlen(path) >= sizeof sc->path) {
        snprintf(err, errlen, "%s: file name longer than %zu bytes", path, sizeof sc->path - 1);
        return -1;
    }

    json_error_t je;
    json_t *root = json_loadb(text != NULL ? text : "", len,
                              JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (root == NULL) {
        snprintf(err, errlen, "%s: line %d column %d: %s", path, je.line, je.column, je.text);
        return -1;
    }

    set_defaults(sc);
    struct scn__ctx c = {.file = path, .err = err, .errlen = errlen, .sc = sc, .data = data};
    scn__path_push(&c, "$");
    int rc = check_root(&c, root);
    json_decref(root);
    if (rc != 0)
        goto err;

    memcpy(sc->path, path, strlen(path) + 1);
    sc->data = data;
    sc->text = malloc(len + 1);
    if (sc->text == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto err;
    }
    if (len > 0)
        memcpy(sc->text, text, len);
    sc->text[len] = '\0';
    sc->text_len = len;
    return 0;

err:
    /* A failed load leaves nothing half-filled for a caller to trip on. */
    free_contents(sc);
    memset(sc, 0, sizeof *sc);
    return -1;
}

int scenario_load(const char *path, struct scenario *sc, char *err, size_t errlen)
{
    return scenario_load_with_data(path, NULL, sc, err, errlen);
}

int scenario_load_with_data(const char *path, const struct scenario_data *data,
                            struct scenario *sc, char *err, size_t errlen)
{
    char ebuf[128];
    memset(sc, 0, sizeof *sc);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror_r(errno, ebuf, sizeof ebuf));
        return -1;
    }
    /* One byte more than the cap may be read: that is how a file above it is recognised. */
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        close(fd);
        return -1;
    }
    for (;;) {
        if (len > MAX_FILE_BYTES) {
            snprintf(err, errlen, "%s: larger than %u bytes, too large for a scenario", path,
                     MAX_FILE_BYTES);
            goto err;
        }
        if (len == cap) {
            size_t ncap = cap * 2 > MAX_FILE_BYTES + 1 ? MAX_FILE_BYTES + 1 : cap * 2;
            char *nb = realloc(buf, ncap);
            if (nb == NULL) {
                snprintf(err, errlen, "%s: out of memory", path);
                goto err;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "%s: cannot read: %s", path,
                     strerror_r(errno, ebuf, sizeof ebuf));
            goto err;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    int rc = scenario_parse_with_data(path, buf, len, data, sc, err, errlen);
    free(buf);
    return rc;

err:
    close(fd);
    free(buf);
    return -1;
}

const char *const scenario_ending_names[SCENARIO_ENDINGS] = {"clean", "abrupt", "reset",
                                                             "silent", "no_close_notify",
                                                             "no_reauth"};

void scenario_free(struct scenario *sc)
{
    if (sc == NULL)
        return;
    distrib_free(&sc->session_lifetime);
    free(sc->text);
    sc->text = NULL;
    sc->text_len = 0;
    free_contents(sc);
}

void scenario_relay_parse(struct scenario *sc)
{
    sc->relay.parsed_ok = sc->relay.uri[0] != '\0' &&
                          msrp_uri_parse(sc->relay.uri, strlen(sc->relay.uri),
                                         &sc->relay.parsed) == MSRP_URI_OK;
    if (!sc->relay.parsed_ok)
        memset(&sc->relay.parsed, 0, sizeof sc->relay.parsed);
    sc->relay.ws_parsed_ok = sc->relay.ws_msrp_uri[0] != '\0' &&
                             msrp_uri_parse(sc->relay.ws_msrp_uri, strlen(sc->relay.ws_msrp_uri),
                                            &sc->relay.ws_parsed) == MSRP_URI_OK;
    if (!sc->relay.ws_parsed_ok)
        memset(&sc->relay.ws_parsed, 0, sizeof sc->relay.ws_parsed);
}
