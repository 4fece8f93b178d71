/*
 * tls.c - OpenSSL contexts for msrps (RFC 4975 sections 5.4 and 14.2), and self-signed
 * certificates.
 *
 * Owns the SSL_CTX of each role and the per-connection SSL objects' set-up (names to send and
 * verify); what a connection then does with its SSL object (handshake, reads, writes, close)
 * belongs to the TLS transport (transport_tls.c). It may not touch sockets, loops or
 * connections.
 *
 * Every context is made for non-blocking sockets driven by an event loop: partial writes are
 * enabled and a retried write may come from a moved buffer, because the connection code
 * writes straight out of its output queue, which compacts between retries. Set-up functions
 * clear OpenSSL's error queue first, so the reason they report is the one their own call left
 * behind and not a stale one from earlier code on the same thread.
 *
 * Error values: a file that cannot be read gives the errno of access() (ENOENT when it is
 * missing), a bad argument or a key that does not belong to its certificate gives EINVAL,
 * and any other OpenSSL failure (unparsable PEM, out of memory inside OpenSSL) gives EIO.
 */
#include "net/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

struct net_tls {
    SSL_CTX *ctx;
    bool server;
    bool verify; /* client: the server's certificate is checked, so names must be too */
};

/* RFC 5280 appendix A (ub-common-name): X509_NAME refuses a longer CN. */
#define CN_MAX 64

/* The self-signed certificate's lifetime around "now" (see net_tls_make_self_signed). */
#define SELF_SIGNED_BACKDATE (60L * 60)
#define SELF_SIGNED_LIFETIME (30L * 24 * 60 * 60)

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

const char *net_tls_last_error(char *buf, size_t len)
{
    if (buf == NULL || len == 0) {
        ERR_clear_error();
        return "";
    }
    /*
     * The earliest error is the root cause ("no start line", "key values mismatch"); the
     * later ones are the layers above it reporting that they failed too.
     */
    unsigned long e = ERR_get_error();
    if (e == 0)
        snprintf(buf, len, "unknown OpenSSL error");
    else
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

/* Fills err with "<what> <path>: <OpenSSL's reason>" and returns EIO. */
static int openssl_fail(char *err, size_t errlen, const char *what, const char *path)
{
    char reason[256];
    net_tls_last_error(reason, sizeof(reason));
    if (path != NULL)
        set_err(err, errlen, "%s %s: %s", what, path, reason);
    else
        set_err(err, errlen, "%s: %s", what, reason);
    return EIO;
}

/*
 * OpenSSL's own message for a missing file is a generic "system library" error; checking
 * first names the file and lets the caller tell "missing" (ENOENT) from "unreadable".
 */
static int check_readable(const char *path, const char *what, char *err, size_t errlen)
{
    if (access(path, R_OK) == 0)
        return 0;
    int e = errno;
    set_err(err, errlen, "cannot read %s %s: %s", what, path, strerror(e));
    return e;
}

/*
 * Keys are loaded without a passphrase callback that could prompt: OpenSSL's default one
 * reads from the terminal, which would stall a load test or a daemon. An encrypted key
 * therefore fails to load with OpenSSL's reason.
 */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static EVP_PKEY *read_private_key(const char *path)
{
    BIO *bio = BIO_new_file(path, "r");
    if (bio == NULL)
        return NULL;
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    return pkey;
}

/*
 * Installs a certificate chain and its key. A NULL key_file means the key is in cert_file
 * (one combined PEM file, as many servers accept). The key is read apart from the context so
 * that "cannot parse the key" (EIO) and "the key is not the certificate's" (EINVAL) get
 * different messages: SSL_CTX_use_PrivateKey_file reports both as the same failure.
 */
static int use_cert_and_key(SSL_CTX *ctx, const char *cert_file, const char *key_file, char *err,
                            size_t errlen)
{
    EVP_PKEY *pkey = NULL;
    int rc;

    if (key_file == NULL)
        key_file = cert_file;
    if ((rc = check_readable(cert_file, "certificate", err, errlen)) != 0)
        goto err;
    if ((rc = check_readable(key_file, "private key", err, errlen)) != 0)
        goto err;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        rc = openssl_fail(err, errlen, "cannot load certificate", cert_file);
        goto err;
    }
    pkey = read_private_key(key_file);
    if (pkey == NULL) {
        rc = openssl_fail(err, errlen, "cannot load private key", key_file);
        goto err;
    }
    /* OpenSSL 3 already refuses a key of the certificate's type that does not match it. */
    if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        char reason[256];
        net_tls_last_error(reason, sizeof(reason));
        set_err(err, errlen, "private key %s does not match certificate %s: %s", key_file,
                cert_file, reason);
        rc = EINVAL;
        goto err;
    }
    rc = 0;
err:
    EVP_PKEY_free(pkey);
    return rc;
}

