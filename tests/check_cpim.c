/*
 * check_cpim.c - message/cpim (src/wire/cpim.c, RFC 3862 with RFC 5438's header fields) and
 * the IMDN document (src/wire/imdn.c, RFC 5438 section 11) on their own: built bodies parse
 * back to what was put in, the RFCs' own examples parse, and each header or XML rule refused
 * is refused at the byte that breaks it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "msrp/bodies.h"
#include "wire/cpim.h"
#include "wire/imdn.h"

#define N_ELEMS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static bool span_is(struct msrp_span s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

START_TEST(build_parse_round_trip)
{
    struct cpim_build b = {.from = "im:alice@example.com", .to = "im:bob@example.com",
                           .datetime = "2026-12-04T10:48:27.123Z", .message_id = "Ab12Cd34Ef56",
                           .notify = CPIM_NOTIFY_POSITIVE_DELIVERY | CPIM_NOTIFY_DISPLAY,
                           .content_type = "text/plain;charset=utf-8"};
    char head[512];
    size_t n = cpim_build_head(&b, head, sizeof(head));
    ck_assert_uint_gt(n, 0);
    ck_assert(strstr(head, "imdn.Disposition-Notification: positive-delivery, display\r\n"));
    ck_assert(strstr(head, "NS: imdn <urn:ietf:params:imdn>\r\n"));
    char msg[600];
    memcpy(msg, head, n);
    memcpy(msg + n, "hello", 5);
    struct cpim_msg m;
    struct cpim_error e = {0};
    ck_assert_msg(cpim_parse(msg, n + 5, &m, &e), "%s at %zu", e.what, e.offset);
    ck_assert(span_is(m.from, "im:alice@example.com"));
    ck_assert(span_is(m.to, "im:bob@example.com"));
    ck_assert(span_is(m.datetime, "2026-12-04T10:48:27.123Z"));
    ck_assert(span_is(m.message_id, "Ab12Cd34Ef56"));
    ck_assert(span_is(m.imdn_prefix, "imdn"));
    ck_assert(m.has_notify);
    ck_assert_uint_eq(m.notify, CPIM_NOTIFY_POSITIVE_DELIVERY | CPIM_NOTIFY_DISPLAY);
    ck_assert(span_is(m.content_type, "text/plain;charset=utf-8"));
    ck_assert(m.body.ptr == msg + n && m.body.len == 5);
    /* without a notification request: no Disposition-Notification header at all */
    b.notify = 0;
    n = cpim_build_head(&b, head, sizeof(head));
    ck_assert_uint_gt(n, 0);
    ck_assert_ptr_null(strstr(head, "Disposition-Notification"));
    ck_assert(cpim_parse(head, n, &m, &e));
    ck_assert(!m.has_notify && m.body.len == 0);
    /* too small a buffer, a Message-ID that is no Token, a control character */
    ck_assert_uint_eq(cpim_build_head(&b, head, 20), 0);
    b.message_id = "a b";
    ck_assert_uint_eq(cpim_build_head(&b, head, sizeof(head)), 0);
    b.message_id = "ok";
    b.content_type = "text/plain\r\nX: y";
    ck_assert_uint_eq(cpim_build_head(&b, head, sizeof(head)), 0);
    /* notifications without a DateTime (RFC 5438 7.1.1.2) are not built */
    b.content_type = "text/plain";
    b.datetime = NULL;
    b.notify = CPIM_NOTIFY_POSITIVE_DELIVERY;
    ck_assert_uint_eq(cpim_build_head(&b, head, sizeof(head)), 0);
}
END_TEST

