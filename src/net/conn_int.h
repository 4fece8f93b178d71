/*
 * conn_int.h - what conn.c lends listener.c inside net/; not for the layers above.
 */
#ifndef MSRPLOAD_NET_CONN_INT_H
#define MSRPLOAD_NET_CONN_INT_H

#include "net/conn.h"
#include "net/transport.h"

/* An accepted socket cfd from peer becomes a connection with transport ts and options opts,
 * handed to on_accept(l, c), then started (handshake or open). Closes cfd when it cannot. */
void net_conn_accepted(struct net_listener *l, struct net_loop *loop, int cfd,
                       const struct sockaddr *peer, const struct net_transport_setup *ts,
                       const struct net_conn_opts *opts, net_accept_fn on_accept);

/* "address:port" of sa, for messages. */
void net_conn_format_peer(const struct sockaddr *sa, char *out, size_t len);

#endif
