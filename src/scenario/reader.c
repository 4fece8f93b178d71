/*
 * reader.c - the scenario checker's JSON reading: the path of the value being looked at, the
 * wording of every "expected ..., got ..." message, the readers of scalar values and the
 * table of keys (internal.h) that reads an object's keys in a fixed order.
 *
 * Owns: how a problem is worded and located. May not touch: what any section means (the
 * callers' tables say it), files, or anything beyond the caller's struct and error buffer.
 *
 * The checker walks the JSON tree keeping the JSON path of the value it looks at
 * ("$.steps[1].send"), so that the first problem it meets can be reported with its place. Within
 * an object the unknown keys are looked for first (a misspelt key is the likeliest mistake, and
 * it would otherwise surface as a confusing "required key missing"), then the known keys in the
 * order of the object's table, then the rules that tie keys together. That order makes the
 * message for a given file deterministic, which the tests rely on.
 */
#include "scenario/internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the JSON path ------------------------------------------------------------------------ */

/*
 * Appends to the path and returns the length to restore afterwards. The step limit bounds the
 * nesting (a repeat takes two steps), so the path always fits; should it not, it is cut short
 * rather than overflowing, and only a message would suffer.
 */
size_t scn__path_push(struct scn__ctx *c, const char *fmt, ...)
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

void scn__path_pop(struct scn__ctx *c, size_t mark)
{
    c->plen = mark;
    c->path[mark] = '\0';
}

/* ---- messages ----------------------------------------------------------------------------- */

/* "FILE: $.path: " and the message. Only the first problem is reported: callers return -1 at
 * once, so this is called at most once per load. */
int scn__fail(struct scn__ctx *c, const char *fmt, ...)
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
void scn__quote_string(const char *s, size_t len, char *buf, size_t cap)
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
const char *scn__describe(const json_t *v, bool string_value, char *buf, size_t cap)
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
            scn__quote_string(json_string_value(v), len, buf, cap);
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
int scn__expected(struct scn__ctx *c, const char *what, const json_t *v, bool string_value)
{
    char buf[SHOW_STRING_MAX * 6 + 8];
    return scn__fail(c, "expected %s, got %s", what, scn__describe(v, string_value, buf, sizeof buf));
}

/* ---- objects and their keys --------------------------------------------------------------- */

/* Every key of obj must be in the NULL-terminated list allowed. */
int scn__get_min_max(struct scn__ctx *c, const json_t *v, const json_t **vmin,
                     const json_t **vmax)
{
    static const char *const keys[] = {"min", "max", NULL};
    if (scn__check_keys(c, v, keys) != 0)
        return -1;
    *vmin = json_object_get(v, "min");
    *vmax = json_object_get(v, "max");
    if (*vmin == NULL)
        return scn__fail(c, "required key \"min\" missing");
    if (*vmax == NULL)
        return scn__fail(c, "required key \"max\" missing");
    return 0;
}

int scn__check_keys(struct scn__ctx *c, const json_t *obj, const char *const *allowed)
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
            scn__quote_string(key, klen, name, sizeof name);
        if (allowed[0] == NULL)
            return scn__fail(c, "unknown key %s; this object takes no keys", name);
        return scn__fail(c, "unknown key %s; allowed keys: %s", name, list);
    }
    return 0;
}

int scn__need_object(struct scn__ctx *c, const json_t *v)
{
    return json_is_object(v) ? 0 : scn__expected(c, "an object", v, false);
}

/* ---- scalar values ------------------------------------------------------------------------ */

/* An integer in lo..hi (hi == INT_NO_MAX: no upper bound); what overrides the description
 * for values that may also take another form. Reals are refused even when whole: the tables say
 * integer, and 1e3 or 100.0 are more often a slip than a choice. */
int scn__get_int_what(struct scn__ctx *c, const json_t *v, json_int_t lo, json_int_t hi,
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
        return scn__expected(c, what, v, false);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return scn__expected(c, what, v, true);
    *out = x;
    return 0;
}

int scn__get_int(struct scn__ctx *c, const json_t *v, json_int_t lo, json_int_t hi, json_int_t *out)
{
    return scn__get_int_what(c, v, lo, hi, NULL, out);
}

int scn__get_u32(struct scn__ctx *c, const json_t *v, json_int_t lo, uint32_t *out)
{
    json_int_t x;
    if (scn__get_int(c, v, lo, UINT32_MAX, &x) != 0)
        return -1;
    *out = (uint32_t)x;
    return 0;
}

/* A number (integer or real) >= 0, or > 0 when zero_ok is false. */
int scn__get_number(struct scn__ctx *c, const json_t *v, bool zero_ok, double *out)
{
    const char *what = zero_ok ? "a number >= 0" : "a number > 0";
    if (!json_is_number(v))
        return scn__expected(c, what, v, false);
    double x = json_number_value(v);
    if (zero_ok ? x < 0 : x <= 0)
        return scn__expected(c, what, v, true);
    *out = x;
    return 0;
}

