/*
 * scenario.c - loads a scenario file (scenarios/README.md), checks every value and compiles the
 * steps into the flat array of scenario.h.
 *
 * The checker walks the JSON tree keeping the JSON path of the value it looks at
 * ("$.steps[1].send"), so that the first problem it meets can be reported with its place. Within
 * an object the unknown keys are looked for first (a misspelt key is the likeliest mistake, and
 * it would otherwise surface as a confusing "required key missing"), then the known keys in the
 * order the README's tables list them, then the rules that tie keys together. That order makes
 * the message for a given file deterministic, which the tests rely on.
 *
 * A send's content_file is read while its step is compiled, after the rules that need no file
 * and before those that need its length; the body belongs to the step from then on, and every
 * way out (a later problem, scenario_free) frees it. A raw step's template is compiled the same
 * way: into pieces (literal bytes and placeholders) that the step owns once every key is right.
 */
#include "scenario/scenario.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <regex.h>

#include "wire/uri.h"
#include "wire/values.h"

#define MAX_THREADS SCENARIO_MAX_THREADS
#define MAX_OUTSTANDING 1024
#define MAX_SIZE (1ll << 40)
/*
 * Durations are capped so that any of them, in nanoseconds, fits an int64_t with room to add it
 * to a CLOCK_MONOTONIC reading: 10^9 s is about 31 years, far beyond any run.
 */
#define MAX_SECONDS 1e9
/* Scenarios are a few kilobytes; the cap keeps `run /dev/zero` from eating the memory. */
#define MAX_FILE_BYTES (16u << 20)
/* A send's content_file is read whole into memory: the cap keeps a wrong path from eating it. */
#define MAX_CONTENT_BYTES (1u << 30)
/* A string shown in a message is quoted whole up to this many bytes, described beyond it. */
#define SHOW_STRING_MAX 64
#define PATH_CAP 4096
/* A content_file path (at most 511 bytes) quoted whole, every byte escaped at worst. */
#define SCENARIO_PATH_SHOWN (512 * 6 + 8)

/* The largest json_int_t, meaning "no upper bound" to get_int. */
#if JSON_INTEGER_IS_LONG_LONG
#define INT_NO_MAX LLONG_MAX
#else
#define INT_NO_MAX LONG_MAX
#endif

#define STEP_WHAT                                                                                  \
    "an object with one key: \"send\", \"expect\", \"pause\", \"repeat\", \"close\" or \"raw\""
#define STEPS_WHAT "a non-empty array of steps"
#define SIZE_WHAT "an integer 0..1099511627776 or an object with \"min\" and \"max\""
#define STATUS_WHAT "an integer 100..999 or an array of 1 to 8 of them"
#define NAME_WHAT "1 to 63 letters, digits, \".\", \"_\" or \"-\""
#define CONTENT_TYPE_WHAT "a media type such as \"text/plain\""
#define ACCEPT_WHAT "media types separated by spaces (\"text/plain\", \"text/*\" or \"*\")"
#define DELAY_WHAT "a number of seconds >= 0 or an object with \"min\" and \"max\""
#define FILE_WHAT "a file path"
#define BRACES_HINT "write {{ and }} for literal braces"
#define PLACEHOLDERS "{tid}, {to_path}, {from_path}, {message_id}, {local_uri}"
#define CONFORM_PLACEHOLDERS                                                                       \
    "{relay_uri}, {use_path}, {peer_use_path}, {peer_uri}, {authorization}, "                     \
    "{bad_authorization}, {basic_authorization}, {user}, {unknown_session}, "                  \
    "{to_path_recased}, {refused_type}"
/* What a conformance placeholder is taken to fill at load time (a Use-Path can be long). */
#define CONFORM_VALUE_MAX 2048

/* Where the checker is and where its first complaint goes. */
struct ctx {
    const char *file;
    char *err;
    size_t errlen;
    struct scenario *sc;
    bool is_case;          /* the file has a top-level "case": conformance keys are allowed */
    unsigned open_repeats; /* repeats whose END is still to come: room is kept for each */
    size_t plen;
    char path[PATH_CAP];
};

/* ---- the JSON path ------------------------------------------------------------------------ */

/*
 * Appends to the path and returns the length to restore afterwards. The step limit bounds the
 * nesting (a repeat takes two steps), so the path always fits; should it not, it is cut short
 * rather than overflowing, and only a message would suffer.
 */
static size_t path_push(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t path_push(struct ctx *c, const char *fmt, ...)
{
    size_t mark = c->plen;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->path + c->plen, sizeof c->path - c->plen, fmt, ap);
    va_end(ap);
    if (n > 0)
        c->plen += (size_t)n < sizeof c->path - c->plen ? (size_t)n : sizeof c->path - c->plen - 1;
    return mark;
}

static void path_pop(struct ctx *c, size_t mark)
{
    c->plen = mark;
    c->path[mark] = '\0';
}

/* ---- messages ----------------------------------------------------------------------------- */

/* "FILE: $.path: " and the message. Only the first problem is reported: callers return -1 at
 * once, so this is called at most once per load. */
