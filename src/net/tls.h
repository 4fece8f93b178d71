/*
 * tls.h - OpenSSL contexts for msrps (RFC 4975 sections 5.4 and 14.2: TLS with certificates).
 *
 * A net_tls wraps an SSL_CTX for one role: a server with its certificate and key, or a client
 * with an optional CA file to verify servers against. Connections get an SSL object bound to
 * their non-blocking socket from net_tls_session(); the handshake and I/O are driven by the
 * TLS transport (transport_tls.c) under the connection code (conn.c). Set-up functions fill
 * a caller's error buffer with OpenSSL's reason, naming the file involved (redis anet.c
 * style), and return 0 or an errno value.
 *
 * Thread safety: a net_tls may be shared by threads once created (SSL_CTX is); SSL objects
 * belong to one connection.
 */
#ifndef MSRPLOAD_NET_TLS_H
#define MSRPLOAD_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct net_tls;

/*
 * Server context from PEM files. ca_file may be NULL; when given, clients must present a
 * certificate that verifies against it.
 */
int net_tls_server_create(struct net_tls **out, const char *cert_file, const char *key_file,
                          const char *ca_file, char *err, size_t errlen);

/*
 * Client context. ca_file NULL: the server's certificate is not verified (load tests against
 * self-signed relays); otherwise it must verify against ca_file and match the SNI name given
 * to net_tls_session(). cert_file/key_file may be NULL (no client certificate).
 */
int net_tls_client_create(struct net_tls **out, const char *ca_file, const char *cert_file,
                          const char *key_file, char *err, size_t errlen);

void net_tls_destroy(struct net_tls *t);
bool net_tls_is_server(const struct net_tls *t);

/*
 * A new SSL object on fd in the context's role (accept or connect state already set).
 * sni: for clients, the server name to send and, when verifying, to check the certificate
 * against (NULL: none). Returns NULL when out of memory.
 */
SSL *net_tls_session(struct net_tls *t, int fd, const char *sni);

/*
 * Writes a fresh self-signed certificate (EC P-256, SHA-256, valid 30 days, subjectAltName
 * DNS:common_name and IP:127.0.0.1 and IP:::1) and its private key as PEM files, for tests and
 * for `serve --tls` without files of one's own.
 */
int net_tls_make_self_signed(const char *cert_path, const char *key_path,
                             const char *common_name, char *err, size_t errlen);

/* OpenSSL's last error as text (for messages); clears the error queue. */
const char *net_tls_last_error(char *buf, size_t len);

#endif
