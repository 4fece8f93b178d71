/*
 * raw.c - the steps that write bytes as they are (raw) and, in conformance case files only,
 * wait for a request (receive), with the header checks and endpoint choice case files add.
 *
 * Owns: struct step_raw, struct step_receive, struct step_conform and their freeing. May not
 * touch: how templates are compiled or expanded (template.c), the other steps (steps.c).
 */
#include "scenario/internal.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- conformance additions (case files only) ----------------------------------------------- */

void scn__conform_free(struct step_conform *f)
{
    if (f == NULL)
        return;
    for (unsigned i = 0; i < f->num_checks; i++) {
        scn__template_free(&f->checks[i].value);
        free(f->checks[i].regex);
    }
    free(f->checks);
    scn__template_free(&f->body);
    free(f);
}

/* A header name as the checks use it: a token of at most 63 bytes. */
static int get_header_name(struct scn__ctx *c, const char *name, char *dst)
{
    size_t n = strlen(name);
    if (n == 0 || n > 63)
        return scn__fail(c, "expected a header name of 1 to 63 bytes, got one of %zu", n);
    for (size_t i = 0; i < n; i++)
        if (name[i] <= ' ' || name[i] == ':' || (unsigned char)name[i] >= 0x7f)
            return scn__fail(c, "expected a header name (no spaces, colons or control characters)");
    memcpy(dst, name, n + 1);
    return 0;
}

static struct header_check *add_check(struct scn__ctx *c, struct step_conform *f)
{
    struct header_check *nc = realloc(f->checks, (f->num_checks + 1) * sizeof(*nc));
    if (nc == NULL) {
        scn__fail(c, "out of memory");
        return NULL;
    }
    f->checks = nc;
    memset(&nc[f->num_checks], 0, sizeof(*nc));
    return &nc[f->num_checks++];
}

/*
 * "headers" (name -> template that must equal the value), "match" (name -> POSIX extended
 * regular expression the value must match) and "absent" (names that must not appear), in that
 * order, into f.
 */
static int compile_checks(struct scn__ctx *c, const json_t *obj, struct step_conform *f)
{
    const json_t *v;
    const char *name;
    json_t *val;
    if ((v = json_object_get(obj, "headers")) != NULL) {
        size_t mark = scn__path_push(c, ".headers");
        if (!json_is_object(v))
            return scn__expected(c, "an object of header name -> expected value", v, false);
        json_object_foreach((json_t *)v, name, val) {
            size_t m2 = scn__path_push(c, ".%s", name);
            struct header_check *hc = add_check(c, f);
            if (hc == NULL || get_header_name(c, name, hc->name) != 0)
                return -1;
            hc->kind = SCN_CHECK_EQUALS;
            struct scn__raw_build b = {0};
            size_t max = 0;
            if (json_is_string(val) && json_string_length(val) == 0) {
                /* An empty value is allowed here, unlike in a template. */
                free(b.buf);
            } else if (scn__compile_template(c, val, &b, &max) != 0) {
                free(b.buf);
                free(b.pieces);
                return -1;
            }
            hc->value = (struct raw_template){b.pieces, b.num, b.buf, b.text_len};
            scn__path_pop(c, m2);
        }
        scn__path_pop(c, mark);
    }
    static const struct {
        const char *key;
        enum header_check_kind kind;
    } kinds[] = {{"match", SCN_CHECK_MATCHES}, {"not_match", SCN_CHECK_NOT_MATCHES}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        if ((v = json_object_get(obj, kinds[k].key)) != NULL) {
            size_t mark = scn__path_push(c, ".%s", kinds[k].key);
            if (!json_is_object(v))
                return scn__expected(c, "an object of header name -> regular expression", v, false);
            json_object_foreach((json_t *)v, name, val) {
                size_t m2 = scn__path_push(c, ".%s", name);
                /* One expression, or an array of them that must all match. */
                size_t count = json_is_array(val) ? json_array_size(val) : 1;
                if (count == 0)
                    return scn__expected(c, "a regular expression or a non-empty array of them", val,
                                    false);
                for (size_t j = 0; j < count; j++) {
                    const json_t *e = json_is_array(val) ? json_array_get(val, j) : val;
                    struct header_check *hc = add_check(c, f);
                    if (hc == NULL || get_header_name(c, name, hc->name) != 0)
                        return -1;
                    hc->kind = kinds[k].kind;
                    if (!json_is_string(e))
                        return scn__expected(c, "a regular expression (string)", e, false);
                    regex_t re;
                    int rc = regcomp(&re, json_string_value(e), REG_EXTENDED | REG_NOSUB);
                    if (rc != 0) {
                        char why[128];
                        regerror(rc, &re, why, sizeof why);
                        return scn__fail(c, "expected a POSIX extended regular expression: %s", why);
                    }
                    regfree(&re);
                    hc->regex = strdup(json_string_value(e));
                    if (hc->regex == NULL)
                        return scn__fail(c, "out of memory");
                }
                scn__path_pop(c, m2);
            }
            scn__path_pop(c, mark);
        }
    }
    if ((v = json_object_get(obj, "absent")) != NULL) {
        size_t mark = scn__path_push(c, ".absent");
        if (!json_is_array(v))
            return scn__expected(c, "an array of header names", v, false);
        for (size_t i = 0; i < json_array_size(v); i++) {
            size_t m2 = scn__path_push(c, "[%zu]", i);
            const json_t *e = json_array_get(v, i);
            if (!json_is_string(e))
                return scn__expected(c, "a header name", e, false);
            struct header_check *hc = add_check(c, f);
            if (hc == NULL || get_header_name(c, json_string_value(e), hc->name) != 0)
                return -1;
            hc->kind = SCN_CHECK_ABSENT;
            scn__path_pop(c, m2);
        }
        scn__path_pop(c, mark);
    }
    return 0;
}

