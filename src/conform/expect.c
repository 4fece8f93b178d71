/*
 * expect.c - expected results for CI (expect.h): reads an expectations file in its text or
 * JSON form, resolves aliases to current ids, compares a run against it and writes a run as a
 * starting file. It runs no case and reads no option.
 */
#include "conform/expect.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int conform_verdict_parse(const char *word)
{
    static const enum conform_verdict all[] = {CONFORM_PASS, CONFORM_FAIL,
                                               CONFORM_NON_STRICT, CONFORM_INFO,
                                               CONFORM_UNOBSERVABLE, CONFORM_SKIP};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(word, conform_verdict_name(all[i])) == 0)
            return (int)all[i];
    if (strcmp(word, "not-run") == 0) /* a results file's word for a case never started */
        return CONFORM_SKIP;
    return -1;
}

/* The case of all whose id or one of whose aliases is id; NULL when none. */
static const struct scenario_case *find_case(struct conform_item *const *all, size_t nall,
                                             const char *id)
{
    for (size_t i = 0; i < nall; i++) {
        const struct scenario_case *k = all[i]->sc.kase;
        if (strcmp(k->id, id) == 0)
            return k;
        for (unsigned a = 0; a < k->num_aliases; a++)
            if (strcmp(k->aliases[a], id) == 0)
                return k;
    }
    return NULL;
}

/* Adds one expectation; -1 with the error in err (a verdict not known, a case named twice). */
static int add(struct conform_expect *x, struct conform_item *const *all, size_t nall,
               const char *id, const char *verdict, const char *reason, unsigned line,
               char *err, size_t errlen)
{
    int v = conform_verdict_parse(verdict);
    if (v < 0) {
        snprintf(err, errlen,
                 "%s:%u: unknown verdict '%.40s' for %.120s (expected pass, fail, non-strict, "
                 "info, unobservable or skip)",
                 x->path, line, verdict, id);
        return -1;
    }
    const struct scenario_case *k = find_case(all, nall, id);
    const char *cur = k != NULL ? k->id : id;
    for (size_t i = 0; i < x->n; i++)
        if (strcmp(x->e[i].id, cur) == 0) {
            snprintf(err, errlen, "%s:%u: %.120s names the case %.120s already named on line %u",
                     x->path, line, id, cur, x->e[i].line);
            return -1;
        }
    struct conform_expectation *ne = realloc(x->e, (x->n + 1) * sizeof(*ne));
    if (ne == NULL) {
        snprintf(err, errlen, "%s: out of memory", x->path);
        return -1;
    }
    x->e = ne;
    struct conform_expectation *e = &x->e[x->n++];
    memset(e, 0, sizeof(*e));
    e->id = strdup(cur);
    e->given = strdup(id);
    e->reason = strdup(reason);
    e->verdict = (enum conform_verdict)v;
    e->line = line;
    e->known = k != NULL;
    if (e->id == NULL || e->given == NULL || e->reason == NULL) {
        snprintf(err, errlen, "%s: out of memory", x->path);
        return -1;
    }
    return 0;
}

/* The text form: "CASE-ID VERDICT # reason" a line. */
static int load_text(struct conform_expect *x, FILE *f, struct conform_item *const *all,
                     size_t nall, char *err, size_t errlen)
{
    char buf[4096];
    unsigned line = 0;
    while (fgets(buf, sizeof buf, f) != NULL) {
        line++;
        if (strchr(buf, '\n') == NULL && !feof(f)) {
            snprintf(err, errlen, "%s:%u: line longer than %zu bytes", x->path, line,
                     sizeof buf - 2);
            return -1;
        }
        buf[strcspn(buf, "\r\n")] = '\0';
        char *p = buf;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0' || *p == '#')
            continue;
        char *hash = strchr(p, '#');
        const char *reason = "";
        if (hash != NULL) {
            *hash = '\0';
            reason = hash + 1;
            while (isspace((unsigned char)*reason))
                reason++;
        }
        char *save = NULL;
        char *id = strtok_r(p, " \t", &save);
        char *verdict = strtok_r(NULL, " \t", &save);
        char *extra = strtok_r(NULL, " \t", &save);
        if (id == NULL || verdict == NULL || extra != NULL) {
            snprintf(err, errlen,
                     "%s:%u: expected \"CASE-ID VERDICT # reason\" (two words before the '#')",
                     x->path, line);
            return -1;
        }
        if (add(x, all, nall, id, verdict, reason, line, err, errlen) != 0)
            return -1;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s: %s", x->path, strerror(errno));
        return -1;
    }
    return 0;
}

