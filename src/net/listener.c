/*
 * listener.c - listening sockets: bind and listen, accept with a bound per wake-up, shedding
 * connections when out of descriptors (with a reserve descriptor and a pause), overload
 * reports at most once a second; and resolving a host name to a socket address.
 *
 * Owns the listening socket and its timers. A connection it accepts is made and started by
 * conn.c (net_conn_accepted), which owns every connection's state.
 */
#include "net/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/conn_int.h"
#include "net/transport.h"

struct net_listener {
    struct net_loop *loop;
    int fd;
    struct net_transport_setup setup; /* for each accepted connection */
    net_accept_fn on_accept;
    void *user;
    struct net_conn_opts opts;
    uint16_t port;
    /* Out of descriptors (EMFILE, ENFILE): see shed_connection(). */
    int reserve_fd;               /* /dev/null, given up to accept-and-close; -1 when lost */
    struct net_timer pause_timer; /* the listener is not watched until it fires */
    net_overload_fn on_overload;
    struct net_timer report_timer; /* reports what was shed, at most once a second */
    uint64_t shed, last_report_ns;
    int shed_err;
    bool report_due;
};

static void accept_ready(struct net_loop *loop, int fd, unsigned events, void *arg);

#define LISTENER_PAUSE_NS (100ull * 1000000ull)
#define OVERLOAD_REPORT_NS (1000ull * 1000000ull)

static void report_overload(struct net_loop *loop, struct net_timer *t)
{
    struct net_listener *l = t->arg;
    if (!l->report_due)
        return;
    l->report_due = false;
    l->last_report_ns = net_now_ns();
    uint64_t n = l->shed;
    l->shed = 0;
    (void)loop;
    if (l->on_overload != NULL)
        l->on_overload(l, l->shed_err, n);
}

static void note_shed(struct net_listener *l, int err, uint64_t n)
{
    l->shed += n;
    l->shed_err = err;
    l->report_due = true;
    if (net_timer_armed(&l->report_timer))
        return;
    uint64_t now = net_now_ns();
    uint64_t next = l->last_report_ns + OVERLOAD_REPORT_NS;
    net_timer_start(l->loop, &l->report_timer, next > now ? next - now : 0);
}

static void listener_resume(struct net_loop *loop, struct net_timer *t)
{
    struct net_listener *l = t->arg;
    if (l->reserve_fd < 0)
        l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    net_loop_watch(loop, l->fd, NET_READABLE, accept_ready, l);
}

/*
 * accept() failed for want of a descriptor. The pending connection keeps the listener
 * readable, so doing nothing would wake the loop again at once, forever. The reserve
 * descriptor is given up for a moment to accept the connection and close it at once (the
 * peer sees the close instead of waiting); without a reserve (another thread took the
 * freed number) the listener is not watched for LISTENER_PAUSE_NS. Returns false when the
 * listener is paused.
 */
static bool shed_connection(struct net_listener *l, int err)
{
    if (l->reserve_fd >= 0) {
        close(l->reserve_fd);
        l->reserve_fd = -1;
        int cfd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
        int accept_err = cfd < 0 ? errno : 0;
        if (cfd >= 0) {
            close(cfd);
            note_shed(l, err, 1);
        }
        l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (cfd >= 0 || accept_err == EAGAIN || accept_err == EWOULDBLOCK)
            return true;
    }
    note_shed(l, err, 0);
    net_loop_watch(l->loop, l->fd, 0, accept_ready, l);
    net_timer_start(l->loop, &l->pause_timer, LISTENER_PAUSE_NS);
    return false;
}

static void accept_ready(struct net_loop *loop, int fd, unsigned events, void *arg)
{
    (void)events;
    struct net_listener *l = arg;
    /* Bounded like reads, so a connection storm cannot starve established sessions. */
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int cfd = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if ((errno == EMFILE || errno == ENFILE) && shed_connection(l, errno))
                continue;
            return; /* EAGAIN, or a listener paused for want of descriptors */
        }
        net_conn_accepted(l, loop, cfd, (struct sockaddr *)&ss, &l->setup, &l->opts, l->on_accept);
    }
}

int net_listener_open(struct net_loop *loop, const struct sockaddr *sa, socklen_t salen,
                      struct net_tls *tls, net_accept_fn on_accept, void *user,
                      const struct net_conn_opts *opts, struct net_listener **out, char *err,
                      size_t errlen)
{
    struct net_transport_setup ts = tls != NULL ? net_transport_tls(tls) : net_transport_tcp();
    return net_listener_open_via(loop, sa, salen, &ts, on_accept, user, opts, out, err, errlen);
}

int net_listener_open_via(struct net_loop *loop, const struct sockaddr *sa, socklen_t salen,
                          const struct net_transport_setup *ts, net_accept_fn on_accept,
                          void *user, const struct net_conn_opts *opts,
                          struct net_listener **out, char *err, size_t errlen)
{
    char where[80];
    net_conn_format_peer(sa, where, sizeof(where));
    struct net_listener *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return ENOMEM;
    }
    l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    l->pause_timer.fn = listener_resume;
    l->pause_timer.arg = l;
    l->report_timer.fn = report_overload;
    l->report_timer.arg = l;
    l->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int e = 0;
    if (l->fd < 0) {
        e = errno;
        snprintf(err, errlen, "socket for %s: %s", where, strerror(e));
        goto err;
    }
    int one = 1;
    setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(l->fd, sa, salen) != 0 || listen(l->fd, 4096) != 0) {
        e = errno;
        snprintf(err, errlen, "cannot listen on %s: %s", where, strerror(e));
        goto err;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    getsockname(l->fd, (struct sockaddr *)&bound, &blen);
    l->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                 : ((struct sockaddr_in *)&bound)->sin_port);
    l->loop = loop;
    l->setup = *ts;
    l->on_accept = on_accept;
    l->user = user;
    if (opts != NULL)
        l->opts = *opts;
    else
        net_conn_opts_default(&l->opts);
    if ((e = net_loop_watch(loop, l->fd, NET_READABLE, accept_ready, l)) != 0) {
        snprintf(err, errlen, "cannot watch %s: %s", where, strerror(e));
        goto err;
    }
    *out = l;
    return 0;
err:
    if (l->fd >= 0)
        close(l->fd);
    if (l->reserve_fd >= 0)
        close(l->reserve_fd);
    free(l);
    return e;
}

void net_listener_close(struct net_listener *l)
{
    if (l == NULL)
        return;
    net_timer_stop(l->loop, &l->pause_timer);
    net_timer_stop(l->loop, &l->report_timer);
    net_loop_forget(l->loop, l->fd);
    close(l->fd);
    if (l->reserve_fd >= 0)
        close(l->reserve_fd);
    free(l);
}

void net_listener_on_overload(struct net_listener *l, net_overload_fn fn)
{
    l->on_overload = fn;
}

uint16_t net_listener_port(const struct net_listener *l)
{
    return l->port;
}

void *net_listener_user(const struct net_listener *l)
{
    return l->user;
}

int net_addr_resolve(const char *host, uint16_t port, struct sockaddr_storage *ss,
                     socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        *len = sizeof(*in);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        *len = sizeof(*in6);
        return 0;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
        return ENOENT;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    if (ss->ss_family == AF_INET)
        in->sin_port = htons(port);
    else
        in6->sin6_port = htons(port);
    freeaddrinfo(res);
    return 0;
}
