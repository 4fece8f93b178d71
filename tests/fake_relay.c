/*
 * fake_relay.c - see fake_relay.h. Plain sockets and poll() in a forked child, so that the
 * msrpload binary the tests run can talk to it while the test process only waits. It frames
 * MSRP itself (start line, headers, end-line) and rewrites only the two path headers, so a
 * relayed chunk keeps every other byte as it came.
 */
#include "fake_relay.h"

#include <ctype.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/transport_ws.h"
#include "wire/values.h"

#define REALM "msrpload.test"
#define MIN_EXPIRES 30
#define MAXC 32
#define MAXP 64
#define BUFSZ 65536

static const char *const violations[] = {
    "relay-without-auth",     "keep-malformed-open", "no-481",
    "respond-fr-no",          "answer-report",       "accept-bad-password",
    "no-qop",                 "no-423",              "no-use-path",
    "keep-from-path",         "drop-reports",        "no-failure-report",
    "no-challenge",           "accept-basic",        "offer-auth-int",
    "no-authentication-info", "ip-use-path",         "any-connection-uri",
    "response-to-far-path",   "merge-message-ids",   "flags-all-end",
    "forward-bad-response",   "mangle-binary",       "numeric-large-end",
    "no-408",                 "take-misaddressed-response",
    /* WebSocket mode only (fake_relay_start_ws) */
    "ws-no-msrp-101",         "ws-split-chunks",     "ws-refuse-text",
    "ws-refuse-binary-send",  "ws-refuse-bodiless",  "ws-no-fragments",
    "ws-no-cors",
    NULL};

/* Other ways of doing right that some cases must accept as well (not violations). */
static const char *const alternatives[] = {"report-refusals", "close-refusals", NULL};

struct rconn {
    int fd;
    size_t len;
    bool authed;
    char sid[24];
    char nonce[40];
    /* WebSocket mode: the upgrade's head until it is answered, then frames not yet whole */
    bool ws_up;
    size_t hs_len, wsin_len;
    char hs[4096];
    unsigned char wsin[BUFSZ];
    char buf[BUFSZ];
};

/* A SEND relayed onward whose far-end response may need a failure REPORT back. */
struct pending {
    bool used, report; /* report: Failure-Report yes, so silence gets a 408 (6.4.1) */
    int from;
    long long sent; /* CLOCK_MONOTONIC ms */
    char tid[64], from_path[1024], mid[128], range[64];
};

struct frame {
    char tid[64], what[128];
    size_t hs, he, len; /* headers start, end (after the last header's CRLF), frame length */
};

static struct {
    int lis;
    unsigned port;
    char me[64];   /* "msrp://127.0.0.1:PORT": what clients connect to */
    char name[64]; /* "msrp://relay.msrpload.test:PORT": its Use-Path URIs (RFC 4976 4.2) */
    const char *viol;
    bool ws; /* every connection is a WebSocket with subprotocol msrp (RFC 7977) */
    struct rconn c[MAXC];
    struct pending p[MAXP];
    unsigned sids, nonces, tids;
    size_t skip; /* merge-message-ids: bytes of a second frame folded into the one handled */
} R;

static char out[BUFSZ + 8192];

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool viol(const char *name)
{
    return strcmp(R.viol, name) == 0;
}

bool fake_relay_known_violation(const char *name)
{
    for (unsigned i = 0; violations[i] != NULL; i++)
        if (strcmp(violations[i], name) == 0)
            return true;
    return false;
}