/* The JSON form: {"expect": [...]} or a results file ({"cases": [...]} with "result"). */
static int load_json(struct conform_expect *x, FILE *f, struct conform_item *const *all,
                     size_t nall, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_loadf(f, 0, &je);
    if (root == NULL) {
        snprintf(err, errlen, "%s:%d: %s", x->path, je.line, je.text);
        return -1;
    }
    int rc = 0;
    json_t *list = json_object_get(root, "expect");
    const char *vkey = "verdict", *rkey = "reason", *lname = "expect";
    if (list == NULL) {
        list = json_object_get(root, "cases");
        vkey = "result";
        rkey = "observed";
        lname = "cases";
    }
    if (!json_is_array(list)) {
        snprintf(err, errlen,
                 "%s:1: expected an object with an array \"expect\" (or a results file of "
                 "conform --json, with \"cases\")",
                 x->path);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < json_array_size(list); i++) {
        json_t *o = json_array_get(list, i);
        const char *id = json_string_value(json_object_get(o, "id"));
        const char *v = json_string_value(json_object_get(o, vkey));
        const char *r = json_string_value(json_object_get(o, rkey));
        if (id == NULL || v == NULL) {
            snprintf(err, errlen, "%s: %s[%zu]: needs the strings \"id\" and \"%s\"", x->path,
                     lname, i, vkey);
            rc = -1;
            break;
        }
        /* JSON keeps no line numbers for values: the entry's position stands in. */
        if (add(x, all, nall, id, v, r != NULL ? r : "", (unsigned)i + 1, err, errlen) != 0) {
            size_t l = strlen(err);
            snprintf(err + l, errlen - l, " (entry %zu of \"%s\")", i + 1, lname);
            rc = -1;
        }
    }
    json_decref(root);
    return rc;
}

int conform_expect_load(const char *path, struct conform_item *const *all, size_t nall,
                        struct conform_expect *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->path = strdup(path);
    if (out->path == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        conform_expect_free(out);
        return -1;
    }
    int c;
    while ((c = fgetc(f)) != EOF && isspace(c))
        ;
    rewind(f);
    int rc = c == '{' ? load_json(out, f, all, nall, err, errlen)
                      : load_text(out, f, all, nall, err, errlen);
    fclose(f);
    if (rc != 0)
        conform_expect_free(out);
    return rc;
}

void conform_expect_free(struct conform_expect *x)
{
    for (size_t i = 0; i < x->n; i++) {
        free(x->e[i].id);
        free(x->e[i].given);
        free(x->e[i].reason);
    }
    free(x->e);
    free(x->path);
    memset(x, 0, sizeof(*x));
}

/* ---- the comparison ----------------------------------------------------------------------- */

/* How good a verdict is, for telling a regression from an improvement. */
static int rank(enum conform_verdict v)
{
    switch (v) {
    case CONFORM_PASS:
        return 0;
    case CONFORM_UNOBSERVABLE:
        return 1;
    case CONFORM_INFO:
        return 2;
    case CONFORM_NON_STRICT:
        return 3;
    default:
        return 4;
    }
}

enum list {
    L_REGRESSED,
    L_NEWLY_PASSING,
    L_CHANGED,
    L_NOT_COMPARED,
    L_NOT_IN_FILE,
    L_COUNT
};

static const char *const list_title[L_COUNT] = {
    "regressed", "newly passing (record the fix: conform --write-expect)", "changed",
    "not compared (skipped in this run, or expected skip)",
    "not in the expectations file (reported only)"};

static struct conform_expectation *find_expectation(struct conform_expect *x, const char *id)
{
    for (size_t i = 0; i < x->n; i++)
        if (strcmp(x->e[i].id, id) == 0)
            return &x->e[i];
    return NULL;
}

/* The first line of s, at most 200 bytes. */
static void first_line(FILE *f, const char *s)
{
    size_t n = strcspn(s, "\n");
    fprintf(f, "%.*s", (int)(n > 200 ? 200 : n), s);
}

