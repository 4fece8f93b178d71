/*
 * check_sip_dialog.c - the dialog table and dialog state (src/sip/dialog.c): the route set from
 * Record-Route (reversed for the caller, in order for the answerer), the remote target from
 * Contact, the requests built inside a dialog, the peer's CSeq order, and 100,000 live dialogs
 * inserted, found and removed, with O(1) shown by the table's shape (buckets at least the
 * dialogs, short chains), not by timing.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/dialog.h"
#include "sip/msg.h"
#include "suites.h"

static const char *const rr[] = {"<sip:p1.example;lr>", "<sip:p2.example;lr>"};

static osip_message_t *invite(const char *call_id, const char *from_tag)
{
    char buf[4096];
    size_t len = 0;
    struct sip_req q = {.method = "INVITE", .uri = "sip:bob@127.0.0.1:5070",
                        .from = "<sip:alice@a.example>", .from_tag = from_tag,
                        .to = "<sip:bob@b.example>", .call_id = call_id, .cseq = 5,
                        .via_transport = "UDP", .via_host = "127.0.0.1", .via_port = 5060,
                        .branch = "z9hG4bKd1", .contact = "<sip:alice@127.0.0.1:5060>",
                        .expires = -1};
    ck_assert_int_eq(sip_msg_build_request(&q, buf, sizeof buf, &len, NULL, 0), 0);
    osip_message_t *m = sip_msg_parse(buf, len, NULL, 0);
    ck_assert_ptr_nonnull(m);
    /* As a proxy chain p1 then p2 would leave it: p2's Record-Route on top. */
    for (int i = 1; i >= 0; i--)
        ck_assert_int_eq(osip_message_set_record_route(m, rr[i]), 0);
    osip_message_force_update(m);
    return m;
}

START_TEST(uas_and_uac_route_sets)
{
    struct sip_dialog_table *tab = sip_dialog_table_create();
    osip_message_t *inv = invite("c1@a.example", "ft1");
    struct sip_dialog *uas = sip_dialog_create_uas(tab, inv, "tt1");
    ck_assert_ptr_nonnull(uas);
    ck_assert_str_eq(uas->remote_target, "sip:alice@127.0.0.1:5060");
    ck_assert_int_eq(uas->route_count, 2);
    ck_assert_ptr_nonnull(strstr(uas->routes[0], "p2.example"));
    ck_assert_ptr_nonnull(strstr(uas->routes[1], "p1.example"));
    char hop[256];
    ck_assert_int_eq(sip_dialog_next_hop(uas, hop, sizeof hop), 0);
    ck_assert_str_eq(hop, "sip:p2.example;lr");
    ck_assert_uint_eq(uas->remote_cseq, 5);
    ck_assert(!sip_dialog_check_remote_cseq(uas, 4));
    ck_assert(sip_dialog_check_remote_cseq(uas, 6));
    ck_assert_ptr_eq(sip_dialog_find_request(tab, inv), NULL); /* the INVITE has no To tag */

    /* The caller's side: the 2xx carries the Record-Route back; its route set is reversed. */
    char buf[4096];
    size_t len = 0;
    struct sip_resp p = {.code = 200, .to_tag = "tt2", .contact = "<sip:bob@127.0.0.1:5070>"};
    ck_assert_int_eq(sip_msg_build_response(inv, &p, buf, sizeof buf, &len, NULL, 0), 0);
    osip_message_t *ok = sip_msg_parse(buf, len, NULL, 0);
    ck_assert_ptr_nonnull(ok);
    struct sip_dialog *uac = sip_dialog_create_uac(tab, inv, ok);
    ck_assert_ptr_nonnull(uac);
    ck_assert_ptr_eq(sip_dialog_find_response(tab, ok), uac);
    ck_assert_int_eq(uac->route_count, 2);
    ck_assert_ptr_nonnull(strstr(uac->routes[0], "p1.example"));
    ck_assert_str_eq(uac->remote_target, "sip:bob@127.0.0.1:5070");
    /* A request in the dialog: Request-URI the remote target, the route set, CSeq + 1. */
    struct sip_dialog_via v = {"UDP", "127.0.0.1", 5060, "z9hG4bKbye", NULL};
    ck_assert_int_eq(sip_dialog_build_request(uac, "BYE", 0, &v, NULL, NULL, 0, buf, sizeof buf,
                                              &len, NULL, 0), 0);
    osip_message_t *bye = sip_msg_parse(buf, len, NULL, 0);
    ck_assert_ptr_nonnull(bye);
    ck_assert_uint_eq(sip_msg_cseq(bye), 6);
    ck_assert_str_eq(sip_msg_to_tag(bye), "tt2");
    ck_assert_str_eq(sip_msg_from_tag(bye), "ft1");
    ck_assert_int_eq(osip_list_size(&bye->routes), 2);
    ck_assert_ptr_nonnull(strstr(buf, "BYE sip:bob@127.0.0.1:5070 SIP/2.0"));
    /* The answerer finds its dialog from that BYE? No: a different To tag (tt2 vs tt1). */
    ck_assert_ptr_eq(sip_dialog_find_request(tab, bye), NULL);
    ck_assert_uint_eq(sip_dialog_count(tab), 2);
    /* The same ids again: refused. */
    errno = 0;
    ck_assert_ptr_eq(sip_dialog_create_uas(tab, inv, "tt1"), NULL);
    ck_assert_int_eq(errno, EEXIST);
    osip_message_free(bye);
    osip_message_free(ok);
    osip_message_free(inv);
    sip_dialog_table_destroy(tab);
}
END_TEST