static int get_endpoint(struct scn__ctx *c, const json_t *obj, unsigned *out)
{
    static const char *const eps[] = {"a", "b", NULL};
    const json_t *v = json_object_get(obj, "endpoint");
    *out = 0;
    if (v == NULL)
        return 0;
    size_t mark = scn__path_push(c, ".endpoint");
    int i;
    if (scn__get_enum(c, v, eps, &i) != 0)
        return -1;
    *out = (unsigned)i;
    scn__path_pop(c, mark);
    return 0;
}

/* The conformance keys of a raw step; refused in load scenarios. */
static int compile_raw_conform(struct scn__ctx *c, const json_t *obj, struct step_conform **out)
{
    static const char *const extra[] = {"endpoint", "message_id",        "headers",
                                        "match",    "not_match",         "absent",
                                        "or_failure_report", "or_closed", NULL};
    static const char *const mids[] = {"new", "previous", NULL};
    *out = NULL;
    bool any = false;
    for (const char *const *k = extra; *k != NULL; k++)
        any = any || json_object_get(obj, *k) != NULL;
    if (!any)
        return 0;
    if (!c->is_case) {
        for (const char *const *k = extra; *k != NULL; k++)
            if (json_object_get(obj, *k) != NULL) {
                scn__path_push(c, ".%s", *k);
                return scn__fail(c, "\"%s\" is only allowed in conformance case files (with a "
                               "top-level \"case\")",
                            *k);
            }
    }
    struct step_conform *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return scn__fail(c, "out of memory");
    *out = f;
    if (get_endpoint(c, obj, &f->endpoint) != 0)
        return -1;
    const json_t *v = json_object_get(obj, "message_id");
    if (v != NULL) {
        size_t mark = scn__path_push(c, ".message_id");
        int i;
        if (scn__get_enum(c, v, mids, &i) != 0)
            return -1;
        f->same_message_id = i == 1;
        scn__path_pop(c, mark);
    }
    if ((v = json_object_get(obj, "or_failure_report")) != NULL) {
        size_t mark = scn__path_push(c, ".or_failure_report");
        if (scn__get_bool(c, v, &f->or_failure_report) != 0)
            return -1;
        scn__path_pop(c, mark);
    }
    if ((v = json_object_get(obj, "or_closed")) != NULL) {
        size_t mark = scn__path_push(c, ".or_closed");
        if (scn__get_bool(c, v, &f->or_closed) != 0)
            return -1;
        scn__path_pop(c, mark);
    }
    return compile_checks(c, obj, f);
}

/* receive.method: "" for any request, else a method name of upper-case letters. */
static int read_method(struct scn__ctx *c, const json_t *v, void *base)
{
    struct step_receive *r = base;
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) >= sizeof r->method)
        return scn__expected(c, "a method name such as \"REPORT\"", v, false);
    for (const char *p = json_string_value(v); *p != '\0'; p++)
        if (*p < 'A' || *p > 'Z')
            return scn__expected(c, "a method name of upper-case letters", v, true);
    strcpy(r->method, json_string_value(v));
    return 0;
}

