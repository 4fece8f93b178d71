/*
 * data.c - run --data FILE: per-session data from a CSV file with a header row, as SIPp's
 * injection files give each call its own values (scenario.h, struct scenario_data;
 * scenarios/README.md, "Per-session data").
 *
 * Owns: the file's format (RFC 4180 section 2's commas, double quotes with "" for a quote, and
 * header line; that RFC is not in ../shared/rfc, its section 2 was read through the search
 * tool; unlike it, line breaks inside a quoted value are refused, see read_field),
 * the checks of the columns with a meaning of their own (user, password, target,
 * content_file), the content files they name (read whole, once each), and which row a slot
 * takes in each order. Every problem names the file, the line and the column. May not touch:
 * where the values go (the runner's topologies and steps take them), any other file.
 * Passwords are kept only in the cells; nothing here prints a value of the password column.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario/distrib.h"
#include "scenario/scenario.h"

#define DATA_FILE_MAX (64u << 20)
#define CONTENT_TOTAL_MAX (1ull << 30)

static const char *const order_names[] = {"sequential", "random", "shard"};

const char *scenario_data_order_name(enum scenario_data_order o)
{
    return (unsigned)o < 3 ? order_names[o] : "?";
}

int scenario_data_order_parse(const char *s, enum scenario_data_order *out)
{
    for (unsigned i = 0; i < 3; i++)
        if (strcmp(s, order_names[i]) == 0) {
            *out = (enum scenario_data_order)i;
            return 0;
        }
    return -1;
}

void scenario_data_free(struct scenario_data *d)
{
    if (d == NULL)
        return;
    /* the cells hold passwords: wiped before they go back to the allocator */
    if (d->text != NULL)
        explicit_bzero(d->text, d->text_cap);
    free(d->text);
    free(d->cells);
    free(d->contents);
    free(d->target_index);
    free(d->row_line);
    for (size_t i = 0; i < d->num_files; i++)
        free(d->files[i]);
    free(d->files);
    free(d);
}

/* ---- reading the CSV ---------------------------------------------------------------------- */

struct reader {
    const char *p, *end;
    unsigned line;     /* of the field being read */
    char *out;         /* where values are copied (unquoted) */
    size_t out_len;
    char *err;
    size_t errlen;
    const char *path;
    const struct scenario_data *d; /* for the column names in messages */
    bool named;                    /* the header is read: messages name the column */
};

static int fail_at(struct reader *r, unsigned col, const char *why)
{
    if (r->named && col < r->d->num_cols)
        snprintf(r->err, r->errlen, "%s line %u column %u (%s): %s", r->path, r->line, col + 1,
                 r->d->names[col], why);
    else
        snprintf(r->err, r->errlen, "%s line %u column %u: %s", r->path, r->line, col + 1, why);
    return -1;
}

/*
 * One field at r->p, copied into r->out (NUL-terminated) as *v. Returns 1 when a comma follows
 * (more fields on the line), 0 at the line's end (or the file's), -1 on an error.
 */
static int read_field(struct reader *r, unsigned col, struct msrp_span *v)
{
    char *start = r->out + r->out_len;
    size_t n = 0;
    if (r->p < r->end && *r->p == '"') {
        r->p++;
        for (;;) {
            if (r->p == r->end)
                return fail_at(r, col, "a quoted value is not closed");
            char ch = *r->p++;
            if (ch == '"') {
                if (r->p < r->end && *r->p == '"') {
                    r->p++;
                    start[n++] = '"';
                    continue;
                }
                break;
            }
            start[n++] = ch;
        }
        if (r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r')
            return fail_at(r, col, "text after a quoted value's closing quote");
    } else {
        while (r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r') {
            if (*r->p == '"')
                return fail_at(r, col, "a quote inside an unquoted value (quote the whole value "
                                       "and double the quote)");
            start[n++] = *r->p++;
        }
    }
    /* Values go into AUTH headers and raw bytes on the wire: a line end or a NUL in one
     * would forge headers, other control characters break them. */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)start[i] < 0x20 || start[i] == 0x7f)
            return fail_at(r, col, "a control character (line end, NUL, ...) in the value");
    if (n > SCENARIO_DATA_VALUE_MAX)
        return fail_at(r, col, "a value longer than 4096 bytes");
    start[n] = '\0';
    *v = msrp_span_make(start, n);
    r->out_len += n + 1;
    if (r->p < r->end && *r->p == ',') {
        r->p++;
        return 1;
    }
    if (r->p < r->end && *r->p == '\r')
        r->p++;
    if (r->p < r->end && *r->p == '\n')
        r->p++;
    return 0;
}

