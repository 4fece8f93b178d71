/*
 * reasm.c - reassembly of incoming MSRP messages from chunks (RFC 4975 sections 5.1, 7.1, 7.1.1,
 * 7.3.1).
 *
 * Every message in progress keeps a SHA-256 context over its contiguous prefix 1..prefix and a
 * sorted list of the byte ranges ("extents") that arrived beyond it. A piece that starts right
 * after the prefix is hashed straight from the caller's buffer, so a message sent in order is
 * never copied, whatever its size. A piece ahead of the prefix is copied into the extent list,
 * merged with the extents it touches, and hashed when the prefix reaches it.
 *
 * The messages of one reassembler live in a dense array: a session rarely has more than one
 * message arriving at once, so the slot used last is tried first and the rest is a short
 * linear scan. Released slots keep their digest context (and their window of the prefix's
 * last bytes, which repeated bytes are compared with) for the next message.
 */
#include "msrp/reasm.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REASM_DEFAULT_MAX_BUFFERED ((size_t)16 << 20)
#define REASM_DEFAULT_MAX_MESSAGES 64
#define REASM_DEFAULT_MAX_MESSAGE (UINT64_C(1) << 40)

#define UNKNOWN MSRP_RANGE_UNKNOWN

/*
 * Bytes held out of order, [start, start + len) in message positions. They sit at buf + off;
 * the room before off and after off + len lets pieces that arrive right before or right after
 * the extent (the next virtual segment of an early chunk, or chunks sent in reverse) be added
 * without copying what is already there.
 */
struct extent {
    struct extent *next;
    uint64_t start;
    size_t len;
    size_t off;
    size_t cap;
    unsigned char *buf;
};

struct msg {
    char id[MSRP_REASM_ID_MAX];
    size_t id_len;
    uint64_t prefix;  /* bytes 1..prefix have been hashed */
    uint64_t highest; /* the highest position any piece reached */
    uint64_t total;   /* or UNKNOWN */
    uint64_t chunks;
    uint64_t overlap;
    bool out_of_order;
    size_t held; /* bytes in extents */
    size_t n_extents;
    /* Sorted by start, never overlapping nor touching, all beyond prefix + 1. */
    struct extent *extents;
    EVP_MD_CTX *ctx;
    bool digest; /* hash the prefix (limits.no_digest unset) */
    uint64_t unchecked; /* repeated prefix bytes too far back to compare */
    /* The prefix's last bytes, a ring of r->window bytes: position p sits at (p - 1) % window.
     * Allocated at the first hashed byte, kept with the slot like ctx. */
    unsigned char *win;
};

/* A Message-ID refused with 413: its later chunks are refused too. */
struct refused_id {
    uint8_t len;
    char id[MSRP_REASM_ID_MAX];
};

struct msrp_reasm {
    struct msrp_reasm_limits limits;
    const EVP_MD *md;
    EVP_MD *fetched;  /* md when fetched here (OpenSSL 3), freed with the reassembler */
    struct msg *msgs; /* [0, count) in progress; [count, cap) idle, maybe with a context */
    size_t count;
    size_t cap;
    size_t hint;     /* the slot used last */
    size_t buffered; /* sum of held over the messages, never above limits.max_buffered */
    size_t max_extents, window; /* the limits with their defaults applied */
    struct refused_id *refused; /* ring of MSRP_REASM_REFUSED_IDS, allocated at the first */
    size_t nrefused, refused_next;
    char why[112];
};

static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static inline uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