size_t conform_expect_compare(struct conform_expect *x, struct conform_item *const *items,
                              size_t n, FILE *f, const char *prefix)
{
    enum list *which = calloc(n + 1, sizeof(*which));
    size_t count[L_COUNT] = {0}, as_expected = 0;
    for (size_t i = 0; i < n; i++) {
        const struct conform_item *it = items[i];
        struct conform_expectation *e = find_expectation(x, it->sc.kase->id);
        enum conform_verdict now = it->r.verdict;
        enum list l;
        if (e == NULL) {
            l = L_NOT_IN_FILE;
        } else {
            e->used = true;
            if (now == e->verdict) {
                as_expected++;
                if (which != NULL)
                    which[i] = L_COUNT;
                continue;
            }
            if (now == CONFORM_SKIP || e->verdict == CONFORM_SKIP)
                l = L_NOT_COMPARED;
            else if (now == CONFORM_PASS)
                l = L_NEWLY_PASSING;
            else if (rank(now) > rank(e->verdict))
                l = L_REGRESSED;
            else
                l = L_CHANGED;
        }
        count[l]++;
        if (which != NULL)
            which[i] = l;
    }
    size_t unknown = 0;
    for (size_t i = 0; i < x->n; i++)
        unknown += !x->e[i].known;

    fprintf(f, "%sexpect %s: %zu as expected, %zu regressed, %zu newly passing, %zu changed, "
               "%zu not compared, %zu not in the file, %zu unknown ids\n",
            prefix, x->path, as_expected, count[L_REGRESSED], count[L_NEWLY_PASSING],
            count[L_CHANGED], count[L_NOT_COMPARED], count[L_NOT_IN_FILE], unknown);
    for (int l = 0; l < L_COUNT && which != NULL; l++) {
        if (count[l] == 0)
            continue;
        fprintf(f, "%s%s:\n", prefix, list_title[l]);
        for (size_t i = 0; i < n; i++) {
            if (which[i] != (enum list)l)
                continue;
            const struct conform_item *it = items[i];
            const struct conform_expectation *e = find_expectation(x, it->sc.kase->id);
            fprintf(f, "%s  %s: ", prefix, it->sc.kase->id);
            if (e != NULL)
                fprintf(f, "expected %s (line %u), now %s", conform_verdict_name(e->verdict),
                        e->line, conform_verdict_name(it->r.verdict));
            else
                fprintf(f, "now %s", conform_verdict_name(it->r.verdict));
            if (it->r.verdict != CONFORM_PASS && it->r.observed[0] != '\0') {
                fprintf(f, ": ");
                first_line(f, it->r.observed);
            }
            fprintf(f, "\n");
        }
    }
    if (unknown > 0) {
        fprintf(f, "%sunknown ids (no case of the cases folder has them; reported only):\n",
                prefix);
        for (size_t i = 0; i < x->n; i++)
            if (!x->e[i].known)
                fprintf(f, "%s  %s:%u: %s\n", prefix, x->path, x->e[i].line, x->e[i].given);
    }
    for (size_t i = 0; i < x->n; i++)
        if (x->e[i].known && x->e[i].used && strcmp(x->e[i].id, x->e[i].given) != 0)
            fprintf(f, "%s%s:%u: %s is an old id of %s\n", prefix, x->path, x->e[i].line,
                    x->e[i].given, x->e[i].id);
    free(which);
    fflush(f);
    return count[L_REGRESSED] + count[L_NEWLY_PASSING] + count[L_CHANGED];
}

int conform_expect_write(const char *path, struct conform_item *const *items, size_t n,
                         const char *name, const char *version, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char when[32] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm) != NULL)
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(f,
            "# Expected conformance results of %s, written by msrpload %s at %s.\n"
            "# One case a line: CASE-ID VERDICT # reason. `msrpload conform --expect FILE`\n"
            "# exits 1 when a verdict differs from this file (README, conform).\n",
            name, version, when);
    for (size_t i = 0; i < n; i++) {
        const struct conform_item *it = items[i];
        fprintf(f, "%s %s", it->sc.kase->id, conform_verdict_name(it->r.verdict));
        if (it->r.verdict != CONFORM_PASS && it->r.observed[0] != '\0') {
            /* The reason ends at the line: a '#' or a line end in it is harmless there. */
            fprintf(f, " # ");
            first_line(f, it->r.observed);
        }
        fprintf(f, "\n");
    }
    if (fclose(f) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
