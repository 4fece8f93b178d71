/*
 * matrix.h - the matrix of implementations (msrpload conform-report): results files of
 * conform --json, one per implementation, read back and rendered as one self-contained HTML
 * page or as Markdown. Rows are cases grouped by RFC section, with the requirement ids and the
 * level; columns are the implementations (each file's "name", else its "peer"); each cell is
 * the case's verdict, and in HTML a <details> that opens the expected and observed text and
 * the wire exchange; a summary row counts each column's verdicts.
 *
 * Everything that came from a results file (and so from a peer: observations, wire bytes,
 * names) is escaped on the way out. The HTML loads nothing: its style is inline, it has no
 * script. Each cell has the class "v-VERDICT" (v-pass, v-fail, v-non-strict, v-info,
 * v-unobservable, v-skip, v-not-run, v-unreachable, v-absent for a case a file lacks).
 *
 * Never exits, prints nothing of its own; errors come back as text.
 */
#ifndef MSRPLOAD_CONFORM_MATRIX_H
#define MSRPLOAD_CONFORM_MATRIX_H

#include <stddef.h>
#include <stdio.h>

struct conform_matrix; /* opaque */

/*
 * Reads the results files. Returns the matrix, or NULL with "path:line: reason" in err (a file
 * that does not open or parse, a case without an id or result). A case whose id is an alias
 * of another file's case joins that case's row.
 */
struct conform_matrix *conform_matrix_load(const char *const *paths, size_t n, char *err,
                                           size_t errlen);
void conform_matrix_free(struct conform_matrix *m);

/* The numbers of rows (cases) and columns (implementations). */
size_t conform_matrix_rows(const struct conform_matrix *m);
size_t conform_matrix_columns(const struct conform_matrix *m);

/* Write the page or the Markdown to f. */
void conform_matrix_html(const struct conform_matrix *m, FILE *f, const char *generator);
void conform_matrix_markdown(const struct conform_matrix *m, FILE *f, const char *generator);

#endif
