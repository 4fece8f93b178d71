/*
 * metrics_http.h - the HTTP side of live metrics (`--metrics-listen HOST:PORT` on run and
 * serve): GET /metrics answered on libmicrohttpd's own thread with whatever a render callback
 * returns, so no event loop of msrpload's changes.
 *
 * Private to src/cli/ (run.c, serve.c).
 */
#ifndef MSRPLOAD_CLI_METRICS_HTTP_H
#define MSRPLOAD_CLI_METRICS_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct metrics_http;

/* The text of one scrape, on the HTTP thread: malloc'd (freed by the server), its length in
 * *len; NULL answers 503. Must be safe to call while the caller's threads run. */
typedef char *(*metrics_render_fn)(void *arg, size_t *len);

enum metrics_http_error {
    METRICS_HTTP_OK = 0,
    METRICS_HTTP_BAD_VALUE,     /* not HOST:PORT, or the host does not resolve */
    METRICS_HTTP_CANNOT_LISTEN, /* well-formed, but in use, not ours, or out of resources */
};

/*
 * Listens on value ("127.0.0.1:9100", "[::1]:9100", "localhost:9100"; port 0 picks a free
 * one) and serves GET /metrics with render(arg) until metrics_http_stop. err gets a message
 * that names --metrics-listen and the value. The connections are few (8 at once, 10 s idle
 * timeout): a scraper or two, not the public.
 */
enum metrics_http_error metrics_http_start(struct metrics_http **out, const char *value,
                                           metrics_render_fn render, void *arg, char *err,
                                           size_t errlen);
/* The address really listened on, as a URL: "http://127.0.0.1:9100/metrics". */
const char *metrics_http_url(const struct metrics_http *m);
/* Stops the thread, closes the socket and frees m (NULL is fine). No render call after it. */
void metrics_http_stop(struct metrics_http *m);

#endif
