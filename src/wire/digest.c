/*
 * digest.c - answering an RFC 4976 AUTH challenge with RFC 2617 Digest (MD5, qop=auth).
 *
 * RFC 4976 section 9.1 takes HTTP Digest (RFC 2617) over as it is, with the AUTH method and the
 * relay's URI as digest-uri. We implement only what a client needs: the "auth" quality of
 * protection and the RFC 2069 compatibility form, with MD5 (RFC 2617 section 3.2.2.1/2). MD5-sess
 * and auth-int are refused rather than answered wrongly; no relay we know of asks for them.
 *
 * Values from the challenge arrive as values.c hands them out: spans into the header with the
 * quoted-string escapes still in place. They are never copied: the hash and the output both
 * walk them run by run, resolving escapes on the fly, so no field has a length limit and the
 * password never lands in a buffer of ours.
 */
#include "wire/digest.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define MD5_LEN 16
#define MD5_HEX_LEN (2 * MD5_LEN)

/*
 * A piece of hash input or header output. When escaped is true the bytes are a quoted-string's
 * content with its quoted-pairs ("\" CHAR, RFC 2616 section 2.2) still in place; their value is
 * the content with every such pair replaced by its second character.
 */
struct piece {
    const char *ptr;
    size_t len;
    bool escaped;
};

static struct piece piece_str(const char *s)
{
    return (struct piece){s, strlen(s), false};
}

static struct piece piece_span(struct msrp_span s, bool escaped)
{
    return (struct piece){s.ptr, s.len, escaped};
}

/*
 * The next run of value bytes of pc from *pos on: returns its length (0 at the end) and points
 * *run at it. An escaped piece yields the text between backslashes, and each escaped character
 * as a run of its own; a lone backslash at the very end (which a validated quoted-string cannot
 * have) stands for itself, as msrp_unquote treats it.
 */
static size_t next_run(const struct piece *pc, size_t *pos, const char **run)
{
    size_t i = *pos;

    if (i >= pc->len)
        return 0;
    if (!pc->escaped) {
        *run = pc->ptr + i;
        *pos = pc->len;
        return pc->len - i;
    }
    if (pc->ptr[i] == '\\' && i + 1 < pc->len) {
        *run = pc->ptr + i + 1;
        *pos = i + 2;
        return 1;
    }
    const char *bs = memchr(pc->ptr + i + 1, '\\', pc->len - i - 1);
    size_t stop = bs != NULL ? (size_t)(bs - pc->ptr) : pc->len;
    *run = pc->ptr + i;
    *pos = stop;
    return stop - i;
}

/*
 * A header line must not be broken by what we write into it: quoted-string content (qdtext and
 * quoted-pair) has no control characters but HTAB (RFC 2616 section 2.2). CR and LF matter most:
 * a username with a CRLF would smuggle a header into the request.
 */