struct msrp_reasm *msrp_reasm_create(const struct msrp_reasm_limits *limits)
{
    struct msrp_reasm *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    if (limits != NULL) {
        r->limits = *limits;
    } else {
        r->limits.max_buffered = REASM_DEFAULT_MAX_BUFFERED;
        r->limits.max_messages = REASM_DEFAULT_MAX_MESSAGES;
        r->limits.max_message = REASM_DEFAULT_MAX_MESSAGE;
    }
    r->max_extents = r->limits.max_extents ? r->limits.max_extents : MSRP_REASM_MAX_EXTENTS;
    r->window = r->limits.overlap_window ? r->limits.overlap_window : MSRP_REASM_OVERLAP_WINDOW;
    if (r->limits.no_digest)
        return r; /* no digest is ever started: load tests reassemble without hashing */
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    /* An explicit fetch once per reassembler: EVP_sha256() would make every EVP_DigestInit_ex
     * look the implementation up again, and a reassembler starts a digest per message. */
    r->fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
    r->md = r->fetched;
#else
    r->md = EVP_sha256();
#endif
    if (r->md == NULL) {
        free(r);
        return NULL;
    }
    return r;
}

static void free_extents(struct msrp_reasm *r, struct msg *m)
{
    struct extent *x = m->extents;
    while (x != NULL) {
        struct extent *next = x->next;
        free(x->buf);
        free(x);
        x = next;
    }
    m->extents = NULL;
    m->n_extents = 0;
    r->buffered -= m->held;
    m->held = 0;
}

void msrp_reasm_destroy(struct msrp_reasm *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->cap; i++) {
        if (i < r->count)
            free_extents(r, &r->msgs[i]);
        EVP_MD_CTX_free(r->msgs[i].ctx);
        free(r->msgs[i].win);
    }
    free(r->msgs);
    free(r->refused);
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    EVP_MD_free(r->fetched);
#endif
    free(r);
}

size_t msrp_reasm_buffered(const struct msrp_reasm *r)
{
    return r->buffered;
}

size_t msrp_reasm_in_progress(const struct msrp_reasm *r)
{
    return r->count;
}

const char *msrp_reasm_status_name(enum msrp_reasm_status s)
{
    switch (s) {
    case MSRP_REASM_PROGRESS:
        return "progress";
    case MSRP_REASM_COMPLETE:
        return "complete";
    case MSRP_REASM_ABORTED:
        return "aborted";
    case MSRP_REASM_E_LIMIT:
        return "limit";
    case MSRP_REASM_E_TOO_LARGE:
        return "too-large";
    case MSRP_REASM_E_RANGE:
        return "range";
    case MSRP_REASM_E_CONFLICT:
        return "conflict";
    case MSRP_REASM_E_REFUSED:
        return "refused";
    }
    return "unknown";
}

/* ---- messages ------------------------------------------------------------------------- */

static bool msg_is(const struct msg *m, struct msrp_span id)
{
    return m->id_len == id.len && memcmp(m->id, id.ptr, id.len) == 0;
}

static struct msg *msg_find(struct msrp_reasm *r, struct msrp_span id)
{
    if (r->hint < r->count && msg_is(&r->msgs[r->hint], id))
        return &r->msgs[r->hint];
    for (size_t i = 0; i < r->count; i++) {
        if (msg_is(&r->msgs[i], id)) {
            r->hint = i;
            return &r->msgs[i];
        }
    }
    return NULL;
}

/* A fresh slot for id; the caller has checked limits.max_messages. NULL when out of memory. */
static struct msg *msg_new(struct msrp_reasm *r, struct msrp_span id)
{
    if (r->count == r->cap) {
        size_t cap = r->cap != 0 ? r->cap * 2 : 4;
        if (cap > r->limits.max_messages)
            cap = r->limits.max_messages;
        if (cap <= r->cap || cap > SIZE_MAX / sizeof(struct msg))
            return NULL;
        struct msg *msgs = realloc(r->msgs, cap * sizeof(struct msg));
        if (msgs == NULL)
            return NULL;
        memset(msgs + r->cap, 0, (cap - r->cap) * sizeof(struct msg));
        r->msgs = msgs;
        r->cap = cap;
    }
    struct msg *m = &r->msgs[r->count];
    EVP_MD_CTX *ctx = m->ctx;
    bool digest = !r->limits.no_digest;
    if (digest && ctx == NULL) {
        ctx = EVP_MD_CTX_new();
        if (ctx == NULL)
            return NULL;
        m->ctx = ctx;
    }
    if (digest && !EVP_DigestInit_ex(ctx, r->md, NULL))
        return NULL;
    *m = (struct msg){
        .id_len = id.len, .total = UNKNOWN, .ctx = ctx, .digest = digest, .win = m->win};
    memcpy(m->id, id.ptr, id.len);
    r->hint = r->count++;
    return m;
}

