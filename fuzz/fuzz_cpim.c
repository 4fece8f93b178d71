/*
 * fuzz_cpim.c - libFuzzer target for the message/cpim parser and the IMDN reader
 * (src/wire/cpim.c, src/wire/imdn.c), which read every CPIM body a peer sends.
 *
 * The input is parsed as a CPIM body; when that succeeds, the promises of cpim.h are checked
 * (every span inside the input, the body running to its end, notification requests only with
 * a Message-ID and DateTime) and the inner body is read as an IMDN document. The whole input
 * is read as an IMDN document too. Errors must point inside the input. A parsed IMDN is built
 * again from its fields when they allow it, and the rebuilt one must parse to the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/cpim.h"
#include "wire/imdn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

static void inside(struct msrp_span s, const char *b, size_t n)
{
    check(s.len == 0 || (s.ptr >= b && s.ptr + s.len <= b + n));
}

static void imdn(const char *b, size_t n)
{
    struct imdn_doc d;
    size_t off = SIZE_MAX;
    const char *what = NULL;
    if (!imdn_parse_xml(b, n, &d, &off, &what)) {
        check(what != NULL && off <= n);
        return;
    }
    inside(d.message_id, b, n);
    inside(d.datetime, b, n);
    inside(d.status, b, n);
    check(d.message_id.len > 0 && d.datetime.len > 0 && d.status.len > 0);
    /* built again from what was read, when those are plain enough to be written */
    char id[64], dt[64], st[64];
    if (d.message_id.len >= sizeof(id) || d.datetime.len >= sizeof(dt) ||
        d.status.len >= sizeof(st))
        return;
    memcpy(id, d.message_id.ptr, d.message_id.len);
    id[d.message_id.len] = '\0';
    memcpy(dt, d.datetime.ptr, d.datetime.len);
    dt[d.datetime.len] = '\0';
    memcpy(st, d.status.ptr, d.status.len);
    st[d.status.len] = '\0';
    struct imdn_build bd = {.message_id = id, .datetime = dt, .kind = d.kind, .status = st};
    static char xml[512];
    size_t m = imdn_build_xml(&bd, xml, sizeof(xml));
    if (m == 0)
        return;
    struct imdn_doc again;
    check(imdn_parse_xml(xml, m, &again, &off, &what));
    check(again.kind == d.kind && again.message_id.len == d.message_id.len &&
          memcmp(again.message_id.ptr, id, d.message_id.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so that ASan sees any read past the end */
    char *b = malloc(size ? size : 1);
    if (b == NULL)
        return 0;
    memcpy(b, data, size);
    struct cpim_msg m;
    struct cpim_error e = {SIZE_MAX, NULL};
    if (cpim_parse(b, size, &m, &e)) {
        inside(m.from, b, size);
        inside(m.to, b, size);
        inside(m.datetime, b, size);
        inside(m.message_id, b, size);
        inside(m.content_type, b, size);
        inside(m.body, b, size);
        check(m.from.len > 0 && m.to.len > 0 && m.content_type.len > 0);
        check(m.body.ptr + m.body.len == b + size);
        check(!m.has_notify || (m.message_id.len > 0 && m.datetime.len > 0));
        imdn(m.body.ptr, m.body.len);
    } else {
        check(e.what != NULL && e.offset <= size);
    }
    imdn(b, size);
    free(b);
    return 0;
}