static bool name_ok(const struct msrp_span *v)
{
    if (v->len == 0 || v->len > 63)
        return false;
    for (size_t i = 0; i < v->len; i++) {
        char ch = v->ptr[i];
        bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
        if (!alpha && !(i > 0 && ch >= '0' && ch <= '9'))
            return false;
    }
    return true;
}

/* The header row: column names, each a placeholder name, none twice. */
static int read_header(struct reader *r, struct scenario_data *d)
{
    for (unsigned col = 0;; col++) {
        if (col == SCENARIO_DATA_MAX_COLUMNS)
            return fail_at(r, col, "more than 64 columns");
        struct msrp_span v;
        int more = read_field(r, col, &v);
        if (more < 0)
            return -1;
        if (!name_ok(&v))
            return fail_at(r, col, "expected a column name: 1 to 63 letters, digits and _, "
                                   "not starting with a digit");
        for (unsigned k = 0; k < col; k++)
            if (strcmp(d->names[k], v.ptr) == 0)
                return fail_at(r, col, "a column name given twice");
        memcpy(d->names[col], v.ptr, v.len + 1);
        d->num_cols = col + 1;
        if (more == 0)
            break;
    }
    r->named = true;
    return 0;
}

/* The meaning of a well-known column's value, checked once (row 0-based). */
static const char *check_value(const struct scenario_data *d, unsigned col,
                               const struct msrp_span *v)
{
    if ((int)col == d->col_user) {
        if (v->len == 0 || v->len > SCENARIO_RELAY_USER_MAX)
            return "expected a user name of 1 to 127 bytes";
        for (size_t i = 0; i < v->len; i++)
            if (v->ptr[i] < 0x21 || v->ptr[i] > 0x7e || v->ptr[i] == '"' || v->ptr[i] == '\\')
                return "expected a user name of printable ASCII without spaces, '\"' or '\\'";
    } else if ((int)col == d->col_password) {
        if (v->len == 0 || v->len > 511)
            return "expected a password of 1 to 511 bytes"; /* never the value itself */
    } else if ((int)col == d->col_target) {
        struct msrp_uri u;
        if (v->len > 511 || msrp_uri_parse(v->ptr, v->len, &u) != MSRP_URI_OK)
            return "expected an MSRP URI of at most 511 bytes";
    } else if ((int)col == d->col_content_file) {
        if (v->len == 0 || v->len > 511)
            return "expected a file path of 1 to 511 bytes";
    }
    return NULL;
}

static int column_index(const struct scenario_data *d, const char *name)
{
    for (unsigned i = 0; i < d->num_cols; i++)
        if (strcmp(d->names[i], name) == 0)
            return (int)i;
    return -1;
}