/* Frees m's state; the last slot moves into its place and m's context waits for reuse. */
static void msg_release(struct msrp_reasm *r, struct msg *m)
{
    size_t i = (size_t)(m - r->msgs), last = r->count - 1;
    free_extents(r, m);
    if (i != last) {
        EVP_MD_CTX *idle = m->ctx;
        unsigned char *idle_win = m->win;
        r->msgs[i] = r->msgs[last];
        r->msgs[last].ctx = idle;
        r->msgs[last].win = idle_win;
    }
    r->count--;
    if (r->hint == last)
        r->hint = i;
}

static enum msrp_reasm_status drop(struct msrp_reasm *r, struct msg *m, enum msrp_reasm_status s)
{
    if (m != NULL)
        msg_release(r, m);
    return s;
}

static void done_start(struct msrp_reasm_done *done, struct msrp_span id)
{
    memset(done, 0, sizeof(*done));
    memcpy(done->message_id, id.ptr, id.len);
    done->message_id[id.len] = '\0';
}

/* ---- bytes ---------------------------------------------------------------------------- */

/* Hashes the n bytes that follow the prefix and keeps the last of them in the window. */
static bool hash(struct msrp_reasm *r, struct msg *m, const unsigned char *p, size_t n)
{
    if (n == 0 || !m->digest)
        return true;
    if (EVP_DigestUpdate(m->ctx, p, n) != 1)
        return false;
    if (m->win == NULL && (m->win = malloc(r->window)) == NULL)
        return false;
    uint64_t pos = m->prefix + 1;
    if (n > r->window) {
        pos += n - r->window;
        p += n - r->window;
        n = r->window;
    }
    size_t at = (size_t)((pos - 1) % r->window);
    size_t first = n < r->window - at ? n : r->window - at;
    memcpy(m->win + at, p, first);
    memcpy(m->win, p + first, n - first);
    return true;
}

/*
 * Bytes [pos, pos + len) repeat hashed bytes (pos + len - 1 <= prefix). Those still in the
 * window are compared (true: they differ); the rest can only be counted as unchecked.
 */
static bool prefix_differs(struct msrp_reasm *r, struct msg *m, uint64_t pos,
                           const unsigned char *data, size_t len)
{
    uint64_t kept_from = m->prefix + 1; /* nothing kept */
    if (m->digest && m->win != NULL)
        kept_from = m->prefix > r->window ? m->prefix - r->window + 1 : 1;
    if (pos < kept_from) {
        size_t skip = (size_t)min_u64(len, kept_from - pos);
        m->unchecked += skip;
        pos += skip;
        data += skip;
        len -= skip;
    }
    while (len > 0) {
        size_t at = (size_t)((pos - 1) % r->window);
        size_t n = len < r->window - at ? len : r->window - at;
        if (memcmp(m->win + at, data, n) != 0)
            return true;
        pos += n;
        data += n;
        len -= n;
    }
    return false;
}

/* The first extent has become the continuation of the prefix: hash it and let it go. */
static bool take_extent(struct msrp_reasm *r, struct msg *m)
{
    struct extent *x = m->extents;
    bool ok = hash(r, m, x->buf + x->off, x->len);
    m->prefix += x->len;
    m->extents = x->next;
    m->n_extents--;
    m->held -= x->len;
    r->buffered -= x->len;
    free(x->buf);
    free(x);
    return ok;
}

