/*
 * ua.h - SIP user agents on one net_loop: one agent is one address of record on one transport
 * (UDP, TCP or TLS), with its transaction table (txn.c), dialog table (dialog.c) and
 * transport (transport.c). It registers (with digest and refreshes), places calls (INVITE
 * with an SDP body, CANCEL, BYE), answers them through the caller's callbacks, and answers
 * 401 / 407 challenges on any request it sends.
 *
 * RFC 3261 is not in ../shared/rfc/: every rule here is "RFC 3261, from memory", with the
 * section named in ua.c. The SDP is the caller's (sdp_msrp.c builds and reads it); the agent
 * carries it and never judges it: an unacceptable offer is rejected by the caller with 488.
 *
 * Thread safety: an agent and its calls belong to the loop's thread.
 */
#ifndef MSRPLOAD_SIP_UA_H
#define MSRPLOAD_SIP_UA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sip/transport.h"

struct net_loop;
struct sip_ua;
struct sip_call;

/* Why a call ended (on_call_ended). */
enum sip_call_end {
    SIP_END_LOCAL_BYE,   /* we sent BYE (status: its response, 408 on timeout) */
    SIP_END_REMOTE_BYE,  /* the peer sent BYE */
    SIP_END_REJECTED,    /* a final failure response, sent or received (status: its code) */
    SIP_END_CANCELLED,   /* cancelled before answer (status 487), either side */
    SIP_END_TIMEOUT,     /* no final response (Timer B, or 64*T1 after our CANCEL): 408 */
    SIP_END_NO_ACK,      /* we answered 2xx and no ACK came within 64*T1: we sent BYE */
    SIP_END_ERROR,       /* could not build or send (status 500 or 503) */
};
const char *sip_call_end_name(enum sip_call_end e);

struct sip_ua_callbacks {
    /* A REGISTER ended: status 2xx with the granted expiry (seconds), or the failure (408 on
     * timeout). Called again on each refresh. May be NULL. */
    void (*on_registered)(void *ctx, struct sip_ua *ua, int status, int expires);
    /* A new INVITE with its offer (sdp may be NULL with len 0). Answer now or later with
     * sip_call_answer() / sip_call_reject(); NULL callback: every INVITE gets 480. */
    void (*on_incoming)(void *ctx, struct sip_call *call, const char *sdp, size_t len);
    /* Our INVITE heard a 1xx. May be NULL. */
    void (*on_progress)(void *ctx, struct sip_call *call, int status);
    /* The call is set up: the caller has the 2xx and sent the ACK; the answerer has the ACK.
     * sdp is the peer's (the answer for the caller, the offer for the answerer). */
    void (*on_established)(void *ctx, struct sip_call *call, const char *sdp, size_t len);
    /* The call is over; it is freed right after this returns. Called once per call. */
    void (*on_ended)(void *ctx, struct sip_call *call, enum sip_call_end why, int status,
                     const char *reason);
};

struct sip_ua_config {
    struct sip_tp_config transport;
    const char *user;        /* AOR user part, e.g. "alice" */
    const char *domain;      /* AOR domain; NULL: the transport's host */
    const char *password;    /* for digest challenges; NULL: challenges fail the request */
    const char *auth_user;   /* digest username; NULL: user */
    /* Every request out of a dialog goes here, with a Route <proxy;lr> (NULL: straight to
     * the Request-URI's host and port). */
    const char *outbound_proxy; /* e.g. "sip:127.0.0.1:5060" */
    uint64_t t1_ns, t2_ns, t4_ns; /* 0: 500 ms, 4 s, 5 s */
    uint64_t timer_d_ns;          /* 0: 32 s */
    struct sip_ua_callbacks cb;
    void *ctx;
};

/* Returns 0 or an errno value with err filled. */
int sip_ua_create(struct net_loop *loop, const struct sip_ua_config *cfg, struct sip_ua **out,
                  char *err, size_t errlen);
/* Ends every call at once (on_ended with SIP_END_ERROR, nothing sent) and frees the agent.
 * Not to be called from one of the agent's own callbacks (the loop may still be in its code). */
void sip_ua_destroy(struct sip_ua *ua);

/* "sip:user@host:port;transport=tcp": the agent's Contact URI. */
const char *sip_ua_contact_uri(const struct sip_ua *ua);
/* "sip:user@domain". */
const char *sip_ua_aor(const struct sip_ua *ua);
uint16_t sip_ua_port(const struct sip_ua *ua);
struct sip_tp *sip_ua_transport(struct sip_ua *ua);
size_t sip_ua_calls(const struct sip_ua *ua);
size_t sip_ua_dialogs(const struct sip_ua *ua);
size_t sip_ua_transactions(const struct sip_ua *ua);
/* What the transport reported: bytes that were not SIP, connections that failed or closed
 * with an error, sends refused; *last (when last is not NULL) the latest, "" when none. */
uint64_t sip_ua_transport_errors(const struct sip_ua *ua, const char **last);

/*
 * Registers the AOR with the registrar (a SIP URI, e.g. "sip:127.0.0.1:5060") for expires
 * seconds, answering a 401 / 407 once each, and refreshes it at half the granted time until
 * sip_ua_unregister() or the agent's end. Returns 0, or an errno value.
 */
int sip_ua_register(struct sip_ua *ua, const char *registrar, int expires);
/* Removes the binding (expires 0) and stops refreshing. */
int sip_ua_unregister(struct sip_ua *ua);
bool sip_ua_registered(const struct sip_ua *ua);

/*
 * Calls target (a SIP URI) with sdp as the offer (application/sdp). Returns the call (its
 * outcome comes through the callbacks), or NULL with errno (EINVAL: a bad target).
 */
struct sip_call *sip_ua_call(struct sip_ua *ua, const char *target, const char *sdp,
                             size_t sdp_len, void *user);

/* The answering side: a 1xx (no body), 2xx (sdp: the answer) or >= 300 (sip_call_reject). */
int sip_call_answer(struct sip_call *call, int status, const char *sdp, size_t sdp_len);
int sip_call_reject(struct sip_call *call, int status);
/* The calling side, before the final response: CANCEL (sent once a 1xx came, RFC 3261 9.1,
 * from memory). */
int sip_call_cancel(struct sip_call *call);
/* Either side, once established: BYE. The answerer still waiting for the ACK of its 2xx holds
 * the BYE and sends it when the ACK comes, or when none came within 64*T1 (RFC 3261 section
 * 15, from memory: the callee must not send BYE before the ACK or that timeout); on_established
 * is not called then. 0, or EINVAL when no BYE can be sent (or one is out or held already). */
int sip_call_bye(struct sip_call *call);

void *sip_call_user(const struct sip_call *call);
void sip_call_set_user(struct sip_call *call, void *user);
struct sip_ua *sip_call_ua(const struct sip_call *call);
bool sip_call_outgoing(const struct sip_call *call);
const char *sip_call_id(const struct sip_call *call);
/* An incoming call's From URI (its INVITE's), into out; "" once the call is confirmed (the
 * INVITE is dropped then) or for a call we placed. */
void sip_call_from(const struct sip_call *call, char *out, size_t cap);

#endif