/* RFC 3862 section 5.1's example (the "h:" and "e:" parts) and RFC 5438 7.2.1.1's IMDN. */
START_TEST(rfc_examples_parse)
{
    static const char ex1[] =
        "From: MR SANDERS <im:piglet@100akerwood.com>\r\n"
        "To: Depressed Donkey <im:eeyore@100akerwood.com>\r\n"
        "DateTime: 2000-12-13T13:40:00-08:00\r\n"
        "Subject: the weather will be fine today\r\n"
        "Subject:;lang=fr beau temps prevu pour aujourd'hui\r\n"
        "NS: MyFeatures <mid:MessageFeatures@id.foo.com>\r\n"
        "Require: MyFeatures.VitalMessageOption\r\n"
        "MyFeatures.VitalMessageOption: Confirmation-requested\r\n"
        "MyFeatures.WackyMessageOption: Use-silly-font\r\n"
        "\r\n"
        "Content-type: text/xml; charset=utf-8\r\n"
        "Content-ID: <1234567890@foo.com>\r\n"
        "\r\n"
        "<body>\r\nHere is the text of my message.\r\n</body>\r\n";
    struct cpim_msg m;
    struct cpim_error e = {0};
    ck_assert_msg(cpim_parse(ex1, sizeof(ex1) - 1, &m, &e), "%s at %zu", e.what, e.offset);
    ck_assert(span_is(m.from, "im:piglet@100akerwood.com"));
    ck_assert_uint_eq(m.headers, 9);
    ck_assert_uint_eq(m.imdn_prefix.len, 0);
    ck_assert(span_is(m.content_type, "text/xml; charset=utf-8"));
    ck_assert(strncmp(m.body.ptr, "<body>", 6) == 0);
    static const char ex2[] =
        "From: Bob <im:bob@example.com>\r\n"
        "To: Alice <im:alice@example.com>\r\n"
        "NS: imdn <urn:ietf:params:imdn>\r\n"
        "imdn.Message-ID: d834jied93rf\r\n"
        "\r\n"
        "Content-type: message/imdn+xml\r\n"
        "Content-Disposition: notification\r\n"
        "\r\n"
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
        "<imdn xmlns=\"urn:ietf:params:xml:ns:imdn\">\r\n"
        "      <message-id>34jk324j</message-id>\r\n"
        "      <datetime>2008-04-04T12:16:49-05:00</datetime>\r\n"
        "     <recipient-uri>im:bob@example.com</recipient-uri>\r\n"
        "      <original-recipient-uri\r\n"
        "        >im:bob@example.com</original-recipient-uri>\r\n"
        "      <delivery-notification>\r\n"
        "         <status>\r\n"
        "            <delivered/>\r\n"
        "         </status>\r\n"
        "      </delivery-notification>\r\n"
        "    </imdn>\r\n";
    ck_assert_msg(cpim_parse(ex2, sizeof(ex2) - 1, &m, &e), "%s at %zu", e.what, e.offset);
    ck_assert(span_is(m.message_id, "d834jied93rf"));
    ck_assert(span_is(m.content_disposition, "notification"));
    struct imdn_doc d;
    size_t off = 0;
    const char *what = NULL;
    ck_assert_msg(imdn_parse_xml(m.body.ptr, m.body.len, &d, &off, &what), "%s at %zu", what,
                  off);
    ck_assert(span_is(d.message_id, "34jk324j"));
    ck_assert(span_is(d.datetime, "2008-04-04T12:16:49-05:00"));
    ck_assert(span_is(d.recipient, "im:bob@example.com"));
    ck_assert_int_eq(d.kind, IMDN_DELIVERY);
    ck_assert(span_is(d.status, "delivered"));
}
END_TEST

/* Each a message that breaks one rule, with the offset of the byte that breaks it. */
struct bad_case {
    const char *name, *text;
    size_t offset;
};

#define OK_TAIL "\r\nContent-Type: text/plain\r\n\r\nx"
static const struct bad_case bad_cases[] = {
    {"lf-without-cr", "From: <im:a>\nTo: <im:b>\r\n" OK_TAIL, 12},
    {"leading-space", " From: <im:a>\r\nTo: <im:b>\r\n" OK_TAIL, 0},
    {"trailing-space", "From: <im:a> \r\nTo: <im:b>\r\n" OK_TAIL, 12},
    {"no-space-after-colon", "From:<im:a>\r\nTo: <im:b>\r\n" OK_TAIL, 5},
    {"two-spaces", "From:  <im:a>\r\nTo: <im:b>\r\n" OK_TAIL, 6},
    {"control-char", "From: <im:a>\r\nTo: <im:\x01"
                     "b>\r\n" OK_TAIL, 22},
    {"bad-utf8", "From: <im:a>\r\nTo: <im:\xc3(>\r\n" OK_TAIL, 22},
    {"no-angle-uri", "From: im:a\r\nTo: <im:b>\r\n" OK_TAIL, 10},
    {"undeclared-prefix", "From: <im:a>\r\nTo: <im:b>\r\nimdn.Message-ID: x\r\n" OK_TAIL, 26},
    {"msgid-not-token", "From: <im:a>\r\nTo: <im:b>\r\nNS: imdn <urn:ietf:params:imdn>\r\n"
                        "imdn.Message-ID: a/b\r\n" OK_TAIL, 76},
    {"notify-without-msgid", "From: <im:a>\r\nTo: <im:b>\r\nDateTime: 2000-12-13T13:40:00Z\r\n"
                             "NS: imdn <urn:ietf:params:imdn>\r\n"
                             "imdn.Disposition-Notification: positive-delivery\r\n" OK_TAIL,
     143},
    {"notify-without-datetime", "From: <im:a>\r\nTo: <im:b>\r\n"
                                "NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: m1\r\n"
                                "imdn.Disposition-Notification: display\r\n" OK_TAIL, 122},
    {"notify-trailing-comma", "From: <im:a>\r\nTo: <im:b>\r\nDateTime: 2000-12-13T13:40:00Z\r\n"
                              "NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: m1\r\n"
                              "imdn.Disposition-Notification: display,\r\n" OK_TAIL, 151},
    {"bad-datetime", "From: <im:a>\r\nTo: <im:b>\r\nDateTime: yesterday\r\n" OK_TAIL, 36},
    {"two-from", "From: <im:a>\r\nFrom: <im:c>\r\nTo: <im:b>\r\n" OK_TAIL, 14},
    {"no-to", "From: <im:a>\r\n" OK_TAIL, 16},
    {"no-inner-type", "From: <im:a>\r\nTo: <im:b>\r\n\r\nContent-ID: <x@y>\r\n\r\nx", 49},
    {"no-blank-after-headers", "From: <im:a>\r\nTo: <im:b>\r\n", 26},
    {"no-blank-after-inner", "From: <im:a>\r\nTo: <im:b>\r\n\r\nContent-Type: text/plain\r\n",
     54},
    {"bad-inner-type", "From: <im:a>\r\nTo: <im:b>\r\n\r\nContent-Type: text\r\n\r\nx", 42},
    {"header-name-dot", "From: <im:a>\r\nTo: <im:b>\r\n.x: y\r\n" OK_TAIL, 26},
};

