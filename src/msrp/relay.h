/*
 * relay.h - the client side of RFC 4976 relay authentication (AUTH), on its own connection.
 *
 * msrp_relay_auth_start() connects to a relay and walks the AUTH exchange:
 *
 *   1. AUTH with To-Path = the relay URI, From-Path = our URI, Expires when one is asked for.
 *   2. 401 with WWW-Authenticate: the challenge is answered (RFC 2617 digest, method "AUTH",
 *      digest-uri = the relay URI exactly as in To-Path, nc counted from 1 per nonce) in a new
 *      AUTH. A 401 to an answer ends in failure ("authentication rejected"), unless the new
 *      challenge says stale=true: that one is answered once more.
 *   3. 423 with Min-Expires (or Max-Expires): the AUTH is sent once more with that value (and
 *      the digest answer, nc + 1, when a challenge is known); a second 423 is a failure.
 *   4. 200: Use-Path (a URI list, checked) and Expires are returned: success.
 *   403 ("forbidden (wrong user or password?)"), any other status, a malformed or incomplete
 *   answer, a closed or failed connection and the overall timeout are failures.
 *
 * The outcome arrives exactly once, through done(), from a loop callback (never from inside
 * msrp_relay_auth_start()), unless msrp_relay_auth_cancel() comes first. The auth object is
 * freed right after done() returns: drop the pointer there.
 *
 * Connection hand-over (success only): r->conn is the authenticated connection and belongs to
 * the caller from the moment done() is called. Before done() the module has already detached
 * itself: the connection's user is NULL and its handlers are a parking set whose on_data
 * consumes nothing (bytes that arrive wait in the connection's buffer) and whose on_close does
 * nothing. The caller must, inside done(), either adopt it (net_conn_set_handlers() and
 * net_conn_set_user(), e.g. by handing it to a session) or close it (net_conn_close()); if it
 * keeps the pointer without setting handlers it is not told when the connection closes. Bytes
 * the relay sent after the 200 in the same read stay buffered and are offered to the new
 * on_data with the next read. On failure r->conn is NULL and the connection is already closed.
 *
 * Secrets: the password is used only to compute the digest answer (it is never copied into
 * the auth object beyond the config's pointer, which must stay valid until done(), and never
 * written into any text); error texts name the relay URI and the user only.
 *
 * Thread safety: an auth belongs to its loop's thread. Transaction ids come from a per-thread
 * generator.
 */
#ifndef MSRPLOAD_MSRP_RELAY_H
#define MSRPLOAD_MSRP_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "msrp/trace.h"
#include "net/conn.h"
#include "net/loop.h"
#include "net/tls.h"
#include "net/transport.h"
#include "wire/parser.h"

#define MSRP_RELAY_USE_PATH_MAX 2048
#define MSRP_RELAY_CHALLENGE_MAX 1024

struct msrp_relay_auth;

struct msrp_relay_auth_config {
    const char *relay_uri;         /* "msrp://127.0.0.1:28555;tcp" or msrps://, sent as To-Path */
    struct sockaddr_storage addr;  /* where to connect (resolved by the caller) */
    socklen_t addr_len;
    struct net_tls *tls;           /* client context for msrps; NULL for tcp */
    /* How to connect when not plain TCP or TLS over tls (a WebSocket: net_transport_ws()
     * stacked on either); NULL: TCP or TLS as tls says. What it points at must outlive the
     * connection (it is handed over on success). */
    const struct net_transport_setup *transport;
    const char *sni;               /* TLS server name; NULL: none */
    const char *username;
    const char *password;          /* never printed; must stay valid until done() */
    const char *local_uri;         /* our From-Path, e.g. "msrp://127.0.0.1:9/abc;tcp" */
    uint32_t expires;              /* Expires to ask for; 0: send none (relay default) */
    uint64_t timeout_ns;           /* the whole exchange, connect included; 0: 10 s */
    size_t read_buffer;            /* the connection's read buffer; 0: 64 KiB. A session that
                                      will adopt the connection wants msrp_session_read_buffer() */
    int violate;                   /* run's hidden --violate (enum msrp_violation_id, session.h):
                                      the relay-client ones break an RFC 4976 rule on purpose
                                      (conform --listen --as-relay's proof); 0 normally */
};

