/*
 * metrics_http.c - live metrics over HTTP (metrics_http.h), on libmicrohttpd: its internal
 * thread (epoll on Linux, so descriptors above FD_SETSIZE in a large run are no problem)
 * accepts, reads the request and calls the render callback for each GET /metrics.
 *
 * The listening socket is made here, not by libmicrohttpd, so that a bad address or a port in
 * use is a message of ours that names the option, before the run starts.
 *
 * Owns: parsing --metrics-listen, the listening socket, the daemon, the answers (200 with the
 * Prometheus text, 404, 405, 503). May not touch: what is rendered (report/prom.c) or where
 * the figures come from (load/live.c, serve.c).
 */
#include "cli/metrics_http.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "report/prom.h"

#define CONNECTIONS_MAX 8u
#define IDLE_TIMEOUT_S 10u

struct metrics_http {
    struct MHD_Daemon *daemon;
    metrics_render_fn render;
    void *arg;
    char url[320];
};

/* "host:port" or "[v6]:port" into host and port; 0, or -1 with why. */
static int split(const char *value, char *host, size_t cap, char *port, size_t pcap,
                 const char **why)
{
    const char *colon;
    const char *h = value;
    size_t hlen;
    if (value[0] == '[') {
        const char *close = strchr(value, ']');
        if (close == NULL || close[1] != ':') {
            *why = "an IPv6 address is written [ADDRESS]:PORT";
            return -1;
        }
        h = value + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(value, ':');
        if (colon == NULL) {
            *why = "expected HOST:PORT, e.g. 127.0.0.1:9100";
            return -1;
        }
        hlen = (size_t)(colon - value);
        if (memchr(value, ':', hlen) != NULL) {
            *why = "an IPv6 address is written [ADDRESS]:PORT";
            return -1;
        }
    }
    if (hlen == 0 || hlen >= cap) {
        *why = hlen == 0 ? "the host is missing (127.0.0.1 for this machine only; 0.0.0.0 "
                           "for every interface)"
                         : "the host is too long";
        return -1;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    const char *p = colon + 1;
    size_t plen = strlen(p);
    if (plen == 0 || plen > 5 || strspn(p, "0123456789") != plen || atol(p) > 65535 ||
        plen >= pcap) {
        *why = "the port must be a number from 0 to 65535 (0: any free port)";
        return -1;
    }
    memcpy(port, p, plen + 1);
    return 0;
}

/* A listening socket on the first address value resolves to; the fd, or -1 with err set. */
static int listen_on(const char *value, char *url, size_t urlcap, enum metrics_http_error *code,
                     char *err, size_t errlen)
{
    char host[256], port[8];
    const char *why = NULL;
    *code = METRICS_HTTP_BAD_VALUE;
    if (split(value, host, sizeof(host), port, sizeof(port), &why) != 0) {
        snprintf(err, errlen, "--metrics-listen %s: %s", value, why);
        return -1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0 || res == NULL) {
        snprintf(err, errlen, "--metrics-listen %s: cannot resolve %s: %s", value, host,
                 gai_strerror(g));
        return -1;
    }
    *code = METRICS_HTTP_CANNOT_LISTEN;
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 16) != 0) {
        snprintf(err, errlen, "--metrics-listen %s: cannot listen: %s", value, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    /* The address as bound (port 0 became a real one). */
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char nhost[NI_MAXHOST] = "", nport[NI_MAXSERV] = "";
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 ||
        getnameinfo((struct sockaddr *)&ss, sl, nhost, sizeof(nhost), nport, sizeof(nport),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(nhost, sizeof(nhost), "%s", host);
        snprintf(nport, sizeof(nport), "%s", port);
    }
    bool v6 = ss.ss_family == AF_INET6;
    snprintf(url, urlcap, "http://%s%s%s:%s/metrics", v6 ? "[" : "", nhost, v6 ? "]" : "", nport);
    *code = METRICS_HTTP_OK;
    return fd;
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *type,
                              char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (r == NULL) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **state)
{
    (void)version;
    (void)upload_data;
    (void)state;
    struct metrics_http *m = cls;
    static char not_allowed[] = "only GET and HEAD\n";
    static char not_found[] = "not found: the metrics are at /metrics\n";
    static char index_page[] = "msrpload: Prometheus metrics at /metrics\n";
    static char unavailable[] = "metrics unavailable (out of memory)\n";
    const char *plain = "text/plain; charset=utf-8";
    if (*upload_size != 0) {
        *upload_size = 0; /* a body is not for us: ignored */
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, plain, not_allowed,
                      sizeof(not_allowed) - 1, MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/") == 0)
        return answer(c, MHD_HTTP_OK, plain, index_page, sizeof(index_page) - 1,
                      MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/metrics") != 0)
        return answer(c, MHD_HTTP_NOT_FOUND, plain, not_found, sizeof(not_found) - 1,
                      MHD_RESPMEM_PERSISTENT);
    size_t len = 0;
    char *text = m->render(m->arg, &len);
    if (text == NULL)
        return answer(c, MHD_HTTP_SERVICE_UNAVAILABLE, plain, unavailable,
                      sizeof(unavailable) - 1, MHD_RESPMEM_PERSISTENT);
    return answer(c, MHD_HTTP_OK, PROM_CONTENT_TYPE, text, len, MHD_RESPMEM_MUST_FREE);
}

enum metrics_http_error metrics_http_start(struct metrics_http **out, const char *value,
                                           metrics_render_fn render, void *arg, char *err,
                                           size_t errlen)
{
    *out = NULL;
    struct metrics_http *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        snprintf(err, errlen, "--metrics-listen %s: out of memory", value);
        return METRICS_HTTP_CANNOT_LISTEN;
    }
    enum metrics_http_error code;
    int fd = listen_on(value, m->url, sizeof(m->url), &code, err, errlen);
    if (fd < 0) {
        free(m);
        return code;
    }
    m->render = render;
    m->arg = arg;
    m->daemon = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, on_request, m,
                                 MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
                                 CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S,
                                 MHD_OPTION_END);
    if (m->daemon == NULL) {
        snprintf(err, errlen, "--metrics-listen %s: cannot start the HTTP server "
                              "(libmicrohttpd)", value);
        close(fd);
        free(m);
        return METRICS_HTTP_CANNOT_LISTEN;
    }
    *out = m;
    return METRICS_HTTP_OK;
}

const char *metrics_http_url(const struct metrics_http *m)
{
    return m->url;
}

void metrics_http_stop(struct metrics_http *m)
{
    if (m == NULL)
        return;
    /* Joins the daemon's thread and closes its sockets, the listening one included. */
    MHD_stop_daemon(m->daemon);
    free(m);
}
