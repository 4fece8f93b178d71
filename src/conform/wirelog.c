/*
 * wirelog.c - the conformance executor's wire record: every byte a case's endpoints send or
 * receive, quoted line by line behind its direction marker, and the notes ("# ...") that say
 * what happened between them, up to WIRE_CAP in all; cx_fail, the first unmet check, is a note
 * too. It owns struct cx's wire fields and observed text; it opens no connection and reads no
 * frame (endpoints.c does), and decides no verdict (exec.c does). conform_wire_append, the
 * growing record itself, serves sip_exec.c's wire record too.
 */
#include "conform/cx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the wire record ---------------------------------------------------------------------- */

static void wire_put(struct cx *x, const char *s, size_t n)
{
    if (x->wire_full)
        return;
    if (x->wire_len + n + 1 > WIRE_CAP) {
        x->wire_full = true;
        s = "[... wire record full ...]\n";
        n = strlen(s);
    }
    if (!conform_wire_append(&x->wire, &x->wire_len, &x->wire_cap, 8192, s, n))
        x->wire_full = true;
}

bool conform_wire_append(char **wire, size_t *len, size_t *cap, size_t first, const char *s,
                         size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t nc = *cap == 0 ? first : *cap;
        while (nc < *len + n + 1)
            nc *= 2;
        char *nw = realloc(*wire, nc);
        if (nw == NULL)
            return false;
        *wire = nw;
        *cap = nc;
    }
    memcpy(*wire + *len, s, n);
    *len += n;
    (*wire)[*len] = '\0';
    return true;
}

void cx_wire_note(struct cx *x, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    wire_put(x, "   # ", 5);
    wire_put(x, buf, strlen(buf));
    wire_put(x, "\n", 1);
}

/* Quotes bytes line by line behind a marker ("a> " sent by endpoint a, "a< " received),
 * with CR and LF written out so that a missing CR shows. */
static void wire_bytes_part(struct cx *x, const char *marker, const char *b, size_t n, bool *bol)
{
    char line[8];
    for (size_t i = 0; i < n; i++) {
        if (*bol) {
            wire_put(x, marker, strlen(marker));
            *bol = false;
        }
        unsigned char ch = (unsigned char)b[i];
        if (ch == '\r') {
            wire_put(x, "\\r", 2);
        } else if (ch == '\n') {
            wire_put(x, "\\n\n", 3);
            *bol = true;
        } else if (ch == '\\') {
            wire_put(x, "\\\\", 2);
        } else if (ch < 0x20 || ch >= 0x7f) {
            snprintf(line, sizeof line, "\\x%02x", ch);
            wire_put(x, line, 4);
        } else {
            wire_put(x, (const char *)&b[i], 1);
        }
    }
}

void cx_wire_bytes(struct cx *x, unsigned ep, bool out, const char *b, size_t n)
{
    char marker[8];
    snprintf(marker, sizeof marker, "%c%s ", 'a' + (int)ep, out ? ">" : "<");
    bool bol = true;
    if (n <= EVENT_SHOWN + EVENT_TAIL + 64) {
        wire_bytes_part(x, marker, b, n, &bol);
    } else {
        wire_bytes_part(x, marker, b, EVENT_SHOWN, &bol);
        char note[96];
        snprintf(note, sizeof note, "%s[... %zu bytes not shown ...]\n", bol ? marker : "\n",
                 n - EVENT_SHOWN - EVENT_TAIL);
        wire_put(x, note, strlen(note));
        if (!bol)
            wire_put(x, marker, 0);
        bol = true;
        wire_bytes_part(x, marker, b + n - EVENT_TAIL, EVENT_TAIL, &bol);
    }
    if (!bol)
        wire_put(x, "\n", 1);
}

void cx_fail(struct cx *x, const char *fmt, ...)
{
    if (x->failed)
        return; /* the first failure is the one that explains the rest */
    x->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->observed, sizeof x->observed, fmt, ap);
    va_end(ap);
    /* The verdict (fail, non-strict, info) depends on the case's level: the note only says
     * the check was not met. */
    cx_wire_note(x, "NOT MET: %s", x->observed);
}