/*
 * Counts the bytes of [pos, pos + len) that the extents already hold. With data, also compares
 * them and sets *differ when they do not match: a sender that repeats a byte range (say, after
 * an interrupted chunk, RFC 4975 section 7.1.1) must repeat the same bytes.
 */
static size_t held_overlap(const struct msg *m, uint64_t pos, const unsigned char *data, size_t len,
                           bool *differ)
{
    uint64_t end = pos + len;
    size_t shared = 0;
    for (const struct extent *x = m->extents; x != NULL && x->start < end; x = x->next) {
        uint64_t xend = x->start + x->len;
        if (xend <= pos)
            continue;
        uint64_t lo = max_u64(pos, x->start), hi = min_u64(end, xend);
        size_t n = (size_t)(hi - lo);
        if (data != NULL && memcmp(data + (lo - pos), x->buf + x->off + (lo - x->start), n) != 0)
            *differ = true;
        shared += n;
    }
    return shared;
}

/*
 * The piece starts right after the prefix: hash it from the caller's buffer. Where it runs into
 * an extent (already compared and counted as overlap), the extent's copy is hashed instead and
 * the piece goes on after it.
 */
static bool advance_prefix(struct msrp_reasm *r, struct msg *m, uint64_t pos,
                           const unsigned char *data, size_t len)
{
    while (len > 0) {
        struct extent *x = m->extents;
        size_t n = len;
        if (x != NULL && x->start - pos < (uint64_t)len)
            n = (size_t)(x->start - pos);
        if (!hash(r, m, data, n))
            return false;
        m->prefix += n;
        pos += n;
        data += n;
        len -= n;
        if (len == 0)
            break;
        size_t skip = (size_t)min_u64(len, x->len);
        pos += skip;
        data += skip;
        len -= skip;
        if (!take_extent(r, m))
            return false;
    }
    while (m->extents != NULL && m->extents->start == m->prefix + 1)
        if (!take_extent(r, m))
            return false;
    return true;
}

/*
 * Makes room in x for front more bytes before its data and back more after it. A new buffer
 * gets as much spare room again on the side that grows, so a run of pieces that extend an
 * extent in either direction costs amortised O(1) copies per byte; the spare room never
 * exceeds what limits.max_buffered still allows, so memory stays near the bytes accounted.
 */
static bool extent_room(struct msrp_reasm *r, struct extent *x, size_t front, size_t back,
                        size_t fresh)
{
    size_t tail = x->cap - x->off - x->len;
    if (x->off >= front && tail >= back)
        return true;
    size_t need = x->len + front + back;
    size_t budget = r->limits.max_buffered - r->buffered - fresh;
    size_t slack = need < budget ? need : budget;
    size_t cap = need + slack;
    unsigned char *buf = malloc(cap);
    if (buf == NULL)
        return false;
    size_t off = (front > 0 && back == 0) ? front + slack : front;
    memcpy(buf + off, x->buf + x->off, x->len);
    free(x->buf);
    x->buf = buf;
    x->off = off;
    x->cap = cap;
    return true;
}

/*
 * The piece lies ahead of the prefix (pos > prefix + 1) and shares `shared` bytes with the
 * extents, all equal. Its bytes join the extent list: merged with every extent they overlap
 * or touch, or as a new extent in a gap.
 */
