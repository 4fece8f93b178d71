/*
 * internal.h - what the scenario layer's own files share, and nothing outside src/scenario/
 * includes: where the checker is in the JSON tree, how it words a problem, the readers of
 * scalar values and the table of keys that reads an object, and the compilers each file
 * offers the others.
 *
 * Every reader returns 0, or -1 once it has written the one message of the load with
 * scn__fail (the callers return -1 at once). Names are scn__ (internal but shared, as libuv's
 * uv__); statics inside each file have plain names.
 */
#ifndef MSRPLOAD_SCENARIO_INTERNAL_H
#define MSRPLOAD_SCENARIO_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "scenario/distrib.h"
#include "scenario/scenario.h"

#define MAX_THREADS SCENARIO_MAX_THREADS
#define MAX_OUTSTANDING 1024
#define MAX_SIZE (1ll << 40)
/*
 * Durations are capped so that any of them, in nanoseconds, fits an int64_t with room to add it
 * to a CLOCK_MONOTONIC reading: 10^9 s is about 31 years, far beyond any run.
 */
#define MAX_SECONDS 1e9
/* A string shown in a message is quoted whole up to this many bytes, described beyond it. */
#define SHOW_STRING_MAX 64
#define PATH_CAP 4096

/* The largest json_int_t, meaning "no upper bound" to scn__get_int. */
#if JSON_INTEGER_IS_LONG_LONG
#define INT_NO_MAX LLONG_MAX
#else
#define INT_NO_MAX LONG_MAX
#endif

#define STEPS_WHAT "a non-empty array of steps"
#define STATUS_WHAT "an integer 100..999 or an array of 1 to 8 of them"
#define FILE_WHAT "a file path"

/* Where the checker is and where its first complaint goes. */
struct scn__ctx {
    const char *file;
    char *err;
    size_t errlen;
    struct scenario *sc;
    bool is_case;          /* the file has a top-level "case": conformance keys are allowed */
    const struct scenario_data *data; /* run --data: columns raw templates may name, or NULL */
    unsigned open_repeats; /* repeats whose END is still to come: room is kept for each */
    size_t plen;
    char path[PATH_CAP];
};

/* ---- the JSON path and messages (reader.c) ------------------------------------------------ */