START_TEST(bad_messages_refused)
{
    const struct bad_case *c = &bad_cases[_i];
    struct cpim_msg m;
    struct cpim_error e = {0};
    ck_assert_msg(!cpim_parse(c->text, strlen(c->text), &m, &e), "%s parsed", c->name);
    ck_assert_ptr_nonnull(e.what);
    ck_assert_msg(e.offset == c->offset, "%s: offset %zu, want %zu (%s)", c->name, e.offset,
                  c->offset, e.what);
}
END_TEST

START_TEST(imdn_build_parse)
{
    struct imdn_build b = {.message_id = "Ab12Cd34Ef56", .datetime = "2026-12-04T10:48:27Z",
                           .recipient = "im:bob@example.com", .kind = IMDN_DELIVERY,
                           .status = "delivered"};
    char xml[600];
    size_t n = imdn_build_xml(&b, xml, sizeof(xml));
    ck_assert_uint_gt(n, 0);
    struct imdn_doc d;
    size_t off = 0;
    const char *what = NULL;
    ck_assert_msg(imdn_parse_xml(xml, n, &d, &off, &what), "%s at %zu", what, off);
    ck_assert(span_is(d.message_id, "Ab12Cd34Ef56"));
    ck_assert(span_is(d.status, "delivered"));
    ck_assert_int_eq(d.kind, IMDN_DELIVERY);
    /* every shorter prefix of the document is refused: nothing is read past its end */
    for (size_t k = 0; k < n - 2; k++)
        if (imdn_parse_xml(xml, k, &d, &off, &what))
            ck_abort_msg("a prefix of %zu bytes parsed", k);
    ck_assert_uint_eq(imdn_build_xml(&b, xml, 50), 0);
    b.message_id = "a<b";
    ck_assert_uint_eq(imdn_build_xml(&b, xml, sizeof(xml)), 0);
}
END_TEST

struct xml_case {
    const char *name, *text;
    bool ok;
};

#define X_HEAD "<imdn xmlns=\"urn:ietf:params:xml:ns:imdn\">"
#define X_IDS "<message-id>m1</message-id><datetime>2000-12-13T13:40:00Z</datetime>"
#define X_DN "<delivery-notification><status><delivered/></status></delivery-notification>"
static const struct xml_case xml_cases[] = {
    {"minimal", X_HEAD X_IDS X_DN "</imdn>", true},
    {"comment-and-ext", "<!-- c -->" X_HEAD X_IDS "<x:e xmlns:x=\"urn:x\"><x:f/></x:e>" X_DN
                        "</imdn>", true},
    {"entity", X_HEAD "<message-id>a&amp;b&#65;&#x41;</message-id><datetime>d</datetime>" X_DN
               "</imdn>", true},
    {"wrong-namespace", "<imdn xmlns=\"urn:other\">" X_IDS X_DN "</imdn>", false},
    {"no-message-id", X_HEAD "<datetime>d</datetime>" X_DN "</imdn>", false},
    {"no-datetime", X_HEAD "<message-id>m</message-id>" X_DN "</imdn>", false},
    {"no-notification", X_HEAD X_IDS "</imdn>", false},
    {"two-notifications", X_HEAD X_IDS X_DN X_DN "</imdn>", false},
    {"empty-status", X_HEAD X_IDS "<delivery-notification><status/></delivery-notification>"
                     "</imdn>", false},
    {"mismatched-end", X_HEAD X_IDS X_DN "</imdnx>", false},
    {"unknown-element", X_HEAD X_IDS "<foo/>" X_DN "</imdn>", false},
    {"text-in-container", X_HEAD "junk" X_IDS X_DN "</imdn>", false},
    {"bad-entity", X_HEAD "<message-id>a&b;</message-id><datetime>d</datetime>" X_DN "</imdn>",
     false},
    {"doctype", "<!DOCTYPE imdn>" X_HEAD X_IDS X_DN "</imdn>", false},
    {"trailing-content", X_HEAD X_IDS X_DN "</imdn><x/>", false},
    {"unterminated-decl", "<?xml version=\"1.0\"", false},
};

