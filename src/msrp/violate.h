/*
 * violate.h - the URI changes of the conformance suite's wrong test peer (serve --violate,
 * msrp_session_config.violate): the From-Path a session writes, spelled so that it breaks one
 * rule of RFC 4975 section 6. Used by session.c only; never by a normal session.
 */
#ifndef MSRPLOAD_MSRP_VIOLATE_H
#define MSRPLOAD_MSRP_VIOLATE_H

#include <stddef.h>

/*
 * The URI the session writes as its own: uri itself, or with violate "uri-no-tcp" without its
 * ";tcp" transport parameter, "uri-no-port" without its ":port", "uri-password" with a
 * "user:secret@" userinfo. Returns uri or out (which holds cap bytes).
 */
const char *msrp_violate_own_uri(const char *violate, const char *uri, char *out, size_t cap);

#endif
