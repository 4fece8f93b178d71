/*
 * markup.h - text written into XML or HTML (the JUnit file, the conformance matrix, the run's
 * report.html): the one escaper every such writer shares.
 *
 * The five markup characters become entities (&amp; &lt; &gt; &quot; &#39;), so the text is
 * safe both between tags and inside a quoted attribute; control bytes other than LF and tab
 * (which XML 1.0 does not allow and a peer may well send) become '?'. Other bytes pass as they
 * are. Thread-safe (no state).
 */
#ifndef MSRPLOAD_REPORT_MARKUP_H
#define MSRPLOAD_REPORT_MARKUP_H

#include <stdio.h>

/* Writes the NUL-terminated s escaped to f. */
void markup_text(FILE *f, const char *s);

#endif