static int fail(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct ctx *c, const char *fmt, ...)
{
    if (c->errlen == 0)
        return -1;
    int n = snprintf(c->err, c->errlen, "%s: %s: ", c->file, c->path);
    if (n >= 0 && (size_t)n < c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/*
 * The shortest text that reads back as the same double, marked as a real ("100.0", not "100")
 * so that "expected an integer, got 100.0" makes sense. Whole numbers are written out in full
 * (1e10 as 10000000000.0) up to where doubles stop holding every integer.
 */
static void format_real(double d, char *buf, size_t cap)
{
    if (d == trunc(d) && fabs(d) < 1e16) {
        snprintf(buf, cap, "%.0f.0", d);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    if (strpbrk(buf, ".eEn") == NULL) {
        size_t n = strlen(buf);
        snprintf(buf + n, cap - n, ".0");
    }
}

/* A string as JSON would write it, so that control characters and quotes stay visible. */
static void quote_string(const char *s, size_t len, char *buf, size_t cap)
{
    size_t o = 0;
    buf[o++] = '"';
    for (size_t i = 0; i < len && o + 8 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)ch;
        } else if (ch == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (ch == '\t') {
            buf[o++] = '\\';
            buf[o++] = 't';
        } else if (ch == '\r') {
            buf[o++] = '\\';
            buf[o++] = 'r';
        } else if (ch < 0x20 || ch == 0x7f) {
            o += (size_t)snprintf(buf + o, cap - o, "\\u%04x", ch);
        } else {
            buf[o++] = (char)ch;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
}

/*
 * What was found, for "got ...": scalars by their value; strings by their value when the type was
 * right (the value is then what is wrong) or as "a string" when it was not; containers by kind.
 */
static const char *describe(const json_t *v, bool string_value, char *buf, size_t cap)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return json_object_size(v) == 0 ? "an empty object" : "an object";
    case JSON_ARRAY:
        return json_array_size(v) == 0 ? "an empty array" : "an array";
    case JSON_STRING: {
        size_t len = json_string_length(v);
        if (!string_value)
            return "a string";
        if (len > SHOW_STRING_MAX)
            snprintf(buf, cap, "a string of %zu bytes", len);
        else
            quote_string(json_string_value(v), len, buf, cap);
        return buf;
    }
    case JSON_INTEGER:
        snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    case JSON_REAL:
        format_real(json_real_value(v), buf, cap);
        return buf;
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        break;
    }
    return "null";
}

/* "expected WHAT, got ..." at the current path. */
static int expected(struct ctx *c, const char *what, const json_t *v, bool string_value)
{
    char buf[SHOW_STRING_MAX * 6 + 8];
    return fail(c, "expected %s, got %s", what, describe(v, string_value, buf, sizeof buf));
}

/* ---- objects and their keys --------------------------------------------------------------- */

/* Every key of obj must be in the NULL-terminated list allowed. */
static int check_keys(struct ctx *c, const json_t *obj, const char *const *allowed)
{
    json_t *self = (json_t *)obj; /* jansson's iterators take a non-const object */
    for (void *it = json_object_iter(self); it != NULL; it = json_object_iter_next(self, it)) {
        const char *key = json_object_iter_key(it);
        bool known = false;
        for (const char *const *a = allowed; *a != NULL && !known; a++)
            known = strcmp(*a, key) == 0;
        if (known)
            continue;
        char list[512];
        size_t o = 0;
        list[0] = '\0';
        for (const char *const *a = allowed; *a != NULL && o < sizeof list; a++)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s\"%s\"", a == allowed ? "" : ", ",
                                  *a);
        char name[SHOW_STRING_MAX * 6 + 8];
        size_t klen = strlen(key);
        if (klen > SHOW_STRING_MAX)
            snprintf(name, sizeof name, "of %zu bytes", klen);
        else
            quote_string(key, klen, name, sizeof name);
        if (allowed[0] == NULL)
            return fail(c, "unknown key %s; this object takes no keys", name);
        return fail(c, "unknown key %s; allowed keys: %s", name, list);
    }
    return 0;
}

static int need_object(struct ctx *c, const json_t *v)
{
    return json_is_object(v) ? 0 : expected(c, "an object", v, false);
}

/* ---- scalar values ------------------------------------------------------------------------ */

/* An integer in lo..hi (hi == INT_NO_MAX: no upper bound); what overrides the description
 * for values that may also take another form. Reals are refused even when whole: the tables say
 * integer, and 1e3 or 100.0 are more often a slip than a choice. */
static int get_int_what(struct ctx *c, const json_t *v, json_int_t lo, json_int_t hi,
                        const char *what, json_int_t *out)
{
    char buf[80];
    if (what == NULL) {
        if (hi == INT_NO_MAX)
            snprintf(buf, sizeof buf, "an integer >= %" JSON_INTEGER_FORMAT, lo);
        else
            snprintf(buf, sizeof buf, "an integer %" JSON_INTEGER_FORMAT "..%" JSON_INTEGER_FORMAT,
                     lo, hi);
        what = buf;
    }
    if (!json_is_integer(v))
        return expected(c, what, v, false);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return expected(c, what, v, true);
    *out = x;
    return 0;
}

static int get_int(struct ctx *c, const json_t *v, json_int_t lo, json_int_t hi, json_int_t *out)
{
    return get_int_what(c, v, lo, hi, NULL, out);
}

static int get_u32(struct ctx *c, const json_t *v, json_int_t lo, uint32_t *out)
{
    json_int_t x;
    if (get_int(c, v, lo, UINT32_MAX, &x) != 0)
        return -1;
    *out = (uint32_t)x;
    return 0;
}

/* A number (integer or real) >= 0, or > 0 when zero_ok is false. */
static int get_number(struct ctx *c, const json_t *v, bool zero_ok, double *out)
{
    const char *what = zero_ok ? "a number >= 0" : "a number > 0";
    if (!json_is_number(v))
        return expected(c, what, v, false);
    double x = json_number_value(v);
    if (zero_ok ? x < 0 : x <= 0)
        return expected(c, what, v, true);
    *out = x;
    return 0;
}

/* Seconds as a number, >= 0 or > 0, at most MAX_SECONDS. */
static int get_seconds(struct ctx *c, const json_t *v, bool zero_ok, double *out)
{
    const char *what = zero_ok ? "a number of seconds >= 0" : "a number of seconds > 0";
    if (!json_is_number(v))
        return expected(c, what, v, false);
    double s = json_number_value(v);
    if (zero_ok ? s < 0 : s <= 0)
        return expected(c, what, v, true);
    if (s > MAX_SECONDS)
        return expected(c, "a number of seconds <= 1000000000", v, true);
    *out = s;
    return 0;
}

/* Seconds > 0 as whole nanoseconds: a value that would round to 0 ns is refused, since a
 * positive duration that silently becomes none would change what the step does. */
static int get_ns(struct ctx *c, const json_t *v, uint64_t *out)
{
    double s = 0;
    if (get_seconds(c, v, false, &s) != 0)
        return -1;
    long long ns = llround(s * 1e9);
    if (ns < 1)
        return expected(c, "a number of seconds >= 0.000000001", v, true);
    *out = (uint64_t)ns;
    return 0;
}

/* Strings are copied whole or refused: a truncated name or URI would be a different one. */
static int check_length(struct ctx *c, const json_t *v, size_t cap)
{
    size_t len = json_string_length(v);
    if (len < cap)
        return 0;
    return fail(c, "expected a string of at most %zu bytes, got a string of %zu bytes", cap - 1,
                len);
}

static int copy_string(struct ctx *c, const json_t *v, const char *what, char *dst, size_t cap)
{
    if (!json_is_string(v))
        return expected(c, what, v, false);
    if (check_length(c, v, cap) != 0)
        return -1;
    /* The file may hold \u0000 (a raw template needs it), but a NUL would silently cut these
     * strings short: a different name, path or media type. */
    if (strlen(json_string_value(v)) != json_string_length(v))
        return expected(c, what, v, true);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

/* One of the NULL-terminated names; *out is its index. */
static int get_enum(struct ctx *c, const json_t *v, const char *const *names, int *out)
{
    if (json_is_string(v)) {
        for (int i = 0; names[i] != NULL; i++) {
            if (strcmp(names[i], json_string_value(v)) == 0 &&
                strlen(names[i]) == json_string_length(v)) {
                *out = i;
                return 0;
            }
        }
    }
    char what[160] = "one of ";
    size_t o = strlen(what);
    for (int i = 0; names[i] != NULL && o < sizeof what; i++)
        o += (size_t)snprintf(what + o, sizeof what - o, "%s\"%s\"", i == 0 ? "" : ", ", names[i]);
    return expected(c, what, v, json_is_string(v));
}

static int get_bool(struct ctx *c, const json_t *v, bool *out)
{
    if (!json_is_boolean(v))
        return expected(c, "true or false", v, false);
    *out = json_is_true(v);
    return 0;
}

/* ---- the top-level strings ---------------------------------------------------------------- */

/* The name becomes part of a folder name, so only characters that are safe there. */
static int get_name(struct ctx *c, const json_t *v, char *dst, size_t cap)
{
    if (!json_is_string(v))
        return expected(c, NAME_WHAT, v, false);
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    bool ok = len >= 1 && len < cap;
    for (size_t i = 0; i < len && ok; i++) {
        char ch = s[i];
        ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
             ch == '.' || ch == '_' || ch == '-';
    }
    if (!ok)
        return expected(c, NAME_WHAT, v, true);
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

/* "auto", or seconds from 0 (off) to SCENARIO_MAX_BATCH_WINDOW_S. */
static int get_batch_window(struct ctx *c, const json_t *v)
{
    static const char what[] = "\"auto\" or a number of seconds from 0 to 0.1";
    if (json_is_string(v)) {
        if (strcmp(json_string_value(v), "auto") != 0)
            return expected(c, what, v, true);
        c->sc->batch_window_auto = true;
        c->sc->batch_window_s = 0;
        return 0;
    }
    if (!json_is_number(v))
        return expected(c, what, v, false);
    double s = json_number_value(v);
    if (!(s >= 0 && s <= SCENARIO_MAX_BATCH_WINDOW_S))
        return expected(c, what, v, true);
    c->sc->batch_window_auto = false;
    c->sc->batch_window_s = s;
    return 0;
}

static int check_load(struct ctx *c, const json_t *load)
{
    static const char *const keys[] = {"threads",     "sessions", "concurrency", "session_rate",
                                       "ramp_up",     "duration", "warm_up",     "mode",
                                       "outstanding", "rate",     "batch_window", NULL};
    static const char *const modes[] = {"closed", "open", NULL};
    struct scenario *sc = c->sc;
    json_t *v;
    json_int_t x;
    size_t mark;

    if (need_object(c, load) != 0 || check_keys(c, load, keys) != 0)
        return -1;

    if ((v = json_object_get(load, "threads")) != NULL) {
        mark = path_push(c, ".threads");
        if (get_int(c, v, 0, MAX_THREADS, &x) != 0)
            return -1;
        sc->threads = (unsigned)x;
        path_pop(c, mark);
    }
    if ((v = json_object_get(load, "sessions")) != NULL) {
        mark = path_push(c, ".sessions");
        if (get_int(c, v, 1, (json_int_t)SCENARIO_MAX_SESSIONS, &x) != 0)
            return -1;
        sc->sessions = (uint64_t)x;
        path_pop(c, mark);
    }
    json_t *concurrency = json_object_get(load, "concurrency");
    if (concurrency != NULL) {
        mark = path_push(c, ".concurrency");
        if (get_int(c, concurrency, 1, (json_int_t)SCENARIO_MAX_CONCURRENCY, &x) != 0)
            return -1;
        sc->concurrency = (uint64_t)x;
        sc->concurrency_given = true;
        path_pop(c, mark);
    }
    if ((v = json_object_get(load, "session_rate")) != NULL) {
        mark = path_push(c, ".session_rate");
        if (get_number(c, v, true, &sc->session_rate) != 0)
            return -1;
        path_pop(c, mark);
    }
    if ((v = json_object_get(load, "ramp_up")) != NULL) {
        mark = path_push(c, ".ramp_up");
        if (get_seconds(c, v, true, &sc->ramp_up_s) != 0)
            return -1;
        path_pop(c, mark);
    }
    if ((v = json_object_get(load, "duration")) != NULL) {
        mark = path_push(c, ".duration");
        if (get_seconds(c, v, false, &sc->duration_s) != 0)
            return -1;
        path_pop(c, mark);
    }
    if ((v = json_object_get(load, "warm_up")) != NULL) {
        mark = path_push(c, ".warm_up");
        if (get_seconds(c, v, true, &sc->warm_up_s) != 0)
            return -1;
        path_pop(c, mark);
    }
    if ((v = json_object_get(load, "mode")) != NULL) {
        int m;
        mark = path_push(c, ".mode");
        if (get_enum(c, v, modes, &m) != 0)
            return -1;
        sc->mode = m == 0 ? SCENARIO_CLOSED : SCENARIO_OPEN;
        path_pop(c, mark);
    }
    if ((v = json_object_get(load, "outstanding")) != NULL) {
        mark = path_push(c, ".outstanding");
        if (get_int(c, v, 1, MAX_OUTSTANDING, &x) != 0)
            return -1;
        sc->outstanding = (unsigned)x;
        path_pop(c, mark);
    }
    if ((v = json_object_get(load, "batch_window")) != NULL) {
        mark = path_push(c, ".batch_window");
        if (get_batch_window(c, v) != 0)
            return -1;
        path_pop(c, mark);
    }
    json_t *rate = json_object_get(load, "rate");
    if (rate != NULL) {
        mark = path_push(c, ".rate");
        if (get_number(c, rate, false, &sc->rate) != 0)
            return -1;
        path_pop(c, mark);
    }

    /* The rules between keys, once each key is known to be right on its own. */
    if (concurrency != NULL && sc->concurrency > sc->sessions) {
        path_push(c, ".concurrency");
        return fail(c, "expected an integer <= load.sessions (%llu), got %llu",
                    (unsigned long long)sc->sessions, (unsigned long long)sc->concurrency);
    }
    if (sc->mode == SCENARIO_OPEN && rate == NULL)
        return fail(c, "\"rate\" is required when mode is \"open\"");
    if (sc->mode == SCENARIO_CLOSED && rate != NULL) {
        path_push(c, ".rate");
        return fail(c, "\"rate\" is only allowed when mode is \"open\"");
    }
    return 0;
}

/* ---- topology ----------------------------------------------------------------------------- */

static int check_target(struct ctx *c, const json_t *v, char *dst)
{
    bool tls = c->sc->tls;
    const char *what = tls ? "an msrps:// URI" : "an msrp:// URI";
    char buf[SHOW_STRING_MAX * 6 + 8];

    if (!json_is_string(v))
        return expected(c, what, v, false);
    if (check_length(c, v, sizeof c->sc->targets[0]) != 0)
        return -1;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    struct msrp_uri u;
    enum msrp_uri_error e = msrp_uri_parse(s, len, &u);
    describe(v, true, buf, sizeof buf);
    if (e != MSRP_URI_OK)
        return fail(c, "expected %s, got %s (%s)", what, buf, msrp_uri_error_text(e));
    if (u.secure != tls)
        return fail(c, "expected %s as transport is \"%s\", got %s", what, tls ? "tls" : "tcp",
                    buf);
    /* Both msrp and msrps run over TCP (RFC 4975 section 6); no other transport exists here. */
    if (!msrp_span_eq_nocase(u.transport, MSRP_SPAN_LIT("tcp")))
        return fail(c, "expected %s with transport \"tcp\", got %s", what, buf);
    memcpy(dst, s, len + 1);
    return 0;
}

/* A user name for AUTH: printable, no quote or backslash (it goes into a quoted digest
 * parameter), and at most one printf integer conversion (%d, %u or %0Nd) for --relay-users. */
bool scenario_relay_user_ok(const char *user, bool *has_pattern)
{
    unsigned conversions = 0;
    if (user[0] == '\0')
        return false;
    for (const char *p = user; *p != '\0'; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
            return false;
        if (ch != '%')
            continue;
        if (p[1] == '%') {
            p++;
            continue;
        }
        p++;
        if (*p == '0')
            p++;
        while (*p >= '0' && *p <= '9')
            p++;
        if (*p != 'd' && *p != 'u')
            return false;
        conversions++;
    }
    if (has_pattern != NULL)
        *has_pattern = conversions == 1;
    return conversions <= 1;
}

void scenario_relay_user_format(const char *user, uint64_t account, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return;
    for (const char *p = user; *p != '\0' && o + 1 < cap; p++) {
        if (*p != '%') {
            out[o++] = *p;
            continue;
        }
        if (p[1] == '%') {
            out[o++] = '%';
            p++;
            continue;
        }
        p++;
        bool zero = *p == '0';
        if (zero)
            p++;
        unsigned width = 0;
        while (*p >= '0' && *p <= '9' && width < 64)
            width = width * 10 + (unsigned)(*p++ - '0');
        while (*p >= '0' && *p <= '9')
            p++;
        /* *p is 'd' or 'u' (checked by the loader): the number, padded to width. */
        int n = snprintf(out + o, cap - o, zero ? "%0*llu" : "%*llu", (int)width,
                         (unsigned long long)account);
        if (n < 0)
            break;
        o += (size_t)n < cap - o ? (size_t)n : cap - o - 1;
    }
    out[o] = '\0';
}

static int check_relay(struct ctx *c, const json_t *relay)
{
    static const char *const keys[] = {"uri", "user", "users", "password_file", "expires", NULL};
    struct scenario *sc = c->sc;
    json_t *v;
    size_t mark;

    if (need_object(c, relay) != 0 || check_keys(c, relay, keys) != 0)
        return -1;
    if ((v = json_object_get(relay, "uri")) != NULL) {
        mark = path_push(c, ".uri");
        if (check_target(c, v, sc->relay.uri) != 0)
            return -1;
        path_pop(c, mark);
    }
    if ((v = json_object_get(relay, "user")) != NULL) {
        mark = path_push(c, ".user");
        const char *what = "a user name (printable, no quotes, at most one %d or %0Nd)";
        if (copy_string(c, v, what, sc->relay.user, sizeof sc->relay.user) != 0)
            return -1;
        if (!scenario_relay_user_ok(sc->relay.user, NULL))
            return expected(c, what, v, true);
        path_pop(c, mark);
    }
    if ((v = json_object_get(relay, "users")) != NULL) {
        mark = path_push(c, ".users");
        if (get_u32(c, v, 1, &sc->relay.users) != 0)
            return -1;
        path_pop(c, mark);
    }
    if ((v = json_object_get(relay, "password_file")) != NULL) {
        mark = path_push(c, ".password_file");
        if (copy_string(c, v, "a file path", sc->relay.password_file,
                        sizeof sc->relay.password_file) != 0)
            return -1;
        if (sc->relay.password_file[0] == '\0')
            return expected(c, "a file path", v, true);
        path_pop(c, mark);
    }
    if ((v = json_object_get(relay, "expires")) != NULL) {
        mark = path_push(c, ".expires");
        if (get_u32(c, v, 1, &sc->relay.expires) != 0)
            return -1;
        path_pop(c, mark);
    }
    return 0;
}

static int check_topology(struct ctx *c, const json_t *topo)
{
    static const char *const keys[] = {"kind", "transport", "targets", "ca_file", "relay", NULL};
    static const char *const kinds[] = {"embedded", "target", "relay", NULL};
    static const char *const transports[] = {"tcp", "tls", NULL};
    struct scenario *sc = c->sc;
    json_t *v;
    size_t mark;
    int i;

    if (need_object(c, topo) != 0 || check_keys(c, topo, keys) != 0)
        return -1;
    if ((v = json_object_get(topo, "kind")) != NULL) {
        mark = path_push(c, ".kind");
        if (get_enum(c, v, kinds, &i) != 0)
            return -1;
        sc->topology = i == 0 ? SCENARIO_EMBEDDED : i == 1 ? SCENARIO_TARGET : SCENARIO_RELAY;
        path_pop(c, mark);
    }
    if ((v = json_object_get(topo, "transport")) != NULL) {
        mark = path_push(c, ".transport");
        if (get_enum(c, v, transports, &i) != 0)
            return -1;
        sc->tls = i == 1;
        path_pop(c, mark);
    }

    json_t *targets = json_object_get(topo, "targets");
    if (targets != NULL) {
        mark = path_push(c, ".targets");
        if (sc->topology != SCENARIO_TARGET)
            return fail(c, "\"targets\" is only allowed when kind is \"target\"");
        const char *what = "an array of 1 to 64 MSRP URIs";
        if (!json_is_array(targets) || json_array_size(targets) == 0)
            return expected(c, what, targets, false);
        if (json_array_size(targets) > SCENARIO_MAX_TARGETS)
            return fail(c, "expected %s, got an array of %zu", what, json_array_size(targets));
        for (size_t idx = 0; idx < json_array_size(targets); idx++) {
            v = json_array_get(targets, idx);
            size_t m2 = path_push(c, "[%zu]", idx);
            if (check_target(c, v, sc->targets[idx]) != 0)
                return -1;
            path_pop(c, m2);
        }
        sc->num_targets = (unsigned)json_array_size(targets);
        path_pop(c, mark);
    } else if (sc->topology == SCENARIO_TARGET) {
        return fail(c, "\"targets\" is required when kind is \"target\"");
    }

    json_t *relay = json_object_get(topo, "relay");
    if (relay != NULL) {
        mark = path_push(c, ".relay");
        if (sc->topology != SCENARIO_RELAY)
            return fail(c, "\"relay\" is only allowed when kind is \"relay\"");
        if (check_relay(c, relay) != 0)
            return -1;
        path_pop(c, mark);
    }

    if ((v = json_object_get(topo, "ca_file")) != NULL) {
        mark = path_push(c, ".ca_file");
        /* The embedded endpoints' certificate is made for the run, so a CA file could only be
         * for target endpoints or a relay, and only TLS verifies anything. */
        if (sc->topology == SCENARIO_EMBEDDED || !sc->tls)
            return fail(c, "\"ca_file\" is only allowed when kind is \"target\" or \"relay\" "
                           "and transport is \"tls\"");
        if (copy_string(c, v, "a file path", sc->ca_file, sizeof sc->ca_file) != 0)
            return -1;
        if (sc->ca_file[0] == '\0')
            return expected(c, "a file path", v, true);
        path_pop(c, mark);
    }
    return 0;
}

/* ---- steps -------------------------------------------------------------------------------- */

/*
 * Appends a step; compile_step has made sure there is room. A BEGIN keeps a place for its END,
 * so that a repeat whose body would fill the array is refused at the step that overflows rather
 * than at the END, which has no place in the file to name.
 */
static struct step *emit(struct ctx *c, enum step_kind kind)
{
    struct scenario *sc = c->sc;
    if (kind == STEP_REPEAT_BEGIN)
        c->open_repeats++;
    else if (kind == STEP_REPEAT_END)
        c->open_repeats--;
    struct step *st = &sc->steps[sc->num_steps++];
    memset(st, 0, sizeof *st);
    st->kind = kind;
    return st;
}

static int check_size(struct ctx *c, const json_t *v, struct step_send *s)
{
    static const char *const keys[] = {"min", "max", NULL};
    json_int_t lo, hi;

    if (json_is_integer(v)) {
        if (get_int_what(c, v, 0, MAX_SIZE, SIZE_WHAT, &lo) != 0)
            return -1;
        s->size_min = s->size_max = (uint64_t)lo;
        return 0;
    }
    if (!json_is_object(v))
        return expected(c, SIZE_WHAT, v, false);
    if (check_keys(c, v, keys) != 0)
        return -1;
    const json_t *vmin = json_object_get(v, "min"), *vmax = json_object_get(v, "max");
    if (vmin == NULL)
        return fail(c, "required key \"min\" missing");
    if (vmax == NULL)
        return fail(c, "required key \"max\" missing");
    size_t mark = path_push(c, ".min");
    if (get_int(c, vmin, 0, MAX_SIZE, &lo) != 0)
        return -1;
    path_pop(c, mark);
    path_push(c, ".max");
    if (get_int(c, vmax, 0, MAX_SIZE, &hi) != 0)
        return -1;
    if (hi < lo)
        return fail(
            c, "expected an integer >= min (%" JSON_INTEGER_FORMAT "), got %" JSON_INTEGER_FORMAT,
            lo, hi);
    path_pop(c, mark);
    s->size_min = (uint64_t)lo;
    s->size_max = (uint64_t)hi;
    return 0;
}

/*
 * Reads a send's content_file whole. The path is taken as given, so a relative one is relative
 * to the current directory, like every other path msrpload is given.
 */
static int read_content(struct ctx *c, const char *file, char **out, size_t *outlen)
{
    char shown[SCENARIO_PATH_SHOWN];
    char ebuf[128];
    quote_string(file, strlen(file), shown, sizeof shown);

    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(c, "cannot open %s: %s", shown, strerror_r(errno, ebuf, sizeof ebuf));
    /* A regular file is read into a buffer of its size and one byte more, where the end of
     * the file shows without a copy; anything else (a pipe, a device) grows as it comes. */
    size_t cap = 65536, len = 0;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        if ((uint64_t)st.st_size > MAX_CONTENT_BYTES) {
            close(fd);
            return fail(c, "cannot read %s: larger than %u bytes", shown, MAX_CONTENT_BYTES);
        }
        cap = (size_t)st.st_size + 1;
    }
    char *buf = malloc(cap);
    if (buf == NULL) {
        close(fd);
        return fail(c, "cannot read %s: out of memory", shown);
    }
    for (;;) {
        if (len > MAX_CONTENT_BYTES) {
            fail(c, "cannot read %s: larger than %u bytes", shown, MAX_CONTENT_BYTES);
            goto err;
        }
        if (len == cap) {
            size_t ncap = cap * 2 > MAX_CONTENT_BYTES + 1 ? MAX_CONTENT_BYTES + 1 : cap * 2;
            char *nb = realloc(buf, ncap);
            if (nb == NULL) {
                fail(c, "cannot read %s: out of memory", shown);
                goto err;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fail(c, "cannot read %s: %s", shown, strerror_r(errno, ebuf, sizeof ebuf));
            goto err;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    *out = buf;
    *outlen = len;
    return 0;

err:
    close(fd);
    free(buf);
    return -1;
}

/* How the rules on abort_after and interrupt_after name the message size they compare with. */
static const char *size_name(bool content, bool range, bool low)
{
    if (content)
        return "the length of content_file";
    if (range)
        return low ? "size.min" : "size.max";
    return "size";
}

/*
 * The rules on abort_after and interrupt_after, once the size is known (content_file's is known
 * only once it has been read). Either would otherwise do nothing, silently: an abort past the
 * end of a message, an interruption past its end or past its abort.
 */
static int check_cut(struct ctx *c, const struct step_send *s, bool range)
{
    bool content = s->content != NULL;
    if (s->abort_after > s->size_min) {
        path_push(c, ".abort_after");
        return fail(c, "expected an integer <= %s (%llu), got %llu",
                    size_name(content, range, true), (unsigned long long)s->size_min,
                    (unsigned long long)s->abort_after);
    }
    if (s->interrupt_after > 0 && s->interrupt_after >= s->size_max) {
        path_push(c, ".interrupt_after");
        return fail(c, "expected an integer < %s (%llu), got %llu",
                    size_name(content, range, false), (unsigned long long)s->size_max,
                    (unsigned long long)s->interrupt_after);
    }
    if (s->interrupt_after > 0 && s->abort_after > 0 && s->interrupt_after >= s->abort_after) {
        path_push(c, ".interrupt_after");
        return fail(c, "expected an integer < abort_after (%llu), got %llu",
                    (unsigned long long)s->abort_after, (unsigned long long)s->interrupt_after);
    }
    return 0;
}

static int compile_send(struct ctx *c, const json_t *obj)
{
    static const char *const keys[] = {
        "count",      "size",           "content_file",    "content_type",
        "chunk_size", "failure_report", "success_report",  "order",
        "overlap",    "unknown_total",  "interrupt_after", "abort_after",
        "numeric_range_end", NULL};
    static const char *const failure[] = {"yes", "no", "partial", "absent", NULL};
    static const enum msrp_report failure_val[] = {MSRP_REPORT_YES, MSRP_REPORT_NO,
                                                   MSRP_REPORT_PARTIAL, MSRP_REPORT_ABSENT};
    static const char *const success[] = {"yes", "no", "absent", NULL};
    static const enum msrp_report success_val[] = {MSRP_REPORT_YES, MSRP_REPORT_NO,
                                                   MSRP_REPORT_ABSENT};
    /* In the order of enum step_order. */
    static const char *const orders[] = {"in-order", "reverse", "shuffled", "overlapping", NULL};
    struct step_send s = {.count = 1,
                          .size_min = 100,
                          .size_max = 100,
                          .chunk_size = 2048,
                          .failure_report = MSRP_REPORT_ABSENT,
                          .success_report = MSRP_REPORT_ABSENT,
                          .order = ORDER_IN_ORDER};
    char content_file[512] = "";
    uint32_t overlap = 16;
    json_t *v;
    json_int_t x;
    size_t mark;
    int i;

    strcpy(s.content_type, "text/plain");
    if (need_object(c, obj) != 0 || check_keys(c, obj, keys) != 0)
        return -1;
    if ((v = json_object_get(obj, "count")) != NULL) {
        mark = path_push(c, ".count");
        if (get_u32(c, v, 1, &s.count) != 0)
            return -1;
        path_pop(c, mark);
    }
    const json_t *vsize = json_object_get(obj, "size");
    if (vsize != NULL) {
        mark = path_push(c, ".size");
        if (check_size(c, vsize, &s) != 0)
            return -1;
        path_pop(c, mark);
    }
    const json_t *vfile = json_object_get(obj, "content_file");
    if (vfile != NULL) {
        mark = path_push(c, ".content_file");
        if (copy_string(c, vfile, FILE_WHAT, content_file, sizeof content_file) != 0)
            return -1;
        if (content_file[0] == '\0')
            return expected(c, FILE_WHAT, vfile, true);
        path_pop(c, mark);
    }
    if ((v = json_object_get(obj, "content_type")) != NULL) {
        mark = path_push(c, ".content_type");
        if (copy_string(c, v, CONTENT_TYPE_WHAT, s.content_type, sizeof s.content_type) != 0)
            return -1;
        /* It goes on the wire as the Content-Type header: it must be one (RFC 4975 section 9),
         * and a line end in it would forge headers. */
        struct msrp_media_type mt;
        if (!msrp_media_type_parse(msrp_span_cstr(s.content_type), &mt))
            return expected(c, CONTENT_TYPE_WHAT, v, true);
        path_pop(c, mark);
    }
    const json_t *vchunk = json_object_get(obj, "chunk_size");
    if (vchunk != NULL) {
        mark = path_push(c, ".chunk_size");
        if (get_u32(c, vchunk, 1, &s.chunk_size) != 0)
            return -1;
        path_pop(c, mark);
    }
    if ((v = json_object_get(obj, "failure_report")) != NULL) {
        mark = path_push(c, ".failure_report");
        if (get_enum(c, v, failure, &i) != 0)
            return -1;
        s.failure_report = failure_val[i];
        path_pop(c, mark);
    }
    if ((v = json_object_get(obj, "success_report")) != NULL) {
        mark = path_push(c, ".success_report");
        if (get_enum(c, v, success, &i) != 0)
            return -1;
        s.success_report = success_val[i];
        path_pop(c, mark);
    }
    if ((v = json_object_get(obj, "order")) != NULL) {
        mark = path_push(c, ".order");
        if (get_enum(c, v, orders, &i) != 0)
            return -1;
        s.order = (enum step_order)i;
        path_pop(c, mark);
    }
    const json_t *voverlap = json_object_get(obj, "overlap");
    if (voverlap != NULL) {
        mark = path_push(c, ".overlap");
        if (get_u32(c, voverlap, 1, &overlap) != 0)
            return -1;
        path_pop(c, mark);
    }
    if ((v = json_object_get(obj, "unknown_total")) != NULL) {
        mark = path_push(c, ".unknown_total");
        if (get_bool(c, v, &s.unknown_total) != 0)
            return -1;
        path_pop(c, mark);
    }
    if ((v = json_object_get(obj, "numeric_range_end")) != NULL) {
        mark = path_push(c, ".numeric_range_end");
        if (get_bool(c, v, &s.numeric_range_end) != 0)
            return -1;
        path_pop(c, mark);
    }
    if ((v = json_object_get(obj, "interrupt_after")) != NULL) {
        mark = path_push(c, ".interrupt_after");
        if (get_int(c, v, 1, INT_NO_MAX, &x) != 0)
            return -1;
        s.interrupt_after = (uint64_t)x;
        path_pop(c, mark);
    }
    if ((v = json_object_get(obj, "abort_after")) != NULL) {
        mark = path_push(c, ".abort_after");
        if (get_int(c, v, 1, INT_NO_MAX, &x) != 0)
            return -1;
        s.abort_after = (uint64_t)x;
        path_pop(c, mark);
    }

    /* The rules between keys, once each key is known to be right on its own. */
    if (vfile != NULL && vsize != NULL) {
        path_push(c, ".content_file");
        return fail(c, "\"content_file\" is not allowed together with \"size\"");
    }
    if (voverlap != NULL && s.order != ORDER_OVERLAPPING) {
        path_push(c, ".overlap");
        return fail(c, "\"overlap\" is only allowed when order is \"overlapping\"");
    }
    /* A total of "*", an interruption and an abort are a sender's going through a message from
     * its first byte; one whose last chunk may leave first knows the end and may have sent it. */
    if (s.order == ORDER_REVERSE || s.order == ORDER_SHUFFLED) {
        const char *key = s.unknown_total         ? "unknown_total"
                          : s.interrupt_after > 0 ? "interrupt_after"
                          : s.abort_after > 0     ? "abort_after"
                                                  : NULL;
        if (key != NULL) {
            path_push(c, ".%s", key);
            return fail(c, "\"%s\" is not allowed when order is \"%s\"", key, orders[s.order]);
        }
    }
    if (s.order == ORDER_OVERLAPPING) {
        /* Each chunk must carry at least one byte the one before did not. */
        if (overlap >= s.chunk_size && voverlap != NULL) {
            path_push(c, ".overlap");
            return fail(c, "expected an integer < chunk_size (%" PRIu32 "), got %" PRIu32,
                        s.chunk_size, overlap);
        }
        if (overlap >= s.chunk_size) {
            path_push(c, ".chunk_size");
            return fail(c,
                        "expected an integer > overlap (%" PRIu32 ") as order is "
                        "\"overlapping\", got %" PRIu32,
                        overlap, s.chunk_size);
        }
        s.overlap = overlap;
    }
    if (vfile != NULL) {
        mark = path_push(c, ".content_file");
        if (read_content(c, content_file, &s.content, &s.content_len) != 0)
            return -1;
        path_pop(c, mark);
        s.size_min = s.size_max = s.content_len;
    }
    if (check_cut(c, &s, vsize != NULL && json_is_object(vsize)) != 0) {
        free(s.content);
        return -1;
    }

    emit(c, STEP_SEND)->u.send = s;
    return 0;
}

/* expect.status and raw.status: one code or a short list of them. */
static int check_statuses(struct ctx *c, const json_t *v, int *statuses, unsigned *num)
{
    json_int_t x;
    if (json_is_integer(v)) {
        if (get_int_what(c, v, 100, 999, STATUS_WHAT, &x) != 0)
            return -1;
        statuses[0] = (int)x;
        *num = 1;
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) == 0)
        return expected(c, STATUS_WHAT, v, false);
    if (json_array_size(v) > SCENARIO_MAX_STATUSES)
        return fail(c, "expected %s, got an array of %zu", STATUS_WHAT, json_array_size(v));
    for (size_t i = 0; i < json_array_size(v); i++) {
        size_t mark = path_push(c, "[%zu]", i);
        if (get_int(c, json_array_get(v, i), 100, 999, &x) != 0)
            return -1;
        statuses[i] = (int)x;
        path_pop(c, mark);
    }
    *num = (unsigned)json_array_size(v);
    return 0;
}

static int compile_expect(struct ctx *c, const json_t *obj)
{
    static const char *const load_keys[] = {"status", "report", "timeout", "answered", NULL};
    static const char *const case_keys[] = {"status",   "report",          "timeout",
                                            "answered", "unobservable_if", NULL};
    const char *const *keys = c->is_case ? case_keys : load_keys;
    struct step_expect e = {.statuses = {200},
                            .num_statuses = 1,
                            .report = 0,
                            .timeout_ns = 30ull * 1000000000ull,
                            .answered = -1};
    json_t *v;
    json_int_t x;
    size_t mark;

    if (need_object(c, obj) != 0 || check_keys(c, obj, keys) != 0)
        return -1;
    if ((v = json_object_get(obj, "status")) != NULL) {
        mark = path_push(c, ".status");
        if (check_statuses(c, v, e.statuses, &e.num_statuses) != 0)
            return -1;
        path_pop(c, mark);
    }
    if ((v = json_object_get(obj, "report")) != NULL && !json_is_null(v)) {
        mark = path_push(c, ".report");
        if (get_int_what(c, v, 100, 999, "an integer 100..999 or null", &x) != 0)
            return -1;
        e.report = (int)x;
        path_pop(c, mark);
    }
    if ((v = json_object_get(obj, "timeout")) != NULL) {
        mark = path_push(c, ".timeout");
        if (get_ns(c, v, &e.timeout_ns) != 0)
            return -1;
        path_pop(c, mark);
    }
    if ((v = json_object_get(obj, "answered")) != NULL) {
        bool b = false;
        mark = path_push(c, ".answered");
        if (get_bool(c, v, &b) != 0)
            return -1;
        e.answered = b ? 1 : 0;
        path_pop(c, mark);
    }
    if ((v = json_object_get(obj, "unobservable_if")) != NULL) {
        mark = path_push(c, ".unobservable_if");
        if (check_statuses(c, v, e.unobservable_if, &e.num_unobservable_if) != 0)
            return -1;
        path_pop(c, mark);
    }

    emit(c, STEP_EXPECT)->u.expect = e;
    return 0;
}

/* ---- raw ---------------------------------------------------------------------------------- */

/* The placeholders a template may hold, and what each becomes. */
static const struct {
    const char *name;
    enum raw_part part;
    enum conform_value value; /* RAW_PART_CONFORM only */
} raw_names[] = {
    {"tid", RAW_PART_TID, 0},
    {"to_path", RAW_PART_TO_PATH, 0},
    {"from_path", RAW_PART_FROM_PATH, 0},
    {"message_id", RAW_PART_MESSAGE_ID, 0},
    {"local_uri", RAW_PART_FROM_PATH, 0},
    /* conformance case files only */
    {"relay_uri", RAW_PART_CONFORM, CONFORM_V_RELAY_URI},
    {"use_path", RAW_PART_CONFORM, CONFORM_V_USE_PATH},
    {"peer_use_path", RAW_PART_CONFORM, CONFORM_V_PEER_USE_PATH},
    {"peer_uri", RAW_PART_CONFORM, CONFORM_V_PEER_URI},
    {"authorization", RAW_PART_CONFORM, CONFORM_V_AUTHORIZATION},
    {"bad_authorization", RAW_PART_CONFORM, CONFORM_V_BAD_AUTHORIZATION},
    {"user", RAW_PART_CONFORM, CONFORM_V_USER},
    {"unknown_session", RAW_PART_CONFORM, CONFORM_V_UNKNOWN_SESSION},
    {"to_path_recased", RAW_PART_CONFORM, CONFORM_V_TO_PATH_RECASED},
    {"refused_type", RAW_PART_CONFORM, CONFORM_V_REFUSED_TYPE},
    {"basic_authorization", RAW_PART_CONFORM, CONFORM_V_BASIC_AUTHORIZATION},
};

#define RAW_NAMES (sizeof raw_names / sizeof raw_names[0])

/* The index in raw_names of the placeholder name[0..len), or RAW_NAMES. */
static size_t raw_lookup(const char *name, size_t len)
{
    size_t k = 0;
    while (k < RAW_NAMES &&
           !(strlen(raw_names[k].name) == len && memcmp(raw_names[k].name, name, len) == 0))
        k++;
    return k;
}

/* The template being compiled: its bytes (compacted in place into the literal text) and its
 * pieces so far. */
struct raw_build {
    char *buf;
    size_t text_len;
    struct raw_piece *pieces;
    unsigned num, cap;
    size_t tids, message_ids, paths, conform;
};

static bool raw_push(struct raw_build *b, enum raw_part part, uint32_t off, uint32_t len)
{
    /* Literal bytes that follow literal bytes join their piece ({{ and }} split nothing). */
    if (part == RAW_PART_TEXT && b->num > 0 && b->pieces[b->num - 1].part == RAW_PART_TEXT) {
        b->pieces[b->num - 1].len += len;
        return true;
    }
    if (b->num == b->cap) {
        unsigned ncap = b->cap == 0 ? 8 : b->cap * 2;
        struct raw_piece *np = realloc(b->pieces, ncap * sizeof(*np));
        if (np == NULL)
            return false;
        b->pieces = np;
        b->cap = ncap;
    }
    b->pieces[b->num++] = (struct raw_piece){part, off, len};
    return true;
}

/*
 * A JSON string is Unicode, the wire is bytes: each character U+0000..U+00FF stands for the
 * byte of that value (so "\u00ff" is the byte 0xff, as in Latin-1), and any other is refused
 * rather than guessed at. jansson hands the string over as valid UTF-8 of len bytes; the bytes
 * go to out, which has room for len.
 */
static int raw_decode(struct ctx *c, const char *in, size_t len, char *out, size_t *outlen)
{
    size_t n = 0, chars = 0;
    for (size_t i = 0; i < len;) {
        unsigned char b = (unsigned char)in[i];
        size_t k = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
        uint32_t cp = k == 1 ? b : k == 2 ? b & 0x1Fu : k == 3 ? b & 0x0Fu : b & 0x07u;
        for (size_t j = 1; j < k && i + j < len; j++)
            cp = cp << 6 | ((unsigned char)in[i + j] & 0x3Fu);
        chars++;
        if (cp > 0xFF)
            return fail(c,
                        "expected characters U+0000..U+00FF only (one byte each), got U+%04" PRIX32
                        " at character %zu",
                        cp, chars);
        out[n++] = (char)cp;
        i += k;
    }
    *outlen = n;
    return 0;
}

/*
 * Splits the template's bytes into literal text and placeholders, in the manner of Python's
 * str.format: {name} is a placeholder, {{ and }} a brace, and any other brace a mistake (most
 * likely a brace in a body that should have been doubled). The literal text is written over
 * the bytes already read, so b->buf ends up holding just the text.
 */
static int raw_split(struct ctx *c, struct raw_build *b, size_t n)
{
    char *p = b->buf;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        char ch = p[i];
        if ((ch == '{' || ch == '}') && i + 1 < n && p[i + 1] == ch) {
            p[o] = ch;
            if (!raw_push(b, RAW_PART_TEXT, (uint32_t)o, 1))
                return fail(c, "out of memory");
            o++;
            i += 2;
            continue;
        }
        if (ch == '}')
            return fail(c, "\"}\" at character %zu closes no placeholder; " BRACES_HINT, i + 1);
        if (ch != '{') {
            size_t j = i;
            while (j < n && p[j] != '{' && p[j] != '}')
                j++;
            memmove(p + o, p + i, j - i);
            if (!raw_push(b, RAW_PART_TEXT, (uint32_t)o, (uint32_t)(j - i)))
                return fail(c, "out of memory");
            o += j - i;
            i = j;
            continue;
        }
        const char *close = memchr(p + i + 1, '}', n - i - 1);
        if (close == NULL)
            return fail(c, "\"{\" at character %zu opens no placeholder; " BRACES_HINT, i + 1);
        size_t nlen = (size_t)(close - (p + i + 1));
        size_t k = raw_lookup(p + i + 1, nlen);
        if (k == RAW_NAMES) {
            char shown[SHOW_STRING_MAX * 6 + 8];
            if (nlen + 2 > SHOW_STRING_MAX)
                snprintf(shown, sizeof shown, "of %zu bytes", nlen + 2);
            else
                quote_string(p + i, nlen + 2, shown, sizeof shown);
            if (c->is_case)
                return fail(c,
                            "unknown placeholder %s; known placeholders: " PLACEHOLDERS
                            ", " CONFORM_PLACEHOLDERS "; " BRACES_HINT,
                            shown);
            return fail(
                c, "unknown placeholder %s; known placeholders: " PLACEHOLDERS "; " BRACES_HINT,
                shown);
        }
        enum raw_part part = raw_names[k].part;
        if (part == RAW_PART_CONFORM && !c->is_case)
            return fail(c,
                        "placeholder {%s} is only allowed in conformance case files (with a "
                        "top-level \"case\"); known placeholders: " PLACEHOLDERS,
                        raw_names[k].name);
        if (!raw_push(b, part, 0, part == RAW_PART_CONFORM ? (uint32_t)raw_names[k].value : 0))
            return fail(c, "out of memory");
        b->conform += part == RAW_PART_CONFORM;
        b->tids += part == RAW_PART_TID;
        b->message_ids += part == RAW_PART_MESSAGE_ID;
        b->paths += part == RAW_PART_TO_PATH || part == RAW_PART_FROM_PATH;
        i += nlen + 2;
    }
    b->text_len = o;
    return 0;
}

/* raw.template: compiled into b, or -1 with b holding whatever must be freed. */
static int compile_template(struct ctx *c, const json_t *v, struct raw_build *b, size_t *max_len)
{
    if (!json_is_string(v))
        return expected(c, "a non-empty string", v, false);
    size_t len = json_string_length(v);
    if (len == 0)
        return expected(c, "a non-empty string", v, true);
    /* Bytes can only shrink from the UTF-8 text (one per character), so len bytes hold them.
     * A template beyond the cap is refused below, by its expanded length. */
    b->buf = malloc(len);
    if (b->buf == NULL)
        return fail(c, "out of memory");
    size_t n = 0;
    if (raw_decode(c, json_string_value(v), len, b->buf, &n) != 0 || raw_split(c, b, n) != 0)
        return -1;
    size_t max = b->text_len + b->tids * SCENARIO_RAW_TID_LEN +
                 b->message_ids * SCENARIO_RAW_MESSAGE_ID_LEN + b->paths * SCENARIO_RAW_PATH_MAX +
                 b->conform * CONFORM_VALUE_MAX;
    if (max > SCENARIO_RAW_MAX) {
        if (b->paths == 0)
            return fail(c, "expected at most %d bytes once expanded, got %zu", SCENARIO_RAW_MAX,
                        max);
        return fail(c,
                    "expected at most %d bytes once expanded, got up to %zu ({to_path}, "
                    "{from_path} and {local_uri} counted as %d bytes each)",
                    SCENARIO_RAW_MAX, max, SCENARIO_RAW_PATH_MAX);
    }
    *max_len = max;
    return 0;
}

/* ---- conformance additions (case files only) ----------------------------------------------- */

static void template_free(struct raw_template *t)
{
    free(t->pieces);
    free(t->text);
    memset(t, 0, sizeof(*t));
}

static void conform_free(struct step_conform *f)
{
    if (f == NULL)
        return;
    for (unsigned i = 0; i < f->num_checks; i++) {
        template_free(&f->checks[i].value);
        free(f->checks[i].regex);
    }
    free(f->checks);
    template_free(&f->body);
    free(f);
}

/* A header name as the checks use it: a token of at most 63 bytes. */
static int get_header_name(struct ctx *c, const char *name, char *dst)
{
    size_t n = strlen(name);
    if (n == 0 || n > 63)
        return fail(c, "expected a header name of 1 to 63 bytes, got one of %zu", n);
    for (size_t i = 0; i < n; i++)
        if (name[i] <= ' ' || name[i] == ':' || (unsigned char)name[i] >= 0x7f)
            return fail(c, "expected a header name (no spaces, colons or control characters)");
    memcpy(dst, name, n + 1);
    return 0;
}

static struct header_check *add_check(struct ctx *c, struct step_conform *f)
{
    struct header_check *nc = realloc(f->checks, (f->num_checks + 1) * sizeof(*nc));
    if (nc == NULL) {
        fail(c, "out of memory");
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
static int compile_checks(struct ctx *c, const json_t *obj, struct step_conform *f)
{
    const json_t *v;
    const char *name;
    json_t *val;
    if ((v = json_object_get(obj, "headers")) != NULL) {
        size_t mark = path_push(c, ".headers");
        if (!json_is_object(v))
            return expected(c, "an object of header name -> expected value", v, false);
        json_object_foreach((json_t *)v, name, val) {
            size_t m2 = path_push(c, ".%s", name);
            struct header_check *hc = add_check(c, f);
            if (hc == NULL || get_header_name(c, name, hc->name) != 0)
                return -1;
            hc->kind = CHECK_EQUALS;
            struct raw_build b = {0};
            size_t max = 0;
            if (json_is_string(val) && json_string_length(val) == 0) {
                /* An empty value is allowed here, unlike in a template. */
                free(b.buf);
            } else if (compile_template(c, val, &b, &max) != 0) {
                free(b.buf);
                free(b.pieces);
                return -1;
            }
            hc->value = (struct raw_template){b.pieces, b.num, b.buf, b.text_len};
            path_pop(c, m2);
        }
        path_pop(c, mark);
    }
    static const struct {
        const char *key;
        enum header_check_kind kind;
    } kinds[] = {{"match", CHECK_MATCHES}, {"not_match", CHECK_NOT_MATCHES}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        if ((v = json_object_get(obj, kinds[k].key)) != NULL) {
            size_t mark = path_push(c, ".%s", kinds[k].key);
            if (!json_is_object(v))
                return expected(c, "an object of header name -> regular expression", v, false);
            json_object_foreach((json_t *)v, name, val) {
                size_t m2 = path_push(c, ".%s", name);
                /* One expression, or an array of them that must all match. */
                size_t count = json_is_array(val) ? json_array_size(val) : 1;
                if (count == 0)
                    return expected(c, "a regular expression or a non-empty array of them", val,
                                    false);
                for (size_t j = 0; j < count; j++) {
                    const json_t *e = json_is_array(val) ? json_array_get(val, j) : val;
                    struct header_check *hc = add_check(c, f);
                    if (hc == NULL || get_header_name(c, name, hc->name) != 0)
                        return -1;
                    hc->kind = kinds[k].kind;
                    if (!json_is_string(e))
                        return expected(c, "a regular expression (string)", e, false);
                    regex_t re;
                    int rc = regcomp(&re, json_string_value(e), REG_EXTENDED | REG_NOSUB);
                    if (rc != 0) {
                        char why[128];
                        regerror(rc, &re, why, sizeof why);
                        return fail(c, "expected a POSIX extended regular expression: %s", why);
                    }
                    regfree(&re);
                    hc->regex = strdup(json_string_value(e));
                    if (hc->regex == NULL)
                        return fail(c, "out of memory");
                }
                path_pop(c, m2);
            }
            path_pop(c, mark);
        }
    }
    if ((v = json_object_get(obj, "absent")) != NULL) {
        size_t mark = path_push(c, ".absent");
        if (!json_is_array(v))
            return expected(c, "an array of header names", v, false);
        for (size_t i = 0; i < json_array_size(v); i++) {
            size_t m2 = path_push(c, "[%zu]", i);
            const json_t *e = json_array_get(v, i);
            if (!json_is_string(e))
                return expected(c, "a header name", e, false);
            struct header_check *hc = add_check(c, f);
            if (hc == NULL || get_header_name(c, json_string_value(e), hc->name) != 0)
                return -1;
            hc->kind = CHECK_ABSENT;
            path_pop(c, m2);
        }
        path_pop(c, mark);
    }
    return 0;
}

static int get_endpoint(struct ctx *c, const json_t *obj, unsigned *out)
{
    static const char *const eps[] = {"a", "b", NULL};
    const json_t *v = json_object_get(obj, "endpoint");
    *out = 0;
    if (v == NULL)
        return 0;
    size_t mark = path_push(c, ".endpoint");
    int i;
    if (get_enum(c, v, eps, &i) != 0)
        return -1;
    *out = (unsigned)i;
    path_pop(c, mark);
    return 0;
}

/* The conformance keys of a raw step; refused in load scenarios. */
static int compile_raw_conform(struct ctx *c, const json_t *obj, struct step_conform **out)
{
    static const char *const extra[] = {"endpoint", "message_id", "headers", "match",
                                        "not_match", "absent",     NULL};
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
                path_push(c, ".%s", *k);
                return fail(c, "\"%s\" is only allowed in conformance case files (with a "
                               "top-level \"case\")",
                            *k);
            }
    }
    struct step_conform *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return fail(c, "out of memory");
    *out = f;
    if (get_endpoint(c, obj, &f->endpoint) != 0)
        return -1;
    const json_t *v = json_object_get(obj, "message_id");
    if (v != NULL) {
        size_t mark = path_push(c, ".message_id");
        int i;
        if (get_enum(c, v, mids, &i) != 0)
            return -1;
        f->same_message_id = i == 1;
        path_pop(c, mark);
    }
    return compile_checks(c, obj, f);
}

static int compile_receive(struct ctx *c, const json_t *obj)
{
    static const char *const keys[] = {"endpoint", "method",    "expect", "timeout",
                                       "respond",  "respond_to", "cover", "chunk_rules", "body", "headers",
                                       "match",    "not_match", "absent", NULL};
    static const char *const expects[] = {"request", "none", "optional", "nothing", NULL};
    struct step_receive r = {.timeout_ns = 5ull * 1000000000ull};
    const json_t *v;
    size_t mark;
    int i;

    if (!c->is_case)
        return fail(c, "a receive step is only allowed in conformance case files (with a "
                       "top-level \"case\")");
    if (need_object(c, obj) != 0 || check_keys(c, obj, keys) != 0)
        return -1;
    r.conform = calloc(1, sizeof(*r.conform));
    if (r.conform == NULL)
        return fail(c, "out of memory");
    if (get_endpoint(c, obj, &r.conform->endpoint) != 0)
        goto err;
    if ((v = json_object_get(obj, "method")) != NULL) {
        mark = path_push(c, ".method");
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            json_string_length(v) >= sizeof r.method) {
            expected(c, "a method name such as \"REPORT\"", v, false);
            goto err;
        }
        for (const char *p = json_string_value(v); *p != '\0'; p++)
            if (*p < 'A' || *p > 'Z') {
                expected(c, "a method name of upper-case letters", v, true);
                goto err;
            }
        strcpy(r.method, json_string_value(v));
        path_pop(c, mark);
    }
    if ((v = json_object_get(obj, "expect")) != NULL) {
        mark = path_push(c, ".expect");
        if (get_enum(c, v, expects, &i) != 0)
            goto err;
        r.none = i == 1 || i == 3;
        r.optional = i == 2;
        r.nothing = i == 3;
        path_pop(c, mark);
    }
    if ((v = json_object_get(obj, "cover")) != NULL) {
        json_int_t x;
        mark = path_push(c, ".cover");
        if (get_int(c, v, 1, INT_NO_MAX, &x) != 0)
            goto err;
        r.cover = (uint64_t)x;
        path_pop(c, mark);
    }
    if ((v = json_object_get(obj, "timeout")) != NULL) {
        mark = path_push(c, ".timeout");
        if (get_ns(c, v, &r.timeout_ns) != 0)
            goto err;
        path_pop(c, mark);
    }
    if ((v = json_object_get(obj, "respond")) != NULL) {
        json_int_t x;
        mark = path_push(c, ".respond");
        if (json_is_string(v)) {
            /* A status line that does not parse, for a relay to drop (RFC 4976 6.4.3). */
            const char *t = json_string_value(v);
            if (json_string_length(v) == 0 || json_string_length(v) >= sizeof r.respond_text ||
                strpbrk(t, " \r\n") != NULL) {
                expected(c, "a status code, or a short status text without spaces", v, true);
                goto err;
            }
            strcpy(r.respond_text, t);
            r.respond = 1;
        } else if (get_int(c, v, 100, 999, &x) != 0) {
            goto err;
        } else {
            r.respond = (int)x;
        }
        path_pop(c, mark);
    }
    if ((v = json_object_get(obj, "respond_to")) != NULL) {
        /* A To-Path other than the previous hop, for a relay to drop (RFC 4976 6.4.3). */
        mark = path_push(c, ".respond_to");
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            json_string_length(v) >= sizeof r.respond_to ||
            strpbrk(json_string_value(v), " \r\n") != NULL) {
            expected(c, "one URI (no spaces, under 128 bytes)", v, false);
            goto err;
        }
        strcpy(r.respond_to, json_string_value(v));
        path_pop(c, mark);
    }
    if ((v = json_object_get(obj, "chunk_rules")) != NULL) {
        mark = path_push(c, ".chunk_rules");
        if (!json_is_boolean(v)) {
            expected(c, "true or false", v, false);
            goto err;
        }
        r.chunk_rules = json_is_true(v);
        path_pop(c, mark);
    }
    if ((v = json_object_get(obj, "body")) != NULL) {
        struct raw_build b = {0};
        size_t max = 0;
        mark = path_push(c, ".body");
        if (compile_template(c, v, &b, &max) != 0) {
            free(b.buf);
            free(b.pieces);
            goto err;
        }
        r.conform->body = (struct raw_template){b.pieces, b.num, b.buf, b.text_len};
        r.conform->has_body = true;
        path_pop(c, mark);
    }
    if (compile_checks(c, obj, r.conform) != 0)
        goto err;
    if ((r.chunk_rules || r.conform->has_body) && r.cover == 0) {
        fail(c, "\"chunk_rules\" and \"body\" need \"cover\"");
        goto err;
    }
    if (r.respond_to[0] != '\0' && r.respond == 0) {
        fail(c, "\"respond_to\" needs \"respond\"");
        goto err;
    }
    if (r.none && (r.respond != 0 || r.conform->num_checks != 0)) {
        fail(c, "\"respond\" and header checks need expect \"request\"");
        goto err;
    }
    if (r.cover != 0 && (r.none || r.optional || r.respond != 0)) {
        fail(c, "\"cover\" needs expect \"request\" and no \"respond\"");
        goto err;
    }
    emit(c, STEP_RECEIVE)->u.receive = r;
    return 0;
err:
    conform_free(r.conform);
    return -1;
}

static int compile_raw(struct ctx *c, const json_t *obj)
{
    static const char *const load_keys[] = {"template", "expect", "status", "timeout", NULL};
    static const char *const case_keys[] = {"template", "expect",     "status",  "timeout",
                                            "endpoint", "message_id", "headers", "match",
                                            "not_match", "absent",    NULL};
    const char *const *keys = c->is_case ? case_keys : load_keys;
    /* In the order of enum raw_expect. */
    static const char *const expects[] = {"response", "none", "close", NULL};
    struct step_raw r = {.expect = RAW_EXPECT_RESPONSE,
                         .statuses = {200},
                         .num_statuses = 1,
                         .timeout_ns = 5ull * 1000000000ull};
    struct raw_build b = {0};
    const json_t *v;
    size_t mark;
    int i;

    if (need_object(c, obj) != 0 || check_keys(c, obj, keys) != 0)
        return -1;
    const json_t *vtemplate = json_object_get(obj, "template");
    if (vtemplate == NULL)
        return fail(c, "required key \"template\" missing");
    mark = path_push(c, ".template");
    if (compile_template(c, vtemplate, &b, &r.max_len) != 0)
        goto err;
    path_pop(c, mark);
    if ((v = json_object_get(obj, "expect")) != NULL) {
        mark = path_push(c, ".expect");
        if (get_enum(c, v, expects, &i) != 0)
            goto err;
        r.expect = (enum raw_expect)i;
        path_pop(c, mark);
    }
    const json_t *vstatus = json_object_get(obj, "status");
    if (vstatus != NULL) {
        mark = path_push(c, ".status");
        if (check_statuses(c, vstatus, r.statuses, &r.num_statuses) != 0)
            goto err;
        path_pop(c, mark);
    }
    if ((v = json_object_get(obj, "timeout")) != NULL) {
        mark = path_push(c, ".timeout");
        if (get_ns(c, v, &r.timeout_ns) != 0)
            goto err;
        path_pop(c, mark);
    }

    /* The rules between keys, once each key is known to be right on its own. */
    if (vstatus != NULL && r.expect != RAW_EXPECT_RESPONSE) {
        path_push(c, ".status");
        fail(c, "\"status\" is only allowed when expect is \"response\"");
        goto err;
    }
    if (r.expect != RAW_EXPECT_RESPONSE)
        r.num_statuses = 0;
    if (compile_raw_conform(c, obj, &r.conform) != 0)
        goto err;
    if (r.conform != NULL && r.conform->num_checks > 0 && r.expect != RAW_EXPECT_RESPONSE) {
        fail(c, "header checks need expect \"response\"");
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
    emit(c, STEP_RAW)->u.raw = r;
    return 0;

err:
    free(b.buf);
    free(b.pieces);
    conform_free(r.conform);
    return -1;
}

static int compile_list(struct ctx *c, const json_t *list);

static int compile_repeat(struct ctx *c, const json_t *obj)
{
    static const char *const keys[] = {"times", "steps", NULL};
    uint32_t times;

    if (need_object(c, obj) != 0 || check_keys(c, obj, keys) != 0)
        return -1;
    const json_t *vtimes = json_object_get(obj, "times"), *body = json_object_get(obj, "steps");
    if (vtimes == NULL)
        return fail(c, "required key \"times\" missing");
    if (body == NULL)
        return fail(c, "required key \"steps\" missing");
    size_t mark = path_push(c, ".times");
    if (get_u32(c, vtimes, 0, &times) != 0)
        return -1;
    path_pop(c, mark);
    mark = path_push(c, ".steps");
    /* An empty body repeated until the run ends would spin without doing anything. */
    if (!json_is_array(body) || json_array_size(body) == 0)
        return expected(c, STEPS_WHAT, body, false);
    path_pop(c, mark);

    struct step *st = emit(c, STEP_REPEAT_BEGIN);
    uint32_t begin = c->sc->num_steps - 1;
    st->u.repeat.times = times;

    mark = path_push(c, ".steps");
    if (compile_list(c, body) != 0)
        return -1;
    path_pop(c, mark);

    st = emit(c, STEP_REPEAT_END);
    uint32_t end = c->sc->num_steps - 1;
    st->u.repeat.times = times;
    st->u.repeat.other = begin;
    c->sc->steps[begin].u.repeat.other = end;
    return 0;
}

static int compile_step(struct ctx *c, const json_t *item, bool *after_send)
{
    static const char *const load_keys[] = {"send",  "expect", "pause", "repeat",
                                            "close", "raw",    NULL};
    static const char *const case_keys[] = {"send",  "expect", "pause",   "repeat",
                                            "close", "raw",    "receive", NULL};
    const char *const *keys = c->is_case ? case_keys : load_keys;
    static const char *const none[] = {NULL};

    if (!json_is_object(item))
        return expected(c, STEP_WHAT, item, false);
    if (check_keys(c, item, keys) != 0)
        return -1;
    if (json_object_size(item) != 1) {
        if (json_object_size(item) == 0)
            return expected(c, STEP_WHAT, item, false);
        return fail(c, "expected %s, got an object with %zu keys", STEP_WHAT,
                    json_object_size(item));
    }
    void *it = json_object_iter((json_t *)item);
    const char *key = json_object_iter_key(it);
    const json_t *v = json_object_iter_value(it);

    /* An expect checks the messages of the send right before it; anywhere else it would have
     * nothing to check. */
    bool is_send = strcmp(key, "send") == 0;
    if (strcmp(key, "expect") == 0 && !*after_send)
        return fail(c, "expect must directly follow a send in the same list of steps");
    *after_send = is_send;

    unsigned need = strcmp(key, "repeat") == 0 ? 2 : 1;
    if (c->sc->num_steps + c->open_repeats + need > SCENARIO_MAX_STEPS)
        return fail(c, "too many steps: at most %d in all, a repeat counting as 2",
                    SCENARIO_MAX_STEPS);

    size_t mark = path_push(c, ".%s", key);
    int rc;
    if (is_send) {
        rc = compile_send(c, v);
    } else if (strcmp(key, "expect") == 0) {
        rc = compile_expect(c, v);
    } else if (strcmp(key, "pause") == 0) {
        uint64_t ns = 0;
        rc = get_ns(c, v, &ns);
        if (rc == 0)
            emit(c, STEP_PAUSE)->u.pause_ns = ns;
    } else if (strcmp(key, "repeat") == 0) {
        rc = compile_repeat(c, v);
    } else if (strcmp(key, "raw") == 0) {
        rc = compile_raw(c, v);
    } else if (strcmp(key, "receive") == 0) {
        rc = compile_receive(c, v);
    } else {
        if (!json_is_object(v))
            return expected(c, "an empty object", v, false);
        rc = check_keys(c, v, none);
        if (rc == 0)
            emit(c, STEP_CLOSE);
    }
    if (rc != 0)
        return -1;
    path_pop(c, mark);
    return 0;
}

static int compile_list(struct ctx *c, const json_t *list)
{
    bool after_send = false;
    for (size_t i = 0; i < json_array_size(list); i++) {
        size_t mark = path_push(c, "[%zu]", i);
        if (compile_step(c, json_array_get(list, i), &after_send) != 0)
            return -1;
        path_pop(c, mark);
    }
    return 0;
}

/* ---- answer ------------------------------------------------------------------------------- */

/*
 * The session matches the Content-Type against each space-separated entry: "*" alone matches
 * anything, a "*" subtype any subtype of its type, anything else type and subtype exactly;
 * parameters are not compared, so an entry with them could never match.
 */
static bool accept_types_valid(const char *s)
{
    unsigned entries = 0;
    while (*s != '\0') {
        while (*s == ' ')
            s++;
        const char *end = s;
        while (*end != '\0' && *end != ' ')
            end++;
        if (end == s)
            break;
        size_t n = (size_t)(end - s);
        entries++;
        if (!(n == 1 && *s == '*')) {
            struct msrp_media_type mt;
            if (!msrp_media_type_parse(msrp_span_make(s, n), &mt) || mt.params.len != 0 ||
                msrp_span_eq(mt.type, MSRP_SPAN_LIT("*")))
                return false;
        }
        s = end;
    }
    return entries > 0;
}

static uint64_t seconds_to_ns(double s)
{
    return (uint64_t)llround(s * 1e9);
}

/* answer.delay: seconds, or a range of them to draw from. */
static int check_delay(struct ctx *c, const json_t *v)
{
    static const char *const keys[] = {"min", "max", NULL};
    struct scenario *sc = c->sc;
    double lo, hi;

    if (json_is_number(v)) {
        if (json_number_value(v) < 0)
            return expected(c, DELAY_WHAT, v, true);
        if (get_seconds(c, v, true, &lo) != 0)
            return -1;
        sc->answer_delay_min_ns = sc->answer_delay_max_ns = seconds_to_ns(lo);
        return 0;
    }
    if (!json_is_object(v))
        return expected(c, DELAY_WHAT, v, false);
    if (check_keys(c, v, keys) != 0)
        return -1;
    const json_t *vmin = json_object_get(v, "min"), *vmax = json_object_get(v, "max");
    if (vmin == NULL)
        return fail(c, "required key \"min\" missing");
    if (vmax == NULL)
        return fail(c, "required key \"max\" missing");
    size_t mark = path_push(c, ".min");
    if (get_seconds(c, vmin, true, &lo) != 0)
        return -1;
    path_pop(c, mark);
    path_push(c, ".max");
    if (get_seconds(c, vmax, true, &hi) != 0)
        return -1;
    if (hi < lo) {
        char buf[SHOW_STRING_MAX * 6 + 8], buf2[SHOW_STRING_MAX * 6 + 8];
        return fail(c, "expected a number of seconds >= min (%s), got %s",
                    describe(vmin, true, buf, sizeof buf), describe(vmax, true, buf2, sizeof buf2));
    }
    path_pop(c, mark);
    sc->answer_delay_min_ns = seconds_to_ns(lo);
    sc->answer_delay_max_ns = seconds_to_ns(hi);
    return 0;
}

static int check_answer(struct ctx *c, const json_t *ans)
{
    static const char *const keys[] = {"status", "accept_types",       "max_message", "delay",
                                       "drop",   "reject_after_bytes", NULL};
    struct scenario *sc = c->sc;
    json_t *v;
    json_int_t x;
    size_t mark;

    if (need_object(c, ans) != 0 || check_keys(c, ans, keys) != 0)
        return -1;
    if ((v = json_object_get(ans, "status")) != NULL) {
        mark = path_push(c, ".status");
        if (get_int(c, v, 200, 999, &x) != 0)
            return -1;
        sc->answer_status = (int)x;
        path_pop(c, mark);
    }
    if ((v = json_object_get(ans, "accept_types")) != NULL) {
        mark = path_push(c, ".accept_types");
        if (copy_string(c, v, ACCEPT_WHAT, sc->accept_types, sizeof sc->accept_types) != 0)
            return -1;
        if (!accept_types_valid(sc->accept_types))
            return expected(c, ACCEPT_WHAT, v, true);
        path_pop(c, mark);
    }
    if ((v = json_object_get(ans, "max_message")) != NULL) {
        mark = path_push(c, ".max_message");
        if (get_int(c, v, 1, INT_NO_MAX, &x) != 0)
            return -1;
        sc->max_message = (uint64_t)x;
        path_pop(c, mark);
    }
    if ((v = json_object_get(ans, "delay")) != NULL) {
        mark = path_push(c, ".delay");
        if (check_delay(c, v) != 0)
            return -1;
        path_pop(c, mark);
    }
    if ((v = json_object_get(ans, "drop")) != NULL) {
        mark = path_push(c, ".drop");
        if (!json_is_number(v))
            return expected(c, "a number 0..1", v, false);
        double d = json_number_value(v);
        if (!(d >= 0 && d <= 1))
            return expected(c, "a number 0..1", v, true);
        sc->answer_drop = d;
        path_pop(c, mark);
    }
    if ((v = json_object_get(ans, "reject_after_bytes")) != NULL) {
        mark = path_push(c, ".reject_after_bytes");
        if (get_int(c, v, 1, INT_NO_MAX, &x) != 0)
            return -1;
        sc->answer_reject_after = (uint64_t)x;
        path_pop(c, mark);
    }
    return 0;
}

/* ---- the case object (conformance case files) --------------------------------------------- */

static int case_string(struct ctx *c, const json_t *obj, const char *key, bool required, char *dst,
                       size_t cap)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        if (required)
            return fail(c, "required key \"%s\" missing", key);
        return 0;
    }
    size_t mark = path_push(c, ".%s", key);
    if (!json_is_string(v) || json_string_length(v) == 0)
        return expected(c, "a non-empty string", v, false);
    if (copy_string(c, v, "a string", dst, cap) != 0)
        return -1;
    path_pop(c, mark);
    return 0;
}