/* What both roles share; see the file comment for the write modes. */
static int ctx_create(SSL_CTX **out, bool server, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    int rc;

    if (ctx == NULL) {
        rc = openssl_fail(err, errlen, "cannot create TLS context", NULL);
        goto err;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        rc = openssl_fail(err, errlen, "cannot set TLS 1.2 as minimum version", NULL);
        goto err;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /*
     * Compression invites CRIME-style attacks. Sessions are not resumed: every connection of a
     * load test should cost a relay a full handshake, as a fresh client's would, and no
     * session cache means no lock shared by the worker threads. Without tickets a TLS 1.3
     * server also sends nothing after its handshake that a client must read.
     */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (server) {
        SSL_CTX_set_num_tickets(ctx, 0);
        /*
         * A client must not make the server renegotiate (TLS 1.2): each renegotiation costs
         * the server a handshake's CPU whenever the client likes.
         */
        SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    }
    *out = ctx;
    return 0;
err:
    SSL_CTX_free(ctx);
    return rc;
}

/* The trust anchors a peer's certificate must chain to (and nothing from the system store). */
static int load_ca(SSL_CTX *ctx, const char *ca_file, char *err, size_t errlen)
{
    int rc = check_readable(ca_file, "CA file", err, errlen);
    if (rc != 0)
        return rc;
    if (SSL_CTX_load_verify_file(ctx, ca_file) != 1)
        return openssl_fail(err, errlen, "cannot load CA file", ca_file);
    return 0;
}

static int tls_alloc(struct net_tls **out, bool server, char *err, size_t errlen)
{
    struct net_tls *t = calloc(1, sizeof(*t));
    int rc;

    if (t == NULL) {
        set_err(err, errlen, "out of memory");
        rc = ENOMEM;
        goto err;
    }
    t->server = server;
    if ((rc = ctx_create(&t->ctx, server, err, errlen)) != 0)
        goto err;
    *out = t;
    return 0;
err:
    free(t);
    return rc;
}

int net_tls_server_create(struct net_tls **out, const char *cert_file, const char *key_file,
                          const char *ca_file, char *err, size_t errlen)
{
    struct net_tls *t = NULL;
    int rc;

    ERR_clear_error();
    if (out == NULL || cert_file == NULL) {
        set_err(err, errlen, "a TLS server needs a certificate file");
        rc = EINVAL;
        goto err;
    }
    if ((rc = tls_alloc(&t, true, err, errlen)) != 0)
        goto err;
    if ((rc = use_cert_and_key(t->ctx, cert_file, key_file, err, errlen)) != 0)
        goto err;
    if (ca_file != NULL) {
        if ((rc = load_ca(t->ctx, ca_file, err, errlen)) != 0)
            goto err;
        /* The CertificateRequest names the acceptable CAs, so a client can pick its cert. */
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_file);
        if (names == NULL) {
            rc = openssl_fail(err, errlen, "cannot read CA names from", ca_file);
            goto err;
        }
        SSL_CTX_set_client_CA_list(t->ctx, names);
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        /*
         * OpenSSL refuses to resume a session whose peer was verified unless a session id
         * context is set. Resumption is off, but a context set here keeps that true if it is
         * ever turned on.
         */
        static const unsigned char sid_ctx[] = "msrpload";
        if (SSL_CTX_set_session_id_context(t->ctx, sid_ctx, sizeof(sid_ctx) - 1) != 1) {
            rc = openssl_fail(err, errlen, "cannot set session id context", NULL);
            goto err;
        }
    } else {
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
    }
    *out = t;
    return 0;
err:
    net_tls_destroy(t);
    return rc;
}

int net_tls_client_create(struct net_tls **out, const char *ca_file, const char *cert_file,
                          const char *key_file, char *err, size_t errlen)
{
    struct net_tls *t = NULL;
    int rc;

    ERR_clear_error();
    if (out == NULL || (cert_file == NULL && key_file != NULL)) {
        set_err(err, errlen, "a TLS client key needs its certificate file");
        rc = EINVAL;
        goto err;
    }
    if ((rc = tls_alloc(&t, false, err, errlen)) != 0)
        goto err;
    if (cert_file != NULL) {
        if ((rc = use_cert_and_key(t->ctx, cert_file, key_file, err, errlen)) != 0)
            goto err;
    }
    if (ca_file != NULL) {
        if ((rc = load_ca(t->ctx, ca_file, err, errlen)) != 0)
            goto err;
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
        t->verify = true;
    } else {
        /* Load tests often target relays with self-signed certificates: accept any. */
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
    }
    *out = t;
    return 0;
err:
    net_tls_destroy(t);
    return rc;
}