/* Appends to the path; returns the length scn__path_pop restores. */
size_t scn__path_push(struct scn__ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void scn__path_pop(struct scn__ctx *c, size_t mark);
/* "FILE: $.path: " and the message into the caller's buffer; returns -1. */
int scn__fail(struct scn__ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s[0..len) as JSON would write it, quoted, into buf. */
void scn__quote_string(const char *s, size_t len, char *buf, size_t cap);
/* What v is, for "got ...": its value (strings only when string_value) or its kind. */
const char *scn__describe(const json_t *v, bool string_value, char *buf, size_t cap);
/* "expected WHAT, got ..." at the current path; returns -1. */
int scn__expected(struct scn__ctx *c, const char *what, const json_t *v, bool string_value);

/* ---- objects and scalar values (reader.c) ------------------------------------------------- */

/* Every key of obj must be in the NULL-terminated list allowed (which the message lists). */
int scn__check_keys(struct scn__ctx *c, const json_t *obj, const char *const *allowed);
/* A {"min": ..., "max": ...} object: only those keys, both present; their values in *vmin and
 * *vmax (the caller reads and compares them). */
int scn__get_min_max(struct scn__ctx *c, const json_t *v, const json_t **vmin,
                     const json_t **vmax);
int scn__need_object(struct scn__ctx *c, const json_t *v);
/* An integer lo..hi (hi INT_NO_MAX: no bound); what, when not NULL, words the expectation. */
int scn__get_int_what(struct scn__ctx *c, const json_t *v, json_int_t lo, json_int_t hi,
                      const char *what, json_int_t *out);
int scn__get_int(struct scn__ctx *c, const json_t *v, json_int_t lo, json_int_t hi,
                 json_int_t *out);
int scn__get_u32(struct scn__ctx *c, const json_t *v, json_int_t lo, uint32_t *out);
int scn__get_number(struct scn__ctx *c, const json_t *v, bool zero_ok, double *out);
int scn__get_seconds(struct scn__ctx *c, const json_t *v, bool zero_ok, double *out);
int scn__get_ns(struct scn__ctx *c, const json_t *v, uint64_t *out);
int scn__check_length(struct scn__ctx *c, const json_t *v, size_t cap);
int scn__copy_string(struct scn__ctx *c, const json_t *v, const char *what, char *dst,
                     size_t cap);
int scn__get_enum(struct scn__ctx *c, const json_t *v, const char *const *names, int *out);
int scn__get_bool(struct scn__ctx *c, const json_t *v, bool *out);

/* ---- the table of keys (reader.c) --------------------------------------------------------- */

enum scn__key_type {
    SCN__INT,     /* an integer lo..hi (hi INT_NO_MAX: none), stored in a field of 1, 4 or 8 bytes */
    SCN__NUMBER,  /* a double >= 0 (lo 0) or > 0 (lo 1) */
    SCN__SECONDS, /* seconds as a double, >= 0 (lo 0) or > 0 (lo 1), at most MAX_SECONDS */
    SCN__NS,      /* seconds > 0 as whole nanoseconds, in a uint64_t */
    SCN__BOOL,    /* true or false, in a bool */
    SCN__ENUM,    /* one of names: values[i] (or i when values is NULL), stored as SCN__INT */
    SCN__STRING,  /* copied whole into a char array (what words it); not empty when lo is 1;
                     refused (as what) when valid says no */
    SCN__CUSTOM,  /* read(c, v, base) does it all */
};

/*
 * One key of an object: its name (the path gets ".name" while it is read), how its value is
 * checked, and where it goes (offset and size within the caller's struct). A table is read in
 * its order, which decides which problem is reported when a file has several.
 */
struct scn__key {
    const char *name;
    enum scn__key_type type;
    size_t offset, size;
    json_int_t lo, hi;
    const char *const *names; /* SCN__ENUM */
    const int *values;        /* SCN__ENUM */
    const char *what;         /* SCN__STRING */
    bool (*valid)(const char *s);
    int (*read)(struct scn__ctx *c, const json_t *v, void *base);
};

#define SCN__FIELD(T, f) .offset = offsetof(T, f), .size = sizeof(((T *)0)->f)
#define SCN_KEY_INT(key, T, f, lo_, hi_)                                                           \
    {.name = key, .type = SCN__INT, SCN__FIELD(T, f), .lo = (lo_), .hi = (hi_)}
#define SCN_KEY_NUMBER(key, T, f, zero_ok)                                                         \
    {.name = key, .type = SCN__NUMBER, SCN__FIELD(T, f), .lo = (zero_ok) ? 0 : 1}
#define SCN_KEY_SECONDS(key, T, f, zero_ok)                                                        \
    {.name = key, .type = SCN__SECONDS, SCN__FIELD(T, f), .lo = (zero_ok) ? 0 : 1}
#define SCN_KEY_NS(key, T, f) {.name = key, .type = SCN__NS, SCN__FIELD(T, f)}
#define SCN_KEY_BOOL(key, T, f) {.name = key, .type = SCN__BOOL, SCN__FIELD(T, f)}
#define SCN_KEY_ENUM(key, T, f, names_, values_)                                                   \
    {.name = key, .type = SCN__ENUM, SCN__FIELD(T, f), .names = (names_), .values = (values_)}
#define SCN_KEY_STRING(key, T, f, what_, nonempty, valid_)                                         \
    {.name = key, .type = SCN__STRING, SCN__FIELD(T, f), .what = (what_),                          \
     .lo = (nonempty) ? 1 : 0, .valid = (valid_)}
#define SCN_KEY_CUSTOM(key, read_) {.name = key, .type = SCN__CUSTOM, .read = (read_)}

/* Reads the keys of obj that the table names (absent ones are left as they are) into base.
 * The caller has checked that obj is an object with only allowed keys. */
int scn__read_keys(struct scn__ctx *c, const json_t *obj, const struct scn__key *keys, size_t n,
                   void *base);
#define SCN__READ_KEYS(c, obj, table, base)                                                        \
    scn__read_keys((c), (obj), (table), sizeof(table) / sizeof((table)[0]), (base))

/* ---- sections (sections.c, case.c) -------------------------------------------------------- */

int scn__check_load(struct scn__ctx *c, const json_t *load);
/* load.stages and the load keys' rules beside them (stages.c), once the keys are read. */
int scn__check_stages(struct scn__ctx *c, const json_t *load);
int scn__check_topology(struct scn__ctx *c, const json_t *topo);
int scn__check_answer(struct scn__ctx *c, const json_t *ans);
int scn__check_case(struct scn__ctx *c, const json_t *obj);

/* ---- steps (steps.c, raw.c) --------------------------------------------------------------- */

/* Appends a step of this kind, zeroed; the caller has made sure there is room. */
struct step *scn__emit(struct scn__ctx *c, enum step_kind kind);
int scn__check_statuses(struct scn__ctx *c, const json_t *v, int *statuses, unsigned *num);
int scn__compile_list(struct scn__ctx *c, const json_t *list);
/* send_cpim.c: a send's "cpim" value into s->cpim (type_given: the send has content_type),
 * and the answer section's types checked against every cpim send (RFC 4975 section 8.6). */
int scn__read_cpim(struct scn__ctx *c, const json_t *v, struct step_send *s, bool type_given);
int scn__check_cpim_types(struct scn__ctx *c);
/* send_file.c: a send's "file" value v into s->file (send: the send's object, whose other
 * keys it checks against a file); the directory is read and hashed. */
int scn__read_file(struct scn__ctx *c, const json_t *v, struct step_send *s, const json_t *send);
int scn__compile_raw(struct scn__ctx *c, const json_t *obj);
int scn__compile_receive(struct scn__ctx *c, const json_t *obj);
void scn__conform_free(struct step_conform *f);

/* ---- templates (template.c) --------------------------------------------------------------- */

/* The template being compiled: its bytes (compacted in place into the literal text) and its
 * pieces so far. */
struct scn__raw_build {
    char *buf;
    size_t text_len;
    struct raw_piece *pieces;
    unsigned num, cap;
    size_t tids, message_ids, paths, conform;
    size_t data_bytes; /* the longest values of the data columns named, added up */
};

/* A template string compiled into b, its longest expansion in *max_len; on -1, b holds what
 * the caller must free (buf and pieces). */
int scn__compile_template(struct scn__ctx *c, const json_t *v, struct scn__raw_build *b,
                          size_t *max_len);
void scn__template_free(struct raw_template *t);

/* ---- distributions (distrib.c) ----------------------------------------------------------- */

/* A send's size (size true: whole bytes) or a think time (seconds) at the current path: a
 * number (fixed), {"min", "max"} (uniform), or an object with "dist" (scenarios/README.md).
 * On failure d owns nothing. */
int scn__read_distrib(struct scn__ctx *c, const json_t *v, bool size, struct distrib *d);
/* steps.c: frees what a send step owns (content, size and think tables). */
void scn__send_free(struct step_send *s);

#endif
