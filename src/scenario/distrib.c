/*
 * distrib.c - distributions of message sizes and think times (distrib.h): the seeded
 * generator, the draws, empirical table files, and the loader's reading of a distribution
 * from the scenario's JSON (scn__read_distrib, scenarios/README.md is the format).
 *
 * Owns: the generator's arithmetic, the draws, the table file's format and its messages
 * ("FILE: $.path: TABLE line N: why"). May not touch: the step structures beyond the
 * struct distrib it fills, any file but a table file.
 */
#include "scenario/distrib.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario/internal.h"

/* ---- the generator ------------------------------------------------------------------------ */

/* splitmix64 (Steele, Lea, Flood 2014): a counter through a 64-bit mixing function. */
uint64_t distrib_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void distrib_rng_seed(struct distrib_rng *r, uint64_t seed)
{
    /* splitmix64's outputs never make xoshiro's all-zero state for four in a row */
    for (int i = 0; i < 4; i++)
        r->s[i] = distrib_splitmix64(&seed);
}

void distrib_rng_session(struct distrib_rng *r, uint64_t run_seed, uint64_t index)
{
    /* Mix the index first, so that neighbouring sessions (and neighbouring run seeds) start
     * from unrelated states rather than from neighbouring counters. */
    uint64_t x = index;
    uint64_t mixed = distrib_splitmix64(&x);
    distrib_rng_seed(r, run_seed ^ mixed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman and Vigna 2018). */
uint64_t distrib_next(struct distrib_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double distrib_unit(struct distrib_rng *r)
{
    return (double)(distrib_next(r) >> 11) * 0x1.0p-53;
}

uint64_t distrib_below(struct distrib_rng *r, uint64_t n)
{
    if (n <= 1)
        return 0;
    /* Rejection of the top partial block: every residue equally likely. The loop ends with
     * probability at least 1/2 per draw, and is bounded all the same. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x = distrib_next(r);
    for (int i = 0; i < 64 && x >= limit; i++)
        x = distrib_next(r);
    return x % n;
}

double distrib_normal(struct distrib_rng *r)
{
    double u1 = 1.0 - distrib_unit(r); /* (0, 1]: log stays finite */
    double u2 = distrib_unit(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* ---- distributions ------------------------------------------------------------------------ */

const char *distrib_kind_name(enum distrib_kind k)
{
    static const char *const names[] = {"fixed", "uniform", "lognormal", "exponential", "table"};
    return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

void distrib_lognormal_params(double mean, double stddev, double *mu, double *sigma)
{
    /* For X = exp(N(mu, sigma^2)): E[X] = exp(mu + sigma^2/2), Var[X] = (exp(sigma^2) - 1)
     * E[X]^2; solved for mu and sigma. */
    double s2 = log1p(stddev * stddev / (mean * mean));
    *sigma = sqrt(s2);
    *mu = log(mean) - s2 / 2.0;
}

static double clamp(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

static uint64_t table_draw(const struct distrib_table *t, struct distrib_rng *r)
{
    double u = distrib_unit(r) * t->total;
    size_t lo = 0, hi = t->n - 1;
    while (lo < hi) { /* the first entry whose cumulative weight passes u */
        size_t mid = lo + (hi - lo) / 2;
        if (t->cum[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return t->values[lo];
}

uint64_t distrib_draw_u64(const struct distrib *d, struct distrib_rng *r)
{
    switch (d->kind) {
    case DISTRIB_FIXED:
        return (uint64_t)d->value;
    case DISTRIB_UNIFORM: {
        uint64_t lo = (uint64_t)d->min, hi = (uint64_t)d->max;
        return lo + distrib_below(r, hi - lo + 1);
    }
    case DISTRIB_TABLE:
        return table_draw(d->table, r);
    case DISTRIB_LOGNORMAL:
    case DISTRIB_EXPONENTIAL:
        break;
    }
    return (uint64_t)floor(clamp(distrib_draw(d, r), d->min, d->max) + 0.5);
}

double distrib_draw(const struct distrib *d, struct distrib_rng *r)
{
    switch (d->kind) {
    case DISTRIB_FIXED:
        return d->value;
    case DISTRIB_UNIFORM:
        return d->min + (d->max - d->min) * distrib_unit(r);
    case DISTRIB_LOGNORMAL:
        return clamp(exp(d->mu + d->sigma * distrib_normal(r)), d->min, d->max);
    case DISTRIB_EXPONENTIAL:
        return clamp(-d->mean * log(1.0 - distrib_unit(r)), d->min, d->max);
    case DISTRIB_TABLE:
        return (double)table_draw(d->table, r);
    }
    return 0;
}

void distrib_free(struct distrib *d)
{
    distrib_table_free(d->table);
    memset(d, 0, sizeof(*d));
}

/* ---- table files -------------------------------------------------------------------------- */

void distrib_table_free(struct distrib_table *t)
{
    if (t == NULL)
        return;
    free(t->values);
    free(t->cum);
    free(t);
}

static const char *skip_blank(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* One "SIZE,WEIGHT" line (without its line end) into *v and *w; NULL or why not. */
static const char *table_line(const char *p, const char *end, uint64_t max_value, uint64_t *v,
                              double *w)
{
    p = skip_blank(p, end);
    if (p == end || *p < '0' || *p > '9')
        return "expected SIZE,WEIGHT with SIZE a whole number";
    uint64_t x = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (x > (max_value - (uint64_t)(*p - '0')) / 10)
            return "the size is too large";
        x = x * 10 + (uint64_t)(*p++ - '0');
    }
    p = skip_blank(p, end);
    if (p == end || *p != ',')
        return "expected a comma after the size";
    p = skip_blank(p + 1, end);
    char num[64];
    size_t n = 0;
    while (p < end && *p != ' ' && *p != '\t' && n < sizeof(num) - 1)
        num[n++] = *p++;
    num[n] = '\0';
    if (skip_blank(p, end) != end)
        return "unexpected text after the weight";
    char *stop = NULL;
    errno = 0;
    double y = n > 0 ? strtod(num, &stop) : 0;
    if (n == 0 || stop != num + n || errno != 0 || !(y > 0) || !isfinite(y))
        return "expected a weight: a number > 0";
    *v = x;
    *w = y;
    return NULL;
}

int distrib_table_parse(const char *name, const char *text, size_t len, uint64_t max_value,
                        struct distrib_table **out, char *err, size_t errlen)
{
    *out = NULL;
    struct distrib_table *t = calloc(1, sizeof(*t));
    size_t cap = 0;
    if (t == NULL)
        goto nomem;
    const char *p = text, *end = text + len;
    unsigned line = 0;
    while (p < end) {
        line++;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *stop = eol != NULL ? eol : end;
        const char *last = stop;
        if (last > p && last[-1] == '\r')
            last--;
        const char *first = skip_blank(p, last);
        p = eol != NULL ? eol + 1 : end;
        if (first == last || *first == '#')
            continue;
        if (memchr(first, '\0', (size_t)(last - first)) != NULL) {
            snprintf(err, errlen, "%s line %u: a NUL byte", name, line);
            goto fail;
        }
        if (t->n == DISTRIB_TABLE_MAX) {
            snprintf(err, errlen, "%s line %u: more than %d entries", name, line,
                     DISTRIB_TABLE_MAX);
            goto fail;
        }
        uint64_t v;
        double w;
        const char *why = table_line(first, last, max_value, &v, &w);
        if (why != NULL) {
            snprintf(err, errlen, "%s line %u: %s (at most %llu), got \"%.*s\"", name, line, why,
                     (unsigned long long)max_value, (int)(last - first > 40 ? 40 : last - first),
                     first);
            goto fail;
        }
        if (t->n == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            uint64_t *nv = realloc(t->values, ncap * sizeof(*nv));
            if (nv == NULL)
                goto nomem;
            t->values = nv;
            double *nc = realloc(t->cum, ncap * sizeof(*nc));
            if (nc == NULL)
                goto nomem;
            t->cum = nc;
            cap = ncap;
        }
        t->total += w;
        t->values[t->n] = v;
        t->cum[t->n] = t->total;
        t->n++;
    }
    if (t->n == 0) {
        snprintf(err, errlen, "%s: no SIZE,WEIGHT line", name);
        goto fail;
    }
    *out = t;
    return 0;
nomem:
    snprintf(err, errlen, "%s: out of memory", name);
fail:
    distrib_table_free(t);
    return -1;
}

#define TABLE_FILE_MAX (16u << 20)

int distrib_table_load(const char *path, uint64_t max_value, struct distrib_table **out,
                       char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(TABLE_FILE_MAX + 1);
    size_t len = buf != NULL ? fread(buf, 1, TABLE_FILE_MAX + 1, f) : 0;
    bool bad = buf == NULL || ferror(f);
    fclose(f);
    if (bad || len > TABLE_FILE_MAX) {
        snprintf(err, errlen, "%s: %s", path,
                 buf == NULL ? "out of memory"
                 : bad       ? "cannot be read"
                             : "larger than 16 MiB");
        free(buf);
        return -1;
    }
    int rc = distrib_table_parse(path, buf, len, max_value, out, err, errlen);
    free(buf);
    return rc;
}

/* ---- reading a distribution from the scenario --------------------------------------------- */

#define SIZE_DIST_WHAT                                                                             \
    "an integer 0..1099511627776, an object with \"min\" and \"max\", or one with \"dist\""
#define SECONDS_DIST_WHAT                                                                          \
    "seconds (a number >= 0), an object with \"min\" and \"max\", or one with \"dist\""
/* A log-normal size's clamp when none is given: drawn sizes above a mebibyte are rare with
 * any parameters a chat-like load uses, and the run's body buffer is as large as the max. */
#define LOGNORMAL_DEFAULT_MAX 1048576.0

/* A bound or parameter: an integer for sizes, seconds for times. */
static int read_value(struct scn__ctx *c, const json_t *obj, const char *key, bool size,
                      bool zero_ok, double *out)
{
    const json_t *v = json_object_get(obj, key);
    size_t mark = scn__path_push(c, ".%s", key);
    if (size) {
        json_int_t x;
        if (scn__get_int(c, v, zero_ok ? 0 : 1, MAX_SIZE, &x) != 0)
            return -1;
        *out = (double)x;
    } else if (scn__get_seconds(c, v, zero_ok, out) != 0) {
        return -1;
    }
    scn__path_pop(c, mark);
    return 0;
}

/* mean and stddev, plain numbers > 0. */
static int read_positive(struct scn__ctx *c, const json_t *obj, const char *key, bool size,
                         double *out)
{
    size_t mark = scn__path_push(c, ".%s", key);
    if (scn__get_number(c, json_object_get(obj, key), false, out) != 0)
        return -1;
    if (size ? *out > (double)MAX_SIZE : *out > MAX_SECONDS)
        return scn__fail(c, "expected at most %g, got %g",
                         size ? (double)MAX_SIZE : MAX_SECONDS, *out);
    scn__path_pop(c, mark);
    return 0;
}

static int need_keys(struct scn__ctx *c, const json_t *obj, const char *const *required)
{
    for (unsigned i = 0; required[i] != NULL; i++)
        if (json_object_get(obj, required[i]) == NULL)
            return scn__fail(c, "\"dist\": \"%s\" needs \"%s\"",
                             json_string_value(json_object_get(obj, "dist")), required[i]);
    return 0;
}

static int read_min_max(struct scn__ctx *c, const json_t *obj, bool size, struct distrib *d)
{
    if (read_value(c, obj, "min", size, true, &d->min) != 0 ||
        read_value(c, obj, "max", size, true, &d->max) != 0)
        return -1;
    if (d->max < d->min) {
        scn__path_push(c, ".max");
        if (size)
            return scn__fail(c, "expected an integer >= min (%.0f), got %.0f", d->min, d->max);
        return scn__fail(c, "expected seconds >= min (%g), got %g", d->min, d->max);
    }
    return 0;
}

static int read_dist_object(struct scn__ctx *c, const json_t *v, bool size, struct distrib *d)
{
    static const char *const size_kinds[] = {"fixed", "uniform", "lognormal", "table", NULL};
    static const int size_vals[] = {DISTRIB_FIXED, DISTRIB_UNIFORM, DISTRIB_LOGNORMAL,
                                    DISTRIB_TABLE};
    static const char *const time_kinds[] = {"fixed", "uniform", "exponential", NULL};
    static const int time_vals[] = {DISTRIB_FIXED, DISTRIB_UNIFORM, DISTRIB_EXPONENTIAL};
    int k;
    size_t mark = scn__path_push(c, ".dist");
    if (scn__get_enum(c, json_object_get(v, "dist"), size ? size_kinds : time_kinds, &k) != 0)
        return -1;
    scn__path_pop(c, mark);
    d->kind = (enum distrib_kind)(size ? size_vals[k] : time_vals[k]);
    static const char *const fixed_keys[] = {"dist", "value", NULL};
    static const char *const uniform_keys[] = {"dist", "min", "max", NULL};
    static const char *const lognormal_keys[] = {"dist", "mean", "stddev", "min", "max", NULL};
    static const char *const lognormal_req[] = {"mean", "stddev", NULL};
    static const char *const exp_keys[] = {"dist", "mean", "max", NULL};
    static const char *const exp_req[] = {"mean", NULL};
    static const char *const table_keys[] = {"dist", "file", NULL};
    static const char *const *const allowed[] = {fixed_keys, uniform_keys, lognormal_keys,
                                                 exp_keys, table_keys};
    static const char *const *const required[] = {fixed_keys + 1, uniform_keys + 1,
                                                  lognormal_req, exp_req, table_keys + 1};
    if (scn__check_keys(c, v, allowed[d->kind]) != 0 || need_keys(c, v, required[d->kind]) != 0)
        return -1;
    switch (d->kind) {
    case DISTRIB_FIXED:
        if (read_value(c, v, "value", size, true, &d->value) != 0)
            return -1;
        d->min = d->max = d->value;
        return 0;
    case DISTRIB_UNIFORM:
        return read_min_max(c, v, size, d);
    case DISTRIB_LOGNORMAL:
        d->min = 0;
        d->max = LOGNORMAL_DEFAULT_MAX;
        if (read_positive(c, v, "mean", size, &d->mean) != 0 ||
            read_positive(c, v, "stddev", size, &d->stddev) != 0 ||
            (json_object_get(v, "min") != NULL &&
             read_value(c, v, "min", size, true, &d->min) != 0) ||
            (json_object_get(v, "max") != NULL &&
             read_value(c, v, "max", size, true, &d->max) != 0))
            return -1;
        if (!(d->min <= d->mean && d->mean <= d->max)) {
            scn__path_push(c, ".mean");
            return scn__fail(c, "expected a mean within min..max (%g..%g), got %g", d->min,
                             d->max, d->mean);
        }
        distrib_lognormal_params(d->mean, d->stddev, &d->mu, &d->sigma);
        return 0;
    case DISTRIB_EXPONENTIAL:
        d->min = 0;
        d->max = MAX_SECONDS;
        if (read_positive(c, v, "mean", size, &d->mean) != 0 ||
            (json_object_get(v, "max") != NULL &&
             read_value(c, v, "max", size, false, &d->max) != 0))
            return -1;
        return 0;
    case DISTRIB_TABLE: {
        char file[512], msg[600];
        mark = scn__path_push(c, ".file");
        if (scn__copy_string(c, json_object_get(v, "file"), FILE_WHAT, file, sizeof(file)) != 0)
            return -1;
        if (file[0] == '\0')
            return scn__expected(c, FILE_WHAT, json_object_get(v, "file"), true);
        if (distrib_table_load(file, (uint64_t)MAX_SIZE, &d->table, msg, sizeof(msg)) != 0)
            return scn__fail(c, "%s", msg);
        scn__path_pop(c, mark);
        d->min = (double)d->table->values[0];
        d->max = d->min;
        for (size_t i = 1; i < d->table->n; i++) {
            double x = (double)d->table->values[i];
            d->min = x < d->min ? x : d->min;
            d->max = x > d->max ? x : d->max;
        }
        return 0;
    }
    }
    return 0;
}

int scn__read_distrib(struct scn__ctx *c, const json_t *v, bool size, struct distrib *d)
{
    memset(d, 0, sizeof(*d));
    if (json_is_number(v)) {
        d->kind = DISTRIB_FIXED;
        if (size) {
            json_int_t x;
            if (scn__get_int_what(c, v, 0, MAX_SIZE, SIZE_DIST_WHAT, &x) != 0)
                return -1;
            d->value = (double)x;
        } else if (scn__get_seconds(c, v, true, &d->value) != 0) {
            return -1;
        }
        d->min = d->max = d->value;
        return 0;
    }
    if (!json_is_object(v))
        return scn__expected(c, size ? SIZE_DIST_WHAT : SECONDS_DIST_WHAT, v, false);
    if (json_object_get(v, "dist") == NULL) {
        /* {"min": a, "max": b}: uniform, as before distributions had names */
        const json_t *vmin, *vmax;
        if (scn__get_min_max(c, v, &vmin, &vmax) != 0)
            return -1;
        d->kind = DISTRIB_UNIFORM;
        return read_min_max(c, v, size, d);
    }
    if (read_dist_object(c, v, size, d) != 0) {
        distrib_free(d);
        return -1;
    }
    return 0;
}