static enum msrp_reasm_status hold(struct msrp_reasm *r, struct msg *m, uint64_t pos,
                                   const unsigned char *data, size_t len, size_t shared)
{
    size_t fresh = len - shared;
    if (fresh > r->limits.max_buffered - r->buffered) {
        snprintf(r->why, sizeof(r->why), "more than %zu bytes held out of order (max_buffered)",
                 r->limits.max_buffered);
        return MSRP_REASM_E_LIMIT;
    }

    uint64_t end = pos + len;
    struct extent **link = &m->extents;
    while (*link != NULL && (*link)->start + (*link)->len < pos)
        link = &(*link)->next;
    struct extent *first = *link;

    if (first == NULL || first->start > end) {
        /* A gap on both sides. Holes are what make this list long, so their number is bounded
         * as well as their bytes. */
        if (m->n_extents >= r->max_extents) {
            snprintf(r->why, sizeof(r->why),
                     "more than %zu separate out-of-order byte ranges (max_extents)",
                     r->max_extents);
            return MSRP_REASM_E_LIMIT;
        }
        struct extent *x = malloc(sizeof(*x));
        unsigned char *buf = malloc(len);
        if (x == NULL || buf == NULL) {
            free(x);
            free(buf);
            return MSRP_REASM_E_LIMIT;
        }
        memcpy(buf, data, len);
        *x = (struct extent){.next = first, .start = pos, .len = len, .cap = len, .buf = buf};
        *link = x;
        m->n_extents++;
    } else {
        struct extent *last = first;
        while (last->next != NULL && last->next->start <= end)
            last = last->next;
        uint64_t ustart = min_u64(pos, first->start);
        uint64_t uend = max_u64(end, last->start + last->len);
        size_t front = (size_t)(first->start - ustart);
        size_t back = (size_t)(uend - (first->start + first->len));
        if (!extent_room(r, first, front, back, fresh))
            return MSRP_REASM_E_LIMIT;
        /* first's own bytes stay where they are; the extents after it are copied behind them
         * and the piece over the whole, which changes nothing where they overlap (compared
         * equal before). */
        first->off -= front;
        first->start = ustart;
        first->len = (size_t)(uend - ustart);
        unsigned char *base = first->buf + first->off;
        struct extent *x = first->next;
        while (x != NULL && x->start <= end) {
            struct extent *next = x->next;
            memcpy(base + (x->start - ustart), x->buf + x->off, x->len);
            free(x->buf);
            free(x);
            m->n_extents--;
            x = next;
        }
        first->next = x;
        memcpy(base + (pos - ustart), data, len);
    }
    m->held += fresh;
    r->buffered += fresh;
    return MSRP_REASM_PROGRESS;
}

/* Adds [pos, pos + len), which lies within the known total, to m. */
static enum msrp_reasm_status add_bytes(struct msrp_reasm *r, struct msg *m, uint64_t pos,
                                        const unsigned char *data, size_t len)
{
    /* Bytes already hashed are compared with the window, as far back as it reaches. */
    if (len > 0 && pos <= m->prefix) {
        size_t dup = (size_t)min_u64(len, m->prefix - pos + 1);
        if (prefix_differs(r, m, pos, data, dup)) {
            snprintf(r->why, sizeof(r->why), "bytes %llu-%llu received again with other content",
                     (unsigned long long)pos, (unsigned long long)(pos + dup - 1));
            return MSRP_REASM_E_CONFLICT;
        }
        m->overlap += dup;
        pos += dup;
        data += dup;
        len -= dup;
    }
    if (len == 0)
        return MSRP_REASM_PROGRESS;

    bool differ = false;
    size_t shared = held_overlap(m, pos, data, len, &differ);
    if (differ) {
        snprintf(r->why, sizeof(r->why), "bytes within %llu-%llu received again with other content",
                 (unsigned long long)pos, (unsigned long long)(pos + len - 1));
        return MSRP_REASM_E_CONFLICT;
    }
    m->overlap += shared;

    if (pos == m->prefix + 1)
        return advance_prefix(r, m, pos, data, len) ? MSRP_REASM_PROGRESS : MSRP_REASM_E_LIMIT;
    m->out_of_order = true;
    return hold(r, m, pos, data, len, shared);
}

/*
 * "#": the sender gave up on the message (RFC 4975 section 7.1). Its bytes are dropped
 * unchecked; done->total counts the distinct bytes that had arrived, this piece included.
 */
