/*
 * digest.h - the client side of RFC 4976 AUTH digest authentication: RFC 2617 HTTP Digest with
 * MD5 and qop=auth (or the RFC 2069 form when the challenge offers no qop).
 *
 * Pure: no I/O, no logging. The hashing goes through OpenSSL EVP (MD5 comes from the default
 * provider under OpenSSL 3; where it is not available, e.g. a FIPS-only configuration, the
 * answer fails with EIO). Thread-safe as long as each thread passes its own idgen.
 *
 * The password is fed to the hash straight from the caller's string: it is never copied, and
 * the derived HA1, which is as good as the password for this realm, is wiped before return.
 */
#ifndef MSRPLOAD_WIRE_DIGEST_H
#define MSRPLOAD_WIRE_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/idgen.h"
#include "wire/span.h"
#include "wire/values.h"

/* Length of a generated cnonce: 16 ident characters ([A-Za-z0-9]), about 95 bits. */
#define MSRP_DIGEST_CNONCE_LEN 16

/*
 * Writes the value of an Authorization header answering challenge (a WWW-Authenticate value
 * parsed with msrp_digest_challenge_parse; quoted fields keep their escapes there, and they are
 * resolved before hashing):
 *
 *   Digest username="..", realm="..", nonce="..", uri="..", response="<32 lhex>", algorithm=MD5,
 *          cnonce="..", opaque=".." , qop=auth, nc=<8 lhex>
 *
 * opaque appears only when the challenge had one. A challenge without qop gets the RFC 2069
 * form: no cnonce, qop and nc, and response = MD5(HA1 ":" nonce ":" HA2). Otherwise response =
 * MD5(HA1 ":" nonce ":" nc ":" cnonce ":" "auth" ":" HA2), with HA1 = MD5(username ":" realm
 * ":" password) and HA2 = MD5(method ":" uri), all in lowercase hex (RFC 2617 section 3.2.2).
 * Quoted values are written with a backslash before every '"' and '\'.
 *
 * method is the request method ("AUTH" for RFC 4976); uri the digest-uri, for MSRP the relay
 * URI as sent in To-Path. nonce_count is written as nc (the caller counts per nonce, from 1).
 * cnonce is written as given, or when NULL 16 ident characters are drawn from ids (which may be
 * NULL when cnonce is given or the challenge has no qop). username, password, uri and cnonce
 * are NUL-terminated strings; UTF-8 passes through unchecked.
 *
 * out receives the value NUL-terminated (out may be NULL when cap is 0). *len (len may be NULL)
 * is set, like snprintf's result, to the length of the value without the NUL, on success and on
 * ENOSPC alike: the call succeeds with cap >= *len + 1.
 *
 * Returns 0, or
 *   EINVAL  a NULL argument (other than those above), a challenge without realm or nonce, with
 *           an algorithm other than MD5 (case-insensitive; none means MD5), or with a qop list
 *           that does not offer "auth"; no cnonce and no ids where one is needed; a control
 *           character (other than HTAB) in username, uri, cnonce or a challenge field written
 *           back, which would break the header line;
 *   ENOSPC  out is too small (*len says how long the value is; out holds "" when cap > 0);
 *   EIO     the hash (OpenSSL without MD5, or out of memory) or the CSPRNG failed.
 * On an error other than ENOSPC, *len is left alone and out holds "" when cap > 0.
 */
int msrp_digest_answer(const struct msrp_digest *challenge, const char *username,
                       const char *password, const char *method, const char *uri,
                       uint32_t nonce_count, const char *cnonce, struct msrp_idgen *ids, char *out,
                       size_t cap, size_t *len);

/*
 * True when a challenge's qop value (its content, quotes stripped, escapes in place, as
 * msrp_digest_challenge_parse returns it) lists "auth": qop-options is a comma-separated list,
 * e.g. "auth,auth-int"; elements may have SP / HTAB around them and are compared
 * case-insensitively (RFC 2616 section 2.1 literals). An empty list has no "auth".
 */
bool msrp_digest_qop_has_auth(struct msrp_span qop_list);

#endif
