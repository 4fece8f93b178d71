/*
 * results.c - the conformance run's output (results.h): the line per case with its detail,
 * TAP, JUnit XML, JSON, and the counted verdicts. It only formats what the cases gave: it runs
 * no case and reads no option.
 */
#include "conform/results.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/jsonw.h"
#include "report/markup.h"

const char *conform_level_name(enum case_level l)
{
    switch (l) {
    case CASE_MUST:
        return "MUST";
    case CASE_SHOULD:
        return "SHOULD";
    case CASE_MAY:
        return "MAY";
    case CASE_NONE:
        break;
    }
    return "none";
}

/* Prints text indented, every line behind prefix. */
static void indent(FILE *f, const char *prefix, const char *text)
{
    const char *p = text;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
        fprintf(f, "%s%.*s\n", prefix, (int)n, p);
        p += n + (nl != NULL);
    }
}

static void print_detail(FILE *f, const struct conform_item *it)
{
    const struct scenario_case *k = it->sc.kase;
    fprintf(f, "      %s (RFC %s section %s, %s)\n", k->title, k->rfc, k->section,
            k->level == CASE_NONE ? "no keyword" : conform_level_name(k->level));
    fprintf(f, "      requirement: %s\n", k->requirement);
    fprintf(f, "      expected:    %s\n", k->expected);
    if (it->r.observed[0] != '\0')
        fprintf(f, "      observed:    %s\n", it->r.observed);
    if (it->r.wire != NULL) {
        fprintf(f, "      wire exchange:\n");
        indent(f, "        ", it->r.wire);
    }
}

/* ---- reports ------------------------------------------------------------------------------ */

