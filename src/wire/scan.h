/*
 * scan.h - the hot loop of MSRP framing: finding CRLF "-" candidates for an end-line.
 *
 * A body can be gigabytes; the parser and the writer both look through it for
 * CRLF "-------" tid. These helpers find the candidates (CR LF "-") with SIMD where the CPU has
 * it (AVX2, else SSE2 on x86-64, else a memchr-based loop) and check the rest in scalar code.
 * Internal to src/wire/ (hence the msrp__ prefix). Thread-safe; the CPU check runs once.
 */
#ifndef MSRPLOAD_WIRE_SCAN_H
#define MSRPLOAD_WIRE_SCAN_H

#include <stddef.h>

/* First i with i + 3 <= len and p[i..i+2] == "\r\n-"; len when there is none. */
size_t msrp__find_crlf_dash(const char *p, size_t len);

/*
 * First occurrence of CRLF "-------" tid at or after p (the whole pattern inside [p, p+len)),
 * or len when there is none. Used by the writer to keep the end-line out of a body.
 */
size_t msrp__find_end_line(const char *p, size_t len, const char *tid, size_t tid_len);

/* Name of the implementation in use ("avx2", "sse2", "scalar"), for `msrpload bench`. */
const char *msrp__scan_impl(void);

#endif
