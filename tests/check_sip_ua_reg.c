/*
 * check_sip_ua_reg.c - SIP user agents (src/sip/ua.c, ua_core.c, txn.c, transport.c) whose
 * requests get no answer, on real sockets on 127.0.0.1 (a tcase of the sip_ua suite):
 *
 *  - a REGISTER with no final answer (Timer F, T1 = 10 ms) ends with 408 and is tried again
 *    later, as a 5xx is (ua_core.c reg_retry_later), and the retry registers;
 *  - over TCP to a port where nothing listens, the refused connection reaches the transaction
 *    user at once as a 503 (RFC 3261 sections 8.1.3.1 and 17.1.4, from memory) instead of
 *    after Timer F or B (32 s with the default T1): a REGISTER (then tried again) and an
 *    INVITE. These use the default timers, so a 408 after 32 s is told apart by its status,
 *    not by a time.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/loop.h"
#include "sip/msg.h"
#include "sip/ua.h"
#include "suites.h"

#define T1_NS (10ull * 1000000ull)

static struct net_loop *loop;

struct seen {
    int reg_events, reg_status, ended, end_status;
    enum sip_call_end why;
};

static void on_registered(void *ctx, struct sip_ua *ua, int status, int expires)
{
    (void)ua;
    (void)expires;
    struct seen *s = ctx;
    s->reg_events++;
    s->reg_status = status;
}

static void on_ended(void *ctx, struct sip_call *call, enum sip_call_end why, int status,
                     const char *reason)
{
    (void)call;
    (void)reason;
    struct seen *s = ctx;
    s->ended++;
    s->why = why;
    s->end_status = status;
}

static struct sip_ua *agent(struct seen *s, enum sip_tp_kind kind, uint64_t t1_ns)
{
    memset(s, 0, sizeof(*s));
    struct sip_ua_config c = {
        .transport = {.kind = kind}, .user = "alice", .t1_ns = t1_ns, .t2_ns = 4 * t1_ns,
        .t4_ns = 5 * t1_ns, .timer_d_ns = 20 * t1_ns,
        .cb = {.on_registered = on_registered, .on_ended = on_ended}, .ctx = s,
    };
    struct sip_ua *ua = NULL;
    char err[256] = "";
    int r = sip_ua_create(loop, &c, &ua, err, sizeof err);
    ck_assert_msg(r == 0, "sip_ua_create: %s", err);
    return ua;
}

static bool run_until(const int *flag, int want, int max_ms)
{
    uint64_t end = net_now_ns() + (uint64_t)max_ms * 1000000ull;
    while (*flag < want && net_now_ns() < end)
        ck_assert_int_ge(net_loop_run_once(loop, 5), 0);
    return *flag >= want;
}

static void setup(void)
{
    ck_assert_int_eq(net_loop_create(&loop, 256), 0);
}

static void teardown(void)
{
    net_loop_destroy(loop);
}

/* A UDP registrar that swallows REGISTERs while silent, and answers 200 otherwise. */
struct registrar {
    int fd;
    uint16_t port;
    bool silent;
    int swallowed, answered;
};

static void registrar_io(struct net_loop *l, int fd, unsigned ev, void *arg)
{
    (void)l;
    (void)ev;
    struct registrar *r = arg;
    char buf[65536];
    struct sockaddr_storage from;
    for (int i = 0; i < 64; i++) {
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
        if (n <= 0)
            return;
        osip_message_t *m = sip_msg_parse(buf, (size_t)n, NULL, 0);
        ck_assert_ptr_nonnull(m);
        if (MSG_IS_REGISTER(m) && r->silent) {
            r->swallowed++;
        } else if (MSG_IS_REGISTER(m)) {
            osip_contact_t *c = osip_list_get(&m->contacts, 0);
            char *cu = NULL, contact[300];
            ck_assert_ptr_nonnull(c);
            osip_uri_to_str(c->url, &cu);
            snprintf(contact, sizeof contact, "<%s>;expires=60", cu);
            osip_free(cu);
            struct sip_resp p = {.code = 200, .to_tag = "reg", .contact = contact};
            char out[4096];
            size_t len = 0;
            ck_assert_int_eq(sip_msg_build_response(m, &p, out, sizeof out, &len, NULL, 0), 0);
            ck_assert_int_eq(sendto(fd, out, len, 0, (struct sockaddr *)&from, fl),
                             (ssize_t)len);
            r->answered++;
        }
        osip_message_free(m);
    }
}

