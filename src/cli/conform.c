/*
 * conform.c - `msrpload conform`: runs the RFC 4975/4976 conformance cases (case files under
 * scenarios/conformance/) against an endpoint or a relay, one line per case, with TAP, JUnit
 * and JSON reports for CI.
 *
 * Cases run one after the other, each on fresh connections (src/conform/exec.c). A case that is
 * not met gets the verdict its level calls for (conform.h): fail for a MUST, non-strict for a
 * SHOULD, info for a MAY or a sentence without a keyword. The exit code counts fails only,
 * unless --strict, which counts non-strict too; info never counts. --coverage prints the
 * requirements list against the cases (src/conform/coverage.c) and runs nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "conform/conform.h"
#include "scenario/scenario.h"
#include "report/jsonw.h"

#define MAX_CASES 512
#define REQUIREMENTS_FILE "requirements.json"
#define MAX_SELECT 32

static void conform_usage(FILE *out)
{
    fprintf(out,
            "usage: msrpload conform (--target URI | --relay URI --relay-user USER\n"
            "                         --relay-password-file FILE)\n"
            "                        [--list] [--case ID-or-prefix ...] [--strict] [--tap]\n"
            "                        [--junit FILE] [--json FILE] [--cases DIR]\n"
            "                        [--timeout-scale X] [--refused-type TYPE]\n"
            "                        [--delivery PATTERN] [--quick] [--verbose]\n"
            "       msrpload conform --coverage [--markdown] [--cases DIR]\n"
            "\n"
            "Checks an MSRP endpoint (RFC 4975) or relay (RFC 4976) against the requirements of\n"
            "the RFCs that can be seen on the wire. Each case is a file under the cases folder\n"
            "(scenarios/conformance/README.md), named by the RFC and section of the sentence it\n"
            "checks, e.g. 4975-7.2/response-tid. Prints one line per case and its verdict:\n"
            "  pass          the peer did what the case expects\n"
            "  fail          a MUST not met\n"
            "  non-strict    a SHOULD not met (counts only with --strict)\n"
            "  info          behaviour the RFC allows (MAY) or names without a keyword was\n"
            "                not seen: reported, never failing\n"
            "  unobservable  the peer's answer hides what the case checks (e.g. a 413 to a\n"
            "                message it needed taken): the reason, not counted\n"
            "  skip          the run lacks what the case needs: the reason\n"
            "Under fail, non-strict and info: the requirement, what was expected, what was\n"
            "observed and the wire exchange (a> sent by endpoint a, a< received; CR and LF\n"
            "written as \\r \\n).\n"
            "\n"
            "options:\n"
            "  --target URI         the endpoint under test: a session URI it answers, e.g.\n"
            "                       msrp://127.0.0.1:2855/s1;tcp (msrps:// for TLS, not verified);\n"
            "                       runs the endpoint cases, skips the relay cases\n"
            "  --relay URI          the relay under test, e.g. msrp://127.0.0.1:2855;tcp: runs the\n"
            "                       relay cases, skips the endpoint cases\n"
            "  --relay-user USER    the account both test endpoints authenticate with\n"
            "  --relay-password-file FILE\n"
            "                       its password: the first line of FILE\n"
            "  --list               list the selected cases (id, level, needs, title); run nothing\n"
            "  --case ID            run the case with this id, or every case whose id starts\n"
            "                       with it (4975-7.1 or 4976-); an id a case had before (its\n"
            "                       aliases, see the README's table) selects it too; may repeat\n"
            "  --strict             SHOULD cases count too: non-strict makes the exit code 1\n"
            "  --coverage           print the requirements list (requirements.json in the cases\n"
            "                       folder) with the cases that cover each, or why none does,\n"
            "                       and the counts; run nothing\n"
            "  --markdown           with --coverage: as the Markdown document\n"
            "                       docs/conformance-coverage.md\n"
            "  --tap                write TAP version 13 on standard output instead of the lines\n"
            "  --junit FILE         write a JUnit XML report: one testsuite per RFC section\n"
            "  --json FILE          write every result as JSON\n"
            "  --cases DIR          where the case files are (default scenarios/conformance)\n"
            "  --timeout-scale X    multiply every timeout by X (a slow peer or link; default 1)\n"
            "  --refused-type TYPE  a media type the target is known not to take (one missing\n"
            "                       from its SDP accept-types), e.g. application/x-refused:\n"
            "                       4975-7.3.1/415-unsupported-type sends it and wants 415;\n"
            "                       without it that case is skipped\n"
            "  --delivery PATTERN   how the requests a case sends are cut into writes: whole\n"
            "                       (default: each request in one write), bytes (one byte per\n"
            "                       write), split (writes cut between CR and LF and inside\n"
            "                       each end-line), pipelined (all a case sends before it\n"
            "                       next waits, binding SEND included, in one write), all\n"
            "                       (each case in each of the four; a case whose verdicts\n"
            "                       differ fails, naming them)\n"
            "  --quick              skip the slow cases: those marked slow (they wait out a\n"
            "                       30 s timer of the RFC) and those that may wait over 20 s\n"
            "                       for the peer; each is listed as skip, saying so\n"
            "  --verbose            print the wire exchange of passing cases too\n"
            "\n"
            "exit codes: 0 no case failed (with --strict: none failed or was non-strict; info\n"
            "            never counts), 1 a case that counts failed, 2 usage error, a case file\n"
            "            that does not load, or (--coverage) a requirements list that does not\n"
            "            agree with the cases, 3 the target or relay could not be reached (or\n"
            "            authenticated with)\n");
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "msrpload conform: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(msrpload conform --help lists the options)\n");
    return EXIT_USAGE;
}

struct item {
    struct scenario sc;
    struct conform_result r;
    bool ran;
};

static int by_id(const void *a, const void *b)
{
    const struct item *x = *(struct item *const *)a, *y = *(struct item *const *)b;
    return strcmp(x->sc.kase->id, y->sc.kase->id);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Loads every case file of dir into items (sorted by id). Returns the count, or -1. */
