/*
 * span.h - a borrowed byte range, the currency of the zero-copy wire layer.
 *
 * Every value the parser hands out is a span into the caller's buffer: it is valid only as long
 * as the caller keeps those bytes where they are. Nothing in src/wire/ allocates.
 */
#ifndef MSRPLOAD_WIRE_SPAN_H
#define MSRPLOAD_WIRE_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

struct msrp_span {
    const char *ptr;
    size_t len;
};

#define MSRP_SPAN_LIT(s) ((struct msrp_span){(s), sizeof(s) - 1})

static inline struct msrp_span msrp_span_make(const char *ptr, size_t len)
{
    return (struct msrp_span){ptr, len};
}

static inline struct msrp_span msrp_span_cstr(const char *s)
{
    return (struct msrp_span){s, strlen(s)};
}

static inline bool msrp_span_eq(struct msrp_span a, struct msrp_span b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* ASCII case-insensitive equality; MSRP tokens, schemes and header names are ASCII. */
static inline bool msrp_span_eq_nocase(struct msrp_span a, struct msrp_span b)
{
    return a.len == b.len && (a.len == 0 || strncasecmp(a.ptr, b.ptr, a.len) == 0);
}

#endif