START_TEST(register_timeout_retried)
{
    struct seen s;
    struct sip_ua *ua = agent(&s, SIP_TP_UDP, T1_NS);
    struct registrar reg = {.silent = true};
    reg.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(reg.fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(reg.fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    ck_assert_int_eq(getsockname(reg.fd, (struct sockaddr *)&a, &al), 0);
    reg.port = ntohs(a.sin_port);
    ck_assert_int_eq(net_loop_watch(loop, reg.fd, NET_READABLE, registrar_io, &reg), 0);
    char uri[64];
    snprintf(uri, sizeof uri, "sip:127.0.0.1:%u", reg.port);
    ck_assert_int_eq(sip_ua_register(ua, uri, 4), 0); /* a retry waits 4/4 s */
    ck_assert(run_until(&s.reg_events, 1, 5000));
    ck_assert_int_eq(s.reg_status, 408); /* Timer F: 64*T1 */
    ck_assert(!sip_ua_registered(ua));
    ck_assert_int_gt(reg.swallowed, 1); /* sent and resent (Timer E) */
    reg.silent = false;
    ck_assert_msg(run_until(&s.reg_events, 2, 5000), "the REGISTER was not tried again");
    ck_assert_int_eq(s.reg_status, 200);
    ck_assert(sip_ua_registered(ua));
    ck_assert_int_eq(reg.answered, 1);
    sip_ua_destroy(ua);
    net_loop_forget(loop, reg.fd);
    close(reg.fd);
}
END_TEST

/* A loopback TCP port where nothing listens (bound, never listening: connect is refused). */
static int refusing_port(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

START_TEST(register_tcp_refused_503)
{
    struct seen s;
    struct sip_ua *ua = agent(&s, SIP_TP_TCP, 0); /* default T1: Timer F is 32 s */
    uint16_t port = 0;
    int hold = refusing_port(&port);
    char uri[80];
    snprintf(uri, sizeof uri, "sip:127.0.0.1:%u;transport=tcp", port);
    ck_assert_int_eq(sip_ua_register(ua, uri, 4), 0);
    ck_assert(run_until(&s.reg_events, 1, 40000));
    ck_assert_msg(s.reg_status == 503, "REGISTER to a refused port ended %d (503 expected)",
                  s.reg_status);
    ck_assert(!sip_ua_registered(ua));
    /* tried again later, as after a 5xx; refused again */
    ck_assert_msg(run_until(&s.reg_events, 2, 40000), "the REGISTER was not tried again");
    ck_assert_int_eq(s.reg_status, 503);
    sip_ua_destroy(ua);
    close(hold);
}
END_TEST

START_TEST(invite_tcp_refused_503)
{
    struct seen s;
    struct sip_ua *ua = agent(&s, SIP_TP_TCP, 0); /* default T1: Timer B is 32 s */
    uint16_t port = 0;
    int hold = refusing_port(&port);
    char target[80];
    snprintf(target, sizeof target, "sip:bob@127.0.0.1:%u;transport=tcp", port);
    static const char sdp[] = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                              "t=0 0\r\nm=message 9 TCP/MSRP *\r\n"
                              "a=path:msrp://127.0.0.1:9/x;tcp\r\n";
    ck_assert_ptr_nonnull(sip_ua_call(ua, target, sdp, sizeof sdp - 1, NULL));
    ck_assert(run_until(&s.ended, 1, 40000));
    ck_assert_msg(s.end_status == 503, "INVITE to a refused port ended %d (%s; 503 expected)",
                  s.end_status, sip_call_end_name(s.why));
    ck_assert_int_eq(s.why, SIP_END_ERROR);
    ck_assert_uint_eq(sip_ua_calls(ua), 0);
    sip_ua_destroy(ua);
    close(hold);
}
END_TEST

TCase *make_sip_ua_reg_tcase(void)
{
    TCase *tc = tcase_create("unanswered");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, register_timeout_retried);
    tcase_add_test(tc, register_tcp_refused_503);
    tcase_add_test(tc, invite_tcp_refused_503);
    return tc;
}
