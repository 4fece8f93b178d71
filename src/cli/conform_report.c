/*
 * conform_report.c - `msrpload conform-report RESULTS.json... --html FILE [--markdown FILE]`:
 * the matrix of implementations, one column per results file of `conform --json` (its
 * --name), rendered by src/conform/matrix.c.
 *
 * Owns: the command line, the files written and the exit code. May not touch: how the
 * matrix is read or rendered (src/conform/matrix.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "conform/matrix.h"

#define MAX_RESULTS 64

static void report_usage(FILE *out)
{
    fprintf(out,
            "usage: msrpload conform-report RESULTS.json... (--html FILE | --markdown FILE)\n"
            "\n"
            "Renders the results files of `msrpload conform --json` (one per implementation,\n"
            "each named by its conform --name, else its target or relay URI) as one matrix:\n"
            "rows are the cases grouped by RFC section with their requirement ids and level\n"
            "(MUST, SHOULD, MAY, none), columns the implementations, a summary row counts\n"
            "each column's verdicts. A case that a file lacks (an older suite) is an empty\n"
            "cell; a case's old id (alias) joins the row of its current id.\n"
            "\n"
            "options:\n"
            "  --html FILE      one self-contained HTML page (inline style, no script, nothing\n"
            "                   loaded from elsewhere): cells coloured by verdict (class\n"
            "                   v-pass, v-fail, v-non-strict, v-info, v-unobservable, v-skip,\n"
            "                   v-not-run, v-absent), each opening (a <details>) the expected\n"
            "                   and observed text and the wire exchange\n"
            "  --markdown FILE  the same matrix as Markdown tables (verdicts only), for READMEs\n"
            "  -                as FILE: standard output\n"
            "At most %d results files.\n"
            "\n"
            "exit codes: 0 written, 1 a file could not be written, 2 usage error or a\n"
            "            results file that does not load (file:line: reason)\n",
            MAX_RESULTS);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "msrpload conform-report: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(msrpload conform-report --help lists the options)\n");
    return EXIT_USAGE;
}

/* Writes the matrix to path ("-": standard output) as HTML or Markdown. */
static int write_one(const struct conform_matrix *m, const char *path, bool as_html)
{
    char gen[128];
    snprintf(gen, sizeof gen, "msrpload %s conform-report", msrpload_version());
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "msrpload conform-report: %s: %s\n", path, strerror(errno));
        return EXIT_FAILED;
    }
    if (as_html)
        conform_matrix_html(m, f, gen);
    else
        conform_matrix_markdown(m, f, gen);
    if (f == stdout ? fflush(f) != 0 : fclose(f) != 0) {
        fprintf(stderr, "msrpload conform-report: %s: %s\n", path, strerror(errno));
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

int cmd_conform_report(int argc, char **argv)
{
    const char *files[MAX_RESULTS];
    size_t n = 0;
    const char *html = NULL, *markdown = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            report_usage(stdout);
            return EXIT_OK;
        }
        if (strcmp(a, "--html") == 0 || strcmp(a, "--markdown") == 0) {
            if (i + 1 >= argc)
                return usage_error("%s needs a file", a);
            *(a[2] == 'h' ? &html : &markdown) = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option '%s'", a);
        } else if (n == MAX_RESULTS) {
            return usage_error("at most 64 results files%s", "");
        } else {
            files[n++] = a;
        }
    }
    if (n == 0)
        return usage_error("give at least one results file of conform --json%s", "");
    if (html == NULL && markdown == NULL)
        return usage_error("give --html FILE or --markdown FILE (or both)%s", "");
    char err[1024];
    struct conform_matrix *m = conform_matrix_load(files, n, err, sizeof err);
    if (m == NULL) {
        fprintf(stderr, "msrpload conform-report: %s\n", err);
        return EXIT_USAGE;
    }
    int rc = EXIT_OK;
    if (html != NULL)
        rc = write_one(m, html, true);
    if (markdown != NULL && rc == EXIT_OK)
        rc = write_one(m, markdown, false);
    if (rc == EXIT_OK && (html == NULL || strcmp(html, "-") != 0) &&
        (markdown == NULL || strcmp(markdown, "-") != 0))
        fprintf(stderr, "conform-report: %zu cases x %zu implementations\n",
                conform_matrix_rows(m), conform_matrix_columns(m));
    conform_matrix_free(m);
    return rc;
}
