/*
 * transport_ws.h - WebSocket (RFC 6455) as a transport stacked on another one (TCP or TLS),
 * with the subprotocol "msrp" of RFC 7977: the maker of ws transports for
 * net_conn_connect_via() and net_listener_open_via().
 *
 * What it does, both roles: the opening handshake inside the transport's handshake op (so
 * on_open fires only once the upgrade is done; the connect timeout covers it), frames out and
 * in, masking on client frames (RFC 6455 5.3, from memory of that section), text and binary
 * frames both read as bytes (RFC 7977 4.2: both MUST be accepted, text read as binary), pings
 * answered with pongs, a peer's close frame answered and turned into an orderly end naming the
 * close code, a local close sending a close frame (code 1000), a malformed frame from the
 * peer answered with a close frame (code 1002, tried once) before the connection ends
 * with EPROTO. Outgoing data goes in binary
 * frames: a text frame must hold UTF-8 (RFC 6455 5.6, from memory) and bodies may be anything.
 *
 * Limits. A pong or the answer to a close frame is tried once, when no data frame is under
 * way (else the pong follows the frame); if the socket takes only part of it and conn.c has
 * nothing queued, the rest waits for the next send. Data frames are not checked for order (a
 * continuation with no message open is read as bytes like any other).
 *
 * Message boundaries (RFC 7977 5.1: one MSRP chunk per WebSocket message, never two). conn.c
 * hands a transport a byte stream in which several sends may run together, so the ws
 * transport is given a boundary finder at set-up (struct net_ws_boundary): a scanner that is
 * fed every outgoing byte once, in order, and says where a message ends. The msrp layer's
 * finder is wire/chunk_end.h (it looks for the chunk's end-line). Why this and not a
 * boundary flag in conn.c's queue: conn.c's queue stays one byte array with no per-send
 * bookkeeping and TCP and TLS pay nothing; the finder's cost is one memchr pass over bytes
 * the transport copies anyway, and it is right however the layer above splits its sends.
 *
 * Each message leaves as exactly one unfragmented frame while it fits opts.frame_max: Kamailio
 * 5.6 drops a connection on a fragmented message (tools/relay/README.md), although a message
 * may be fragmented (RFC 6455 5.4, from memory) and RFC 7977 5.1 asks only for one message.
 * A frame's header holds its payload's length, so while the offered bytes stop inside a
 * message (a chunk sent in several net_conn_send() calls) writev takes none of them and
 * returns NET_IO_WANT_MORE (transport.h): conn.c keeps them queued, stops watching for
 * writability, and offers them again with the next send; the finder goes on from where it
 * stopped. Only a message longer than frame_max goes as fragments of frame_max bytes (FIN on
 * the last), which bounds the wait. frame_max's default, NET_WS_FRAME_MAX_DEFAULT (16 MiB), is
 * far above any chunk a session sends (64 KiB in the bench, 2048 bytes by default); what bounds
 * it is memory: the whole message waits in conn.c's queue (opts.write_cap, 64 MiB by default)
 * and its frame is built in one buffer of the transport, as large as the largest frame sent.
 * A layer above that stops in the middle of a message until on_drain would wait for ever when
 * the message is longer than conn.c's write_high but shorter than frame_max; msrp never does
 * (a chunk is one send). Without a finder, each writev's offered bytes are a message, and
 * so they are once the finder's lost() says no end will come (bytes that are no chunk, such
 * as a conformance case's garbage, which would otherwise wait in the queue for good); the
 * finder then starts afresh, so chunks that follow are framed one by one again.
 *
 * Incoming: each data frame's payload is handed up as bytes, message boundaries are not
 * marked (the MSRP parser above finds chunks by itself).
 *
 * Thread safety: a struct net_ws may be shared by threads (it is read only after set-up).
 */
#ifndef MSRPLOAD_NET_TRANSPORT_WS_H
#define MSRPLOAD_NET_TRANSPORT_WS_H

#include <stdbool.h>
#include <stddef.h>

#include "net/transport.h"

/*
 * Feeds buf[0..len), the outgoing stream's next bytes (each byte exactly once, in order).
 * Returns the count of bytes up to and including the current message's last byte when it ends
 * inside buf (1..len), else 0. state: state_size bytes, zeroed when a connection starts.
 */
typedef size_t (*net_ws_find_end_fn)(void *state, const char *buf, size_t len);
/* True once the finder knows no end will come (the stream is not one it can split: bytes
 * that are no MSRP chunk, sent on purpose by a conformance case): from then on the offered
 * bytes go out as they are offered, each offering a message, instead of waiting for an end. */
typedef bool (*net_ws_lost_fn)(const void *state);

struct net_ws_boundary {
    net_ws_find_end_fn find_end; /* NULL: every frame built is a message */
    net_ws_lost_fn lost;         /* NULL: the finder never gives up */
    size_t state_size;
};

#define NET_WS_FRAME_MAX_DEFAULT ((size_t)16 << 20)

struct net_ws_opts {
    bool server;      /* accept upgrades (true) or send them (false) */
    const char *path; /* client: the request target; NULL: "/" */
    const char *host; /* client: the Host header; NULL: the connection's server name */
    size_t frame_max; /* the largest frame payload sent; 0: NET_WS_FRAME_MAX_DEFAULT */
    struct net_ws_boundary boundary;
};

/* The maker's own state: fill it with net_transport_ws(); it must outlive the transports. */
struct net_ws {
    struct net_transport_setup _below;
    struct net_ws_opts _opts;
    char _path[256];
    char _host[256];
};

/*
 * Fills ws from below (the transport under the WebSocket: net_transport_tcp() or
 * net_transport_tls(), copied) and o (copied, strings too), and returns the setup that
 * makes ws transports. Paths or hosts longer than 255 bytes are cut.
 */
struct net_transport_setup net_transport_ws(struct net_ws *ws,
                                            const struct net_transport_setup *below,
                                            const struct net_ws_opts *o);

/* base64(SHA-1(key + RFC 6455's GUID)): the Sec-WebSocket-Accept for key (29 bytes with NUL). */
void net_ws_accept_key(const char *key, char out[32]);

#endif