static int read_receive_expect(struct scn__ctx *c, const json_t *v, void *base)
{
    static const char *const expects[] = {"request", "none", "optional", "nothing", NULL};
    struct step_receive *r = base;
    int i;
    if (scn__get_enum(c, v, expects, &i) != 0)
        return -1;
    r->none = i == 1 || i == 3;
    r->optional = i == 2;
    r->nothing = i == 3;
    return 0;
}

static int read_respond(struct scn__ctx *c, const json_t *v, void *base)
{
    struct step_receive *r = base;
    json_int_t x;
    if (json_is_string(v)) {
        /* A status line that does not parse, for a relay to drop (RFC 4976 6.4.3). */
        const char *t = json_string_value(v);
        if (json_string_length(v) == 0 || json_string_length(v) >= sizeof r->respond_text ||
            strpbrk(t, " \r\n") != NULL)
            return scn__expected(c, "a status code, or a short status text without spaces", v,
                                 true);
        strcpy(r->respond_text, t);
        r->respond = 1;
        return 0;
    }
    if (scn__get_int(c, v, 100, 999, &x) != 0)
        return -1;
    r->respond = (int)x;
    return 0;
}

/* A To-Path other than the previous hop, for a relay to drop (RFC 4976 6.4.3). */
static int read_respond_to(struct scn__ctx *c, const json_t *v, void *base)
{
    struct step_receive *r = base;
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) >= sizeof r->respond_to ||
        strpbrk(json_string_value(v), " \r\n") != NULL)
        return scn__expected(c, "one URI (no spaces, under 128 bytes)", v, false);
    strcpy(r->respond_to, json_string_value(v));
    return 0;
}

static int read_body(struct scn__ctx *c, const json_t *v, void *base)
{
    struct step_receive *r = base;
    struct scn__raw_build b = {0};
    size_t max = 0;
    if (scn__compile_template(c, v, &b, &max) != 0) {
        free(b.buf);
        free(b.pieces);
        return -1;
    }
    r->conform->body = (struct raw_template){b.pieces, b.num, b.buf, b.text_len};
    r->conform->has_body = true;
    return 0;
}

/* The rules between a receive's keys, once each is known to be right on its own. */
static int check_receive_rules(struct scn__ctx *c, const struct step_receive *r)
{
    if ((r->chunk_rules || r->conform->has_body) && r->cover == 0)
        return scn__fail(c, "\"chunk_rules\" and \"body\" need \"cover\"");
    if (r->respond_to[0] != '\0' && r->respond == 0)
        return scn__fail(c, "\"respond_to\" needs \"respond\"");
    if (r->none && (r->respond != 0 || r->conform->num_checks != 0))
        return scn__fail(c, "\"respond\" and header checks need expect \"request\"");
    if (r->cover != 0 && (r->none || r->optional || r->respond != 0))
        return scn__fail(c, "\"cover\" needs expect \"request\" and no \"respond\"");
    return 0;
}

int scn__compile_receive(struct scn__ctx *c, const json_t *obj)
{
    static const char *const allowed[] = {
        "endpoint", "method", "expect", "timeout", "respond", "respond_to", "cover",
        "chunk_rules", "body", "headers", "match", "not_match", "absent", NULL};
    static const struct scn__key keys[] = {
        SCN_KEY_CUSTOM("method", read_method),
        SCN_KEY_CUSTOM("expect", read_receive_expect),
        SCN_KEY_INT("cover", struct step_receive, cover, 1, INT_NO_MAX),
        SCN_KEY_NS("timeout", struct step_receive, timeout_ns),
        SCN_KEY_CUSTOM("respond", read_respond),
        SCN_KEY_CUSTOM("respond_to", read_respond_to),
        SCN_KEY_BOOL("chunk_rules", struct step_receive, chunk_rules),
        SCN_KEY_CUSTOM("body", read_body),
    };
    struct step_receive r = {.timeout_ns = 5ull * 1000000000ull};

    if (!c->is_case)
        return scn__fail(c, "a receive step is only allowed in conformance case files (with a "
                            "top-level \"case\")");
    if (scn__need_object(c, obj) != 0 || scn__check_keys(c, obj, allowed) != 0)
        return -1;
    r.conform = calloc(1, sizeof(*r.conform));
    if (r.conform == NULL)
        return scn__fail(c, "out of memory");
    if (get_endpoint(c, obj, &r.conform->endpoint) != 0 ||
        SCN__READ_KEYS(c, obj, keys, &r) != 0 || compile_checks(c, obj, r.conform) != 0 ||
        check_receive_rules(c, &r) != 0) {
        scn__conform_free(r.conform);
        return -1;
    }
    scn__emit(c, SCN_STEP_RECEIVE)->u.receive = r;
    return 0;
}