/* An optional array of up to SCENARIO_CASE_MAX_NAMES ids: lower-case letters, digits, '-',
 * '.' and '/' (the alphabet of case ids). */
static int case_names(struct ctx *c, const json_t *obj, const char *key,
                      char (*dst)[SCENARIO_CASE_NAME_LEN], unsigned *n)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    size_t mark = path_push(c, ".%s", key);
    if (!json_is_array(v) || json_array_size(v) > SCENARIO_CASE_MAX_NAMES)
        return expected(c, "an array of at most 8 ids", v, false);
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *e = json_array_get(v, i);
        size_t m = path_push(c, "[%zu]", i);
        if (!json_is_string(e) || json_string_length(e) == 0 ||
            json_string_length(e) >= SCENARIO_CASE_NAME_LEN)
            return expected(c, "an id string of at most 95 characters", e, false);
        for (const char *p = json_string_value(e); *p != '\0'; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
                  *p == '.' || *p == '/'))
                return expected(c, "an id of lower-case letters, digits, '-', '.' and '/'", e,
                                true);
        strcpy(dst[i], json_string_value(e));
        path_pop(c, m);
    }
    *n = (unsigned)json_array_size(v);
    path_pop(c, mark);
    return 0;
}

static int check_case(struct ctx *c, const json_t *obj)
{
    static const char *const keys[] = {"id",       "rfc",   "section",   "title",
                                       "requirement", "level", "expected", "needs",
                                       "bind",     "endpoints", "wrong_peer", "aliases",
                                       "requirements", "slow", NULL};
    static const char *const levels[] = {"MUST", "SHOULD", "MAY", "none", NULL};
    static const char *const needs[] = {"target", "relay", NULL};
    static const char *const eps[] = {"none", "a", "ab", NULL};
    struct scenario_case *k = c->sc->kase;
    const json_t *v;
    size_t mark;
    int i;

    if (need_object(c, obj) != 0 || check_keys(c, obj, keys) != 0)
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
        path_push(c, ".id");
        return fail(c, "expected an id of the form \"%s<name>\", got \"%s\"", prefix, k->id);
    }
    for (const char *p = k->id; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
              *p == '/')) {
            path_push(c, ".id");
            return fail(c, "expected an id of lower-case letters, digits, '-', '.' and '/'");
        }
    if (strcmp(k->rfc, "4975") != 0 && strcmp(k->rfc, "4976") != 0) {
        path_push(c, ".rfc");
        return fail(c, "expected \"4975\" or \"4976\", got \"%s\"", k->rfc);
    }
    if ((v = json_object_get(obj, "level")) == NULL)
        return fail(c, "required key \"level\" missing");
    mark = path_push(c, ".level");
    if (get_enum(c, v, levels, &i) != 0)
        return -1;
    k->level = (enum case_level)i;
    path_pop(c, mark);
    if (case_names(c, obj, "aliases", k->aliases, &k->num_aliases) != 0 ||
        case_names(c, obj, "requirements", k->requirements, &k->num_requirements) != 0)
        return -1;
    if ((v = json_object_get(obj, "needs")) != NULL) {
        mark = path_push(c, ".needs");
        if (get_enum(c, v, needs, &i) != 0)
            return -1;
        k->needs = (enum case_needs)i;
        path_pop(c, mark);
    }
    if ((v = json_object_get(obj, "slow")) != NULL) {
        mark = path_push(c, ".slow");
        if (get_bool(c, v, &k->slow) != 0)
            return -1;
        path_pop(c, mark);
    }
    k->bind = k->needs == CASE_TARGET;
    if ((v = json_object_get(obj, "bind")) != NULL) {
        mark = path_push(c, ".bind");
        if (get_bool(c, v, &k->bind) != 0)
            return -1;
        if (k->bind && k->needs != CASE_TARGET)
            return fail(c, "\"bind\" is for target cases; relay cases use \"endpoints\"");
        path_pop(c, mark);
    }
    k->endpoints = k->needs == CASE_RELAY ? CASE_EP_A : CASE_EP_NONE;
    if ((v = json_object_get(obj, "endpoints")) != NULL) {
        mark = path_push(c, ".endpoints");
        if (get_enum(c, v, eps, &i) != 0)
            return -1;
        /* A target case may open a second connection, b, that nothing binds (506 cases). */
        if (k->needs != CASE_RELAY && i != CASE_EP_AB)
            return fail(c, "a target case takes only \"ab\" (a second connection, not bound); "
                           "the other values are for relay cases");
        k->endpoints = (enum case_endpoints)i;
        path_pop(c, mark);
    }
    return 0;
}

