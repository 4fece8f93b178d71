/*
 * check_relay_ws.c - the Kamailio relay's WebSocket side (tools/relay/, RFC 7977), probed with
 * a tiny raw WebSocket client written here: blocking sockets on 127.0.0.1, the HTTP upgrade by
 * hand, masked client frames. It is test code only (msrpload's own WebSocket transport lives
 * in src/net/); it touches no library code and reads only the relay that testutil starts.
 *
 * RFC 6455 is not in the repository: the framing facts used here are from memory of it and say
 * so where used (the accept key is checked against the example in RFC 7977 4.1, which is).
 * Every read is bounded by SO_RCVTIMEO and every loop by a count.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "suites.h"
#include "testutil.h"

#define REALM "msrpload.test"
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" /* RFC 6455 1.3 (from memory) */
#define READ_TIMEOUT_S 5
#define MAX_READS 200

/* RFC 6455 5.2 opcodes (from memory) */
enum { OP_CONT = 0x0, OP_TEXT = 0x1, OP_BINARY = 0x2, OP_CLOSE = 0x8, OP_PING = 0x9, OP_PONG = 0xA };

/* One MSRP peer of the relay: over WebSocket (each MSRP frame one WS message) or plain TCP. */
struct peer {
    int fd;
    bool ws;
    char in[65536]; /* TCP: bytes read but not yet returned as frames */
    size_t inlen;
    char uri[128]; /* its own MSRP URI (From-Path) */
    char use_path[192];
};

static struct test_relay K;

/* ---- sockets ------------------------------------------------------------------------------- */

static int connect_loopback(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct timeval tv = {.tv_sec = READ_TIMEOUT_S};
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_msg(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0, "connect to %u",
                  (unsigned)port);
    return fd;
}

/* False when the peer is gone (the relay closed the connection). */
static bool try_send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static void send_all(int fd, const void *buf, size_t len)
{
    ck_assert_msg(try_send_all(fd, buf, len), "send failed: %s", strerror(errno));
}

/* Exactly len bytes, or false on EOF / error / timeout. */
static bool recv_exact(int fd, unsigned char *buf, size_t len)
{
    size_t got = 0;
    for (int i = 0; got < len && i < MAX_READS; i++) {
        ssize_t n = recv(fd, buf + got, len - got, 0);
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return got == len;
}

/* ---- the WebSocket handshake ---------------------------------------------------------------- */

/* Sec-WebSocket-Accept = base64(SHA-1(key + GUID)) (RFC 6455 4.2.2, from memory). */
static void accept_key(const char *key, char out[32])
{
    char in[128];
    int n = snprintf(in, sizeof(in), "%s%s", key, WS_GUID);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    ck_assert_int_eq(EVP_Digest(in, (size_t)n, md, &mdlen, EVP_sha1(), NULL), 1);
    ck_assert_int_eq(EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen), 28);
}

/* Sends the upgrade (protocol NULL: no Sec-WebSocket-Protocol) and reads the response head. */
static int ws_upgrade(uint16_t port, const char *protocol, char *head, size_t cap, char key[32])
{
    unsigned char raw[16];
    ck_assert_int_eq(RAND_bytes(raw, sizeof(raw)), 1);
    EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
    int fd = connect_loopback(port);
    char req[512], proto[64] = "";
    if (protocol != NULL)
        snprintf(proto, sizeof(proto), "Sec-WebSocket-Protocol: %s\r\n", protocol);
    int n = snprintf(req, sizeof(req),
                     "GET / HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n%s"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     (unsigned)port, key, proto);
    send_all(fd, req, (size_t)n);
    /* one byte at a time: nothing after the head may be swallowed */
    size_t len = 0;
    while (len + 1 < cap && (len < 4 || memcmp(head + len - 4, "\r\n\r\n", 4) != 0)) {
        if (!recv_exact(fd, (unsigned char *)head + len, 1))
            break;
        len++;
    }
    head[len] = '\0';
    return fd;
}

/* The value of header name in an HTTP head, or "" (case-insensitive name). */
static void http_header(const char *head, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = strcspn(v, "\r");
            snprintf(out, cap, "%.*s", (int)vl, v);
            return;
        }
    }
}