static int read_raw_status(struct scn__ctx *c, const json_t *v, void *base)
{
    struct step_raw *r = base;
    return scn__check_statuses(c, v, r->statuses, &r->num_statuses);
}

static bool status_listed(const struct step_raw *r, int status)
{
    for (unsigned i = 0; i < r->num_statuses; i++)
        if (r->statuses[i] == status)
            return true;
    return false;
}

int scn__compile_raw(struct scn__ctx *c, const json_t *obj)
{
    static const char *const load_keys[] = {"template", "expect", "status", "timeout", NULL};
    static const char *const case_keys[] = {"template", "expect",     "status",  "timeout",
                                            "endpoint", "message_id", "headers", "match",
                                            "not_match", "absent",    "or_failure_report",
                                            "or_closed", NULL};
    /* In the order of enum raw_expect. */
    static const char *const expects[] = {"response", "none", "close", NULL};
    static const struct scn__key keys[] = {
        SCN_KEY_ENUM("expect", struct step_raw, expect, expects, NULL),
        SCN_KEY_CUSTOM("status", read_raw_status),
        SCN_KEY_NS("timeout", struct step_raw, timeout_ns),
    };
    struct step_raw r = {.expect = RAW_EXPECT_RESPONSE,
                         .statuses = {200},
                         .num_statuses = 1,
                         .timeout_ns = 5ull * 1000000000ull};
    struct scn__raw_build b = {0};

    if (scn__need_object(c, obj) != 0 ||
        scn__check_keys(c, obj, c->is_case ? case_keys : load_keys) != 0)
        return -1;
    const json_t *vtemplate = json_object_get(obj, "template");
    if (vtemplate == NULL)
        return scn__fail(c, "required key \"template\" missing");
    size_t mark = scn__path_push(c, ".template");
    if (scn__compile_template(c, vtemplate, &b, &r.max_len) != 0)
        goto err;
    scn__path_pop(c, mark);
    if (SCN__READ_KEYS(c, obj, keys, &r) != 0)
        goto err;

    /* The rules between keys, once each key is known to be right on its own. */
    if (json_object_get(obj, "status") != NULL && r.expect != RAW_EXPECT_RESPONSE) {
        scn__path_push(c, ".status");
        scn__fail(c, "\"status\" is only allowed when expect is \"response\"");
        goto err;
    }
    if (r.expect != RAW_EXPECT_RESPONSE)
        r.num_statuses = 0;
    if (compile_raw_conform(c, obj, &r.conform) != 0)
        goto err;
    if (r.conform != NULL && r.conform->num_checks > 0 && r.expect != RAW_EXPECT_RESPONSE) {
        scn__fail(c, "header checks need expect \"response\"");
        goto err;
    }
    if (r.conform != NULL && r.conform->or_failure_report &&
        (r.expect != RAW_EXPECT_RESPONSE || status_listed(&r, 200))) {
        scn__path_push(c, ".or_failure_report");
        scn__fail(c, "needs expect \"response\" and a \"status\" list of errors only (the 200 "
                     "it lets through is followed by one of them in a REPORT)");
        goto err;
    }
    if (r.conform != NULL && r.conform->or_closed && r.expect != RAW_EXPECT_RESPONSE) {
        scn__path_push(c, ".or_closed");
        scn__fail(c, "needs expect \"response\" (a close then stands for the error response)");
        goto err;
    }

    /* The text is what is left once escapes and placeholders are gone: give back the rest. */
    r.text = b.buf;
    if (b.text_len > 0) {
        char *shrunk = realloc(b.buf, b.text_len);
        if (shrunk != NULL)
            r.text = shrunk;
    }
    r.text_len = b.text_len;
    r.pieces = b.pieces;
    r.num_pieces = b.num;
    scn__emit(c, SCN_STEP_RAW)->u.raw = r;
    return 0;

err:
    free(b.buf);
    free(b.pieces);
    scn__conform_free(r.conform);
    return -1;
}
