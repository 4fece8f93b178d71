/*
 * uri_addr.c - MSRP URI to socket address (uri_addr.h).
 *
 * Owns: the conversion of a URI's authority into a sockaddr, the TLS server name and the
 * scheme's transport. May not touch: connections (it only resolves; net/conn.c connects) or
 * any URI but the first of a path.
 */
#include "msrp/uri_addr.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "net/conn.h"
#include "wire/uri.h"

int msrp_uri_resolve(const char *uri, struct msrp_uri_addr *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (err == NULL)
        errlen = 0;
    /* A target may be a full path; the connection goes to its first URI. */
    size_t len = strcspn(uri, " ");
    struct msrp_uri u;
    enum msrp_uri_error ue = msrp_uri_parse(uri, len, &u);
    if (ue != MSRP_URI_OK) {
        if (errlen > 0)
            snprintf(err, errlen, "%s: not an MSRP URI: %s", uri, msrp_uri_error_text(ue));
        return EINVAL;
    }
    return msrp_uri_resolve_parsed(&u, uri, out, err, errlen);
}

int msrp_uri_resolve_parsed(const struct msrp_uri *u, const char *uri, struct msrp_uri_addr *out,
                            char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (err == NULL)
        errlen = 0;
    snprintf(out->host, sizeof(out->host), "%.*s", (int)u->host.len, u->host.ptr);
    out->host_is_name = u->host_type == MSRP_HOST_NAME;
    out->secure = u->secure;
    if (u->host.len >= sizeof(out->host)) {
        if (errlen > 0)
            snprintf(err, errlen, "%s: host too long", uri);
        return ENAMETOOLONG;
    }
    int rc = net_addr_resolve(out->host, u->has_port ? u->port : MSRP_DEFAULT_PORT, &out->addr,
                              &out->addr_len);
    if (rc != 0 && errlen > 0)
        snprintf(err, errlen, "%s: cannot resolve %s: %s", uri, out->host,
                 rc == ENOENT ? "unknown host" : strerror(rc));
    return rc;
}