/* Seconds as a number, >= 0 or > 0, at most MAX_SECONDS. */
int scn__get_seconds(struct scn__ctx *c, const json_t *v, bool zero_ok, double *out)
{
    const char *what = zero_ok ? "a number of seconds >= 0" : "a number of seconds > 0";
    if (!json_is_number(v))
        return scn__expected(c, what, v, false);
    double s = json_number_value(v);
    if (zero_ok ? s < 0 : s <= 0)
        return scn__expected(c, what, v, true);
    if (s > MAX_SECONDS)
        return scn__expected(c, "a number of seconds <= 1000000000", v, true);
    *out = s;
    return 0;
}

/* Seconds > 0 as whole nanoseconds: a value that would round to 0 ns is refused, since a
 * positive duration that silently becomes none would change what the step does. */
int scn__get_ns(struct scn__ctx *c, const json_t *v, uint64_t *out)
{
    double s = 0;
    if (scn__get_seconds(c, v, false, &s) != 0)
        return -1;
    long long ns = llround(s * 1e9);
    if (ns < 1)
        return scn__expected(c, "a number of seconds >= 0.000000001", v, true);
    *out = (uint64_t)ns;
    return 0;
}

/* Strings are copied whole or refused: a truncated name or URI would be a different one. */
int scn__check_length(struct scn__ctx *c, const json_t *v, size_t cap)
{
    size_t len = json_string_length(v);
    if (len < cap)
        return 0;
    return scn__fail(c, "expected a string of at most %zu bytes, got a string of %zu bytes", cap - 1,
                len);
}

int scn__copy_string(struct scn__ctx *c, const json_t *v, const char *what, char *dst, size_t cap)
{
    if (!json_is_string(v))
        return scn__expected(c, what, v, false);
    if (scn__check_length(c, v, cap) != 0)
        return -1;
    /* The file may hold \u0000 (a raw template needs it), but a NUL would silently cut these
     * strings short: a different name, path or media type. */
    if (strlen(json_string_value(v)) != json_string_length(v))
        return scn__expected(c, what, v, true);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

/* One of the NULL-terminated names; *out is its index. */
int scn__get_enum(struct scn__ctx *c, const json_t *v, const char *const *names, int *out)
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
    return scn__expected(c, what, v, json_is_string(v));
}

int scn__get_bool(struct scn__ctx *c, const json_t *v, bool *out)
{
    if (!json_is_boolean(v))
        return scn__expected(c, "true or false", v, false);
    *out = json_is_true(v);
    return 0;
}

/* ---- the table of keys -------------------------------------------------------------------- */

/* An integer into a field of 1 (bool, uint8_t), 4 (int, unsigned, an enum) or 8 bytes. */
static void store_int(void *dst, size_t size, json_int_t x)
{
    if (size == sizeof(uint64_t)) {
        uint64_t v = (uint64_t)x;
        memcpy(dst, &v, sizeof v);
    } else if (size == sizeof(uint32_t)) {
        uint32_t v = (uint32_t)x;
        memcpy(dst, &v, sizeof v);
    } else {
        uint8_t v = (uint8_t)x;
        memcpy(dst, &v, sizeof v);
    }
}

static int read_key(struct scn__ctx *c, const struct scn__key *k, const json_t *v, void *base)
{
    char *dst = (char *)base + k->offset;
    json_int_t x;
    double d;
    int i;
    switch (k->type) {
    case SCN__INT:
        if (scn__get_int(c, v, k->lo, k->hi, &x) != 0)
            return -1;
        store_int(dst, k->size, x);
        return 0;
    case SCN__NUMBER:
    case SCN__SECONDS:
        if ((k->type == SCN__NUMBER ? scn__get_number : scn__get_seconds)(c, v, k->lo == 0,
                                                                          &d) != 0)
            return -1;
        memcpy(dst, &d, sizeof d);
        return 0;
    case SCN__NS: {
        uint64_t ns;
        if (scn__get_ns(c, v, &ns) != 0)
            return -1;
        memcpy(dst, &ns, sizeof ns);
        return 0;
    }
    case SCN__BOOL: {
        bool b = false;
        if (scn__get_bool(c, v, &b) != 0)
            return -1;
        memcpy(dst, &b, sizeof b);
        return 0;
    }
    case SCN__ENUM:
        if (scn__get_enum(c, v, k->names, &i) != 0)
            return -1;
        store_int(dst, k->size, k->values != NULL ? k->values[i] : i);
        return 0;
    case SCN__STRING:
        if (scn__copy_string(c, v, k->what, dst, k->size) != 0)
            return -1;
        if ((k->lo == 1 && dst[0] == '\0') || (k->valid != NULL && !k->valid(dst)))
            return scn__expected(c, k->what, v, true);
        return 0;
    case SCN__CUSTOM:
        return k->read(c, v, base);
    }
    return -1;
}

int scn__read_keys(struct scn__ctx *c, const json_t *obj, const struct scn__key *keys, size_t n,
                   void *base)
{
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_object_get(obj, keys[i].name);
        if (v == NULL)
            continue;
        size_t mark = scn__path_push(c, ".%s", keys[i].name);
        if (read_key(c, &keys[i], v, base) != 0)
            return -1;
        scn__path_pop(c, mark);
    }
    return 0;
}
