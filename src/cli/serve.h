/*
 * serve.h - what the files of `msrpload serve` share: its options as read from the command
 * line (serve_options.c) and the usage error both files report.
 *
 * Private to src/cli/serve*.c; nothing outside them includes it.
 */
#ifndef MSRPLOAD_CLI_SERVE_H
#define MSRPLOAD_CLI_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Which lines --log-level keeps: each event has one of these levels, and lines at or above
 * the chosen one are written. */
enum log_level { LOG_ALL = 0, LOG_SESSIONS = 1, LOG_PROBLEMS = 2 };

/* The longest --accept-types serve keeps (with its terminating NUL). */
#define SERVE_ACCEPT_TYPES_MAX 256

struct serve_opts {
    const char *listen;
    const char **ids; /* --session-id, in order; freed by serve_free_options() */
    size_t nids;
    const char *id_pattern; /* the one --session-id with a %d: ids 0..--sessions - 1 */
    long sessions; /* 0: not given */
    bool tls;
    bool ws; /* --ws: WebSocket (RFC 7977) on the listening socket, over TCP or TLS */
    const char *cert, *key;
    const char *accept_types;
    const char *accept_wrapped_types; /* NULL: none given */
    bool no_imdn;  /* --no-imdn: check CPIM but send no delivery notification */
    const char *violate;
    bool alt;
    const char *log;
    const char *uri_host;
    const char *metrics_listen; /* NULL: no live metrics */
    double bind_timeout;
    double idle_timeout, stall_timeout, first_request_timeout;
    uint64_t log_max_bytes;
    long max_extents;
    enum log_level log_level;
    /* Made from the options once they are read: */
    char host[256];         /* --listen's bare host, to listen on */
    char host_in_uris[300]; /* the host the session URIs write (IPv6 in brackets) */
    uint16_t port;          /* --listen's port: 0 picks a free one */
    char accept_list[SERVE_ACCEPT_TYPES_MAX]; /* --accept-types, commas made spaces; "*" */
    char wrapped_list[SERVE_ACCEPT_TYPES_MAX]; /* --accept-wrapped-types, the same; "" */
};

/*
 * Reads and checks the command line into o: each option, how they combine, the listening
 * address (resolved once, so that a bad one is a usage error) and the session ids. Returns -1
 * to go on, or the exit code to stop with (a usage error, --help); either way
 * serve_free_options() releases o afterwards.
 */
int serve_read_options(int argc, char **argv, struct serve_opts *o);
void serve_free_options(struct serve_opts *o);

/* Prints "msrpload serve: " fmt (one %s: arg), a blank line and the usage on standard error;
 * returns EXIT_USAGE. */
int serve_usage_error(const char *fmt, const char *arg);

#endif