static enum msrp_reasm_status abort_msg(struct msrp_reasm *r, struct msg *m, struct msrp_span id,
                                        uint64_t pos, size_t len, struct msrp_reasm_done *done)
{
    done_start(done, id);
    if (m == NULL) {
        done->total = len;
        done->chunks = 1;
        done->out_of_order = len > 0 && pos > 1;
        return MSRP_REASM_ABORTED;
    }
    size_t dup = 0;
    if (len > 0 && pos <= m->prefix)
        dup = (size_t)min_u64(len, m->prefix - pos + 1);
    dup += held_overlap(m, pos + dup, NULL, len - dup, NULL);
    done->total = m->prefix + m->held + (len - dup);
    done->chunks = m->chunks + 1;
    done->overlap_bytes = m->overlap + dup;
    done->overlap_unchecked = m->unchecked;
    done->out_of_order = m->out_of_order || (len > dup && pos > m->prefix + 1);
    msg_release(r, m);
    return MSRP_REASM_ABORTED;
}

static enum msrp_reasm_status add_piece(struct msrp_reasm *r, struct msrp_span id, uint64_t pos,
                                        const char *data, size_t len, char chunk_flag,
                                        uint64_t chunk_end, uint64_t chunk_total,
                                        struct msrp_reasm_done *done)
{
    struct msrp_reasm_done scratch;
    if (done == NULL)
        done = &scratch;

    /* Message-ID is an ident of at most 32 characters (RFC 4975 section 9). Anything else
     * cannot be one of ours, so nothing is looked up or dropped. */
    if (id.len == 0 || id.len > MSRP_REASM_ID_MAX)
        return MSRP_REASM_E_RANGE;
    struct msg *m = msg_find(r, id);

    /* Positions are 1-based (RFC 4975 section 7.1.1); last is the piece's last byte, or the
     * byte before its position when it is empty. */
    if (pos == 0 || pos - 1 > UINT64_MAX - len)
        return drop(r, m, MSRP_REASM_E_RANGE);
    uint64_t last = pos - 1 + len;

    switch (chunk_flag) {
    case 0:
        chunk_end = chunk_total = UNKNOWN;
        break;
    case '$':
    case '+':
        break;
    case '#':
        return abort_msg(r, m, id, pos, len, done);
    default:
        return drop(r, m, MSRP_REASM_E_RANGE);
    }

    /* A receiver refuses a message whose size it cannot take as soon as it knows it, from the
     * total or from a position (RFC 4975 section 10.5: 413 asks the sender to stop). */
    uint64_t implied = last;
    if (chunk_total != UNKNOWN)
        implied = max_u64(implied, chunk_total);
    if (implied > r->limits.max_message) {
        snprintf(r->why, sizeof(r->why), "%llu bytes or more, above %llu (max_message)",
                 (unsigned long long)implied, (unsigned long long)r->limits.max_message);
        return drop(r, m, MSRP_REASM_E_TOO_LARGE);
    }

    if (m == NULL) {
        /* A piece that neither carries bytes nor ends a chunk changes nothing. */
        if (len == 0 && chunk_flag == 0)
            return MSRP_REASM_PROGRESS;
        if (r->count >= r->limits.max_messages) {
            snprintf(r->why, sizeof(r->why), "more than %zu messages in progress (max_messages)",
                     r->limits.max_messages);
            return MSRP_REASM_E_LIMIT;
        }
        m = msg_new(r, id);
        if (m == NULL)
            return MSRP_REASM_E_LIMIT;
    }