START_TEST(imdn_xml_rules)
{
    const struct xml_case *c = &xml_cases[_i];
    struct imdn_doc d;
    size_t off = 12345;
    const char *what = NULL;
    bool ok = imdn_parse_xml(c->text, strlen(c->text), &d, &off, &what);
    ck_assert_msg(ok == c->ok, "%s: %s (%s at %zu)", c->name, ok ? "parsed" : "refused",
                  what != NULL ? what : "", off);
    if (!ok)
        ck_assert_msg(off <= strlen(c->text) && what != NULL, "%s: offset %zu", c->name, off);
}
END_TEST

START_TEST(datetime_format)
{
    char buf[40];
    size_t n = cpim_datetime_format(1764845307123456789ull, buf, sizeof(buf));
    ck_assert_str_eq(buf, "2025-12-04T10:48:27.123Z");
    ck_assert_uint_eq(n, strlen(buf));
}
END_TEST

/* The bodies a session keeps for CPIM (src/msrp/bodies.c): pieces in any order, the cap, the
 * slots running out, and a slot free again once dropped. */
START_TEST(kept_bodies)
{
    struct msrp_bodies *b = msrp_bodies_create(10);
    ck_assert_ptr_nonnull(b);
    struct msrp_span a = MSRP_SPAN_LIT("msgA"), big = MSRP_SPAN_LIT("msgB");
    msrp_bodies_add(b, a, 6, "world", 5);
    msrp_bodies_add(b, a, 1, "hello", 5);
    msrp_bodies_add(b, a, 3, "llo", 3); /* a repeat */
    struct msrp_span got = msrp_bodies_get(b, a, 10);
    ck_assert(got.ptr != NULL && got.len == 10 && memcmp(got.ptr, "helloworld", 10) == 0);
    msrp_bodies_add(b, big, 1, "0123456789", 10);
    msrp_bodies_add(b, big, 11, "x", 1); /* beyond the cap: not kept */
    ck_assert_ptr_null(msrp_bodies_get(b, big, 11).ptr);
    msrp_bodies_drop(b, big);
    msrp_bodies_drop(b, a);
    ck_assert_ptr_null(msrp_bodies_get(b, a, 10).ptr);
    /* every slot taken: one more message is not kept; dropping one frees its slot */
    char ids[MSRP_BODIES_SLOTS + 1][16];
    for (int i = 0; i <= MSRP_BODIES_SLOTS; i++) {
        snprintf(ids[i], sizeof(ids[i]), "m%d", i);
        msrp_bodies_add(b, msrp_span_cstr(ids[i]), 1, "ab", 2);
    }
    ck_assert_ptr_nonnull(msrp_bodies_get(b, msrp_span_cstr(ids[0]), 2).ptr);
    ck_assert_ptr_null(msrp_bodies_get(b, msrp_span_cstr(ids[MSRP_BODIES_SLOTS]), 2).ptr);
    msrp_bodies_drop(b, msrp_span_cstr(ids[0]));
    msrp_bodies_add(b, msrp_span_cstr(ids[MSRP_BODIES_SLOTS]), 1, "cd", 2);
    got = msrp_bodies_get(b, msrp_span_cstr(ids[MSRP_BODIES_SLOTS]), 2);
    ck_assert(got.ptr != NULL && memcmp(got.ptr, "cd", 2) == 0);
    msrp_bodies_destroy(b);
}
END_TEST

Suite *make_cpim_suite(void)
{
    Suite *s = suite_create("cpim");
    TCase *tc = tcase_create("cpim");
    tcase_add_test(tc, build_parse_round_trip);
    tcase_add_test(tc, rfc_examples_parse);
    tcase_add_loop_test(tc, bad_messages_refused, 0, N_ELEMS(bad_cases));
    tcase_add_test(tc, imdn_build_parse);
    tcase_add_loop_test(tc, imdn_xml_rules, 0, N_ELEMS(xml_cases));
    tcase_add_test(tc, datetime_format);
    tcase_add_test(tc, kept_bodies);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, make_cpim_run_tcase());
    return s;
}
