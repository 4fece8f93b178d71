/*
 * uri_addr.h - an MSRP URI turned into the socket address to connect to (the host and port of
 * its authority, RFC 4975 section 6; without a port, 2855, the port section 15.4 registers),
 * with what a connection needs besides: the host as text (the TLS server name when it is a
 * name) and whether the scheme is msrps. The one place a target or relay URI becomes a
 * sockaddr.
 *
 * Resolving may block (net_addr_resolve): call it at set-up, never from a loop's callbacks.
 * Thread safety: none needed; it keeps no state.
 */
#ifndef MSRPLOAD_MSRP_URI_ADDR_H
#define MSRPLOAD_MSRP_URI_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct msrp_uri_addr {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char host[256];    /* the URI's host (IPv6 without brackets), NUL-terminated; filled (cut
                          short if need be) whenever the URI parses, even if it then fails */
    bool host_is_name; /* a name, not an address literal: the TLS server name to send */
    bool secure;       /* msrps: the connection is TLS */
};

/*
 * Resolves uri, or the first URI of a path (the text up to its first space). Returns 0, or
 * EINVAL (not an MSRP URI), ENAMETOOLONG (a host of 256 bytes or more) or net_addr_resolve()'s
 * error (ENOENT: unknown host). On error, err (errlen bytes; NULL: none) gets a message naming
 * uri: "URI: not an MSRP URI: why", "URI: host too long", "URI: cannot resolve HOST: why".
 */
int msrp_uri_resolve(const char *uri, struct msrp_uri_addr *out, char *err, size_t errlen);

/* The same for a URI already parsed (u, from the text uri, which messages name). */
struct msrp_uri;
int msrp_uri_resolve_parsed(const struct msrp_uri *u, const char *uri, struct msrp_uri_addr *out,
                            char *err, size_t errlen);

#endif