static int load_cases(const char *dir, struct item **items, size_t cap)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "msrpload conform: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    size_t n = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (!ends_with(de->d_name, ".json") || strcmp(de->d_name, REQUIREMENTS_FILE) == 0)
            continue;
        if (n == cap) {
            fprintf(stderr, "msrpload conform: more than %zu case files in %s\n", cap, dir);
            rc = -1;
            break;
        }
        char path[4096], err[1024];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct item *it = calloc(1, sizeof(*it));
        if (it == NULL) {
            rc = -1;
            break;
        }
        if (scenario_load(path, &it->sc, err, sizeof err) != 0) {
            fprintf(stderr, "msrpload conform: %s\n", err);
            free(it);
            rc = -1;
            continue;
        }
        if (it->sc.kase == NULL) {
            fprintf(stderr, "msrpload conform: %s: not a case file (no top-level \"case\")\n",
                    path);
            scenario_free(&it->sc);
            free(it);
            rc = -1;
            continue;
        }
        items[n++] = it;
    }
    closedir(d);
    qsort(items, n, sizeof(*items), by_id);
    for (size_t i = 1; i < n && rc == 0; i++)
        if (strcmp(items[i]->sc.kase->id, items[i - 1]->sc.kase->id) == 0) {
            fprintf(stderr, "msrpload conform: two case files have the id %s\n",
                    items[i]->sc.kase->id);
            rc = -1;
        }
    if (rc != 0) {
        for (size_t i = 0; i < n; i++) {
            scenario_free(&items[i]->sc);
            free(items[i]);
        }
        return -1;
    }
    return (int)n;
}

static const char *level_name(enum case_level l)
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

static void print_detail(FILE *f, const struct item *it)
{
    const struct scenario_case *k = it->sc.kase;
    fprintf(f, "      %s (RFC %s section %s, %s)\n", k->title, k->rfc, k->section,
            k->level == CASE_NONE ? "no keyword" : level_name(k->level));
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

static void xml_text(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
                fputc('?', f);
            else
                fputc(*s, f);
        }
    }
}

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