static void put_raw(int i, const char *s, size_t n)
{
    while (n > 0 && R.c[i].fd >= 0) {
        ssize_t w = send(R.c[i].fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* One unmasked server frame, FIN set (RFC 6455 5.2, from memory). */
static void put_frame(int i, unsigned opcode, const char *s, size_t n)
{
    unsigned char h[10];
    size_t hl = 2;
    h[0] = (unsigned char)(0x80 | opcode);
    if (n < 126) {
        h[1] = (unsigned char)n;
    } else if (n <= 0xffff) {
        h[1] = 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        h[1] = 127;
        for (int k = 0; k < 8; k++)
            h[2 + k] = (unsigned char)((uint64_t)n >> (56 - 8 * k));
        hl = 10;
    }
    put_raw(i, (const char *)h, hl);
    put_raw(i, s, n);
}

/* Every put is one whole chunk: over WebSocket, one message (RFC 7977 5.1), unless the
 * violation cuts each in two messages. */
static void put(int i, const char *s, size_t n)
{
    if (!R.ws) {
        put_raw(i, s, n);
        return;
    }
    if (viol("ws-split-chunks") && n >= 2) {
        put_frame(i, 0x2, s, n / 2);
        put_frame(i, 0x2, s + n / 2, n - n / 2);
        return;
    }
    put_frame(i, 0x2, s, n);
}

static void closeconn(int i)
{
    close(R.c[i].fd);
    R.c[i].fd = -1;
    R.c[i].authed = false;
    for (unsigned k = 0; k < MAXP; k++)
        if (R.p[k].used && R.p[k].from == i)
            R.p[k].used = false;
}

/* -1: not MSRP (no way to find the next request), 0: incomplete, else f->len. */
static int split(const char *b, size_t n, struct frame *f)
{
    const char *eol = memmem(b, n, "\r\n", 2);
    if (eol == NULL)
        return n > 8192 ? -1 : 0;
    size_t l1 = (size_t)(eol - b);
    if (l1 < 8 || memcmp(b, "MSRP ", 5) != 0)
        return -1;
    const char *t = b + 5, *sp = memchr(t, ' ', l1 - 5);
    if (sp == NULL || sp == t || (size_t)(sp - t) >= sizeof f->tid ||
        (size_t)(eol - sp - 1) >= sizeof f->what)
        return -1;
    for (const char *q = t; q < sp; q++)
        if (!isalnum((unsigned char)*q) && strchr(".-+%=", *q) == NULL)
            return -1;
    snprintf(f->tid, sizeof f->tid, "%.*s", (int)(sp - t), t);
    snprintf(f->what, sizeof f->what, "%.*s", (int)(eol - sp - 1), sp + 1);
    char needle[80];
    size_t nl = (size_t)snprintf(needle, sizeof needle, "\r\n-------%s", f->tid);
    size_t from = l1;
    for (;;) {
        const char *p = memmem(b + from, n - from, needle, nl);
        if (p == NULL)
            return n >= BUFSZ ? -1 : 0;
        size_t at = (size_t)(p - b);
        if (at + nl + 3 > n)
            return 0;
        if (strchr("$+#", p[nl]) != NULL && p[nl + 1] == '\r' && p[nl + 2] == '\n') {
            f->hs = l1 + 2;
            f->len = at + nl + 3;
            size_t q = f->hs;
            while (q < at + 2) {
                const char *e = memmem(b + q, at + 2 - q, "\r\n", 2);
                if (e == NULL || e == b + q)
                    break;
                q = (size_t)(e - b) + 2;
            }
            f->he = q;
            return 1;
        }
        from = at + 1;
    }
}

static bool hget(const char *b, const struct frame *f, const char *name, char *v, size_t cap)
{
    size_t nlen = strlen(name);
    for (size_t q = f->hs; q < f->he;) {
        const char *e = memmem(b + q, f->he - q, "\r\n", 2);
        size_t ll = (size_t)(e - (b + q));
        if (ll > nlen + 1 && strncasecmp(b + q, name, nlen) == 0 && b[q + nlen] == ':') {
            const char *s = b + q + nlen + 1;
            while (*s == ' ')
                s++;
            snprintf(v, cap, "%.*s", (int)(e - s), s);
            return true;
        }
        q += ll + 2;
    }
    return false;
}

static void my_uri(int i, char *u, size_t cap)
{
    if (R.c[i].authed)
        snprintf(u, cap, "%s/%s;tcp", viol("ip-use-path") ? R.me : R.name, R.c[i].sid);
    else
        snprintf(u, cap, "%s;tcp", R.me);
}

/* A hop-by-hop response: To-Path is the previous hop, the first URI of the From-Path. */
static void reply(int i, const char *b, const struct frame *f, int code, const char *comment,
                  const char *extra)
{
    char fp[1024] = "", me[128];
    hget(b, f, "From-Path", fp, sizeof fp);
    fp[strcspn(fp, " ")] = '\0';
    my_uri(i, me, sizeof me);
    int n = snprintf(out, sizeof out,
                     "MSRP %s %d %s\r\nTo-Path: %s\r\nFrom-Path: %s\r\n%s-------%s$\r\n", f->tid,
                     code, comment, fp, me, extra != NULL ? extra : "", f->tid);
    put(i, out, (size_t)n);
}

static void md5_hex(const char *s, char hex[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(s, strlen(s), md, &len, EVP_md5(), NULL);
    for (unsigned k = 0; k < 16; k++)
        snprintf(hex + 2 * k, 3, "%02x", md[k]);
}

static void cpy(struct msrp_span s, char *o, size_t cap)
{
    snprintf(o, cap, "%.*s", (int)(s.len < cap ? s.len : cap - 1), s.ptr);
}

/* RFC 2617 section 3.2.2 with qop=auth and method AUTH. On success info gets the
 * Authentication-Info value (3.2.3: rspauth is the response digest with an empty method). */
static bool digest_ok(const char *authz, const char *nonce, char *info, size_t icap)
{
    struct msrp_digest d;
    if (!msrp_digest_challenge_parse(msrp_span_cstr(authz), &d))
        return false;
    char user[64], dn[64], uri[256], cn[64], nc[16], resp[64], buf[1024], h1[33], h2[33], w[33];
    cpy(d.username, user, sizeof user);
    cpy(d.nonce, dn, sizeof dn);
    cpy(d.uri, uri, sizeof uri);
    cpy(d.cnonce, cn, sizeof cn);
    cpy(d.nc, nc, sizeof nc);
    cpy(d.response, resp, sizeof resp);
    const char *pass = strcmp(user, "alice") == 0 ? "alice-secret"
                       : strcmp(user, "bob") == 0 ? "bob-secret"
                                                  : NULL;
    if (pass == NULL || strcmp(dn, nonce) != 0)
        return false;
    snprintf(buf, sizeof buf, "%s:%s:%s", user, REALM, pass);
    md5_hex(buf, h1);
    snprintf(buf, sizeof buf, "AUTH:%s", uri);
    md5_hex(buf, h2);
    snprintf(buf, sizeof buf, "%s:%s:%s:%s:auth:%s", h1, nonce, nc, cn, h2);
    md5_hex(buf, w);
    if (strcmp(w, resp) != 0)
        return false;
    snprintf(buf, sizeof buf, ":%s", uri);
    md5_hex(buf, h2);
    snprintf(buf, sizeof buf, "%s:%s:%s:%s:auth:%s", h1, nonce, nc, cn, h2);
    md5_hex(buf, w);
    snprintf(info, icap, "qop=auth, rspauth=\"%s\", cnonce=\"%s\", nc=%s", w, cn, nc);
    return true;
}

/* Basic credentials (RFC 2617 section 2) that name a known user and password. */
static bool basic_ok(const char *authz)
{
    unsigned char plain[256];
    const char *b64 = authz + 6;
    size_t n = strlen(b64);
    if (n == 0 || n > 300 || EVP_DecodeBlock(plain, (const unsigned char *)b64, (int)n) < 0)
        return false;
    plain[(n / 4) * 3 < sizeof plain ? (n / 4) * 3 : sizeof plain - 1] = '\0';
    return strcmp((char *)plain, "alice:alice-secret") == 0 ||
           strcmp((char *)plain, "bob:bob-secret") == 0;
}

static void on_auth(int i, const char *b, const struct frame *f)
{
    struct rconn *c = &R.c[i];
    char authz[1024], v[64], extra[1024], info[512] = "";
    bool has = hget(b, f, "Authorization", authz, sizeof authz);
    /* RFC 4976 9.1: a relay accepts no Basic credentials (the violation does). */
    bool basic = has && strncasecmp(authz, "Basic ", 6) == 0 && viol("accept-basic") &&
                 basic_ok(authz);
    if (!basic && (!has || c->nonce[0] == '\0' || strstr(authz, c->nonce) == NULL)) {
        snprintf(c->nonce, sizeof c->nonce, "fr%u%08x", ++R.nonces, (unsigned)getpid());
        snprintf(extra, sizeof extra,
                 "WWW-Authenticate: Digest realm=\"" REALM "\", nonce=\"%s\"%s\r\n", c->nonce,
                 viol("no-qop")           ? ""
                 : viol("offer-auth-int") ? ", qop=\"auth,auth-int\""
                                          : ", qop=\"auth\"");
        if (viol("no-challenge")) /* a 401 that gives the client nothing to answer */
            extra[0] = '\0';
        reply(i, b, f, 401, "Unauthorized", extra);
        return;
    }
    if (!basic && !digest_ok(authz, c->nonce, info, sizeof info) &&
        !viol("accept-bad-password")) {
        reply(i, b, f, 403, "Forbidden", NULL);
        return;
    }
    unsigned long exp = 600;
    if (hget(b, f, "Expires", v, sizeof v)) {
        exp = strtoul(v, NULL, 10);
        if (exp < MIN_EXPIRES && !viol("no-423")) {
            reply(i, b, f, 423, "Interval Out-of-Bounds", "Min-Expires: 30\r\n");
            return;
        }
    }
    if (c->sid[0] == '\0')
        snprintf(c->sid, sizeof c->sid, "frs%u", ++R.sids);
    c->authed = true;
    char uri[128];
    my_uri(i, uri, sizeof uri);
    size_t xl = 0;
    if (!viol("no-use-path"))
        xl += (size_t)snprintf(extra + xl, sizeof extra - xl, "Use-Path: %s\r\n", uri);
    xl += (size_t)snprintf(extra + xl, sizeof extra - xl, "Expires: %lu\r\n", exp);
    if (info[0] != '\0' && !viol("no-authentication-info"))
        snprintf(extra + xl, sizeof extra - xl, "Authentication-Info: %s\r\n", info);
    reply(i, b, f, 200, "OK", extra);
}

/* The length of our own authority ("msrp://HOST:PORT") at the start of s, or 0. */
static size_t own_prefix(const char *s)
{
    const char *mine[] = {R.me, R.name};
    for (unsigned k = 0; k < 2; k++) {
        size_t ml = strlen(mine[k]);
        if (strncmp(s, mine[k], ml) == 0 &&
            (s[ml] == '/' || s[ml] == ';' || s[ml] == ' ' || s[ml] == '\0'))
            return ml;
    }
    return 0;
}

/* Our own URIs lead the To-Path; the last of them names the session to forward to. One that
 * is not the last was handed out to the sender: RFC 4976 6.3 makes it valid only on the
 * connection its AUTH came on (from). -1: a URI we never gave out; -2: someone else's. */
static int route(int from, const char *tp, char *stripped, size_t scap, const char **rest)
{
    size_t ml;
    int dest = -1, prev = -1;
    stripped[0] = '\0';
    const char *s = tp;
    while ((ml = own_prefix(s)) > 0) {
        if (prev >= 0 && prev != from && !viol("any-connection-uri"))
            return -2;
        size_t ul = strcspn(s, " ");
        char sid[64] = "";
        if (s[ml] == '/')
            snprintf(sid, sizeof sid, "%.*s", (int)strcspn(s + ml + 1, "; "), s + ml + 1);
        dest = -1;
        for (int j = 0; j < MAXC && sid[0] != '\0'; j++)
            if (R.c[j].fd >= 0 && R.c[j].authed && strcmp(R.c[j].sid, sid) == 0)
                dest = j;
        if (dest < 0)
            return -1; /* a session we never gave out (or that is gone) */
        prev = dest;
        /* From-Path gets our URIs in the reverse order: the nearest hop first. */
        size_t have = strlen(stripped), gap = have > 0 ? 1 : 0;
        if (ul + gap + have >= scap)
            return -1;
        memmove(stripped + ul + gap, stripped, have + 1);
        memcpy(stripped, s, ul);
        if (gap)
            stripped[ul] = ' ';
        s += ul;
        while (*s == ' ')
            s++;
    }
    *rest = s;
    return **rest != '\0' ? dest : -1;
}

static void report_back(const struct pending *p, const char *status);

/* A SEND the relay will not forward: the error as the response or, in the alternative
 * "report-refusals" (RFC 4976 6.4.1: a 200 at once, then the problem in a REPORT, when
 * Failure-Report is yes), as a 200 and then a failure REPORT, or in the alternative
 * "close-refusals" by closing the connection. status: "481 No Such Session". */
static void refuse(int i, const char *b, const struct frame *f, const char *fr,
                   const char *status)
{
    if (viol("close-refusals")) { /* refusing by closing the connection instead */
        closeconn(i);
        return;
    }
    if (!viol("report-refusals") || strcmp(fr, "yes") != 0) {
        reply(i, b, f, atoi(status), status + 4, NULL);
        return;
    }
    reply(i, b, f, 200, "OK", NULL);
    struct pending p = {.from = i};
    hget(b, f, "From-Path", p.from_path, sizeof p.from_path);
    hget(b, f, "Message-ID", p.mid, sizeof p.mid);
    hget(b, f, "Byte-Range", p.range, sizeof p.range);
    report_back(&p, status);
}

static void on_request(int i, const char *b, const struct frame *f)
{
    char method[32], tp[1024] = "", fp[1024] = "", fr[16] = "yes", stripped[1024];
    snprintf(method, sizeof method, "%.*s", (int)strcspn(f->what, " "), f->what);
    bool send_ = strcmp(method, "SEND") == 0, report = strcmp(method, "REPORT") == 0;
    if (!send_ && !report) {
        reply(i, b, f, 501, "Not Implemented", NULL);
        return;
    }
    hget(b, f, "Failure-Report", fr, sizeof fr);
    bool ok200 = send_ ? strcmp(fr, "yes") == 0 || (strcmp(fr, "no") == 0 && viol("respond-fr-no"))
                       : viol("answer-report");
    if (!R.c[i].authed) {
        if (send_ && viol("relay-without-auth"))
            reply(i, b, f, 200, "OK", NULL);
        else if (send_)
            refuse(i, b, f, fr, "403 Forbidden");
        return;
    }
    hget(b, f, "To-Path", tp, sizeof tp);
    hget(b, f, "From-Path", fp, sizeof fp);
    const char *rest = NULL;
    int dest = route(i, tp, stripped, sizeof stripped, &rest);
    if (dest == -2) {
        if (send_)
            reply(i, b, f, 403, "Forbidden", NULL);
        return;
    }
    if (dest < 0) {
        if (send_ && viol("no-481"))
            reply(i, b, f, 200, "OK", NULL);
        else if (send_)
            refuse(i, b, f, fr, "481 No Such Session");
        return;
    }
    if (report && viol("drop-reports"))
        return;
    char br[64] = "";
    if (send_ && viol("ws-refuse-bodiless") && hget(b, f, "Byte-Range", br, sizeof br) &&
        strcmp(br, "1-0/0") == 0) {
        reply(i, b, f, 400, "Bad Request", NULL);
        return;
    }
    /* The violation folds the next SEND waiting in the buffer, whatever its Message-ID, into
     * this one (RFC 4976 6.4.1 forbids it). */
    struct frame f2;
    size_t el = strlen(f->tid) + 12, body2_at = 0, body2_len = 0;
    if (send_ && viol("merge-message-ids") && R.c[i].len > f->len &&
        split(b + f->len, R.c[i].len - f->len, &f2) > 0 &&
        f2.len >= f2.he + 2 + strlen(f2.tid) + 12) {
        body2_at = f->len + f2.he + 2;
        body2_len = f2.len - f2.he - 2 - (strlen(f2.tid) + 12);
        R.skip = f2.len;
    }
    size_t body1_len = f->len >= f->he + 2 + el ? f->len - f->he - 2 - el : 0;
    /* Forward: the start line, headers with the two paths rewritten, then the rest as is. */
    size_t o = f->hs;
    memcpy(out, b, o);
    for (size_t q = f->hs; q < f->he;) {
        const char *e = memmem(b + q, f->he - q, "\r\n", 2);
        size_t ll = (size_t)(e - (b + q)) + 2;
        char *star;
        if (R.skip > 0 && strncasecmp(b + q, "Byte-Range:", 11) == 0)
            o += (size_t)snprintf(out + o, sizeof out - o, "Byte-Range: 1-%zu/%zu\r\n",
                                  body1_len + body2_len, body1_len + body2_len);
        else if (viol("numeric-large-end") && strncasecmp(b + q, "Byte-Range:", 11) == 0 &&
                 (star = memchr(b + q, '*', ll)) != NULL && star[-1] == '-')
            /* The end the chunk turned out to have, in place of the * it was sent with. */
            o += (size_t)snprintf(out + o, sizeof out - o, "Byte-Range: %lu-%lu%.*s",
                                  strtoul(b + q + 11, NULL, 10),
                                  strtoul(b + q + 11, NULL, 10) + body1_len - 1,
                                  (int)(ll - (size_t)(star + 1 - (b + q))), star + 1);
        else if (strncasecmp(b + q, "To-Path:", 8) == 0)
            o += (size_t)snprintf(out + o, sizeof out - o, "To-Path: %s\r\n", rest);
        else if (strncasecmp(b + q, "From-Path:", 10) == 0 && !viol("keep-from-path"))
            o += (size_t)snprintf(out + o, sizeof out - o, "From-Path: %s %s\r\n", stripped, fp);
        else {
            memcpy(out + o, b + q, ll);
            o += ll;
        }
        q += ll;
    }
    if (R.skip > 0) {
        memcpy(out + o, b + f->he, 2 + body1_len);
        o += 2 + body1_len;
        memcpy(out + o, b + body2_at, body2_len);
        o += body2_len;
        o += (size_t)snprintf(out + o, sizeof out - o, "\r\n-------%s$\r\n", f->tid);
    } else {
        memcpy(out + o, b + f->he, f->len - f->he);
        if (viol("mangle-binary"))
            for (size_t k = o + 2; k < o + 2 + body1_len; k++)
                if ((unsigned char)out[k] >= 0x80)
                    out[k] = '?';
        o += f->len - f->he;
    }
    if (viol("flags-all-end"))
        out[o - 3] = '$';
    put(dest, out, o);
    if (send_ && strcmp(fr, "no") != 0) {
        for (unsigned k = 0; k < MAXP; k++)
            if (!R.p[k].used) {
                struct pending *p = &R.p[k];
                memset(p, 0, sizeof *p);
                p->used = true;
                p->report = strcmp(fr, "yes") == 0;
                p->sent = now_ms();
                p->from = i;
                snprintf(p->tid, sizeof p->tid, "%s", f->tid);
                snprintf(p->from_path, sizeof p->from_path, "%s", fp);
                hget(b, f, "Message-ID", p->mid, sizeof p->mid);
                hget(b, f, "Byte-Range", p->range, sizeof p->range);
                break;
            }
    }
    if (ok200 && viol("response-to-far-path")) {
        /* Addressed as if end to end: the whole path back, not just the previous hop. */
        char me[128];
        my_uri(i, me, sizeof me);
        int n = snprintf(out, sizeof out,
                         "MSRP %s 200 OK\r\nTo-Path: %s %s\r\nFrom-Path: %s\r\n-------%s$\r\n",
                         f->tid, stripped, fp, me, f->tid);
        put(i, out, (size_t)n);
    } else if (ok200) {
        reply(i, b, f, 200, "OK", NULL);
    }
    if (R.skip > 0) {
        struct frame f3;
        if (split(b + f->len, R.c[i].len - f->len, &f3) > 0)
            reply(i, b + f->len, &f3, 200, "OK", NULL);
    }
}

/* A failure REPORT to the sender of a relayed SEND, with status ("481 No Such Session"). */
static void report_back(const struct pending *p, const char *status)
{
    if (R.c[p->from].fd < 0)
        return;
    char tid[32], me[128], range[96] = "";
    snprintf(tid, sizeof tid, "frR%u", ++R.tids);
    my_uri(p->from, me, sizeof me);
    if (p->range[0] != '\0')
        snprintf(range, sizeof range, "Byte-Range: %s\r\n", p->range);
    int n = snprintf(out, sizeof out,
                     "MSRP %s REPORT\r\nTo-Path: %s\r\nFrom-Path: %s\r\nMessage-ID: %s\r\n"
                     "%sStatus: 000 %s\r\n-------%s$\r\n",
                     tid, p->from_path, me, p->mid, range, status, tid);
    put(p->from, out, (size_t)n);
}

/* RFC 4976 6.4.1: 30 s after a Failure-Report yes SEND went on without a response, a 408. */
static void expire_pending(void)
{
    long long now = now_ms();
    for (unsigned k = 0; k < MAXP; k++) {
        struct pending *p = &R.p[k];
        if (!p->used || !p->report || now - p->sent < 30000)
            continue;
        p->used = false;
        if (!viol("no-408"))
            report_back(p, "408 Request Timeout");
    }
}

/* The far end's response to a relayed SEND: an error goes back to the sender as a REPORT. A
 * status that is not three digits does not parse and is dropped (RFC 4976 6.4.3). */
static void on_response(const char *b, const struct frame *f)
{
    int code = atoi(f->what);
    bool parses = isdigit((unsigned char)f->what[1]) && isdigit((unsigned char)f->what[2]) &&
                  (f->what[3] == ' ' || f->what[3] == '\0');
    /* RFC 4976 6.4.3 (SHOULD): a response whose first To-Path URI is not ours is dropped. */
    char tp[1024] = "";
    hget(b, f, "To-Path", tp, sizeof tp);
    if (parses && own_prefix(tp) == 0 && !viol("take-misaddressed-response"))
        return;
    if (!parses) {
        for (unsigned k = 0; k < MAXP && viol("forward-bad-response"); k++)
            if (R.p[k].used && strcmp(R.p[k].tid, f->tid) == 0 && R.c[R.p[k].from].fd >= 0)
                put(R.p[k].from, b, f->len);
        return;
    }
    for (unsigned k = 0; k < MAXP; k++) {
        struct pending *p = &R.p[k];
        if (!p->used || strcmp(p->tid, f->tid) != 0)
            continue;
        p->used = false;
        if (code < 300 || viol("no-failure-report"))
            return;
        report_back(p, f->what);
        return;
    }
}

/* The value of header name in an HTTP head (case-insensitive), or false. */
static bool head_get(const char *head, const char *name, char *v, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *q = strstr(head, "\r\n"); q != NULL; q = strstr(q + 2, "\r\n")) {
        if (strncasecmp(q + 2, name, nl) == 0 && q[2 + nl] == ':') {
            const char *s = q + 3 + nl;
            s += strspn(s, " ");
            snprintf(v, cap, "%.*s", (int)strcspn(s, "\r\n"), s);
            return true;
        }
    }
    return false;
}

/* The upgrade: 101 with the accept key and subprotocol msrp (RFC 7977 4.1), and
 * Access-Control-Allow-Origin when the request has Origin (7). False: not whole yet, or gone. */
static bool ws_upgrade(int i)
{
    struct rconn *c = &R.c[i];
    c->hs[c->hs_len] = '\0';
    char *eoh = strstr(c->hs, "\r\n\r\n");
    if (eoh == NULL) {
        if (c->hs_len + 1 >= sizeof c->hs)
            closeconn(i);
        return false;
    }
    char key[128], origin[256], accept[32], resp[512];
    if (!head_get(c->hs, "Sec-WebSocket-Key", key, sizeof key)) {
        closeconn(i);
        return false;
    }
    net_ws_accept_key(key, accept);
    bool has_origin = head_get(c->hs, "Origin", origin, sizeof origin);
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%s\r\n",
                     accept, viol("ws-no-msrp-101") ? "" : "Sec-WebSocket-Protocol: msrp\r\n",
                     has_origin && !viol("ws-no-cors") ? "Access-Control-Allow-Origin: *\r\n"
                                                       : "");
    put_raw(i, resp, (size_t)n);
    size_t head = (size_t)(eoh + 4 - c->hs), extra = c->hs_len - head;
    memcpy(c->wsin, c->hs + head, extra);
    c->wsin_len = extra;
    c->ws_up = true;
    return true;
}

/* Takes the whole client frames of c->wsin: their unmasked payloads go to c->buf as bytes
 * (text and binary alike, RFC 7977 4.2; continuations appended, so a fragmented message is
 * put together). False when the connection is gone. */
static bool ws_frames(int i)
{
    struct rconn *c = &R.c[i];
    for (;;) {
        if (c->wsin_len < 2)
            return true;
        unsigned char *h = c->wsin;
        unsigned op = h[0] & 0x0f;
        bool fin = (h[0] & 0x80) != 0, masked = (h[1] & 0x80) != 0;
        uint64_t plen = h[1] & 0x7f;
        size_t hl = 2 + (plen == 126 ? 2 : plen == 127 ? 8 : 0) + (masked ? 4 : 0);
        if (c->wsin_len < hl)
            return true;
        if (plen == 126) {
            plen = (uint64_t)h[2] << 8 | h[3];
        } else if (plen == 127) {
            plen = 0;
            for (int k = 0; k < 8; k++)
                plen = plen << 8 | h[2 + k];
        }
        if (plen > BUFSZ - 16) {
            closeconn(i);
            return false;
        }
        if (c->wsin_len < hl + plen)
            return true;
        unsigned char *pl = h + hl;
        if (masked)
            for (uint64_t k = 0; k < plen; k++)
                pl[k] ^= h[hl - 4 + (k & 3)];
        bool refuse = op == 0x8 || (op == 0x1 && viol("ws-refuse-text")) ||
                      ((op == 0x0 || !fin) && op < 0x8 && viol("ws-no-fragments")) ||
                      (op == 0x2 && viol("ws-refuse-binary-send") && plen > 5 &&
                       memmem(pl, plen < 80 ? plen : 80, " SEND\r\n", 7) != NULL);
        if (refuse) {
            closeconn(i);
            return false;
        }
        if (op == 0x9)
            put_frame(i, 0xA, (const char *)pl, plen);
        if (op <= 0x2) {
            if (c->len + plen > BUFSZ) {
                closeconn(i);
                return false;
            }
            memcpy(c->buf + c->len, pl, plen);
            c->len += plen;
        }
        size_t used = hl + plen;
        memmove(c->wsin, c->wsin + used, c->wsin_len - used);
        c->wsin_len -= used;
    }
}

static bool ws_read(int i)
{
    struct rconn *c = &R.c[i];
    char tmp[BUFSZ];
    size_t room = c->ws_up ? BUFSZ - c->wsin_len : sizeof c->hs - 1 - c->hs_len;
    if (room > sizeof tmp)
        room = sizeof tmp;
    ssize_t n = room > 0 ? recv(c->fd, tmp, room, 0) : -1;
    if (n <= 0) {
        closeconn(i);
        return false;
    }
    if (!c->ws_up) {
        memcpy(c->hs + c->hs_len, tmp, (size_t)n);
        c->hs_len += (size_t)n;
        if (!ws_upgrade(i))
            return false;
    } else {
        memcpy(c->wsin + c->wsin_len, tmp, (size_t)n);
        c->wsin_len += (size_t)n;
    }
    return ws_frames(i);
}

static void on_readable(int i)
{
    struct rconn *c = &R.c[i];
    if (R.ws) {
        if (!ws_read(i))
            return;
    } else {
        ssize_t n = recv(c->fd, c->buf + c->len, BUFSZ - c->len, 0);
        if (n <= 0) {
            closeconn(i);
            return;
        }
        c->len += (size_t)n;
    }
    while (c->fd >= 0 && c->len > 0) {
        struct frame f;
        int r = split(c->buf, c->len, &f);
        if (r == 0)
            return;
        if (r < 0) {
            if (viol("keep-malformed-open"))
                c->len = 0;
            else
                closeconn(i);
            return;
        }
        if (isdigit((unsigned char)f.what[0]))
            on_response(c->buf, &f);
        else if (strncmp(f.what, "AUTH", 4) == 0 && (f.what[4] == '\0' || f.what[4] == ' '))
            on_auth(i, c->buf, &f);
        else
            on_request(i, c->buf, &f);
        size_t used = f.len + R.skip;
        R.skip = 0;
        memmove(c->buf, c->buf + used, c->len - used);
        c->len -= used;
    }
}

static void serve_forever(void)
{
    for (int i = 0; i < MAXC; i++)
        R.c[i].fd = -1;
    for (;;) {
        struct pollfd pf[MAXC + 1];
        int idx[MAXC + 1], n = 0;
        pf[n] = (struct pollfd){.fd = R.lis, .events = POLLIN};
        idx[n++] = -1;
        for (int i = 0; i < MAXC; i++)
            if (R.c[i].fd >= 0) {
                pf[n] = (struct pollfd){.fd = R.c[i].fd, .events = POLLIN};
                idx[n++] = i;
            }
        int ready = poll(pf, (nfds_t)n, 250);
        expire_pending();
        if (ready <= 0)
            continue;
        for (int k = 0; k < n; k++) {
            if (pf[k].revents == 0)
                continue;
            if (idx[k] >= 0) {
                if (R.c[idx[k]].fd == pf[k].fd)
                    on_readable(idx[k]);
                continue;
            }
            int fd = accept(R.lis, NULL, NULL);
            if (fd < 0)
                continue;
            int i = 0;
            while (i < MAXC && R.c[i].fd >= 0)
                i++;
            if (i == MAXC) {
                close(fd);
                continue;
            }
            memset(&R.c[i], 0, offsetof(struct rconn, buf));
            R.c[i].fd = fd;
        }
    }
}

static pid_t start(const char *violation, uint16_t *port, bool ws)
{
    if (violation == NULL)
        violation = "";
    bool alternative = false;
    for (unsigned i = 0; alternatives[i] != NULL; i++)
        alternative = alternative || strcmp(alternatives[i], violation) == 0;
    if (violation[0] != '\0' && !alternative && !fake_relay_known_violation(violation))
        return -1;
    int lis = socket(AF_INET, SOCK_STREAM, 0);
    if (lis < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(lis, (struct sockaddr *)&a, sizeof a) != 0 || listen(lis, 16) != 0 ||
        getsockname(lis, (struct sockaddr *)&a, &al) != 0) {
        close(lis);
        return -1;
    }
    *port = ntohs(a.sin_port);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* The child must not outlive a test that dies before stopping it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        R.lis = lis;
        R.port = *port;
        R.viol = violation;
        R.ws = ws;
        snprintf(R.me, sizeof R.me, "msrp://127.0.0.1:%u", R.port);
        snprintf(R.name, sizeof R.name, "msrp://relay.msrpload.test:%u", R.port);
        serve_forever();
        _exit(0);
    }
    close(lis);
    return pid;
}

pid_t fake_relay_start(const char *violation, uint16_t *port)
{
    return start(violation, port, false);
}

pid_t fake_relay_start_ws(const char *violation, uint16_t *port)
{
    return start(violation, port, true);
}

void fake_relay_stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
}
