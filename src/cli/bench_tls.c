/*
 * bench_tls.c - the TLS limit of `msrpload bench` (`--only tls_raw`): OpenSSL alone, moving
 * large buffers over one loopback TCP connection, with the TLS contexts msrpload's own msrps
 * connections use, so that e2e_tls_64k (bench_net.c) has the limit it should be compared with.
 *
 * The contexts come from tls.c as `msrpload run` makes them for its embedded TLS topology: a
 * fresh self-signed certificate for the answering side, and a client that verifies it. Both
 * the raw loop and the MSRP figure use the same pair, so they negotiate the same protocol
 * version and cipher suite; the raw loop prints them in a `#` line on stderr.
 *
 * Owns: the certificate's temporary files, the two contexts' lifetime during a bench run and
 * the raw loop's timing. May not touch: net/ internals (contexts and SSL objects come from
 * tls.h only; the raw loop drives its SSL objects on blocking sockets, as no connection does).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "cli/bench.h"
#include "net/tls.h"

/* The figure is the best of this many windows, as the raw TCP figure is (bench_net.c). */
#define TLS_WINDOWS 3
/* Each SSL_write hands OpenSSL this much, as the raw TCP loop writes 1 MiB a call. */
#define TLS_RAW_BUFFER (1u << 20)

static void die(const char *what)
{
    fprintf(stderr, "bench: %s\n", what);
    exit(1);
}

void bench_tls_open(struct bench_tls *t)
{
    char dir[] = "/tmp/msrpload-bench-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "bench: cannot create a temporary directory: %s\n", strerror(errno));
        exit(1);
    }
    char cert[64], key[64], err[512];
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    memset(t, 0, sizeof(*t));
    int e = net_tls_make_self_signed(cert, key, "localhost", err, sizeof(err));
    if (e == 0)
        e = net_tls_server_create(&t->server, cert, key, NULL, err, sizeof(err));
    if (e == 0)
        e = net_tls_client_create(&t->client, cert, NULL, NULL, err, sizeof(err));
    unlink(cert);
    unlink(key);
    rmdir(dir);
    if (e != 0) {
        fprintf(stderr, "bench: TLS set-up failed: %s\n", err);
        exit(1);
    }
}

void bench_tls_close(struct bench_tls *t)
{
    net_tls_destroy(t->server);
    net_tls_destroy(t->client);
    memset(t, 0, sizeof(*t));
}


struct tls_writer {
    SSL *ssl;
    volatile int stop;
    int handshake_failed;
};

/* The calling side: handshake, then SSL_write of 1 MiB until told to stop or cut off. */
static void *tls_write_loop(void *arg)
{
    struct tls_writer *w = arg;
    static char buf[TLS_RAW_BUFFER];
    memset(buf, 'x', sizeof(buf));
    if (SSL_connect(w->ssl) != 1) {
        w->handshake_failed = 1;
        ERR_clear_error();
        return NULL;
    }
    while (!w->stop) {
        /* The contexts allow partial writes: one call may take less than the whole buffer. */
        size_t off = 0;
        while (off < sizeof(buf) && !w->stop) {
            int n = SSL_write(w->ssl, buf + off, (int)(sizeof(buf) - off));
            if (n <= 0) {
                ERR_clear_error();
                return NULL; /* the reading end shut the connection down */
            }
            off += (size_t)n;
        }
    }
    return NULL;
}

/* Reads for one window; returns plaintext bytes per second. */
static double tls_read_window(SSL *ssl, char *buf, double seconds)
{
    uint64_t bytes = 0;
    double start = bench_now();
    while (bench_now() - start < seconds) {
        int n = SSL_read(ssl, buf, TLS_RAW_BUFFER);
        if (n <= 0)
            die("raw TLS read failed");
        bytes += (uint64_t)n;
    }
    return (double)bytes / (bench_now() - start);
}

double bench_tls_raw(double seconds, const struct bench_tls *t)
{
    int cfd, sfd;
    bench_loopback_pair(&cfd, &sfd);
    /* An address as the SNI name, as an msrps URI to 127.0.0.1 gives: checked, not sent. */
    struct tls_writer w = {.ssl = net_tls_session(t->client, cfd, "127.0.0.1")};
    SSL *server = net_tls_session(t->server, sfd, NULL);
    if (w.ssl == NULL || server == NULL)
        die("cannot create the raw TLS sessions");
    pthread_t thread;
    if (pthread_create(&thread, NULL, tls_write_loop, &w) != 0)
        die("cannot start the raw TLS writer");
    if (SSL_accept(server) != 1) {
        char reason[256];
        fprintf(stderr, "bench: raw TLS handshake failed: %s\n",
                net_tls_last_error(reason, sizeof(reason)));
        exit(1);
    }
    fprintf(stderr, "# tls: %s %s (the contexts msrps connections use)\n",
            SSL_get_version(server), SSL_get_cipher_name(server));
    static char buf[TLS_RAW_BUFFER];
    double best = 0;
    for (int k = 0; k < TLS_WINDOWS; k++) {
        double rate = tls_read_window(server, buf, seconds / TLS_WINDOWS);
        best = rate > best ? rate : best;
    }
    w.stop = 1;
    /* A writer blocked in SSL_write on a full window wakes up only when its own socket is
     * shut down (the reader's shutdown leaves the window full: unread bytes stay queued). */
    shutdown(cfd, SHUT_RDWR);
    shutdown(sfd, SHUT_RDWR);
    pthread_join(thread, NULL);
    if (w.handshake_failed)
        die("raw TLS handshake failed on the writing side");
    SSL_free(server);
    SSL_free(w.ssl);
    ERR_clear_error();
    close(sfd);
    close(cfd);
    printf("bench tls_raw_bytes_per_s %.0f bytes/s\n", best);
    fflush(stdout);
    return best;
}
