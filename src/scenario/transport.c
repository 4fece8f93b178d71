/*
 * transport.c - how each end of a session travels (topology.transport, and in the relay
 * topology topology.caller_transport / answerer_transport: tcp, tls, ws or wss), and the
 * relay's WebSocket address in its two forms: a ws:// or wss:// URL, as a WebSocket client
 * is usually given one, or an MSRP URI with the "ws" transport parameter of RFC 7977 5.2.1.
 *
 * Owns: the transport names, each end's default, the WebSocket address forms and their
 * messages. May not touch: the reading of keys (sections.c) and options (overrides.c), which
 * call these; anything beyond struct scenario.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scenario/scenario.h"
#include "wire/uri.h"

static const char *const names[SCENARIO_TRANSPORTS] = {"tcp", "tls", "ws", "wss"};

const char *scenario_transport_name(enum scenario_transport t)
{
    return (unsigned)t < SCENARIO_TRANSPORTS ? names[t] : "?";
}

int scenario_transport_parse(const char *s, enum scenario_transport *out)
{
    for (int i = 0; i < SCENARIO_TRANSPORTS; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum scenario_transport)i;
            return 0;
        }
    return -1;
}

void scenario_transports_settle(struct scenario *sc)
{
    sc->tls = false;
    for (int i = 0; i < 2; i++) {
        if (!sc->end_transport_given[i])
            sc->end_transport[i] = sc->transport;
        sc->tls = sc->tls || scenario_transport_secure(sc->end_transport[i]);
    }
}

/* The length of "ws://" or "wss://" at the start of uri (any case), else 0. */
static size_t ws_scheme(const char *uri, bool *secure)
{
    if (strncasecmp(uri, "ws://", 5) == 0) {
        *secure = false;
        return 5;
    }
    if (strncasecmp(uri, "wss://", 6) == 0) {
        *secure = true;
        return 6;
    }
    return 0;
}

bool scenario_uri_is_ws(const char *uri)
{
    bool secure;
    if (ws_scheme(uri, &secure) > 0)
        return true;
    struct msrp_uri u;
    return msrp_uri_parse(uri, strlen(uri), &u) == MSRP_URI_OK &&
           msrp_span_eq_nocase(u.transport, MSRP_SPAN_LIT("ws"));
}

/*
 * ws://HOST[:PORT][/PATH] (RFC 6455 3, from memory of that section: no fragment, the port 80
 * or 443 by default): the MSRP URI with the same authority and ";ws", and the path.
 */
