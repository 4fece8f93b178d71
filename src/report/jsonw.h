/*
 * jsonw.h - writing JSON text by hand, for output whose key order and duplicates matter
 * (MSRP headers in wire order) or whose strings are not guaranteed UTF-8 (bytes from a peer).
 *
 * Strings are escaped per RFC 8259; valid UTF-8 passes through, and every byte that is not
 * part of a valid UTF-8 sequence is written as the code point of the same value (\u0080 ..
 * \u00ff), so no input byte is lost or produces invalid JSON. Thread-safe (no state).
 */
#ifndef MSRPLOAD_REPORT_JSONW_H
#define MSRPLOAD_REPORT_JSONW_H

#include <stddef.h>
#include <stdio.h>

/* Writes s[0..len) as a JSON string literal, quotes included. */
void jsonw_string(FILE *f, const char *s, size_t len);

#endif