static int write_junit(const char *path, struct item **items, size_t n, bool strict)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "msrpload conform: %s: %s\n", path, strerror(errno));
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
            const struct item *it = items[i];
            const struct scenario_case *k = it->sc.kase;
            fprintf(f, "    <testcase classname=\"rfc%s.%s\" name=\"", k->rfc, k->section);
            xml_text(f, k->id);
            fprintf(f, " (%s)\" time=\"%.3f\">\n", level_name(k->level), it->r.seconds);
            if (!it->ran || it->r.verdict == CONFORM_SKIP ||
                it->r.verdict == CONFORM_UNOBSERVABLE) {
                fprintf(f, "      <skipped message=\"%s", it->r.verdict == CONFORM_UNOBSERVABLE
                                                             ? "unobservable: "
                                                             : "");
                xml_text(f, it->ran ? it->r.observed : "not run");
                fprintf(f, "\"/>\n");
            } else if (it->r.verdict == CONFORM_INFO) {
                fprintf(f, "      <system-out>");
                char head[4096];
                snprintf(head, sizeof head, "info (%s, never failing): %s\nrequirement: %s\n",
                         level_name(k->level), it->r.observed, k->requirement);
                xml_cdata(f, head);
                fprintf(f, "</system-out>\n");
            } else if (it->r.verdict != CONFORM_PASS) {
                fprintf(f, "      <failure type=\"%s%s\" message=\"",
                        conform_verdict_name(it->r.verdict),
                        it->r.verdict == CONFORM_NON_STRICT && !strict ? " (not counted)" : "");
                xml_text(f, it->r.observed);
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
        fprintf(stderr, "msrpload conform: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void json_str_field(FILE *f, const char *name, const char *v, bool comma)
{
    fprintf(f, "%s\"%s\":", comma ? "," : "", name);
    jsonw_string(f, v, strlen(v));
}

static int write_json(const char *path, struct item **items, size_t n, const char *peer)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "msrpload conform: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "{\"generator\":\"msrpload %s\",", msrpload_version());
    json_str_field(f, "peer", peer, false);
    fprintf(f, ",\"cases\":[\n");
    for (size_t i = 0; i < n; i++) {
        const struct item *it = items[i];
        const struct scenario_case *k = it->sc.kase;
        fprintf(f, "%s{", i == 0 ? "" : ",\n");
        json_str_field(f, "id", k->id, false);
        json_str_field(f, "rfc", k->rfc, true);
        json_str_field(f, "section", k->section, true);
        json_str_field(f, "level", level_name(k->level), true);
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
        if (it->r.wire != NULL && it->r.verdict != CONFORM_PASS)
            json_str_field(f, "wire", it->r.wire, true);
        fprintf(f, "}");
    }
    fprintf(f, "\n]}\n");
    if (fclose(f) != 0) {
        fprintf(stderr, "msrpload conform: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void tap_yaml_line(const char *key, const char *v)
{
    printf("  %s: ", key);
    jsonw_string(stdout, v, strlen(v)); /* a JSON string is a valid YAML scalar */
    printf("\n");
}

/* ---- the command -------------------------------------------------------------------------- */

/* A case is selected by its id or one of its old ids (aliases), whole or by prefix. */
static bool selected(const struct scenario_case *k, char **sel, size_t nsel)
{
    if (nsel == 0)
        return true;
    for (size_t i = 0; i < nsel; i++) {
        size_t n = strlen(sel[i]);
        if (strncmp(k->id, sel[i], n) == 0)
            return true;
        for (unsigned a = 0; a < k->num_aliases; a++)
            if (strncmp(k->aliases[a], sel[i], n) == 0)
                return true;
    }
    return false;
}

static int read_password(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "msrpload conform: %s: %s\n", path, strerror(errno));
        return -1;
    }
    bool ok = fgets(out, (int)cap, f) != NULL;
    fclose(f);
    if (!ok) {
        fprintf(stderr, "msrpload conform: %s: empty password file\n", path);
        return -1;
    }
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

int cmd_conform(int argc, char **argv)
{
    struct conform_peer peer = {0};
    const char *password_file = NULL, *junit = NULL, *json = NULL;
    const char *dir = "scenarios/conformance";
    char *sel[MAX_SELECT];
    size_t nsel = 0;
    bool list = false, strict = false, tap = false, verbose = false, quick = false, coverage = false,
         markdown = false;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            conform_usage(stdout);
            return EXIT_OK;
        }
        if (strcmp(a, "--list") == 0) {
            list = true;
            continue;
        }
        if (strcmp(a, "--strict") == 0) {
            strict = true;
            continue;
        }
        if (strcmp(a, "--quick") == 0) {
            quick = true;
            continue;
        }
        if (strcmp(a, "--coverage") == 0) {
            coverage = true;
            continue;
        }
        if (strcmp(a, "--markdown") == 0) {
            markdown = true;
            continue;
        }
        if (strcmp(a, "--tap") == 0) {
            tap = true;
            continue;
        }
        if (strcmp(a, "--verbose") == 0) {
            verbose = true;
            continue;
        }
        static const char *const with_value[] = {
            "--target", "--relay", "--relay-user", "--relay-password-file", "--case",
            "--junit",  "--json",  "--cases",      "--timeout-scale",       "--refused-type",
            "--delivery", NULL};
        size_t k = 0;
        while (with_value[k] != NULL && strcmp(a, with_value[k]) != 0)
            k++;
        if (with_value[k] == NULL)
            return usage_error("unknown option or argument '%s'", a);
        if (i + 1 >= argc)
            return usage_error("%s needs a value", a);
        char *v = argv[++i];
        if (strcmp(a, "--target") == 0) {
            peer.target_uri = v;
        } else if (strcmp(a, "--relay") == 0) {
            peer.relay_uri = v;
        } else if (strcmp(a, "--relay-user") == 0) {
            peer.user = v;
        } else if (strcmp(a, "--relay-password-file") == 0) {
            password_file = v;
        } else if (strcmp(a, "--case") == 0) {
            if (nsel == MAX_SELECT)
                return usage_error("at most 32 --case options%s", "");
            sel[nsel++] = v;
        } else if (strcmp(a, "--junit") == 0) {
            junit = v;
        } else if (strcmp(a, "--json") == 0) {
            json = v;
        } else if (strcmp(a, "--cases") == 0) {
            dir = v;
        } else if (strcmp(a, "--refused-type") == 0) {
            /* type "/" subtype, tokens without parameters (RFC 4975 section 9, RFC 2045) */
            size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                 "0123456789!#$&-^_.+%*'`|~/");
            const char *slash = strchr(v, '/');
            if (n != strlen(v) || slash == NULL || slash == v || slash[1] == '\0' ||
                strchr(slash + 1, '/') != NULL || strlen(v) > 200)
                return usage_error("--refused-type: expected a media type such as "
                                   "application/x-refused, got '%s'",
                                   v);
            peer.refused_type = v;
        } else if (strcmp(a, "--delivery") == 0) {
            int d = conform_delivery_parse(v);
            if (d < 0)
                return usage_error("--delivery: expected whole, bytes, split, pipelined or all, "
                                   "got '%s'",
                                   v);
            peer.delivery = (enum conform_delivery)d;
        } else {
            char *end = NULL;
            peer.timeout_scale = strtod(v, &end);
            if (end == v || *end != '\0' || !(peer.timeout_scale > 0) ||
                peer.timeout_scale > 100)
                return usage_error("--timeout-scale: expected a number in (0, 100], got '%s'",
                                   v);
        }
    }
    if (markdown && !coverage)
        return usage_error("--markdown goes with --coverage%s", "");
    if (coverage && (list || nsel > 0 || peer.target_uri != NULL || peer.relay_uri != NULL))
        return usage_error("--coverage takes only --cases and --markdown%s", "");
    if (!list && !coverage) {
        if ((peer.target_uri == NULL) == (peer.relay_uri == NULL))
            return usage_error("give either --target or --relay%s", "");
        if (peer.relay_uri != NULL && (peer.user == NULL || password_file == NULL))
            return usage_error("--relay needs --relay-user and --relay-password-file%s", "");
        if (peer.target_uri != NULL && (peer.user != NULL || password_file != NULL))
            return usage_error("--relay-user and --relay-password-file go with --relay%s", "");
    }

    static struct item *items[MAX_CASES];
    int loaded = load_cases(dir, items, MAX_CASES);
    if (loaded < 0)
        return EXIT_USAGE;
    size_t n = 0;
    for (int i = 0; i < loaded; i++) {
        if (selected(items[i]->sc.kase, sel, nsel)) {
            items[n++] = items[i];
        } else {
            scenario_free(&items[i]->sc);
            free(items[i]);
        }
    }
    int rc = EXIT_OK;
    if (coverage) {
        char path[4096], err[1024];
        snprintf(path, sizeof path, "%s/%s", dir, REQUIREMENTS_FILE);
        const struct scenario **cases = calloc(n + 1, sizeof(*cases));
        if (cases == NULL) {
            rc = EXIT_USAGE;
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            cases[i] = &items[i]->sc;
        if (conform_print_coverage(path, cases, n, markdown, stdout, err, sizeof err) != 0) {
            fprintf(stderr, "msrpload conform: %s\n", err);
            rc = EXIT_USAGE;
        }
        free(cases);
        goto out;
    }
    if (n == 0) {
        fprintf(stderr, "msrpload conform: no case matches the selection\n");
        return EXIT_USAGE;
    }
    if (list) {
        for (size_t i = 0; i < n; i++) {
            const struct scenario_case *k = items[i]->sc.kase;
            printf("%-48s %-6s %-6s %s\n", k->id, level_name(k->level),
                   k->needs == CASE_TARGET ? "target" : "relay", k->title);
        }
        goto out;
    }

    char password[512] = "";
    if (password_file != NULL) {
        if (read_password(password_file, password, sizeof password) != 0) {
            rc = EXIT_USAGE;
            goto out;
        }
        peer.password = password;
    }
    char err[1024];
    if (conform_peer_resolve(&peer, err, sizeof err) != 0) {
        fprintf(stderr, "msrpload conform: %s\n", err);
        rc = EXIT_UNREACHABLE;
        goto out;
    }

    size_t passed = 0, failed = 0, non_strict = 0, info = 0, unobservable = 0, failed_counted = 0,
           skipped = 0;
    bool unreachable = false;
    if (tap)
        printf("TAP version 13\n1..%zu\n", n);
    for (size_t i = 0; i < n; i++) {
        struct item *it = items[i];
        const struct scenario_case *k = it->sc.kase;
        double wait = conform_case_max_wait(&it->sc, &peer);
        if (unreachable) {
            it->r.verdict = CONFORM_SKIP;
            snprintf(it->r.observed, sizeof it->r.observed, "not run: the peer is unreachable");
        } else if (quick && (k->slow || wait > CONFORM_QUICK_MAX_WAIT_S)) {
            it->r.verdict = CONFORM_SKIP;
            snprintf(it->r.observed, sizeof it->r.observed,
                     "slow: %s; --quick skips cases marked slow or that may wait over %.0f s",
                     k->slow ? "it waits out a 30 s timer of the RFC" : "it may wait long",
                     CONFORM_QUICK_MAX_WAIT_S);
        } else {
            conform_run_case(&it->sc, &peer, &it->r);
            it->ran = true;
        }
        enum conform_verdict v = it->r.verdict;
        if (v == CONFORM_UNREACHABLE) {
            /* Nothing else will fare better: say so once and stop trying. */
            unreachable = true;
            fprintf(stderr, "msrpload conform: %s: %s\n",
                    peer.target_uri != NULL ? peer.target_uri : peer.relay_uri, it->r.observed);
        }
        bool counts = v == CONFORM_FAIL || v == CONFORM_UNREACHABLE ||
                      (v == CONFORM_NON_STRICT && strict);
        if (v == CONFORM_PASS)
            passed++;
        else if (v == CONFORM_SKIP)
            skipped++;
        else if (v == CONFORM_INFO)
            info++;
        else if (v == CONFORM_UNOBSERVABLE)
            unobservable++;
        else if (v == CONFORM_NON_STRICT)
            non_strict++;
        else
            failed++;
        failed_counted += counts;
        if (tap) {
            if (v == CONFORM_SKIP || v == CONFORM_UNOBSERVABLE) {
                printf("ok %zu - %s # SKIP %s%s\n", i + 1, k->id,
                       v == CONFORM_UNOBSERVABLE ? "unobservable: " : "", it->r.observed);
                continue;
            }
            /* info is ok (it never fails); a non-strict outside --strict is a TODO. */
            bool ok = v == CONFORM_PASS || v == CONFORM_INFO;
            printf("%s %zu - %s%s\n", ok ? "ok" : "not ok", i + 1, k->id,
                   v == CONFORM_INFO         ? " (info: not seen, reported only)"
                   : !ok && !counts ? " # TODO non-strict (a SHOULD), not counted without --strict"
                                    : "");
            if (v != CONFORM_PASS) {
                printf("  ---\n");
                tap_yaml_line("verdict", conform_verdict_name(v));
                tap_yaml_line("level", level_name(k->level));
                tap_yaml_line("requirement", k->requirement);
                tap_yaml_line("expected", k->expected);
                tap_yaml_line("observed", it->r.observed);
                if (it->r.wire != NULL)
                    tap_yaml_line("wire", it->r.wire);
                printf("  ...\n");
            }
            fflush(stdout);
            continue;
        }
        const char *word = v == CONFORM_UNREACHABLE ? "fail" : conform_verdict_name(v);
        printf("%s  %s%s%s", word, k->id,
               k->level == CASE_MUST ? ""
               : k->level == CASE_SHOULD ? " (SHOULD)"
               : k->level == CASE_MAY    ? " (MAY)"
                                         : " (no keyword)",
               v == CONFORM_UNREACHABLE ? " (unreachable)" : "");
        if (v == CONFORM_SKIP || v == CONFORM_UNOBSERVABLE)
            printf(": %s", it->r.observed);
        printf("\n");
        if (v == CONFORM_FAIL || v == CONFORM_NON_STRICT || v == CONFORM_INFO ||
            v == CONFORM_UNREACHABLE || (verbose && v == CONFORM_PASS))
            print_detail(stdout, it);
        fflush(stdout);
    }
    char summary[360];
    snprintf(summary, sizeof summary,
             "%zu cases: %zu passed, %zu failed, %zu non-strict, %zu info, %zu unobservable, %zu "
             "skipped (%zu counted%s)%s%s",
             n, passed, failed, non_strict, info, unobservable, skipped, failed_counted,
             strict ? ", --strict" : "; non-strict counts with --strict",
             peer.delivery != CONFORM_DELIVER_WHOLE ? "; delivery " : "",
             peer.delivery != CONFORM_DELIVER_WHOLE ? conform_delivery_name(peer.delivery) : "");
    if (tap)
        printf("# %s\n", summary);
    else
        printf("\n%s\n", summary);

    const char *peer_text = peer.target_uri != NULL ? peer.target_uri : peer.relay_uri;
    if (junit != NULL && write_junit(junit, items, n, strict) != 0)
        rc = EXIT_FAILED;
    if (json != NULL && write_json(json, items, n, peer_text) != 0)
        rc = EXIT_FAILED;
    if (unreachable)
        rc = EXIT_UNREACHABLE;
    else if (failed_counted > 0)
        rc = EXIT_FAILED;

out:
    for (size_t i = 0; i < n; i++) {
        conform_result_free(&items[i]->r);
        scenario_free(&items[i]->sc);
        free(items[i]);
    }
    return rc;
}