/* ---- the whole file ----------------------------------------------------------------------- */

static void set_defaults(struct scenario *sc)
{
    sc->threads = 0;
    sc->sessions = 100;
    sc->concurrency = 0; /* = sessions, settled at the end: the file never gives 0 */
    sc->session_rate = 0;
    sc->ramp_up_s = 0;
    sc->duration_s = 10;
    sc->warm_up_s = 0;
    sc->mode = SCENARIO_CLOSED;
    sc->outstanding = 1;
    sc->rate = 0;
    sc->batch_window_auto = true;
    sc->batch_window_s = 0;
    sc->topology = SCENARIO_EMBEDDED;
    sc->tls = false;
    sc->relay.users = 1;
    sc->answer_status = 200;
    strcpy(sc->accept_types, "*");
    sc->max_message = 1ull << 40;
    sc->answer_delay_min_ns = sc->answer_delay_max_ns = 0;
    sc->answer_drop = 0;
    sc->answer_reject_after = 0;
}

/* Runs a section's checker with the path pointing at it. */
static int section(struct ctx *c, const json_t *root, const char *key,
                   int (*check)(struct ctx *, const json_t *))
{
    const json_t *v = json_object_get(root, key);
    if (v == NULL)
        return 0;
    size_t mark = path_push(c, ".%s", key);
    if (check(c, v) != 0)
        return -1;
    path_pop(c, mark);
    return 0;
}

