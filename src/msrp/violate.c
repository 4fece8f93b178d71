/*
 * violate.c - the URI changes of the conformance suite's wrong test peer (violate.h).
 */
#include "msrp/violate.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *msrp_violate_own_uri(const char *violate, const char *uri, char *out, size_t cap)
{
    if (violate == NULL || strlen(uri) >= cap || strncmp(violate, "uri-", 4) != 0)
        return uri;
    const char *auth = strstr(uri, "://");
    if (auth == NULL)
        return uri;
    auth += 3;
    size_t pre = (size_t)(auth - uri);
    if (strcmp(violate, "uri-password") == 0) {
        /* RFC 4975 section 6: a userinfo MUST NOT hold a password. */
        snprintf(out, cap, "%.*suser:secret@%s", (int)pre, uri, auth);
        return strlen(uri) + 12 < cap ? out : uri;
    }
    if (strcmp(violate, "uri-no-tcp") == 0) {
        /* Section 6: a URI for MSRP over TCP MUST carry the tcp transport parameter. */
        const char *t = strcasestr(uri, ";tcp");
        if (t == NULL)
            return uri;
        snprintf(out, cap, "%.*s%s", (int)(t - uri), uri, t + 4);
        return out;
    }
    if (strcmp(violate, "uri-no-port") == 0) {
        /* Section 6: a numeric IP address in the authority MUST come with a port. */
        const char *colon = strchr(auth, ':');
        const char *slash = strpbrk(auth, "/;");
        if (colon == NULL || (slash != NULL && colon > slash) || *auth == '[')
            return uri;
        size_t digits = strspn(colon + 1, "0123456789");
        snprintf(out, cap, "%.*s%s", (int)(colon - uri), uri, colon + 1 + digits);
        return out;
    }
    return uri;
}
