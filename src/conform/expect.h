/*
 * expect.h - expected results for CI (conform --expect, --write-expect): a file that records
 * the verdict an implementation is known to get in each case, and the comparison of a run
 * against it, so that the exit code says whether anything changed rather than whether
 * anything failed. This is how a project adopts the suite before fixing every failure.
 *
 * Two forms, told apart by the first character that is not white space: '{' is JSON, anything
 * else the text form.
 *   text:  one case a line, "CASE-ID VERDICT # reason" (the reason optional); blank lines and
 *          lines starting with '#' are comments.
 *   JSON:  {"expect": [{"id": ID, "verdict": VERDICT, "reason": TEXT}, ...]}, or a results
 *          file of conform --json as it is (each case's "id" and "result").
 * VERDICT is one of pass, fail, non-strict, info, unobservable, skip. An id may be an alias
 * (an id the case had before): it stands for the case's current id.
 *
 * The comparison (conform_expect_compare) sorts every case of the run into one list:
 *   as expected; regressed (it got a worse verdict: pass > unobservable > info > non-strict >
 *   fail); newly passing (it passes now, and was expected not to); changed (any other
 *   difference between two verdicts of a case that ran); not compared (skipped in this run, or
 *   expected skip and ran: the skip comes from the run's options, not from the peer);
 *   not in the file (a case the file does not name, e.g. one added to the suite since).
 * Ids of the file that name no case of the cases folder are listed as unknown. Regressed,
 * newly passing and changed make the run's exit code 1; the others are reported only.
 *
 * Pure but for the files it is told to read and write; never exits; errors come back as text.
 */
#ifndef MSRPLOAD_CONFORM_EXPECT_H
#define MSRPLOAD_CONFORM_EXPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "conform/results.h"

/* One expectation, its id resolved to a case's current id when it was an alias. */
struct conform_expectation {
    char *id;          /* as resolved */
    char *given;       /* as the file wrote it (differs from id for an alias) */
    enum conform_verdict verdict;
    char *reason;      /* may be "" */
    unsigned line;     /* in the file (JSON: the entry's index + 1) */
    bool used;         /* matched a case of the run */
    bool known;        /* names a case of the cases folder */
};

struct conform_expect {
    char *path;
    struct conform_expectation *e;
    size_t n;
};

/* "pass", "fail", ... as conform_verdict_name writes them; -1 for any other word (also
 * "unreachable": a run that cannot reach its peer is exit 3, never an expectation). */
int conform_verdict_parse(const char *word);

/*
 * Reads the expectations file at path. all/nall: every case of the cases folder (selected or
 * not), for resolving aliases and telling unknown ids. Returns 0, or -1 with "path:line:
 * reason" in err (a line that does not parse, an unknown verdict, a case named twice, JSON
 * that does not parse or lacks a field).
 */
int conform_expect_load(const char *path, struct conform_item *const *all, size_t nall,
                        struct conform_expect *out, char *err, size_t errlen);
void conform_expect_free(struct conform_expect *x);

/* Compares the n cases of a run against x and prints the lists to f (each line behind
 * prefix: "# " under TAP). Returns the number of cases whose verdict changed (regressed,
 * newly passing, changed): the exit code is 1 when it is not 0. */
size_t conform_expect_compare(struct conform_expect *x, struct conform_item *const *items,
                              size_t n, FILE *f, const char *prefix);

/* Writes the run's verdicts as an expectations file in the text form, the observation as each
 * reason (its first line), with a header naming the run. Returns 0, or -1 with "path: reason"
 * in err. */
int conform_expect_write(const char *path, struct conform_item *const *items, size_t n,
                         const char *name, const char *version, char *err, size_t errlen);

#endif