void net_tls_destroy(struct net_tls *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

bool net_tls_is_server(const struct net_tls *t)
{
    return t->server;
}

/*
 * Whether name is an IP address literal, bare or in URI brackets ("[::1]", as an MSRP URI
 * writes it); if so, its bare text goes to ip (at least INET6_ADDRSTRLEN bytes).
 */
static bool ip_literal(const char *name, char *ip, size_t iplen)
{
    size_t n = strlen(name);
    if (n >= 2 && name[0] == '[' && name[n - 1] == ']') {
        name++;
        n -= 2;
    }
    if (n >= iplen)
        return false;
    memcpy(ip, name, n);
    ip[n] = '\0';
    unsigned char addr[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, ip, addr) == 1 || inet_pton(AF_INET6, ip, addr) == 1;
}

/*
 * RFC 6066 section 3: a client names the server by its DNS host name, and "literal IPv4 and
 * IPv6 addresses are not permitted" in server_name. An address is still checked, against
 * the certificate's iPAddress names (RFC 6125 section 6.2 does not apply; RFC 5280 4.2.1.6).
 */
static int client_names(SSL *ssl, const char *sni, bool verify)
{
    char ip[INET6_ADDRSTRLEN];
    if (ip_literal(sni, ip, sizeof(ip))) {
        if (verify && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip) != 1)
            return -1;
        return 0;
    }
    if (SSL_set_tlsext_host_name(ssl, sni) != 1)
        return -1;
    if (verify) {
        /* "*.example.com" matches one whole label, never "w*.example.com" (RFC 6125 6.4.3). */
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (SSL_set1_host(ssl, sni) != 1)
            return -1;
    }
    return 0;
}

SSL *net_tls_session(struct net_tls *t, int fd, const char *sni)
{
    SSL *ssl = SSL_new(t->ctx);
    if (ssl == NULL)
        goto err;
    if (SSL_set_fd(ssl, fd) != 1)
        goto err;
    if (t->server) {
        SSL_set_accept_state(ssl);
    } else {
        SSL_set_connect_state(ssl);
        if (sni != NULL && sni[0] != '\0' && client_names(ssl, sni, t->verify) != 0)
            goto err;
    }
    return ssl;
err:
    SSL_free(ssl);
    return NULL;
}

/* ---- self-signed certificates ---- */

/* Adds an extension given in openssl.cnf syntax; issuer and subject are both x. */
static int add_conf_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (ext == NULL)
        return -1;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : -1;
}

static int push_ip_name(GENERAL_NAMES *names, const char *ip)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_OCTET_STRING *addr = a2i_IPADDRESS(ip);
    if (gn == NULL || addr == NULL)
        goto err;
    GENERAL_NAME_set0_value(gn, GEN_IPADD, addr);
    addr = NULL;
    if (sk_GENERAL_NAME_push(names, gn) == 0)
        goto err;
    return 0;
err:
    ASN1_OCTET_STRING_free(addr);
    GENERAL_NAME_free(gn);
    return -1;
}

static int push_dns_name(GENERAL_NAMES *names, const char *dns)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *str = ASN1_IA5STRING_new();
    if (gn == NULL || str == NULL || ASN1_STRING_set(str, dns, -1) != 1)
        goto err;
    GENERAL_NAME_set0_value(gn, GEN_DNS, str);
    str = NULL;
    if (sk_GENERAL_NAME_push(names, gn) == 0)
        goto err;
    return 0;
err:
    ASN1_IA5STRING_free(str);
    GENERAL_NAME_free(gn);
    return -1;
}

/*
 * subjectAltName: the common name (as an address if it is one) and both loopback addresses.
 * The names are built as GENERAL_NAMEs rather than as a "DNS:..." string so that a name with
 * a comma cannot smuggle in other entries.
 */
static int add_alt_names(X509 *x, const char *common_name)
{
    GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
    char ip[INET6_ADDRSTRLEN];
    int rc = -1;

    if (names == NULL)
        goto err;
    if (ip_literal(common_name, ip, sizeof(ip))) {
        bool loopback = strcmp(ip, "127.0.0.1") == 0 || strcmp(ip, "::1") == 0;
        if (!loopback && push_ip_name(names, ip) != 0)
            goto err;
    } else if (push_dns_name(names, common_name) != 0) {
        goto err;
    }
    if (push_ip_name(names, "127.0.0.1") != 0 || push_ip_name(names, "::1") != 0)
        goto err;
    if (X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) != 1)
        goto err;
    rc = 0;
err:
    GENERAL_NAMES_free(names);
    return rc;
}

/* A random positive serial (RFC 5280 4.1.2.2: unique per issuer, never zero). */
static int set_random_serial(X509 *x)
{
    uint64_t serial = 0;
    if (RAND_bytes((unsigned char *)&serial, sizeof(serial)) != 1)
        return -1;
    if (serial == 0)
        serial = 1;
    return ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial) == 1 ? 0 : -1;
}