/* CDATA cannot hold "]]>": split it across two sections. */
static void xml_cdata(FILE *f, const char *s)
{
    fputs("<![CDATA[", f);
    for (; *s != '\0'; s++) {
        if (strncmp(s, "]]>", 3) == 0) {
            fputs("]]]]><![CDATA[>", f);
            s += 2;
            continue;
        }
        fputc((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t' ? '?' : *s, f);
    }
    fputs("]]>", f);
}

static void section_of(const struct scenario_case *k, char *out, size_t cap)
{
    snprintf(out, cap, "%s-%s", k->rfc, k->section);
}

int conform_results_write_junit(const char *path, struct conform_item *const *items, size_t n,
                                bool strict, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"msrpload "
               "conform\">\n");
    /* Items are sorted by id, and ids start with the section: a section's cases are adjacent. */
    for (size_t i = 0; i < n;) {
        char sec[48], other[48];
        section_of(items[i]->sc.kase, sec, sizeof sec);
        size_t j = i, tests = 0, failures = 0, skipped = 0;
        /* Failures are fails and non-stricts (a SHOULD failure outside --strict is still shown:
         * the exit code says whether it counts); info is a passed test with the observation. */
        double secs = 0;
        for (; j < n; j++) {
            section_of(items[j]->sc.kase, other, sizeof other);
            if (strcmp(sec, other) != 0)
                break;
            tests++;
            secs += items[j]->r.seconds;
            if (!items[j]->ran || items[j]->r.verdict == CONFORM_SKIP ||
                items[j]->r.verdict == CONFORM_UNOBSERVABLE)
                skipped++;
            else if (items[j]->r.verdict != CONFORM_PASS && items[j]->r.verdict != CONFORM_INFO)
                failures++;
        }
        fprintf(f,
                "  <testsuite name=\"RFC %s\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
                "skipped=\"%zu\" time=\"%.3f\">\n",
                sec, tests, failures, skipped, secs);
        for (; i < j; i++) {
            const struct conform_item *it = items[i];
            const struct scenario_case *k = it->sc.kase;
            fprintf(f, "    <testcase classname=\"rfc%s.%s\" name=\"", k->rfc, k->section);
            markup_text(f, k->id);
            fprintf(f, " (%s)\" time=\"%.3f\">\n", conform_level_name(k->level), it->r.seconds);
            if (!it->ran || it->r.verdict == CONFORM_SKIP ||
                it->r.verdict == CONFORM_UNOBSERVABLE) {
                fprintf(f, "      <skipped message=\"%s", it->r.verdict == CONFORM_UNOBSERVABLE
                                                             ? "unobservable: "
                                                             : "");
                markup_text(f, it->ran ? it->r.observed : "not run");
                fprintf(f, "\"/>\n");
            } else if (it->r.verdict == CONFORM_INFO) {
                fprintf(f, "      <system-out>");
                char head[4096];
                snprintf(head, sizeof head, "info (%s, never failing): %s\nrequirement: %s\n",
                         conform_level_name(k->level), it->r.observed, k->requirement);
                xml_cdata(f, head);
                fprintf(f, "</system-out>\n");
            } else if (it->r.verdict != CONFORM_PASS) {
                fprintf(f, "      <failure type=\"%s%s\" message=\"",
                        conform_verdict_name(it->r.verdict),
                        it->r.verdict == CONFORM_NON_STRICT && !strict ? " (not counted)" : "");
                markup_text(f, it->r.observed);
                fprintf(f, "\">");
                char head[4096];
                snprintf(head, sizeof head,
                         "requirement: %s\nexpected: %s\nobserved: %s\n\nwire exchange:\n",
                         k->requirement, k->expected, it->r.observed);
                xml_cdata(f, head);
                if (it->r.wire != NULL)
                    xml_cdata(f, it->r.wire);
                fprintf(f, "</failure>\n");
            }
            fprintf(f, "    </testcase>\n");
        }
        fprintf(f, "  </testsuite>\n");
    }
    fprintf(f, "</testsuites>\n");
    if (fclose(f) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void json_str_field(FILE *f, const char *name, const char *v, bool comma)
{
    fprintf(f, "%s\"%s\":", comma ? "," : "", name);
    jsonw_string(f, v, strlen(v));
}

int conform_results_write_json(const char *path, struct conform_item *const *items, size_t n,
                               const char *peer, const char *name, const char *version,
                               char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "{\"generator\":\"msrpload %s\",", version);
    json_str_field(f, "peer", peer, false);
    json_str_field(f, "name", name, true);
    fprintf(f, ",\"cases\":[\n");
    for (size_t i = 0; i < n; i++) {
        const struct conform_item *it = items[i];
        const struct scenario_case *k = it->sc.kase;
        fprintf(f, "%s{", i == 0 ? "" : ",\n");
        json_str_field(f, "id", k->id, false);
        json_str_field(f, "rfc", k->rfc, true);
        json_str_field(f, "section", k->section, true);
        json_str_field(f, "level", conform_level_name(k->level), true);
        json_str_field(f, "title", k->title, true);
        fprintf(f, ",\"aliases\":[");
        for (unsigned a = 0; a < k->num_aliases; a++) {
            fprintf(f, "%s", a == 0 ? "" : ",");
            jsonw_string(f, k->aliases[a], strlen(k->aliases[a]));
        }
        fprintf(f, "],\"requirements\":[");
        for (unsigned a = 0; a < k->num_requirements; a++) {
            fprintf(f, "%s", a == 0 ? "" : ",");
            jsonw_string(f, k->requirements[a], strlen(k->requirements[a]));
        }
        fprintf(f, "]");
        json_str_field(f, "requirement", k->requirement, true);
        json_str_field(f, "expected", k->expected, true);
        json_str_field(f, "result",
                       it->ran ? conform_verdict_name(it->r.verdict) : "not-run", true);
        json_str_field(f, "observed", it->r.observed, true);
        fprintf(f, ",\"seconds\":%.3f", it->r.seconds);
        /* Passes too: conform-report opens any cell's exchange. */
        if (it->r.wire != NULL)
            json_str_field(f, "wire", it->r.wire, true);
        fprintf(f, "}");
    }
    fprintf(f, "\n]}\n");
    if (fclose(f) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void tap_yaml_line(FILE *f, const char *key, const char *v)
{
    fprintf(f, "  %s: ", key);
    jsonw_string(f, v, strlen(v)); /* a JSON string is a valid YAML scalar */
    fprintf(f, "\n");
}

/* ---- the lines on standard output --------------------------------------------------------- */

bool conform_verdict_counts(enum conform_verdict v, bool strict)
{
    return v == CONFORM_FAIL || v == CONFORM_UNREACHABLE || (v == CONFORM_NON_STRICT && strict);
}

void conform_tally_add(struct conform_tally *t, enum conform_verdict v, bool strict)
{
    if (v == CONFORM_PASS)
        t->passed++;
    else if (v == CONFORM_SKIP)
        t->skipped++;
    else if (v == CONFORM_INFO)
        t->info++;
    else if (v == CONFORM_UNOBSERVABLE)
        t->unobservable++;
    else if (v == CONFORM_NON_STRICT)
        t->non_strict++;
    else
        t->failed++;
    t->counted += conform_verdict_counts(v, strict);
}

void conform_results_tap_plan(FILE *f, size_t n)
{
    fprintf(f, "TAP version 13\n1..%zu\n", n);
}

void conform_results_tap_case(FILE *f, size_t number, const struct conform_item *it, bool strict)
{
    const struct scenario_case *k = it->sc.kase;
    enum conform_verdict v = it->r.verdict;
    if (v == CONFORM_SKIP || v == CONFORM_UNOBSERVABLE) {
        fprintf(f, "ok %zu - %s # SKIP %s%s\n", number, k->id,
                v == CONFORM_UNOBSERVABLE ? "unobservable: " : "", it->r.observed);
        return;
    }
    /* info is ok (it never fails); a non-strict outside --strict is a TODO. */
    bool ok = v == CONFORM_PASS || v == CONFORM_INFO;
    bool counts = conform_verdict_counts(v, strict);
    fprintf(f, "%s %zu - %s%s\n", ok ? "ok" : "not ok", number, k->id,
            v == CONFORM_INFO         ? " (info: not seen, reported only)"
            : !ok && !counts ? " # TODO non-strict (a SHOULD), not counted without --strict"
                             : "");
    if (v != CONFORM_PASS) {
        fprintf(f, "  ---\n");
        tap_yaml_line(f, "verdict", conform_verdict_name(v));
        tap_yaml_line(f, "level", conform_level_name(k->level));
        tap_yaml_line(f, "requirement", k->requirement);
        tap_yaml_line(f, "expected", k->expected);
        tap_yaml_line(f, "observed", it->r.observed);
        if (it->r.wire != NULL)
            tap_yaml_line(f, "wire", it->r.wire);
        fprintf(f, "  ...\n");
    }
    fflush(f);
}

void conform_results_print_case(FILE *f, const struct conform_item *it, bool verbose)
{
    const struct scenario_case *k = it->sc.kase;
    enum conform_verdict v = it->r.verdict;
    const char *word = v == CONFORM_UNREACHABLE ? "fail" : conform_verdict_name(v);
    fprintf(f, "%s  %s%s%s", word, k->id,
            k->level == CASE_MUST ? ""
            : k->level == CASE_SHOULD ? " (SHOULD)"
            : k->level == CASE_MAY    ? " (MAY)"
                                      : " (no keyword)",
            v == CONFORM_UNREACHABLE ? " (unreachable)" : "");
    if (v == CONFORM_SKIP || v == CONFORM_UNOBSERVABLE)
        fprintf(f, ": %s", it->r.observed);
    fprintf(f, "\n");
    if (v == CONFORM_FAIL || v == CONFORM_NON_STRICT || v == CONFORM_INFO ||
        v == CONFORM_UNREACHABLE || (verbose && v == CONFORM_PASS))
        print_detail(f, it);
    fflush(f);
}

void conform_results_print_summary(FILE *f, const struct conform_tally *t, size_t n, bool strict,
                                   enum conform_delivery delivery, bool tap)
{
    char summary[360];
    snprintf(summary, sizeof summary,
             "%zu cases: %zu passed, %zu failed, %zu non-strict, %zu info, %zu unobservable, %zu "
             "skipped (%zu counted%s)%s%s",
             n, t->passed, t->failed, t->non_strict, t->info, t->unobservable, t->skipped,
             t->counted, strict ? ", --strict" : "; non-strict counts with --strict",
             delivery != CONFORM_DELIVER_WHOLE ? "; delivery " : "",
             delivery != CONFORM_DELIVER_WHOLE ? conform_delivery_name(delivery) : "");
    if (tap)
        fprintf(f, "# %s\n", summary);
    else
        fprintf(f, "\n%s\n", summary);
}