static bool piece_clean(const struct piece *pc)
{
    for (size_t i = 0; i < pc->len; i++) {
        unsigned char c = (unsigned char)pc->ptr[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/* ---- hashing ------------------------------------------------------------------------------ */

static void hex_lower(const unsigned char *bin, size_t n, char *hex)
{
    static const char digits[16] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[bin[i] >> 4];
        hex[2 * i + 1] = digits[bin[i] & 0x0f];
    }
}

/*
 * hex = lowercase hex of MD5 over the values of the pieces, concatenated. Returns 0 or EIO.
 * OpenSSL clears the MD5 block buffer when it finalises and the whole state when the context is
 * freed, so the password fed in here leaves no copy behind once the caller frees ctx.
 */
static int md5_hex(EVP_MD_CTX *ctx, const struct piece *pcs, size_t n, char hex[MD5_HEX_LEN])
{
#ifdef OPENSSL_NO_MD5
    (void)ctx;
    (void)pcs;
    (void)n;
    (void)hex;
    return EIO;
#else
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int rc = EIO;

    /* Under OpenSSL 3 this fetches MD5 from the default provider; a configuration without it
     * (FIPS only) fails here. */
    if (EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1)
        goto err;
    for (size_t k = 0; k < n; k++) {
        size_t pos = 0, run_len;
        const char *run;
        while ((run_len = next_run(&pcs[k], &pos, &run)) > 0) {
            if (EVP_DigestUpdate(ctx, run, run_len) != 1)
                goto err;
        }
    }
    if (EVP_DigestFinal_ex(ctx, md, &md_len) != 1 || md_len != MD5_LEN)
        goto err;
    hex_lower(md, MD5_LEN, hex);
    rc = 0;
err:
    OPENSSL_cleanse(md, sizeof md);
    return rc;
#endif
}

/* ---- output ------------------------------------------------------------------------------- */

/* Counts everything put, writes what fits. Once a put does not fit, len exceeds cap and no
 * later put is written either, so the buffer never holds a value with a gap in it. */
struct sink {
    char *buf;
    size_t cap;
    size_t len;
};

static void put(struct sink *s, const char *p, size_t n)
{
    if (n > 0 && s->len <= s->cap && n <= s->cap - s->len)
        memcpy(s->buf + s->len, p, n);
    s->len += n;
}

static void put_str(struct sink *s, const char *str)
{
    put(s, str, strlen(str));
}

/* quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE, escaping only '"' and '\', the two
 * characters that need it; a challenge's other quoted-pairs come out as plain characters. */
static void put_quoted(struct sink *s, struct piece pc)
{
    size_t pos = 0, run_len;
    const char *run;

    put(s, "\"", 1);
    while ((run_len = next_run(&pc, &pos, &run)) > 0) {
        size_t from = 0;
        for (size_t i = 0; i < run_len; i++) {
            if (run[i] != '"' && run[i] != '\\')
                continue;
            put(s, run + from, i - from);
            put(s, "\\", 1);
            from = i;
        }
        put(s, run + from, run_len - from);
    }
    put(s, "\"", 1);
}

/* ---- qop ---------------------------------------------------------------------------------- */

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* The element [p, end) with its escapes resolved equals "auth", ignoring case. */
static bool element_is_auth(const char *p, const char *end)
{
    static const char want[] = "auth";
    size_t n = 0;

    while (p < end) {
        char c = *p++;
        if (c == '\\' && p < end)
            c = *p++;
        if (n >= sizeof want - 1)
            return false;
        char w = want[n++];
        if (c != w && !(c >= 'A' && c <= 'Z' && c - 'A' + 'a' == w))
            return false;
    }
    return n == sizeof want - 1;
}

/* qop-options = "qop" "=" <"> 1#qop-value <">, qop-value = "auth" | "auth-int" | token
 * (RFC 2617 section 3.2.1). The #rule allows empty elements and LWS around the commas. */
bool msrp_digest_qop_has_auth(struct msrp_span qop_list)
{
    if (qop_list.len == 0)
        return false; /* also keeps NULL + 0 out of the pointer arithmetic below */

    const char *p = qop_list.ptr, *end = p + qop_list.len;
    while (p < end) {
        const char *start = p;
        /* An escaped comma belongs to its element (absurd in a qop-value, but not a split). */
        while (p < end && *p != ',')
            p += (*p == '\\' && end - p > 1) ? 2 : 1;
        const char *stop = p;
        while (start < stop && is_wsp(*start))
            start++;
        while (stop > start && is_wsp(stop[-1]))
            stop--;
        if (element_is_auth(start, stop))
            return true;
        if (p < end)
            p++; /* the comma */
    }
    return false;
}

/* ---- the answer --------------------------------------------------------------------------- */

int msrp_digest_answer(const struct msrp_digest *challenge, const char *username,
                       const char *password, const char *method, const char *uri,
                       uint32_t nonce_count, const char *cnonce, struct msrp_idgen *ids, char *out,
                       size_t cap, size_t *len)
{
    static const char hexdigits[16] = "0123456789abcdef";
    char ha1[MD5_HEX_LEN], ha2[MD5_HEX_LEN], response[MD5_HEX_LEN];
    char nc[8], drawn[MSRP_DIGEST_CNONCE_LEN];
    EVP_MD_CTX *ctx = NULL;
    int rc = EINVAL;

    if (out == NULL && cap > 0)
        return EINVAL;
    if (cap > 0)
        out[0] = '\0';
    if (challenge == NULL || username == NULL || password == NULL || method == NULL || uri == NULL)
        return EINVAL;

    const struct msrp_digest *c = challenge;
    /* RFC 2617 section 3.2.1: realm and nonce are required; algorithm absent means MD5. */
    if (c->realm.ptr == NULL || c->nonce.ptr == NULL)
        return EINVAL;
    if (c->algorithm.ptr != NULL && !msrp_span_eq_nocase(c->algorithm, MSRP_SPAN_LIT("MD5")))
        return EINVAL;
    /* Section 3.2.2: with a qop directive we must pick one we support; without one the
     * response takes the RFC 2069 form. */
    bool qop = c->qop.ptr != NULL;
    if (qop && !msrp_digest_qop_has_auth(c->qop))
        return EINVAL;

    struct piece user = piece_str(username), pass = piece_str(password);
    struct piece realm = piece_span(c->realm, c->realm_q);
    struct piece nonce = piece_span(c->nonce, c->nonce_q);
    struct piece opaque = piece_span(c->opaque, c->opaque_q);
    struct piece duri = piece_str(uri), meth = piece_str(method);
    struct piece cn = {drawn, 0, false};
    if (!piece_clean(&user) || !piece_clean(&duri) || !piece_clean(&realm) ||
        !piece_clean(&nonce) || !piece_clean(&opaque))
        return EINVAL;

    if (qop) {
        if (cnonce != NULL) {
            cn = piece_str(cnonce);
            if (!piece_clean(&cn))
                return EINVAL;
        } else {
            if (ids == NULL)
                return EINVAL;
            if (msrp_idgen_ident(ids, drawn, sizeof drawn) != 0)
                return EIO;
            cn.len = sizeof drawn;
        }
    }
    /* nc-value = 8LHEX (section 3.2.2) */
    for (int i = 7; i >= 0; i--) {
        nc[i] = hexdigits[nonce_count & 0x0f];
        nonce_count >>= 4;
    }

    rc = EIO;
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        goto err;

    const struct piece colon = {":", 1, false};
    const struct piece a1[] = {user, colon, realm, colon, pass};
    const struct piece a2[] = {meth, colon, duri};
    if (md5_hex(ctx, a1, sizeof a1 / sizeof a1[0], ha1) != 0 ||
        md5_hex(ctx, a2, sizeof a2 / sizeof a2[0], ha2) != 0)
        goto err;

    const struct piece h1 = {ha1, sizeof ha1, false}, h2 = {ha2, sizeof ha2, false};
    const struct piece ncp = {nc, sizeof nc, false}, auth = {"auth", 4, false};
    if (qop) {
        /* request-digest = KD(H(A1), nonce ":" nc ":" cnonce ":" qop ":" H(A2)) */
        const struct piece kd[] = {h1, colon, nonce, colon, ncp, colon, cn, colon, auth, colon, h2};
        if (md5_hex(ctx, kd, sizeof kd / sizeof kd[0], response) != 0)
            goto err;
    } else {
        /* RFC 2069: request-digest = KD(H(A1), nonce ":" H(A2)) */
        const struct piece kd[] = {h1, colon, nonce, colon, h2};
        if (md5_hex(ctx, kd, sizeof kd / sizeof kd[0], response) != 0)
            goto err;
    }

    struct sink s = {out, cap, 0};
    put_str(&s, "Digest username=");
    put_quoted(&s, user);
    put_str(&s, ", realm=");
    put_quoted(&s, realm);
    put_str(&s, ", nonce=");
    put_quoted(&s, nonce);
    put_str(&s, ", uri=");
    put_quoted(&s, duri);
    put_str(&s, ", response=\"");
    put(&s, response, sizeof response);
    put_str(&s, "\", algorithm=MD5");
    if (qop) {
        put_str(&s, ", cnonce=");
        put_quoted(&s, cn);
    }
    /* Section 3.2.2: opaque goes back unchanged (the escapes we may rewrite do not change its
     * value). */
    if (c->opaque.ptr != NULL) {
        put_str(&s, ", opaque=");
        put_quoted(&s, opaque);
    }
    if (qop) {
        put_str(&s, ", qop=auth, nc=");
        put(&s, nc, sizeof nc);
    }
    if (len != NULL)
        *len = s.len;
    if (s.len >= cap) {
        if (cap > 0)
            out[0] = '\0';
        rc = ENOSPC;
        goto err;
    }
    out[s.len] = '\0';
    rc = 0;
err:
    EVP_MD_CTX_free(ctx);
    OPENSSL_cleanse(ha1, sizeof ha1);
    return rc;
}