/* Reads a content file whole into *out (at most what is left of the total). */
static int read_content(const char *file, uint64_t left, char **out, size_t *len, char *why,
                        size_t cap)
{
    FILE *f = fopen(file, "rb");
    if (f == NULL) {
        snprintf(why, cap, "cannot open %s: %s", file, strerror(errno));
        return -1;
    }
    size_t n = 0, room = 65536;
    char *buf = malloc(room);
    while (buf != NULL) {
        if (n == room) {
            if (room >= left) {
                snprintf(why, cap, "%s: the content files add up to more than 1 GiB", file);
                free(buf);
                fclose(f);
                return -1;
            }
            char *nb = realloc(buf, room * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            room *= 2;
        }
        size_t got = fread(buf + n, 1, room - n, f);
        n += got;
        if (got == 0)
            break;
    }
    bool bad = buf == NULL || ferror(f) || n > left;
    fclose(f);
    if (bad) {
        snprintf(why, cap, "%s: %s", file, buf == NULL ? "out of memory" : "cannot be read");
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* FNV-1a of a cell, for load_contents' table of file names. */
static uint64_t name_hash(const struct msrp_span *s)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < s->len; i++)
        h = (h ^ (unsigned char)s->ptr[i]) * 1099511628211ull;
    return h;
}

/* content_file: each row's file, read once however many rows name it (the rows naming a
 * file are found through a hash table of the first row of each name: a search among the
 * rows before would be quadratic in a file of many rows). */
static int load_contents(struct scenario_data *d, char *err, size_t errlen)
{
    int col = d->col_content_file;
    size_t slots = 16;
    while (slots < 2 * d->num_rows)
        slots *= 2;
    d->contents = calloc(d->num_rows, sizeof(*d->contents));
    d->files = calloc(d->num_rows, sizeof(*d->files));
    size_t *first = malloc(slots * sizeof(*first)); /* a row number, or SIZE_MAX: empty */
    if (d->contents == NULL || d->files == NULL || first == NULL) {
        free(first);
        snprintf(err, errlen, "%s: out of memory", d->path);
        return -1;
    }
    for (size_t i = 0; i < slots; i++)
        first[i] = SIZE_MAX;
    uint64_t total = 0;
    for (size_t r = 0; r < d->num_rows; r++) {
        const struct msrp_span *name = &scenario_data_cells(d, r)[col];
        size_t i = (size_t)name_hash(name) & (slots - 1);
        for (; first[i] != SIZE_MAX; i = (i + 1) & (slots - 1)) {
            const struct msrp_span *o = &scenario_data_cells(d, first[i])[col];
            if (o->len == name->len && memcmp(o->ptr, name->ptr, name->len) == 0)
                break;
        }
        if (first[i] != SIZE_MAX) {
            d->contents[r] = d->contents[first[i]];
            continue;
        }
        first[i] = r;
        char why[700];
        size_t len = 0;
        if (read_content(name->ptr, CONTENT_TOTAL_MAX - total, &d->files[d->num_files], &len,
                         why, sizeof(why)) != 0) {
            snprintf(err, errlen, "%s line %u column %d (content_file): %s", d->path,
                     d->row_line[r], col + 1, why);
            free(first);
            return -1;
        }
        total += len;
        d->contents[r] = msrp_span_make(d->files[d->num_files++], len);
    }
    free(first);
    return 0;
}

int scenario_data_parse(const char *path, const char *text, size_t len,
                        struct scenario_data **out, char *err, size_t errlen)
{
    *out = NULL;
    struct scenario_data *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    snprintf(d->path, sizeof(d->path), "%s", path);
    /* unquoted values are never longer than their text, and each gets a NUL */
    d->text_cap = len + len / 2 + 2;
    d->text = malloc(d->text_cap);
    size_t cap = 64;
    d->cells = malloc(cap * sizeof(*d->cells));
    if (d->text == NULL || d->cells == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    struct reader r = {.p = text, .end = text + len, .line = 1, .out = d->text, .err = err,
                       .errlen = errlen, .path = path, .d = d};
    if (len == 0) {
        snprintf(err, errlen, "%s: empty: expected a header row of column names", path);
        goto fail;
    }
    if (read_header(&r, d) != 0)
        goto fail;
    d->col_user = column_index(d, "user");
    d->col_password = column_index(d, "password");
    d->col_target = column_index(d, "target");
    d->col_content_file = column_index(d, "content_file");
    while (r.p < r.end) {
        r.line++;
        if (*r.p == '\n' || (*r.p == '\r' && r.p + 1 < r.end && r.p[1] == '\n')) {
            r.p += *r.p == '\r' ? 2 : 1; /* a blank line is skipped */
            continue;
        }
        if ((d->num_rows + 1) * d->num_cols > cap) {
            cap *= 2;
            struct msrp_span *nc = realloc(d->cells, cap * sizeof(*nc));
            if (nc == NULL) {
                snprintf(err, errlen, "%s: out of memory", path);
                goto fail;
            }
            d->cells = nc;
        }
        if (d->num_rows % 64 == 0) {
            unsigned *nl = realloc(d->row_line, (d->num_rows + 64) * sizeof(*nl));
            if (nl == NULL) {
                snprintf(err, errlen, "%s: out of memory", path);
                goto fail;
            }
            d->row_line = nl;
        }
        d->row_line[d->num_rows] = r.line;
        struct msrp_span *row = d->cells + d->num_rows * d->num_cols;
        unsigned col = 0;
        for (;; col++) {
            if (col == d->num_cols) {
                fail_at(&r, col, "more values than the header has columns");
                goto fail;
            }
            int more = read_field(&r, col, &row[col]);
            if (more < 0)
                goto fail;
            const char *why = check_value(d, col, &row[col]);
            if (why != NULL) {
                fail_at(&r, col, why);
                goto fail;
            }
            if (row[col].len > d->col_max[col])
                d->col_max[col] = row[col].len;
            if (more == 0)
                break;
        }
        if (col + 1 < d->num_cols) {
            char why[128];
            snprintf(why, sizeof(why), "%u values where the header has %u columns", col + 1,
                     d->num_cols);
            fail_at(&r, col + 1, why);
            goto fail;
        }
        d->num_rows++;
    }
    if (d->num_rows == 0) {
        snprintf(err, errlen, "%s: no rows after the header", path);
        goto fail;
    }
    if (d->col_content_file >= 0 && load_contents(d, err, errlen) != 0)
        goto fail;
    *out = d;
    return 0;
fail:
    scenario_data_free(d);
    return -1;
}

int scenario_data_load(const char *path, struct scenario_data **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(DATA_FILE_MAX + 1);
    size_t len = buf != NULL ? fread(buf, 1, DATA_FILE_MAX + 1, f) : 0;
    bool bad = buf == NULL || ferror(f);
    fclose(f);
    if (bad || len > DATA_FILE_MAX) {
        snprintf(err, errlen, "%s: %s", path,
                 buf == NULL ? "out of memory"
                 : bad       ? "cannot be read"
                             : "larger than 64 MiB");
        free(buf);
        return -1;
    }
    int rc = scenario_data_parse(path, buf, len, out, err, errlen);
    explicit_bzero(buf, len); /* it held the passwords too */
    free(buf);
    return rc;
}

int scenario_data_targets(struct scenario_data *d, const char **targets, unsigned *n, char *err,
                          size_t errlen)
{
    *n = 0;
    int col = d->col_target;
    d->target_index = calloc(d->num_rows, sizeof(*d->target_index));
    if (d->target_index == NULL) {
        snprintf(err, errlen, "%s: out of memory", d->path);
        return -1;
    }
    for (size_t r = 0; r < d->num_rows; r++) {
        const char *uri = scenario_data_cells(d, r)[col].ptr;
        unsigned t = 0;
        while (t < *n && strcmp(targets[t], uri) != 0)
            t++;
        if (t == *n) {
            if (*n == SCENARIO_MAX_TARGETS) {
                snprintf(err, errlen, "%s line %u column %d (target): more than %d distinct "
                         "targets", d->path, d->row_line[r], col + 1, SCENARIO_MAX_TARGETS);
                return -1;
            }
            targets[(*n)++] = uri;
        }
        d->target_index[r] = t;
    }
    return 0;
}

/* ---- which row a slot takes --------------------------------------------------------------- */

size_t scenario_data_row(const struct scenario_data *d, uint64_t local, uint64_t global,
                         uint64_t seed, unsigned shard_index, unsigned shard_count)
{
    size_t rows = d->num_rows;
    switch (d->order) {
    case SCENARIO_DATA_SEQUENTIAL:
        break;
    case SCENARIO_DATA_RANDOM: {
        /* its own generator, so the sessions' sizes and think times draw as without data */
        struct distrib_rng r;
        distrib_rng_session(&r, seed ^ 0x6461746121ull, global);
        return (size_t)distrib_below(&r, rows);
    }
    case SCENARIO_DATA_SHARD:
        if (shard_count > 1) {
            size_t base = rows * (shard_index - 1) / shard_count;
            size_t span = rows * shard_index / shard_count - base;
            if (span == 0) /* fewer rows than hosts: one each, shared */
                return (shard_index - 1) % rows;
            return base + (size_t)(local % span);
        }
        return (size_t)(local % rows);
    }
    return (size_t)(global % rows);
}