static int check_root(struct ctx *c, const json_t *root)
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
    if (need_object(c, root) != 0 || check_keys(c, root, has_case ? case_keys : load_keys) != 0)
        return -1;
    /* A case file: its steps may use the conformance additions, and it needs no name. */
    if ((v = json_object_get(root, "case")) != NULL) {
        c->is_case = true;
        sc->kase = calloc(1, sizeof(*sc->kase));
        if (sc->kase == NULL)
            return fail(c, "out of memory");
        strcpy(sc->name, "conform");
        mark = path_push(c, ".case");
        if (check_case(c, v) != 0)
            return -1;
        path_pop(c, mark);
    }
    if ((v = json_object_get(root, "name")) == NULL) {
        if (!c->is_case)
            return fail(c, "required key \"name\" missing");
    } else {
        mark = path_push(c, ".name");
        if (get_name(c, v, sc->name, sizeof sc->name) != 0)
            return -1;
        path_pop(c, mark);
    }
    if ((v = json_object_get(root, "description")) != NULL) {
        mark = path_push(c, ".description");
        if (copy_string(c, v, "a string", sc->description, sizeof sc->description) != 0)
            return -1;
        path_pop(c, mark);
    }
    if (section(c, root, "load", check_load) != 0 ||
        section(c, root, "topology", check_topology) != 0)
        return -1;
    if ((v = json_object_get(root, "steps")) == NULL)
        return fail(c, "required key \"steps\" missing");
    mark = path_push(c, ".steps");
    if (!json_is_array(v) || json_array_size(v) == 0)
        return expected(c, STEPS_WHAT, v, false);
    if (compile_list(c, v) != 0)
        return -1;
    path_pop(c, mark);
    if (section(c, root, "answer", check_answer) != 0)
        return -1;

    /* Settled last, so that they hold whether the file has a "load" section or not. */
    if (sc->concurrency == 0 && sc->sessions > SCENARIO_MAX_CONCURRENCY) {
        path_push(c, ".load.sessions");
        return fail(c, "expected at most %llu sessions when load.concurrency is not given (it "
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
        if (st->kind == STEP_RECEIVE) {
            conform_free(st->u.receive.conform);
            st->u.receive.conform = NULL;
            continue;
        }
        if (st->kind == STEP_RAW) {
            conform_free(st->u.raw.conform);
            st->u.raw.conform = NULL;
            free(st->u.raw.pieces);
            free(st->u.raw.text);
            st->u.raw.pieces = NULL;
            st->u.raw.text = NULL;
            st->u.raw.num_pieces = 0;
            st->u.raw.text_len = 0;
            continue;
        }
        if (st->kind != STEP_SEND)
            continue;
        free(st->u.send.content);
        st->u.send.content = NULL;
        st->u.send.content_len = 0;
    }
}

int scenario_parse(const char *path, const char *text, size_t len, struct scenario *sc, char *err,
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
    struct ctx c = {.file = path, .err = err, .errlen = errlen, .sc = sc};
    path_push(&c, "$");
    int rc = check_root(&c, root);
    json_decref(root);
    if (rc != 0)
        goto err;

    memcpy(sc->path, path, strlen(path) + 1);
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
    int rc = scenario_parse(path, buf, len, sc, err, errlen);
    free(buf);
    return rc;

err:
    close(fd);
    free(buf);
    return -1;
}

void scenario_free(struct scenario *sc)
{
    if (sc == NULL)
        return;
    free(sc->text);
    sc->text = NULL;
    sc->text_len = 0;
    free_contents(sc);
}