static X509 *build_self_signed(EVP_PKEY *pkey, const char *common_name)
{
    X509 *x = X509_new();
    if (x == NULL)
        goto err;
    if (X509_set_version(x, X509_VERSION_3) != 1 || set_random_serial(x) != 0)
        goto err;
    /* Back-dated an hour so that a peer whose clock is a little behind accepts it. */
    if (X509_gmtime_adj(X509_getm_notBefore(x), -SELF_SIGNED_BACKDATE) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(x), SELF_SIGNED_LIFETIME) == NULL)
        goto err;
    X509_NAME *name = X509_get_subject_name(x);
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)common_name,
                                   -1, -1, 0) != 1 ||
        X509_set_issuer_name(x, name) != 1)
        goto err;
    if (X509_set_pubkey(x, pkey) != 1)
        goto err;
    /*
     * CA:TRUE lets the certificate be its own trust anchor: a test or a client can pass the
     * same file as the CA to verify it. keyCertSign goes with that; digitalSignature is what
     * an ECDHE handshake signs with. The key identifier helps OpenSSL build the chain.
     */
    if (add_conf_ext(x, NID_basic_constraints, "critical,CA:TRUE") != 0 ||
        add_conf_ext(x, NID_key_usage, "critical,digitalSignature,keyCertSign") != 0 ||
        add_conf_ext(x, NID_subject_key_identifier, "hash") != 0 ||
        add_alt_names(x, common_name) != 0)
        goto err;
    if (X509_sign(x, pkey, EVP_sha256()) <= 0)
        goto err;
    return x;
err:
    X509_free(x);
    return NULL;
}

/*
 * Opens path for writing. A secret file is made owner-only (0600) even when it already
 * existed with a wider mode; other files get the usual 0666 less the umask.
 */
static FILE *create_file(const char *path, bool secret)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, secret ? 0600 : 0666);
    FILE *f = NULL;
    int e;

    if (fd < 0)
        return NULL;
    if (secret && fchmod(fd, 0600) != 0)
        goto err;
    f = fdopen(fd, "w");
    if (f == NULL)
        goto err;
    return f;
err:
    e = errno;
    close(fd);
    errno = e;
    return NULL;
}

/*
 * Writes one PEM file: the key when pkey is given, else the certificate. The write status is
 * only known at fclose (buffered data, a full disk), so that is checked too. A file left
 * half-written is removed.
 */
static int write_pem(const char *path, const char *what, EVP_PKEY *pkey, X509 *x, char *err,
                     size_t errlen)
{
    FILE *f = create_file(path, pkey != NULL);
    bool created = f != NULL;
    int rc;

    if (f == NULL) {
        rc = errno;
        set_err(err, errlen, "cannot create %s %s: %s", what, path, strerror(rc));
        goto err;
    }
    int ok = pkey != NULL ? PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL)
                          : PEM_write_X509(f, x);
    if (ok != 1) {
        rc = openssl_fail(err, errlen, "cannot write", path);
        fclose(f);
        goto err;
    }
    if (fclose(f) != 0) {
        rc = errno;
        set_err(err, errlen, "cannot write %s %s: %s", what, path, strerror(rc));
        goto err;
    }
    return 0;
err:
    if (created)
        unlink(path);
    return rc;
}

int net_tls_make_self_signed(const char *cert_path, const char *key_path, const char *common_name,
                             char *err, size_t errlen)
{
    EVP_PKEY *pkey = NULL;
    X509 *x = NULL;
    int rc;

    ERR_clear_error();
    if (cert_path == NULL || key_path == NULL || common_name == NULL || common_name[0] == '\0') {
        set_err(err, errlen, "a self-signed certificate needs two paths and a common name");
        rc = EINVAL;
        goto err;
    }
    if (strlen(common_name) > CN_MAX) {
        set_err(err, errlen, "common name is longer than %d characters: %s", CN_MAX, common_name);
        rc = EINVAL;
        goto err;
    }
    /* P-256: every TLS 1.2 and 1.3 stack has it, and it signs far faster than RSA. */
    pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (pkey == NULL) {
        rc = openssl_fail(err, errlen, "cannot generate an EC P-256 key", NULL);
        goto err;
    }
    x = build_self_signed(pkey, common_name);
    if (x == NULL) {
        rc = openssl_fail(err, errlen, "cannot build a certificate for", common_name);
        goto err;
    }
    /* Only the owner may read the key. */
    if ((rc = write_pem(key_path, "key file", pkey, NULL, err, errlen)) != 0)
        goto err;
    if ((rc = write_pem(cert_path, "certificate file", NULL, x, err, errlen)) != 0) {
        /* A key without its certificate is of no use to anyone. */
        unlink(key_path);
        goto err;
    }
    rc = 0;
err:
    X509_free(x);
    EVP_PKEY_free(pkey);
    return rc;
}
