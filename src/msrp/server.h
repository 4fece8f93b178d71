/*
 * server.h - a shared MSRP listener (the seed API's MSRPServer): one listening socket for many
 * answering sessions.
 *
 * Each expected session is registered with its local URI. An incoming connection is held
 * until its first request's head has arrived; its To-Path names the session it binds to
 * (compared per RFC 4975 section 6.1), which then takes the connection over. A request for no
 * expected session is answered 481 and the connection closed; so is one whose first request's
 * From-Path is not the peer path the session expects (cfg->peer_path), and the session stays
 * expected for its rightful peer. An expected session that nobody binds within its bind
 * timeout (counted from msrp_server_expect, also while a connection handed over has not bound
 * it) is reported through on_bind_timeout and forgotten; a session on a connection that did
 * not bind it is closed after that call, unless the call ended it.
 *
 * Thread safety: a server belongs to its loop's thread.
 */
#ifndef MSRPLOAD_MSRP_SERVER_H
#define MSRPLOAD_MSRP_SERVER_H

#include "msrp/session.h"

struct msrp_server;

/* Listens on host:port (port 0: any; msrp_server_port tells). tls NULL: plain TCP. */
int msrp_server_create(struct net_loop *loop, const char *host, uint16_t port,
                       struct net_tls *tls, struct msrp_server **out, char *err, size_t errlen);
/* The same over any transport (net/transport.h; WebSocket: net/transport_ws.h), copied. */
int msrp_server_create_via(struct net_loop *loop, const char *host, uint16_t port,
                           const struct net_transport_setup *ts, struct msrp_server **out,
                           char *err, size_t errlen);
void msrp_server_destroy(struct msrp_server *srv);
uint16_t msrp_server_port(const struct msrp_server *srv);

/*
 * Expects a session for cfg->local_uri (its session-id must be unique on this server). When a
 * connection binds to it, an answering session is created with cfg, h and user (on_bound
 * follows). bind_timeout_ns 0: wait forever. Returns 0, EEXIST, EINVAL or ENOMEM.
 */
int msrp_server_expect(struct msrp_server *srv, const struct msrp_session_config *cfg,
                       const struct msrp_session_handlers *h, void *user,
                       uint64_t bind_timeout_ns, void (*on_bind_timeout)(void *user));
/*
 * fn (NULL: none) is called each time a connection is handed to an expected session: right
 * after the session is created with the expectation's user, before it reads the connection's
 * first request. Its own handlers may run only once that request is complete, so this is how
 * an owner learns of every session it may have to close.
 */
void msrp_server_on_session(struct msrp_server *srv,
                            void (*fn)(struct msrp_session *s, void *user));
/*
 * Answers every connection whose first request names no expected session: it gets an
 * answering session whose own URI is the first URI of that request's To-Path (a sink for load
 * generators; cfg's local_uri and peer_path are ignored, its other settings apply, and the
 * strings it points to must outlive the server). Without it such connections get 481.
 */
void msrp_server_expect_any(struct msrp_server *srv, const struct msrp_session_config *cfg,
                            const struct msrp_session_handlers *h, void *user);
/*
 * shared true: the sink gives every connection its own session even when another connection
 * already holds a session of the same URI. That breaks RFC 4975 section 5.4 (a second
 * connection for a bound session gets 506, MUST), so only a load sink whose clients all name
 * one target URI (bench's 10,000 sessions) sets it. Default false: 506.
 */
void msrp_server_any_shared(struct msrp_server *srv, bool shared);

/* Stops expecting a session that has not bound yet; harmless otherwise. */
void msrp_server_forget(struct msrp_server *srv, const char *local_uri);
/* Connections refused with 481 so far (an unknown To-Path). */
uint64_t msrp_server_refused(const struct msrp_server *srv);

/*
 * What happened to a connection no session took, for a log: event "violation" (kind
 * "malformed-first-request": its first bytes are no MSRP request) or "refused" (kind
 * "unknown-session": answered 481; "first-request-timeout": no request head in time;
 * "descriptors": connections accepted and closed at once for want of file descriptors, at
 * most one event a second; "to-path-too-long").
 */
struct msrp_server_event {
    const char *event;
    const char *kind;
    const char *peer;   /* "127.0.0.1:4711"; "" for "descriptors" */
    const char *detail; /* in words, with the byte offset or the limit where there is one */
};
void msrp_server_on_event(struct msrp_server *srv,
                          void (*fn)(const struct msrp_server_event *ev, void *user), void *user);
/* The conformance suite's wrong test peer (serve --violate, msrp_session_violations): with
 * "no-481-first" a first request for no expected session gets 200 instead of 481 (RFC 4975
 * section 5.4), with "speak-first" a new connection is sent a request before the peer's
 * first one (section 5.4: the passive side waits). NULL (default): neither. The name is
 * parsed here, once (msrp_session_violation_id): it need not outlive the call. */
void msrp_server_set_violate(struct msrp_server *srv, const char *violate);
/* How long a new connection has to send its first request's head (default 30 s). */
void msrp_server_set_first_request_timeout(struct msrp_server *srv, uint64_t ns);

#endif