struct msrp_relay_auth_result {
    bool ok;
    int status;                    /* the last status received; 0 when none */
    char use_path[MSRP_RELAY_USE_PATH_MAX]; /* Use-Path value of the 200, NUL-terminated */
    uint32_t expires;              /* Expires of the 200; 0 when it had none */
    unsigned requests;             /* AUTH requests sent */
    char error[256];               /* on failure: what happened (relay URI and user named) */
    struct net_conn *conn;         /* on success: the connection, now the caller's (above) */
    uint64_t connected_ns;         /* CLOCK_MONOTONIC: TCP established (0: never) */
    uint64_t secured_ns;           /* TLS handshake done (= connected_ns without TLS) */
    uint64_t open_ns;              /* usable: WebSocket upgrade done (= secured_ns without) */
    const struct msrp_trace *trace; /* the exchange's last frames, valid during done() */
    /* On success: the challenge answered last and its nonce count, for a later refresh
     * (challenge_len 0 when the relay accepted without one). */
    char challenge[MSRP_RELAY_CHALLENGE_MAX];
    size_t challenge_len;
    uint32_t nc;
};

typedef void (*msrp_relay_auth_done_fn)(struct msrp_relay_auth *a,
                                        const struct msrp_relay_auth_result *r, void *user);

/*
 * Starts an AUTH exchange on loop. cfg's strings must stay valid until done() (they are not
 * copied; relay_uri, username and local_uri must not contain CR or LF). Returns 0 and sets *out
 * (may be NULL) on success, or an errno value, with no callback to follow: EINVAL (a NULL or
 * unusable argument: relay_uri or local_uri not a valid MSRP URI, empty username), ENOMEM,
 * EIO (the CSPRNG failed), or what net_conn_connect() said.
 */
int msrp_relay_auth_start(struct net_loop *loop, const struct msrp_relay_auth_config *cfg,
                          msrp_relay_auth_done_fn done, void *user, struct msrp_relay_auth **out);

/* Abandons an exchange that has not reported yet: closes its connection, frees it, and done()
 * is not called. Not to be called from inside done(). */
void msrp_relay_auth_cancel(struct msrp_relay_auth *a);
/* The exchange's last frames so far (msrp/trace.h; AUTHs cut before their Authorization
 * header), valid until done() or cancel. */
const struct msrp_trace *msrp_relay_auth_trace(const struct msrp_relay_auth *a);

/*
 * Refreshing an authentication before its Expires runs out (RFC 4976 section 5.1): a new AUTH on
 * the same connection, answering the last challenge with the next nonce count. The connection
 * belongs to a session by then, so the caller sends the request (msrp_session_send_raw() with
 * r->tid) and hands back the response. A 401 with stale=true (the nonce expired) and a 423 are
 * each followed once more (MSRP_RELAY_REFRESH_AGAIN: build and send the next request).
 */
struct msrp_relay_refresh {
    char challenge[MSRP_RELAY_CHALLENGE_MAX];
    size_t challenge_len;
    uint32_t nc;
    uint32_t expires;        /* asked for; 0: none */
    bool stale_used, expires_retried;
    char tid[64];            /* of the request built last */
    size_t tid_len;
};

enum msrp_relay_refresh_outcome {
    MSRP_RELAY_REFRESH_DONE = 0,  /* 200: *expires is the new lifetime (0: none given) */
    MSRP_RELAY_REFRESH_AGAIN,     /* send the next request */
    MSRP_RELAY_REFRESH_FAILED,    /* err says why (relay and user named, never the password) */
};

/* Starts from a successful auth's result. */
void msrp_relay_refresh_init(struct msrp_relay_refresh *r, const struct msrp_relay_auth_result *res,
                             uint32_t expires);
/* Builds the next AUTH into buf (cfg: relay_uri, local_uri, username, password). Returns 0 and
 * sets *len and r->tid, or EINVAL (no usable challenge), ENOSPC, EIO (the CSPRNG failed). */
int msrp_relay_refresh_request(struct msrp_relay_refresh *r, const struct msrp_relay_auth_config *cfg,
                               char *buf, size_t cap, size_t *len);
/* Judges the response to it (NULL: none came in time). */
enum msrp_relay_refresh_outcome msrp_relay_refresh_response(struct msrp_relay_refresh *r,
                                                            const struct msrp_relay_auth_config *cfg,
                                                            const struct msrp_chunk *resp,
                                                            uint32_t *expires, char *err,
                                                            size_t errlen);

#endif
