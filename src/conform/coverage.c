/*
 * coverage.c - the requirements list of the conformance suite
 * (scenarios/conformance/requirements.json) and the coverage table `msrpload conform
 * --coverage` prints from it (conform.h).
 *
 * Each listed requirement is something RFC 4975, 4976, 6714 or 7977 asks of a peer that a tester
 * playing the other side could see on the wire (RFC 4975 section 8 and RFC 6714: in the SDP),
 * or says why it cannot be seen ("unobservable"), or why no case checks it yet ("not_covered").
 * Cases name the requirements they check; the table joins the two. The list is held to that: a case citing a requirement that is not listed, a
 * requirement with neither a case nor a reason, a reason on a requirement a case covers, are
 * errors, so the table can never quietly drift from the cases.
 *
 * Owns: requirements.json's loading and checks and the table's text. May not touch: the cases'
 * execution (exec.c) or any connection; it reads case files only as loaded scenarios.
 */
#include "conform/conform.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REQS 512

struct req {
    const char *id, *rfc, *section, *level, *says, *unobservable, *not_covered;
    const struct scenario_case *cases[64];
    unsigned ncases;
};

static bool id_chars_ok(const char *s)
{
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '.' ||
              *s == '/'))
            return false;
    return true;
}

/* A string member, or NULL (with an error when required). */
static const char *member(const json_t *o, const char *key, bool required, const char *path,
                          size_t i, char *err, size_t errlen, bool *bad)
{
    const json_t *v = json_object_get(o, key);
    if (v == NULL) {
        if (required) {
            snprintf(err, errlen, "%s: $.requirements[%zu]: required key \"%s\" missing", path, i,
                     key);
            *bad = true;
        }
        return NULL;
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        snprintf(err, errlen, "%s: $.requirements[%zu].%s: expected a non-empty string", path, i,
                 key);
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

static int load_reqs(const json_t *root, const char *path, struct req *reqs, size_t *n, char *err,
                     size_t errlen)
{
    static const char *const keys[] = {"id",   "rfc",          "section",     "level",
                                       "says", "unobservable", "not_covered", NULL};
    static const char *const levels[] = {"MUST", "SHOULD", "MAY", "none", NULL};
    const json_t *list = json_object_get(root, "requirements");
    if (!json_is_array(list)) {
        snprintf(err, errlen, "%s: $.requirements: expected an array", path);
        return -1;
    }
    if (json_array_size(list) > MAX_REQS) {
        snprintf(err, errlen, "%s: $.requirements: more than %d entries", path, MAX_REQS);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *o = json_array_get(list, i);
        if (!json_is_object(o)) {
            snprintf(err, errlen, "%s: $.requirements[%zu]: expected an object", path, i);
            return -1;
        }
        const char *k;
        json_t *unused;
        json_object_foreach((json_t *)o, k, unused)
        {
            size_t j = 0;
            while (keys[j] != NULL && strcmp(keys[j], k) != 0)
                j++;
            if (keys[j] == NULL) {
                snprintf(err, errlen, "%s: $.requirements[%zu]: unknown key \"%s\"", path, i, k);
                return -1;
            }
        }
        struct req *r = &reqs[i];
        bool bad = false;
        memset(r, 0, sizeof(*r));
        r->id = member(o, "id", true, path, i, err, errlen, &bad);
        if (!bad)
            r->rfc = member(o, "rfc", true, path, i, err, errlen, &bad);
        if (!bad)
            r->section = member(o, "section", true, path, i, err, errlen, &bad);
        if (!bad)
            r->level = member(o, "level", true, path, i, err, errlen, &bad);
        if (!bad)
            r->says = member(o, "says", true, path, i, err, errlen, &bad);
        if (!bad)
            r->unobservable = member(o, "unobservable", false, path, i, err, errlen, &bad);
        if (!bad)
            r->not_covered = member(o, "not_covered", false, path, i, err, errlen, &bad);
        if (bad)
            return -1;
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%s-%s/", r->rfc, r->section);
        if (strncmp(r->id, prefix, strlen(prefix)) != 0 || !id_chars_ok(r->id) ||
            r->id[strlen(prefix)] == '\0' || strlen(r->id) >= SCENARIO_CASE_NAME_LEN) {
            snprintf(err, errlen,
                     "%s: $.requirements[%zu].id: expected \"%s<name>\" of lower-case letters, "
                     "digits, '-', '.' and '/', got \"%s\"",
                     path, i, prefix, r->id);
            return -1;
        }
        size_t j = 0;
        while (levels[j] != NULL && strcmp(levels[j], r->level) != 0)
            j++;
        if (levels[j] == NULL) {
            snprintf(err, errlen,
                     "%s: $.requirements[%zu].level: expected MUST, SHOULD, MAY or none, got "
                     "\"%s\"",
                     path, i, r->level);
            return -1;
        }
        if (r->unobservable != NULL && r->not_covered != NULL) {
            snprintf(err, errlen,
                     "%s: $.requirements[%zu] (%s): both \"unobservable\" and \"not_covered\"",
                     path, i, r->id);
            return -1;
        }
        for (size_t m = 0; m < i; m++)
            if (strcmp(reqs[m].id, r->id) == 0) {
                snprintf(err, errlen, "%s: $.requirements[%zu]: the id %s is listed twice", path, i,
                         r->id);
                return -1;
            }
    }
    *n = json_array_size(list);
    return 0;
}

/* Joins cases to requirements and checks that the two agree. */
static int join(struct req *reqs, size_t n, const struct scenario *const *cases, size_t ncases,
                const char *path, char *err, size_t errlen)
{
    for (size_t c = 0; c < ncases; c++) {
        const struct scenario_case *k = cases[c]->kase;
        if (k->num_requirements == 0) {
            snprintf(err, errlen, "%s: the case cites no requirement (case.requirements)",
                     cases[c]->path);
            return -1;
        }
        for (unsigned q = 0; q < k->num_requirements; q++) {
            size_t i = 0;
            while (i < n && strcmp(reqs[i].id, k->requirements[q]) != 0)
                i++;
            if (i == n) {
                snprintf(err, errlen, "%s: $.case.requirements[%u]: %s is not listed in %s",
                         cases[c]->path, q, k->requirements[q], path);
                return -1;
            }
            if (reqs[i].ncases < sizeof reqs[i].cases / sizeof reqs[i].cases[0])
                reqs[i].cases[reqs[i].ncases++] = k;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct req *r = &reqs[i];
        if (r->ncases == 0 && r->unobservable == NULL && r->not_covered == NULL) {
            snprintf(err, errlen,
                     "%s: %s has no case and no reason (give \"unobservable\" or "
                     "\"not_covered\")",
                     path, r->id);
            return -1;
        }
        if (r->ncases > 0 && (r->unobservable != NULL || r->not_covered != NULL)) {
            snprintf(err, errlen, "%s: %s is covered by %s but still says it is %s", path, r->id,
                     r->cases[0]->id, r->unobservable != NULL ? "unobservable" : "not covered");
            return -1;
        }
    }
    return 0;
}

/* Markdown table cells: a '|' would end the cell. */
static void md_cell(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else
            fputc(*s, f);
    }
}

static void print_table(FILE *f, const struct req *reqs, size_t n, bool markdown)
{
    if (markdown) {
        fprintf(f, "# Conformance coverage\n\n"
                   "Generated by `msrpload conform --coverage --markdown` from\n"
                   "`scenarios/conformance/requirements.json` and the case files; do not edit by\n"
                   "hand (a test regenerates it and fails when it differs).\n\n"
                   "Each row is a requirement of RFC 4975, RFC 4976, RFC 6714 or RFC 7977 that a peer\n"
                   "could be seen to meet or break on the wire (MSRP, or the SDP of the SIP offer/\n"
                   "answer for the section 8 and RFC 6714 rows), in our own words, with the keyword of the\n"
                   "RFC sentence (none: the RFC states it without one), and the cases that check\n"
                   "it, or why none does.\n\n"
                   "| Requirement | Level | What it asks | Cases, or why none |\n"
                   "|---|---|---|---|\n");
    }
    for (size_t i = 0; i < n; i++) {
        const struct req *r = &reqs[i];
        if (markdown) {
            fprintf(f, "| %s | %s | ", r->id, r->level);
            md_cell(f, r->says);
            fputs(" | ", f);
        } else {
            fprintf(f, "%-52s %-6s ", r->id, r->level);
        }
        if (r->ncases > 0) {
            for (unsigned c = 0; c < r->ncases; c++)
                fprintf(f, markdown ? "%s`%s`" : "%s%s", c == 0 ? "" : ", ", r->cases[c]->id);
        } else if (r->unobservable != NULL) {
            fputs("unobservable: ", f);
            if (markdown)
                md_cell(f, r->unobservable);
            else
                fputs(r->unobservable, f);
        } else {
            fputs("not covered yet: ", f);
            if (markdown)
                md_cell(f, r->not_covered);
            else
                fputs(r->not_covered, f);
        }
        fputs(markdown ? " |\n" : "\n", f);
    }
    size_t must = 0, should = 0, other = 0, covered = 0, unobs = 0, must_obs = 0, must_cov = 0;
    for (size_t i = 0; i < n; i++) {
        const struct req *r = &reqs[i];
        bool is_must = strcmp(r->level, "MUST") == 0;
        must += is_must;
        should += strcmp(r->level, "SHOULD") == 0;
        covered += r->ncases > 0;
        unobs += r->unobservable != NULL;
        if (is_must && r->unobservable == NULL) {
            must_obs++;
            must_cov += r->ncases > 0;
        }
    }
    other = n - must - should;
    fprintf(f,
            "\n%zu requirements listed (%zu MUST, %zu SHOULD, %zu MAY or without a keyword): "
            "%zu covered, %zu unobservable, %zu observable but not covered yet; %.0f%% of the "
            "observable MUSTs covered (%zu of %zu)\n",
            n, must, should, other, covered, unobs, n - covered - unobs,
            must_obs > 0 ? 100.0 * (double)must_cov / (double)must_obs : 0.0, must_cov, must_obs);
}

int conform_print_coverage(const char *path, const struct scenario *const *cases, size_t ncases,
                           bool markdown, FILE *out, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (root == NULL) {
        snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        return -1;
    }
    struct req *reqs = calloc(MAX_REQS, sizeof(*reqs));
    size_t n = 0;
    int rc = -1;
    if (reqs == NULL)
        snprintf(err, errlen, "out of memory");
    else if (load_reqs(root, path, reqs, &n, err, errlen) == 0 &&
             join(reqs, n, cases, ncases, path, err, errlen) == 0) {
        print_table(out, reqs, n, markdown);
        rc = 0;
    }
    free(reqs);
    json_decref(root);
    return rc;
}