/* A WebSocket peer with subprotocol msrp, the 101 checked (RFC 7977 4.1). */
static void ws_open(struct peer *p, uint16_t port)
{
    memset(p, 0, sizeof(*p));
    char head[2048], key[32], want[32], v[128];
    p->fd = ws_upgrade(port, "msrp", head, sizeof(head), key);
    p->ws = true;
    ck_assert_msg(strncmp(head, "HTTP/1.1 101 ", 13) == 0, "no 101: %s", head);
    http_header(head, "Sec-WebSocket-Protocol", v, sizeof(v));
    ck_assert_str_eq(v, "msrp");
    accept_key(key, want);
    http_header(head, "Sec-WebSocket-Accept", v, sizeof(v));
    ck_assert_str_eq(v, want);
}

static void tcp_open(struct peer *p, uint16_t port)
{
    memset(p, 0, sizeof(*p));
    p->fd = connect_loopback(port);
}

/* ---- WebSocket frames ----------------------------------------------------------------------- */

/* One frame, masked as every client frame must be (RFC 6455 5.3, from memory); false when
 * the connection is gone. */
static bool ws_try_send_frame(int fd, int opcode, bool fin, const char *data, size_t len)
{
    unsigned char hdr[14], mask[4];
    size_t h = 0;
    hdr[h++] = (unsigned char)((fin ? 0x80 : 0) | opcode);
    if (len < 126) {
        hdr[h++] = (unsigned char)(0x80 | len);
    } else if (len <= 0xffff) {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (unsigned char)(len >> 8);
        hdr[h++] = (unsigned char)len;
    } else {
        hdr[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            hdr[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    ck_assert_int_eq(RAND_bytes(mask, sizeof(mask)), 1);
    memcpy(hdr + h, mask, 4);
    h += 4;
    char *masked = malloc(len + 1);
    ck_assert_ptr_nonnull(masked);
    for (size_t i = 0; i < len; i++)
        masked[i] = (char)(data[i] ^ mask[i % 4]);
    bool ok = try_send_all(fd, hdr, h) && try_send_all(fd, masked, len);
    free(masked);
    return ok;
}

static void ws_send_frame(int fd, int opcode, bool fin, const char *data, size_t len)
{
    ck_assert_msg(ws_try_send_frame(fd, opcode, fin, data, len), "send failed: %s",
                  strerror(errno));
}

/*
 * The next data message (frames joined), its payload NUL-terminated in out. Server frames are
 * not masked (RFC 6455 5.1, from memory); a ping is answered with a pong. Returns the length,
 * or -1 on EOF, timeout or a close frame (*closed says which of those two).
 */
static long ws_recv_message(int fd, char *out, size_t cap, int *opcode, bool *close_frame)
{
    size_t len = 0;
    *opcode = -1;
    if (close_frame != NULL)
        *close_frame = false;
    for (int frames = 0; frames < 64; frames++) {
        unsigned char h[8];
        if (!recv_exact(fd, h, 2))
            return -1;
        ck_assert_msg((h[1] & 0x80) == 0, "a server frame is masked");
        bool fin = (h[0] & 0x80) != 0;
        int op = h[0] & 0x0f;
        uint64_t n = h[1] & 0x7f;
        if (n == 126 || n == 127) {
            size_t ext = n == 126 ? 2 : 8;
            if (!recv_exact(fd, h, ext))
                return -1;
            n = 0;
            for (size_t i = 0; i < ext; i++)
                n = n << 8 | h[i];
        }
        ck_assert_uint_lt(len + n, cap);
        if (!recv_exact(fd, (unsigned char *)out + len, (size_t)n))
            return -1;
        if (op == OP_CLOSE) {
            if (close_frame != NULL)
                *close_frame = true;
            return -1;
        }
        if (op == OP_PING) {
            ws_send_frame(fd, OP_PONG, true, out + len, (size_t)n);
            continue;
        }
        if (op != OP_CONT)
            *opcode = op;
        len += (size_t)n;
        if (fin) {
            out[len] = '\0';
            return (long)len;
        }
    }
    return -1;
}

/* ---- MSRP over either ----------------------------------------------------------------------- */

static void peer_send(struct peer *p, const char *msrp)
{
    if (p->ws)
        ws_send_frame(p->fd, OP_TEXT, true, msrp, strlen(msrp));
    else
        send_all(p->fd, msrp, strlen(msrp));
}

/* Length of the first whole MSRP frame in buf (end-line "-------TID" + $#+ CRLF), or 0. */
static size_t msrp_frame_len(const char *buf, size_t len)
{
    char tid[64];
    if (len < 10 || sscanf(buf, "MSRP %63s", tid) != 1)
        return 0;
    char end[80];
    int el = snprintf(end, sizeof(end), "\r\n-------%s", tid);
    for (size_t i = 0; i + (size_t)el + 3 <= len; i++)
        if (memcmp(buf + i, end, (size_t)el) == 0 && strchr("$#+", buf[i + el]) != NULL &&
            memcmp(buf + i + el + 1, "\r\n", 2) == 0)
            return i + (size_t)el + 3;
    return 0;
}

/* The next MSRP frame for p into out (NUL-terminated); false on EOF or timeout. */
static bool peer_recv(struct peer *p, char *out, size_t cap)
{
    if (p->ws) {
        int op;
        long n = ws_recv_message(p->fd, out, cap, &op, NULL);
        if (n < 0)
            return false;
        ck_assert_msg(op == OP_TEXT || op == OP_BINARY, "opcode %d", op);
        ck_assert_msg(msrp_frame_len(out, (size_t)n) == (size_t)n,
                      "not exactly one MSRP frame in a WS message: %s", out);
        return true;
    }
    for (int i = 0; i < MAX_READS; i++) {
        size_t fl = msrp_frame_len(p->in, p->inlen);
        if (fl > 0) {
            ck_assert_uint_lt(fl, cap);
            memcpy(out, p->in, fl);
            out[fl] = '\0';
            memmove(p->in, p->in + fl, p->inlen - fl);
            p->inlen -= fl;
            return true;
        }
        ck_assert_uint_lt(p->inlen, sizeof(p->in));
        ssize_t n = recv(p->fd, p->in + p->inlen, sizeof(p->in) - p->inlen, 0);
        if (n <= 0)
            return false;
        p->inlen += (size_t)n;
    }
    return false;
}

static void peer_recv_ok(struct peer *p, char *out, size_t cap, const char *what)
{
    ck_assert_msg(peer_recv(p, out, cap), "%s: nothing came (EOF or %d s)", what, READ_TIMEOUT_S);
}

/* The value of MSRP header name in frame, or "". */
static void msrp_header(const char *frame, const char *name, char *out, size_t cap)
{
    http_header(frame, name, out, cap);
}

static void md5_hex(const char *s, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    ck_assert_int_eq(EVP_Digest(s, strlen(s), md, &mdlen, EVP_md5(), NULL), 1);
    for (unsigned i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/*
 * AUTH (RFC 4976 5, digest per RFC 2617 3.2.2) to the relay at relay_uri: the first gets 401
 * with a challenge, the second 200 with Use-Path, kept in p->use_path. The AUTH with
 * credentials goes in a binary frame over WS: RFC 7977 4.2 says servers MUST accept both.
 */
static void peer_auth(struct peer *p, const char *relay_uri, const char *user, const char *pass)
{
    char msg[2048], in[4096], v[512];
    snprintf(msg, sizeof(msg), "MSRP au1 AUTH\r\nTo-Path: %s\r\nFrom-Path: %s\r\n-------au1$\r\n",
             relay_uri, p->uri);
    peer_send(p, msg);
    peer_recv_ok(p, in, sizeof(in), "AUTH 1");
    ck_assert_msg(strncmp(in, "MSRP au1 401 ", 13) == 0, "first AUTH: %s", in);
    msrp_header(in, "WWW-Authenticate", v, sizeof(v));
    const char *np = strstr(v, "nonce=\"");
    ck_assert_msg(np != NULL, "no nonce: %s", in);
    char nonce[128];
    snprintf(nonce, sizeof(nonce), "%.*s", (int)strcspn(np + 7, "\""), np + 7);

    char buf[512], ha1[33], ha2[33], resp[33];
    snprintf(buf, sizeof(buf), "%s:%s:%s", user, REALM, pass);
    md5_hex(buf, ha1);
    snprintf(buf, sizeof(buf), "AUTH:%s", relay_uri);
    md5_hex(buf, ha2);
    snprintf(buf, sizeof(buf), "%s:%s:00000001:wsprobe:auth:%s", ha1, nonce, ha2);
    md5_hex(buf, resp);
    int n = snprintf(msg, sizeof(msg),
                     "MSRP au2 AUTH\r\nTo-Path: %s\r\nFrom-Path: %s\r\n"
                     "Authorization: Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", "
                     "uri=\"%s\", response=\"%s\", qop=auth, nc=00000001, cnonce=\"wsprobe\"\r\n"
                     "-------au2$\r\n",
                     relay_uri, p->uri, user, REALM, nonce, relay_uri, resp);
    if (p->ws)
        ws_send_frame(p->fd, OP_BINARY, true, msg, (size_t)n);
    else
        send_all(p->fd, msg, (size_t)n);
    peer_recv_ok(p, in, sizeof(in), "AUTH 2");
    ck_assert_msg(strncmp(in, "MSRP au2 200 ", 13) == 0, "second AUTH: %s", in);
    msrp_header(in, "Use-Path", p->use_path, sizeof(p->use_path));
    ck_assert_msg(strncmp(p->use_path, "msrp://127.0.0.1:", 17) == 0, "Use-Path: %s", in);
}

/* A SEND from `from` to `to` through both relay sessions (RFC 4976 full path). */
static int format_send(char *out, size_t cap, const struct peer *from, const struct peer *to,
                       const char *tid, const char *body)
{
    return snprintf(out, cap,
                    "MSRP %s SEND\r\nTo-Path: %s %s %s\r\nFrom-Path: %s\r\nMessage-ID: m-%s\r\n"
                    "Byte-Range: 1-%zu/%zu\r\nContent-Type: text/plain\r\n\r\n%s\r\n-------%s$\r\n",
                    tid, from->use_path, to->use_path, to->uri, from->uri, tid, strlen(body),
                    strlen(body), body, tid);
}

/* The body of a SEND frame (between the blank line and the end-line) equals body. */
static void assert_body(const char *frame, const char *tid, const char *body)
{
    const char *b = strstr(frame, "\r\n\r\n");
    ck_assert_msg(b != NULL, "no body: %s", frame);
    b += 4;
    char end[80];
    snprintf(end, sizeof(end), "\r\n-------%s$", tid);
    const char *e = strstr(b, end);
    ck_assert_msg(e != NULL, "no end-line: %s", frame);
    ck_assert_int_eq((int)(e - b), (int)strlen(body));
    ck_assert(memcmp(b, body, strlen(body)) == 0);
}

/* from sends, the relay answers 200 hop-by-hop, to gets the SEND with the same body. */
static void assert_relayed(struct peer *from, struct peer *to, const char *tid, const char *body)
{
    char msg[4096], in[8192], want[96];
    format_send(msg, sizeof(msg), from, to, tid, body);
    peer_send(from, msg);
    peer_recv_ok(to, in, sizeof(in), "the relayed SEND");
    snprintf(want, sizeof(want), "MSRP %s SEND\r\n", tid);
    ck_assert_msg(strncmp(in, want, strlen(want)) == 0, "receiver got: %s", in);
    char v[256];
    msrp_header(in, "To-Path", v, sizeof(v));
    ck_assert_str_eq(v, to->uri);
    assert_body(in, tid, body);
    peer_recv_ok(from, in, sizeof(in), "the 200");
    snprintf(want, sizeof(want), "MSRP %s 200 ", tid);
    ck_assert_msg(strncmp(in, want, strlen(want)) == 0, "sender got: %s", in);
    msrp_header(in, "To-Path", v, sizeof(v));
    ck_assert_str_eq(v, from->uri);
}

static void peer_close(struct peer *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

/* An authenticated WS peer (alice) and TCP peer (bob). */
static void two_peers(struct peer *ws, struct peer *tcp)
{
    char relay[64];
    snprintf(relay, sizeof(relay), "msrp://127.0.0.1:%u;tcp", (unsigned)K.port);
    ws_open(ws, K.ws_port);
    snprintf(ws->uri, sizeof(ws->uri), "msrp://wsprobe%d.invalid:2855/a1;ws", rand() % 10000);
    peer_auth(ws, relay, "alice", "alice-secret");
    tcp_open(tcp, K.port);
    snprintf(tcp->uri, sizeof(tcp->uri), "msrp://127.0.0.1:9/b1;tcp");
    peer_auth(tcp, relay, "bob", "bob-secret");
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void relay_setup(void)
{
    test_relay_start(&K, false, "");
}

static void relay_teardown(void)
{
    test_relay_stop(&K);
}

START_TEST(test_accept_key_example)
{
    /* the handshake example of RFC 7977 4.1 */
    char out[32];
    accept_key("dGhlIHNhbXBsZSBub25jZQ==", out);
    ck_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}
END_TEST

START_TEST(test_ws_handshake)
{
    if (test_relay_ws_skip(&K, "relay_ws_handshake"))
        return;
    struct peer p;
    ws_open(&p, K.ws_port); /* asserts 101, "msrp", the accept key (RFC 7977 4.1) */
    peer_close(&p);

    /* No subprotocol offered: RFC 7977 4.1 says the client MUST offer msrp, so the server's
     * answer is not prescribed; it must not claim a subprotocol nobody offered. */
    char head[2048], key[32], v[128];
    int fd = ws_upgrade(K.ws_port, NULL, head, sizeof(head), key);
    close(fd);
    ck_assert_msg(strncmp(head, "HTTP/1.1 ", 9) == 0, "no HTTP answer: %s", head);
    http_header(head, "Sec-WebSocket-Protocol", v, sizeof(v));
    if (strncmp(head, "HTTP/1.1 101 ", 13) == 0)
        ck_assert_str_eq(v, "");
    fprintf(stderr, "relay_ws_handshake: observed without a subprotocol: %.*s (Sec-WebSocket-"
                    "Protocol: %s)\n", (int)strcspn(head, "\r"), head, v);
}
END_TEST

START_TEST(test_ws_auth)
{
    if (test_relay_ws_skip(&K, "relay_ws_auth"))
        return;
    struct peer a, b;
    two_peers(&a, &b); /* asserts 401 then 200 + Use-Path, for each */
    /* the WS client's session is reachable through the relay's TCP port (RFC 7977 8.1.1) */
    char want[64];
    snprintf(want, sizeof(want), "msrp://127.0.0.1:%u/", (unsigned)K.port);
    ck_assert_msg(strncmp(a.use_path, want, strlen(want)) == 0, "%s", a.use_path);
    peer_close(&a);
    peer_close(&b);
}
END_TEST

START_TEST(test_ws_tcp_both_ways)
{
    if (test_relay_ws_skip(&K, "relay_ws_tcp_both_ways"))
        return;
    struct peer a, b;
    two_peers(&a, &b);
    assert_relayed(&a, &b, "ws2tcp1", "from the WebSocket side");
    assert_relayed(&b, &a, "tcp2ws1", "and back from the TCP side");
    peer_close(&a);
    peer_close(&b);
}
END_TEST

/*
 * The short path (To-Path: the session's URI, then its owner's: RFC 4976 as the relay reads
 * it, see tools/relay/kamailio.cfg) to the WS client's session, by the TCP peer: tid's answer.
 */
static void send_short_path(struct peer *from, const struct peer *to, const char *tid,
                            char *answer, size_t cap)
{
    char msg[2048];
    snprintf(msg, sizeof(msg),
             "MSRP %s SEND\r\nTo-Path: %s %s\r\nFrom-Path: %s\r\nMessage-ID: m-%s\r\n"
             "Byte-Range: 1-2/2\r\nContent-Type: text/plain\r\n\r\nhi\r\n-------%s$\r\n",
             tid, to->use_path, to->uri, from->uri, tid, tid);
    peer_send(from, msg);
    peer_recv_ok(from, answer, cap, "the answer to the short-path SEND");
}

START_TEST(test_ws_close_forgets_session)
{
    if (test_relay_ws_skip(&K, "relay_ws_close_forgets_session"))
        return;
    /* the config's websocket/tcp closed event routes drop the session of a closed WS client */
    struct peer a, b;
    two_peers(&a, &b);
    char in[4096];
    send_short_path(&b, &a, "open1", in, sizeof(in));
    ck_assert_msg(strncmp(in, "MSRP open1 200 ", 15) == 0, "while open: %s", in);
    peer_recv_ok(&a, in, sizeof(in), "the short-path SEND");
    assert_body(in, "open1", "hi");
    peer_close(&a);
    bool gone = false;
    for (int i = 0; i < 30 && !gone; i++) {
        char tid[16];
        snprintf(tid, sizeof(tid), "gone%d", i);
        send_short_path(&b, &a, tid, in, sizeof(in));
        gone = strstr(in, " 481 ") != NULL;
        if (!gone)
            usleep(100 * 1000); /* the close event runs in another Kamailio process */
    }
    ck_assert_msg(gone, "the session outlived its WebSocket connection: %s", in);
    peer_close(&b);
}
END_TEST

/* After a frame broke RFC 7977 5.1 on one connection, new peers still get relayed. */
static void assert_relay_still_works(void)
{
    struct peer a, b;
    two_peers(&a, &b);
    assert_relayed(&a, &b, "after1", "still relaying");
    peer_close(&a);
    peer_close(&b);
}

/*
 * What bob gets within a second after alice's malformed sending: nothing, or whole SEND frames
 * carrying exactly the bodies sent (never a piece of a chunk). Returns how many came.
 */
static int frames_reaching(struct peer *bob, const char *const *tids, const char *const *bodies,
                           int count)
{
    struct timeval tv = {.tv_sec = 1};
    ck_assert_int_eq(setsockopt(bob->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    char in[8192];
    int got = 0;
    while (got < count && peer_recv(bob, in, sizeof(in))) {
        bool known = false;
        for (int i = 0; i < count; i++) {
            char want[96];
            snprintf(want, sizeof(want), "MSRP %s SEND\r\n", tids[i]);
            if (strncmp(in, want, strlen(want)) == 0) {
                assert_body(in, tids[i], bodies[i]);
                known = true;
            }
        }
        ck_assert_msg(known, "bob got a frame nobody sent whole: %s", in);
        got++;
    }
    return got;
}

/* How alice's connection ended up: "open", "closed with a Close frame" or "closed (TCP)". */
static const char *ws_state_after(struct peer *alice, char *answer, size_t cap)
{
    struct timeval tv = {.tv_sec = 3};
    ck_assert_int_eq(setsockopt(alice->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    int op;
    bool close_frame;
    answer[0] = '\0';
    errno = 0; /* recv() leaves it alone on EOF */
    long n = ws_recv_message(alice->fd, answer, cap, &op, &close_frame);
    if (n >= 0)
        return "answered";
    if (close_frame)
        return "closed with a Close frame";
    return errno == EAGAIN || errno == EWOULDBLOCK ? "open, silent" : "closed (TCP, no Close)";
}

START_TEST(test_ws_chunk_split_across_messages)
{
    if (test_relay_ws_skip(&K, "relay_ws_chunk_split"))
        return;
    /* RFC 7977 5.1: each chunk MUST be in one WS message; this sender breaks it. The RFC says
     * nothing of the receiver, so only "no piece of a chunk is passed on" is asserted. */
    struct peer a, b;
    two_peers(&a, &b);
    char msg[4096], answer[4096];
    int n = format_send(msg, sizeof(msg), &a, &b, "split1", "one chunk in two messages");
    ws_send_frame(a.fd, OP_TEXT, true, msg, 60);
    usleep(200 * 1000);
    bool second = ws_try_send_frame(a.fd, OP_TEXT, true, msg + 60, (size_t)n - 60);
    const char *tids[] = {"split1"}, *bodies[] = {"one chunk in two messages"};
    int got = frames_reaching(&b, tids, bodies, 1);
    const char *state = ws_state_after(&a, answer, sizeof(answer));
    fprintf(stderr, "relay_ws_chunk_split: observed: second part %s; bob got %d frame(s); "
                    "alice's connection: %s %.40s\n",
            second ? "sent" : "refused (connection already closed)", got, state, answer);
    peer_close(&a);
    peer_close(&b);
    assert_relay_still_works();
}
END_TEST

START_TEST(test_ws_two_chunks_in_one_message)
{
    if (test_relay_ws_skip(&K, "relay_ws_two_chunks"))
        return;
    /* RFC 7977 5.1: a WS message MUST NOT contain more than one chunk; this sender breaks it. */
    struct peer a, b;
    two_peers(&a, &b);
    char msg[8192], answer[4096];
    int n1 = format_send(msg, sizeof(msg), &a, &b, "two1", "first of two");
    format_send(msg + n1, sizeof(msg) - (size_t)n1, &a, &b, "two2", "second of two");
    ws_send_frame(a.fd, OP_TEXT, true, msg, strlen(msg));
    const char *tids[] = {"two1", "two2"}, *bodies[] = {"first of two", "second of two"};
    int got = frames_reaching(&b, tids, bodies, 2);
    const char *state = ws_state_after(&a, answer, sizeof(answer));
    fprintf(stderr, "relay_ws_two_chunks: observed: bob got %d frame(s); alice's connection: "
                    "%s %.40s\n", got, state, answer);
    peer_close(&a);
    peer_close(&b);
    assert_relay_still_works();
}
END_TEST

START_TEST(test_ws_fragmented_message)
{
    if (test_relay_ws_skip(&K, "relay_ws_fragmented"))
        return;
    /* One chunk in ONE WebSocket message sent as two frames (a text frame without FIN, then a
     * continuation: RFC 6455 5.4 fragmentation, from memory). RFC 7977 5.1 is kept, so the
     * relay should pass it on; Kamailio 5.6.3 does not (tools/relay/README.md): recorded, not
     * asserted, beyond "no piece of a chunk is passed on". */
    struct peer a, b;
    two_peers(&a, &b);
    char msg[4096], answer[4096];
    int n = format_send(msg, sizeof(msg), &a, &b, "frag1", "one message, two frames");
    ws_send_frame(a.fd, OP_TEXT, false, msg, 60);
    ws_send_frame(a.fd, OP_CONT, true, msg + 60, (size_t)n - 60);
    const char *tids[] = {"frag1"}, *bodies[] = {"one message, two frames"};
    int got = frames_reaching(&b, tids, bodies, 1);
    const char *state = ws_state_after(&a, answer, sizeof(answer));
    fprintf(stderr, "relay_ws_fragmented: observed: bob got %d frame(s); alice's connection: "
                    "%s %.40s\n", got, state, answer);
    peer_close(&a);
    peer_close(&b);
    assert_relay_still_works();
}
END_TEST

Suite *make_relay_ws_suite(void)
{
    Suite *s = suite_create("relay_ws");
    TCase *tu = tcase_create("Unit");
    tcase_add_test(tu, test_accept_key_example);
    suite_add_tcase(s, tu);

    TCase *tk = tcase_create("Kamailio");
    tcase_set_timeout(tk, 60);
    tcase_add_unchecked_fixture(tk, relay_setup, relay_teardown);
    tcase_add_test(tk, test_ws_handshake);
    tcase_add_test(tk, test_ws_auth);
    tcase_add_test(tk, test_ws_tcp_both_ways);
    tcase_add_test(tk, test_ws_close_forgets_session);
    tcase_add_test(tk, test_ws_chunk_split_across_messages);
    tcase_add_test(tk, test_ws_two_chunks_in_one_message);
    tcase_add_test(tk, test_ws_fragmented_message);
    suite_add_tcase(s, tk);
    return s;
}