static int parse_ws_url(struct scenario *sc, const char *uri, size_t skip, char *err,
                        size_t errlen)
{
    const char *auth = uri + skip;
    size_t alen = strcspn(auth, "/?#");
    const char *rest = auth + alen;
    if (alen == 0 || memchr(auth, '@', alen) != NULL) {
        snprintf(err, errlen, "%s: expected ws://HOST:PORT/PATH (a host, no user)", uri);
        return -1;
    }
    if (*rest == '#' || strchr(rest, '#') != NULL) {
        snprintf(err, errlen, "%s: a WebSocket URI has no fragment (#...)", uri);
        return -1;
    }
    for (const char *p = rest; *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
            snprintf(err, errlen, "%s: the path may hold only printable characters, no spaces",
                     uri);
            return -1;
        }
    /* host, then an optional port after the last ':' outside brackets */
    size_t hlen = alen;
    const char *colon = NULL;
    if (auth[0] == '[') {
        const char *close = memchr(auth, ']', alen);
        if (close == NULL) {
            snprintf(err, errlen, "%s: an IPv6 host needs its closing ']'", uri);
            return -1;
        }
        hlen = (size_t)(close - auth) + 1;
        if (hlen < alen)
            colon = auth + hlen;
    } else {
        colon = memchr(auth, ':', alen);
        if (colon != NULL)
            hlen = (size_t)(colon - auth);
    }
    unsigned long port = sc->relay.ws_secure ? 443 : 80;
    if (colon != NULL) {
        size_t plen = alen - (size_t)(colon - auth) - 1;
        char digits[8];
        if (*colon != ':' || plen == 0 || plen > 5 || strspn(colon + 1, "0123456789") < plen) {
            snprintf(err, errlen, "%s: expected a port number after the host", uri);
            return -1;
        }
        memcpy(digits, colon + 1, plen);
        digits[plen] = '\0';
        port = strtoul(digits, NULL, 10);
        if (port == 0 || port > 65535) {
            snprintf(err, errlen, "%s: the port must be 1..65535", uri);
            return -1;
        }
    }
    if (hlen == 0 || hlen > 255) {
        snprintf(err, errlen, "%s: expected a host of 1 to 255 characters", uri);
        return -1;
    }
    snprintf(sc->relay.ws_msrp_uri, sizeof(sc->relay.ws_msrp_uri), "%s://%.*s:%lu;ws",
             sc->relay.ws_secure ? "msrps" : "msrp", (int)hlen, auth, port);
    if (rest[0] == '\0')
        snprintf(sc->relay.ws_path, sizeof(sc->relay.ws_path), "/");
    else if (rest[0] == '/' && strlen(rest) < sizeof(sc->relay.ws_path))
        snprintf(sc->relay.ws_path, sizeof(sc->relay.ws_path), "%s", rest);
    else {
        snprintf(err, errlen, "%s: the path must start with '/' and be at most %zu bytes", uri,
                 sizeof(sc->relay.ws_path) - 1);
        return -1;
    }
    /* The host is checked as an MSRP URI's would be (names, IPv4, bracketed IPv6). */
    struct msrp_uri u;
    enum msrp_uri_error e = msrp_uri_parse(sc->relay.ws_msrp_uri, strlen(sc->relay.ws_msrp_uri),
                                           &u);
    if (e != MSRP_URI_OK) {
        snprintf(err, errlen, "%s: not a usable host (%s)", uri, msrp_uri_error_text(e));
        return -1;
    }
    return 0;
}

int scenario_relay_set_ws(struct scenario *sc, const char *uri, char *err, size_t errlen)
{
    size_t len = strlen(uri);
    if (len >= sizeof(sc->relay.ws_uri)) {
        snprintf(err, errlen, "a URI of at most %zu bytes, got %zu",
                 sizeof(sc->relay.ws_uri) - 1, len);
        return -1;
    }
    bool secure = false;
    size_t skip = ws_scheme(uri, &secure);
    int rc;
    sc->relay.ws_secure = secure;
    if (skip > 0) {
        rc = parse_ws_url(sc, uri, skip, err, errlen);
    } else {
        struct msrp_uri u;
        enum msrp_uri_error e = msrp_uri_parse(uri, len, &u);
        rc = -1;
        if (e != MSRP_URI_OK)
            snprintf(err, errlen, "%s: expected ws://HOST:PORT/PATH, wss://... or an MSRP URI "
                                  "with ;ws (%s)", uri, msrp_uri_error_text(e));
        else if (!msrp_span_eq_nocase(u.transport, MSRP_SPAN_LIT("ws")))
            snprintf(err, errlen, "%s: expected ws://HOST:PORT/PATH, wss://... or an MSRP URI "
                                  "with the transport ws (RFC 7977 5.2.1), got ;%.*s", uri,
                     (int)u.transport.len, u.transport.ptr);
        else {
            sc->relay.ws_secure = u.secure;
            snprintf(sc->relay.ws_msrp_uri, sizeof(sc->relay.ws_msrp_uri), "%s", uri);
            snprintf(sc->relay.ws_path, sizeof(sc->relay.ws_path), "/");
            rc = 0;
        }
    }
    if (rc != 0) {
        sc->relay.ws_uri[0] = sc->relay.ws_msrp_uri[0] = '\0';
        scenario_relay_parse(sc);
        return -1;
    }
    memcpy(sc->relay.ws_uri, uri, len + 1);
    scenario_relay_parse(sc);
    return 0;
}