    /*
     * The total (RFC 4975 section 7.1.1): a number in any chunk's Byte-Range, or the last byte
     * of the chunk that ends in "$". A "$" chunk's end must be the byte it actually ended at,
     * and a "+" chunk must not run past the end it announced; it may stop short of it, which
     * is how an interrupted chunk looks (also section 7.1.1).
     */
    uint64_t total = chunk_total;
    if (chunk_flag == '$') {
        if ((chunk_end != UNKNOWN && chunk_end != last) || (total != UNKNOWN && total != last))
            return drop(r, m, MSRP_REASM_E_RANGE);
        total = last;
    } else if (chunk_end != UNKNOWN && last > chunk_end) {
        return drop(r, m, MSRP_REASM_E_RANGE);
    }
    if (total != UNKNOWN) {
        if (m->total != UNKNOWN && m->total != total)
            return drop(r, m, MSRP_REASM_E_RANGE);
        m->total = total;
    }
    m->highest = max_u64(m->highest, last);
    if (m->total != UNKNOWN && m->highest > m->total)
        return drop(r, m, MSRP_REASM_E_RANGE);

    enum msrp_reasm_status s = add_bytes(r, m, pos, (const unsigned char *)data, len);
    if (s != MSRP_REASM_PROGRESS)
        return drop(r, m, s);

    /* Completion is reported with the piece that ends a chunk, so that the chunk's last
     * (possibly empty) piece never finds its message gone and starts a new one. */
    if (chunk_flag == 0)
        return MSRP_REASM_PROGRESS;
    m->chunks++;
    if (m->total == UNKNOWN || m->prefix < m->total)
        return MSRP_REASM_PROGRESS;

    done_start(done, id);
    done->total = m->total;
    done->chunks = m->chunks;
    done->overlap_bytes = m->overlap;
    done->overlap_unchecked = m->unchecked;
    done->out_of_order = m->out_of_order;
    unsigned int n = 0;
    if (m->digest &&
        (EVP_DigestFinal_ex(m->ctx, done->sha256, &n) != 1 || n != sizeof(done->sha256)))
        return drop(r, m, MSRP_REASM_E_LIMIT);
    msg_release(r, m);
    return MSRP_REASM_COMPLETE;
}

static bool was_refused(const struct msrp_reasm *r, struct msrp_span id)
{
    for (size_t i = 0; i < r->nrefused; i++)
        if (r->refused[i].len == id.len && memcmp(r->refused[i].id, id.ptr, id.len) == 0)
            return true;
    return false;
}

/* Without room to remember, the id is simply not remembered: its chunks then start afresh. */
static void remember_refused(struct msrp_reasm *r, struct msrp_span id)
{
    if (r->refused == NULL &&
        (r->refused = calloc(MSRP_REASM_REFUSED_IDS, sizeof(*r->refused))) == NULL)
        return;
    struct refused_id *slot = &r->refused[r->refused_next];
    slot->len = (uint8_t)id.len;
    memcpy(slot->id, id.ptr, id.len);
    r->refused_next = (r->refused_next + 1) % MSRP_REASM_REFUSED_IDS;
    if (r->nrefused < MSRP_REASM_REFUSED_IDS)
        r->nrefused++;
}

enum msrp_reasm_status msrp_reasm_add(struct msrp_reasm *r, struct msrp_span id, uint64_t pos,
                                      const char *data, size_t len, char chunk_flag,
                                      uint64_t chunk_end, uint64_t chunk_total,
                                      struct msrp_reasm_done *done)
{
    r->why[0] = '\0';
    /* RFC 4975 section 10.5: after a 413 the sender MUST NOT send further chunks with the
     * same Message-ID; those that come anyway must not start a new message. */
    if (r->nrefused > 0 && was_refused(r, id)) {
        snprintf(r->why, sizeof(r->why), "a chunk of a message refused before (413)");
        return MSRP_REASM_E_REFUSED;
    }
    enum msrp_reasm_status s =
        add_piece(r, id, pos, data, len, chunk_flag, chunk_end, chunk_total, done);
    if (s == MSRP_REASM_E_LIMIT || s == MSRP_REASM_E_TOO_LARGE || s == MSRP_REASM_E_CONFLICT) {
        if (r->why[0] == '\0')
            snprintf(r->why, sizeof(r->why), "out of memory");
        remember_refused(r, id);
    }
    return s;
}

const char *msrp_reasm_why(const struct msrp_reasm *r)
{
    return r->why;
}