#define N 100000

START_TEST(hundred_thousand_dialogs)
{
    struct sip_dialog_table *tab = sip_dialog_table_create();
    osip_message_t *inv = invite("base@a.example", "ft");
    char num[32], tag[16];
    static struct sip_dialog *made[N];
    for (int i = 0; i < N; i++) {
        snprintf(num, sizeof num, "call%d", i);
        osip_free(inv->call_id->number);
        inv->call_id->number = osip_strdup(num);
        snprintf(tag, sizeof tag, "t%d", i);
        made[i] = sip_dialog_create_uas(tab, inv, tag);
        ck_assert_ptr_nonnull(made[i]);
    }
    ck_assert_uint_eq(sip_dialog_count(tab), N);
    /* O(1): the table grew to at least one bucket per dialog, and no chain is long. */
    ck_assert_uint_ge(sip_dialog_buckets(tab), N);
    size_t longest = sip_dialog_longest_chain(tab);
    ck_assert_msg(longest <= 12, "longest chain %zu", longest);
    for (int i = 0; i < N; i++) {
        snprintf(num, sizeof num, "call%d@a.example", i);
        snprintf(tag, sizeof tag, "t%d", i);
        ck_assert_ptr_eq(sip_dialog_find(tab, num, tag, "ft"), made[i]);
        ck_assert_ptr_eq(sip_dialog_find(tab, num, tag, "other"), NULL);
    }
    /* Removed in another order than inserted: odd ones first. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 1 - pass; i < N; i += 2)
            sip_dialog_remove(tab, made[i]);
    ck_assert_uint_eq(sip_dialog_count(tab), 0);
    ck_assert_uint_eq(sip_dialog_longest_chain(tab), 0);
    ck_assert_ptr_eq(sip_dialog_find(tab, "call7@a.example", "t7", "ft"), NULL);
    osip_message_free(inv);
    sip_dialog_table_destroy(tab);
}
END_TEST

Suite *make_sip_dialog_suite(void)
{
    Suite *s = suite_create("sip_dialog");
    TCase *tc = tcase_create("dialogs");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, uas_and_uac_route_sets);
    tcase_add_test(tc, hundred_thousand_dialogs);
    suite_add_tcase(s, tc);
    return s;
}
