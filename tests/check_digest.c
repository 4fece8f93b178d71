/*
 * check_digest.c - the client side of RFC 4976 AUTH digest (src/wire/digest.c).
 *
 * Expected responses come from three places that do not share the code under test: literals
 * (the RFC 2617 section 3.5 example, and responses a real Kamailio relay accepted with 200 in
 * tools/relay/probe-record.txt), literals computed once with `printf ... | md5sum`, and a
 * recomputation in this file with EVP_Digest over the RFC 2617 definitions written out with
 * snprintf. Challenges are parsed from guarded copies (testutil.h), and small output buffers
 * end right before a PROT_NONE page, so an over-read or over-write crashes the test.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "suites.h"
#include "testutil.h"
#include "wire/digest.h"
#include "wire/values.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- helpers ------------------------------------------------------------------------------ */

/* Lowercase hex MD5 of a C string, straight from EVP: independent of digest.c's piecewise
 * hashing and escape handling. */
static void md5_hex_of(const char *s, char hex[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    ck_assert_int_eq(EVP_Digest(s, strlen(s), md, &n, EVP_md5(), NULL), 1);
    ck_assert_uint_eq(n, 16);
    for (unsigned i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/*
 * RFC 2617 section 3.2.2.1 written out: with qop (qop != NULL)
 *   MD5(MD5(user:realm:pass) ":" nonce ":" nc ":" cnonce ":" qop ":" MD5(method:uri)),
 * without (RFC 2069) MD5(MD5(user:realm:pass) ":" nonce ":" MD5(method:uri)).
 * All arguments are the unquoted values.
 */
static void expected_response(const char *user, const char *realm, const char *pass,
                              const char *method, const char *uri, const char *nonce,
                              const char *nc, const char *cnonce, const char *qop, char want[33])
{
    char a1[512], a2[512], kd[1024], ha1[33], ha2[33];

    ck_assert_int_lt(snprintf(a1, sizeof a1, "%s:%s:%s", user, realm, pass), (int)sizeof a1);
    ck_assert_int_lt(snprintf(a2, sizeof a2, "%s:%s", method, uri), (int)sizeof a2);
    md5_hex_of(a1, ha1);
    md5_hex_of(a2, ha2);
    if (qop != NULL)
        ck_assert_int_lt(
            snprintf(kd, sizeof kd, "%s:%s:%s:%s:%s:%s", ha1, nonce, nc, cnonce, qop, ha2),
            (int)sizeof kd);
    else
        ck_assert_int_lt(snprintf(kd, sizeof kd, "%s:%s:%s", ha1, nonce, ha2), (int)sizeof kd);
    md5_hex_of(kd, want);
}

/* Parses a WWW-Authenticate value from a guarded copy; free *copy with guarded_free. */
static void parse_challenge(const char *text, struct msrp_digest *d, char **copy)
{
    size_t n = strlen(text);

    *copy = guarded_copy(text, n);
    ck_assert_msg(msrp_digest_challenge_parse(msrp_span_make(*copy, n), d),
                  "challenge '%s' did not parse", text);
}

/* The span, unquoted when quoted, equals want (NULL: the field must be absent). */
static void assert_field(struct msrp_span got, bool quoted, const char *want, const char *what)
{
    char buf[512];

    if (want == NULL) {
        ck_assert_msg(got.ptr == NULL, "%s: present ('%.*s'), want absent", what, (int)got.len,
                      got.ptr);
        return;
    }
    ck_assert_msg(got.ptr != NULL, "%s: absent, want '%s'", what, want);
    if (quoted) {
        ck_assert_int_ge(msrp_unquote(got, buf, sizeof buf), 0);
    } else {
        ck_assert_uint_lt(got.len, sizeof buf);
        memcpy(buf, got.ptr, got.len);
        buf[got.len] = '\0';
    }
    ck_assert_msg(strcmp(buf, want) == 0, "%s: got '%s', want '%s'", what, buf, want);
}

static bool is_ident(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

/* Answers into a plain buffer and checks the reported length. */
static int answer(const char *chal_text, const char *user, const char *pass, const char *method,
                  const char *uri, uint32_t nc, const char *cnonce, struct msrp_idgen *ids,
                  char *out, size_t cap)
{
    struct msrp_digest d;
    char *copy;
    size_t len = (size_t)-1;

    parse_challenge(chal_text, &d, &copy);
    int rc = msrp_digest_answer(&d, user, pass, method, uri, nc, cnonce, ids, out, cap, &len);
    if (rc == 0)
        ck_assert_uint_eq(len, strlen(out));
    guarded_free(copy, strlen(chal_text));
    return rc;
}

/* ---- known answers ------------------------------------------------------------------------ */

#define RFC_NONCE "dcd98b7102dd2f0e8b11d0f600bfb0c093"
#define RFC_OPAQUE "5ccc069c403ebaf9f0171e9517f40e41"
#define RFC_REALM "testrealm@host.com"
#define RFC_USER "Mufasa"
#define RFC_PASS "Circle Of Life"
/* RFC 2617 section 3.5, the WWW-Authenticate value as the RFC prints it (one line here). */
#define RFC_CHALLENGE                                                                              \
    "Digest realm=\"" RFC_REALM "\", qop=\"auth,auth-int\", nonce=\"" RFC_NONCE "\", "             \
    "opaque=\"" RFC_OPAQUE "\""
/* ... and without qop, for the RFC 2069 form */
#define RFC_CHALLENGE_2069                                                                         \
    "Digest realm=\"" RFC_REALM "\", nonce=\"" RFC_NONCE "\", opaque=\"" RFC_OPAQUE "\""
/* The RFC 2069 response for the section 3.5 inputs, computed once with
 *   HA1=$(printf 'Mufasa:testrealm@host.com:Circle Of Life' | md5sum)      939e7578...
 *   HA2=$(printf 'GET:/dir/index.html' | md5sum)                           39aff3a2...
 *   printf "$HA1:dcd98b7102dd2f0e8b11d0f600bfb0c093:$HA2" | md5sum */
#define RFC_2069_RESPONSE "670fd8c2df070c60b045671b8b24ff02"

#define KAM_URI "msrp://127.0.0.1:28555;tcp"
#define KAM_CHAL(nonce) "Digest realm=\"msrpload.test\", nonce=\"" nonce "\", qop=\"auth\""

static const struct kat {
    const char *challenge;
    const char *user, *pass, *method, *uri;
    uint32_t nc;
    const char *cnonce;
    const char *response;
    const char *value; /* the whole header value, or NULL */
} kats[] = {
    /* RFC 2617 section 3.5 */
    {RFC_CHALLENGE, RFC_USER, RFC_PASS, "GET", "/dir/index.html", 1, "0a4f113b",
     "6629fae49393a05397450978507c4ef1",
     "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", nonce=\"" RFC_NONCE "\", "
     "uri=\"/dir/index.html\", response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5, "
     "cnonce=\"0a4f113b\", opaque=\"" RFC_OPAQUE "\", qop=auth, nc=00000001"},
    /* the same without qop: RFC 2069 */
    {RFC_CHALLENGE_2069, RFC_USER, RFC_PASS, "GET", "/dir/index.html", 1, "0a4f113b",
     RFC_2069_RESPONSE,
     "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", nonce=\"" RFC_NONCE "\", "
     "uri=\"/dir/index.html\", response=\"" RFC_2069_RESPONSE "\", algorithm=MD5, "
     "opaque=\"" RFC_OPAQUE "\""},
    /* tools/relay/probe-record.txt: answers Kamailio 5.6.3 accepted with 200 OK (case 2) */
    {KAM_CHAL("awLfUmsC3iZ+eU79dnmI364rv43ZCZhkXhlzyoA="), "alice", "alice-secret", "AUTH", KAM_URI,
     1, "0d8fd2a6bccbb929", "89945141928b914afc9739f845b9eb0f",
     "Digest username=\"alice\", realm=\"msrpload.test\", "
     "nonce=\"awLfUmsC3iZ+eU79dnmI364rv43ZCZhkXhlzyoA=\", uri=\"msrp://127.0.0.1:28555;tcp\", "
     "response=\"89945141928b914afc9739f845b9eb0f\", algorithm=MD5, cnonce=\"0d8fd2a6bccbb929\", "
     "qop=auth, nc=00000001"},
    {KAM_CHAL("awLfUmsC3iZ+eU79dnmI364rv43ZCZhkXhlzyoA="), "alice", "alice-secret", "AUTH", KAM_URI,
     2, "24ebd79bcc466d26", "129d4e9af30fc3280ba30f0de3c05d8a", NULL},
    {KAM_CHAL("awLfUmsC3iYm4sn3qOekgWVcjvUns1F3Xhl1zIA="), "alice", "alice-secret", "AUTH",
     "msrp://127.0.0.1:28555", 1, "c1ac7b5fa537d324", "1a33f484ff1d2d0615d4262afa7d020f", NULL},
    {KAM_CHAL("awLfUmsC3iZWd48IsRfh1EH58mWuV7t/Xhl2zYA="), "alice", "alice-secret", "AUTH",
     "msrp://127.0.0.1:28555/xyz;tcp", 1, "d5a8a8b1de625b42", "1ea0f026fc2830b7abdf2bceee43d124",
     NULL},
    {KAM_CHAL("awLfUmsC3iaaUJCo4P72eTUczDKmc3d/Xhl3zoA="), "alice", "alice-secret", "AUTH",
     "msrp://relay.example.invalid:2855;tcp", 1, "793057a048b952fb",
     "58e11061c8da42e709e15104b38bf83c", NULL},
    {KAM_CHAL("awLfUmsC3ib0lOGwr0fWC6pwcg4/7dyrXhl4z4A="), "alice", "alice-secret", "AUTH", "xyz",
     1, "fdab109e80072d05", "213c45368d0a93018e490505c4801832", NULL},
    {KAM_CHAL("awLfUmsC3iZBX0Ojm0aMezf0kJQeHK18Xhl70oA="), "load0042", "loadpass", "AUTH", KAM_URI,
     1, "7ada0293078fa7ad", "4aa61d12a4abad162e8f7c397c773ab1", NULL},
    /* Kamailio also accepted the RFC 2069 form; answering a challenge without qop gives it */
    {"Digest realm=\"msrpload.test\", nonce=\"awLfUmsC3ibYT4RSv7z8EIxrYenAc2XqXhl60YA=\"", "alice",
     "alice-secret", "AUTH", KAM_URI, 1, NULL, "583f2be00859afdd4f08506fddd55ef7",
     "Digest username=\"alice\", realm=\"msrpload.test\", "
     "nonce=\"awLfUmsC3ibYT4RSv7z8EIxrYenAc2XqXhl60YA=\", uri=\"msrp://127.0.0.1:28555;tcp\", "
     "response=\"583f2be00859afdd4f08506fddd55ef7\", algorithm=MD5"},
};

START_TEST(test_known_answer)
{
    const struct kat *k = &kats[_i];
    char out[1024];
    struct msrp_digest back;

    int rc = answer(k->challenge, k->user, k->pass, k->method, k->uri, k->nc, k->cnonce, NULL, out,
                    sizeof out);
    ck_assert_msg(rc == 0, "#%d: rc %d", _i, rc);
    if (k->value != NULL)
        ck_assert_str_eq(out, k->value);
    ck_assert(msrp_digest_challenge_parse(msrp_span_cstr(out), &back));
    assert_field(back.response, true, k->response, "response");
}
END_TEST

/* The RFC 2069 form against the definition recomputed here and against the md5sum literal. */
START_TEST(test_rfc2069_independent)
{
    char want[33], out[512];
    struct msrp_digest back;

    expected_response(RFC_USER, RFC_REALM, RFC_PASS, "GET", "/dir/index.html", RFC_NONCE, NULL,
                      NULL, NULL, want);
    ck_assert_str_eq(want, RFC_2069_RESPONSE);
    /* ids NULL and cnonce NULL: no qop, so no cnonce is needed */
    ck_assert_int_eq(answer(RFC_CHALLENGE_2069, RFC_USER, RFC_PASS, "GET", "/dir/index.html", 1,
                            NULL, NULL, out, sizeof out),
                     0);
    ck_assert(msrp_digest_challenge_parse(msrp_span_cstr(out), &back));
    assert_field(back.response, true, want, "response");
    assert_field(back.qop, false, NULL, "qop");
    assert_field(back.nc, false, NULL, "nc");
    assert_field(back.cnonce, true, NULL, "cnonce");
    /* and the qop form of the same inputs agrees with the RFC's literal */
    expected_response(RFC_USER, RFC_REALM, RFC_PASS, "GET", "/dir/index.html", RFC_NONCE,
                      "00000001", "0a4f113b", "auth", want);
    ck_assert_str_eq(want, "6629fae49393a05397450978507c4ef1");
}
END_TEST

/* Random printable inputs, both forms, against the definition recomputed here. */
START_TEST(test_random_vs_definition)
{
    uint64_t seed = 0x9e3779b97f4a7c15u + (uint64_t)_i;
    char user[24], pass[24], realm[24], nonce[40], uri[40], cnonce[20], ncs[9];
    char *fields[] = {user, pass, realm, nonce, uri, cnonce};
    const size_t sizes[] = {sizeof user,  sizeof pass, sizeof realm,
                            sizeof nonce, sizeof uri,  sizeof cnonce};
    char chal[256], out[1024], want[33];
    struct msrp_digest back;

    /* printable ASCII but '"' and '\' (escaping has tests of its own) */
    for (int f = 0; f < NELEM(fields); f++) {
        size_t n = 1 + test_rand(&seed) % (sizes[f] - 1);
        for (size_t i = 0; i < n; i++) {
            char c;
            do
                c = (char)(0x20 + test_rand(&seed) % 0x5f);
            while (c == '"' || c == '\\');
            fields[f][i] = c;
        }
        fields[f][n] = '\0';
    }
    uint32_t nc = (uint32_t)test_rand(&seed);
    bool qop = _i % 2 == 0;
    snprintf(ncs, sizeof ncs, "%08" PRIx32, nc);
    snprintf(chal, sizeof chal, "Digest realm=\"%s\", nonce=\"%s\"%s", realm, nonce,
             qop ? ", qop=\"auth\"" : "");

    ck_assert_int_eq(answer(chal, user, pass, "AUTH", uri, nc, cnonce, NULL, out, sizeof out), 0);
    expected_response(user, realm, pass, "AUTH", uri, nonce, ncs, cnonce, qop ? "auth" : NULL,
                      want);
    ck_assert_msg(msrp_digest_challenge_parse(msrp_span_cstr(out), &back), "'%s'", out);
    assert_field(back.response, true, want, "response");
    assert_field(back.username, true, user, "username");
    assert_field(back.uri, true, uri, "uri");
    assert_field(back.nc, false, qop ? ncs : NULL, "nc");
}
END_TEST

/* ---- round trip through the parser -------------------------------------------------------- */

/* The exact WWW-Authenticate value of tools/relay/probe-record.txt case 2 (lines 63/69). */
#define PROBE_CHALLENGE                                                                            \
    "Digest realm=\"msrpload.test\", nonce=\"awLfUmsC3iZ+eU79dnmI364rv43ZCZhkXhlzyoA=\", "         \
    "qop=\"auth\""

/* _i == 0: the probe's own cnonce, so the response must be the one Kamailio accepted;
 * _i == 1: a cnonce drawn from the idgen. */
START_TEST(test_probe_roundtrip)
{
    struct msrp_digest chal, back;
    struct msrp_idgen ids;
    char *copy, out[512], cnonce[64], want[33];
    size_t len = 0;

    ck_assert_int_eq(msrp_idgen_init(&ids), 0);
    parse_challenge(PROBE_CHALLENGE, &chal, &copy);
    const char *given = _i == 0 ? "0d8fd2a6bccbb929" : NULL;
    ck_assert_int_eq(msrp_digest_answer(&chal, "alice", "alice-secret", "AUTH", KAM_URI, 1, given,
                                        &ids, out, sizeof out, &len),
                     0);
    ck_assert_uint_eq(len, strlen(out));
    guarded_free(copy, strlen(PROBE_CHALLENGE));

    /* An Authorization value has the challenge's grammar: parse it back from a guarded copy. */
    parse_challenge(out, &back, &copy);
    assert_field(back.username, true, "alice", "username");
    ck_assert(back.username_q);
    assert_field(back.realm, true, "msrpload.test", "realm");
    ck_assert(back.realm_q);
    assert_field(back.nonce, true, "awLfUmsC3iZ+eU79dnmI364rv43ZCZhkXhlzyoA=", "nonce");
    ck_assert(back.nonce_q);
    assert_field(back.uri, true, KAM_URI, "uri");
    ck_assert(back.uri_q);
    assert_field(back.algorithm, false, "MD5", "algorithm");
    assert_field(back.qop, false, "auth", "qop");
    ck_assert(!back.qop_q); /* message-qop is a token (RFC 2617 section 3.2.2) */
    assert_field(back.nc, false, "00000001", "nc");
    ck_assert(back.cnonce_q);
    ck_assert_int_ge(msrp_unquote(back.cnonce, cnonce, sizeof cnonce), 0);
    if (given != NULL) {
        ck_assert_str_eq(cnonce, given);
    } else {
        ck_assert_uint_eq(strlen(cnonce), MSRP_DIGEST_CNONCE_LEN);
        ck_assert(is_ident(cnonce, strlen(cnonce)));
    }
    ck_assert(back.response_q);
    expected_response("alice", "msrpload.test", "alice-secret", "AUTH", KAM_URI,
                      "awLfUmsC3iZ+eU79dnmI364rv43ZCZhkXhlzyoA=", "00000001", cnonce, "auth", want);
    assert_field(back.response, true, want, "response");
    if (given != NULL)
        assert_field(back.response, true, "89945141928b914afc9739f845b9eb0f", "response");
    assert_field(back.opaque, true, NULL, "opaque");
    assert_field(back.stale, false, NULL, "stale");
    assert_field(back.domain, true, NULL, "domain");
    assert_field(back.rspauth, true, NULL, "rspauth");
    assert_field(back.nextnonce, true, NULL, "nextnonce");
    ck_assert_uint_eq(back.other, 0);
    guarded_free(copy, strlen(out));
}
END_TEST

/* The probe's stale=true challenge (line 114) is answered like any other. */
START_TEST(test_probe_stale)
{
    static const char chal[] = "Digest realm=\"msrpload.test\", "
                               "nonce=\"awLfUmsC3iaeaFzdpL5VgVF9MaoPc1R/Xhl0y4A=\", "
                               "qop=\"auth\", stale=true";
    char out[512], want[33];
    struct msrp_digest back;

    ck_assert_int_eq(
        answer(chal, "bob", "bob-secret", "AUTH", KAM_URI, 1, "abc", NULL, out, sizeof out), 0);
    expected_response("bob", "msrpload.test", "bob-secret", "AUTH", KAM_URI,
                      "awLfUmsC3iaeaFzdpL5VgVF9MaoPc1R/Xhl0y4A=", "00000001", "abc", "auth", want);
    ck_assert(msrp_digest_challenge_parse(msrp_span_cstr(out), &back));
    assert_field(back.response, true, want, "response");
    assert_field(back.stale, false, NULL, "stale");
}
END_TEST

/* ---- escaping ----------------------------------------------------------------------------- */

static const struct esc_case {
    const char *challenge;
    const char *user, *uri, *cnonce;
    /* expected: raw (unescaped) values hashed, and the quoted text written */
    const char *realm_raw, *nonce_raw, *opaque_raw;
    const char *user_q, *realm_q, *uri_q, *cnonce_q, *opaque_q;
} esc_cases[] = {
    /* a username with a quote and a backslash */
    {"Digest realm=\"r\", nonce=\"n\", qop=\"auth\"", "al\"ice\\x", "u", "c", "r", "n", NULL,
     "\"al\\\"ice\\\\x\"", "\"r\"", "\"u\"", "\"c\"", NULL},
    /* challenge fields with escapes: resolved for the hash, re-escaped canonically */
    {"Digest realm=\"a\\\"b\\\\c\\d\", nonce=\"\\n\\\"\", opaque=\"o\\\\\", qop=\"auth\"", "u",
     "u\"ri", "c\\", "a\"b\\cd", "n\"", "o\\", "\"u\"", "\"a\\\"b\\\\cd\"", "\"u\\\"ri\"",
     "\"c\\\\\"", "\"o\\\\\""},
    /* token forms of realm, nonce and opaque come back quoted */
    {"Digest realm=tok, nonce=n0, opaque=op, qop=auth", "u", "u", "c", "tok", "n0", "op", "\"u\"",
     "\"tok\"", "\"u\"", "\"c\"", "\"op\""},
    /* UTF-8 and HTAB pass through */
    {"Digest realm=\"r\xc3\xa9\", nonce=\"n\", qop=\"auth\"", "\xc3\xbc\tser", "u", "c",
     "r\xc3\xa9", "n", NULL, "\"\xc3\xbc\tser\"", "\"r\xc3\xa9\"", "\"u\"", "\"c\"", NULL},
};

static void assert_contains(const char *out, const char *name, const char *quoted)
{
    char needle[256];

    if (quoted == NULL) {
        snprintf(needle, sizeof needle, " %s=", name);
        ck_assert_msg(strstr(out, needle) == NULL, "'%s' has %s", out, name);
        return;
    }
    snprintf(needle, sizeof needle, "%s=%s", name, quoted);
    ck_assert_msg(strstr(out, needle) != NULL, "'%s' lacks '%s'", out, needle);
}

START_TEST(test_escaping)
{
    const struct esc_case *e = &esc_cases[_i];
    char out[512], want[33];
    struct msrp_digest back;

    ck_assert_int_eq(
        answer(e->challenge, e->user, "pw", "AUTH", e->uri, 7, e->cnonce, NULL, out, sizeof out),
        0);
    assert_contains(out, "username", e->user_q);
    assert_contains(out, "realm", e->realm_q);
    assert_contains(out, "uri", e->uri_q);
    assert_contains(out, "cnonce", e->cnonce_q);
    assert_contains(out, "opaque", e->opaque_q);
    ck_assert_msg(msrp_digest_challenge_parse(msrp_span_cstr(out), &back), "'%s'", out);
    assert_field(back.username, true, e->user, "username");
    assert_field(back.realm, true, e->realm_raw, "realm");
    assert_field(back.nonce, true, e->nonce_raw, "nonce");
    assert_field(back.uri, true, e->uri, "uri");
    assert_field(back.cnonce, true, e->cnonce, "cnonce");
    assert_field(back.opaque, true, e->opaque_raw, "opaque");
    expected_response(e->user, e->realm_raw, "pw", "AUTH", e->uri, e->nonce_raw, "00000007",
                      e->cnonce, "auth", want);
    assert_field(back.response, true, want, "response");
}
END_TEST

/* ---- nc ----------------------------------------------------------------------------------- */

static const struct nc_case {
    uint32_t nc;
    const char *text;
} nc_cases[] = {
    {1, "00000001"},          {255, "000000ff"}, {256, "00000100"},
    {0xdeadbeef, "deadbeef"}, {0, "00000000"},   {UINT32_MAX, "ffffffff"},
};

START_TEST(test_nc)
{
    const struct nc_case *c = &nc_cases[_i];
    char out[512], want[33];
    struct msrp_digest back;

    ck_assert_int_eq(answer(PROBE_CHALLENGE, "alice", "alice-secret", "AUTH", KAM_URI, c->nc, "cn",
                            NULL, out, sizeof out),
                     0);
    ck_assert(msrp_digest_challenge_parse(msrp_span_cstr(out), &back));
    assert_field(back.nc, false, c->text, "nc");
    expected_response("alice", "msrpload.test", "alice-secret", "AUTH", KAM_URI,
                      "awLfUmsC3iZ+eU79dnmI364rv43ZCZhkXhlzyoA=", c->text, "cn", "auth", want);
    assert_field(back.response, true, want, "response");
}
END_TEST

/* ---- cnonce ------------------------------------------------------------------------------- */

static void cnonce_of(const char *out, char cn[64])
{
    struct msrp_digest back;

    ck_assert(msrp_digest_challenge_parse(msrp_span_cstr(out), &back));
    ck_assert_int_ge(msrp_unquote(back.cnonce, cn, 64), 0);
}

START_TEST(test_cnonce_drawn)
{
    struct msrp_idgen ids;
    char out1[512], out2[512], cn1[64], cn2[64];

    ck_assert_int_eq(msrp_idgen_init(&ids), 0);
    ck_assert_int_eq(answer(PROBE_CHALLENGE, "alice", "alice-secret", "AUTH", KAM_URI, 1, NULL,
                            &ids, out1, sizeof out1),
                     0);
    ck_assert_int_eq(answer(PROBE_CHALLENGE, "alice", "alice-secret", "AUTH", KAM_URI, 1, NULL,
                            &ids, out2, sizeof out2),
                     0);
    cnonce_of(out1, cn1);
    cnonce_of(out2, cn2);
    ck_assert_uint_eq(strlen(cn1), MSRP_DIGEST_CNONCE_LEN);
    ck_assert_uint_eq(strlen(cn2), MSRP_DIGEST_CNONCE_LEN);
    ck_assert(is_ident(cn1, strlen(cn1)));
    ck_assert(is_ident(cn2, strlen(cn2)));
    ck_assert_str_ne(cn1, cn2);
    /* the responses differ with them */
    ck_assert_str_ne(out1, out2);
}
END_TEST

static int fill_zero(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    memset(buf, 0, len);
    return 0;
}

static int fill_fail(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    (void)len;
    return -1;
}

/* The cnonce comes from the caller's idgen: byte 0 is 'A'. A failing CSPRNG is EIO. */
START_TEST(test_cnonce_source)
{
    struct msrp_idgen ids;
    char out[512], cn[64];
    size_t len = 12345;

    ck_assert_int_eq(msrp_idgen_init(&ids), 0);
    ids._fill = fill_zero;
    ck_assert_int_eq(answer(PROBE_CHALLENGE, "alice", "alice-secret", "AUTH", KAM_URI, 1, NULL,
                            &ids, out, sizeof out),
                     0);
    cnonce_of(out, cn);
    ck_assert_str_eq(cn, "AAAAAAAAAAAAAAAA");

    struct msrp_digest d;
    char *copy;
    parse_challenge(PROBE_CHALLENGE, &d, &copy);
    ck_assert_int_eq(msrp_idgen_init(&ids), 0);
    ids._fill = fill_fail;
    ck_assert_int_eq(msrp_digest_answer(&d, "alice", "alice-secret", "AUTH", KAM_URI, 1, NULL, &ids,
                                        out, sizeof out, &len),
                     EIO);
    ck_assert_str_eq(out, "");
    ck_assert_uint_eq(len, 12345); /* left alone */
    /* no qop: no cnonce, so the broken idgen is not even asked */
    guarded_free(copy, strlen(PROBE_CHALLENGE));
    parse_challenge(RFC_CHALLENGE_2069, &d, &copy);
    ck_assert_int_eq(msrp_digest_answer(&d, "alice", "alice-secret", "AUTH", KAM_URI, 1, NULL, &ids,
                                        out, sizeof out, &len),
                     0);
    guarded_free(copy, strlen(RFC_CHALLENGE_2069));
}
END_TEST

/* ---- errors ------------------------------------------------------------------------------- */

static const struct err_case {
    const char *challenge;
    const char *user;
    const char *uri;
    const char *cnonce;
    int rc;
} err_cases[] = {
    {"Digest nonce=\"n\", qop=\"auth\"", "u", "x", "c", EINVAL}, /* no realm */
    {"Digest realm=\"r\", qop=\"auth\"", "u", "x", "c", EINVAL}, /* no nonce */
    {"Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256", "u", "x", "c", EINVAL},
    {"Digest realm=\"r\", nonce=\"n\", algorithm=MD5-sess", "u", "x", "c", EINVAL},
    {"Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256", "u", "x", "c", EINVAL},
    {"Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"", "u", "x", "c", EINVAL},
    {"Digest realm=\"r\", nonce=\"n\", qop=\"\"", "u", "x", "c", EINVAL},
    {"Digest realm=\"r\", nonce=\"n\", qop=\"authx, auth-int\"", "u", "x", "c", EINVAL},
    /* no cnonce and no idgen while qop needs one */
    {"Digest realm=\"r\", nonce=\"n\", qop=\"auth\"", "u", "x", NULL, EINVAL},
    /* control characters would break the header line */
    {"Digest realm=\"r\", nonce=\"n\", qop=\"auth\"", "u\r\nX: y", "x", "c", EINVAL},
    {"Digest realm=\"r\", nonce=\"n\", qop=\"auth\"", "u", "x\n", "c", EINVAL},
    {"Digest realm=\"r\", nonce=\"n\", qop=\"auth\"", "u", "x", "c\x7f", EINVAL},
    /* ... but a cnonce with one is harmless when the RFC 2069 form does not send it */
    {"Digest realm=\"r\", nonce=\"n\"", "u", "x", "c\x01", 0},
    /* accepted: algorithm MD5 in any case, qop among others, empty realm */
    {"Digest realm=\"r\", nonce=\"n\", algorithm=md5, qop=\"auth-int,auth\"", "u", "x", "c", 0},
    {"Digest realm=\"r\", nonce=\"n\", algorithm=MD5, qop=auth", "u", "x", "c", 0},
    {"Digest realm=\"\", nonce=\"n\", qop=\" AUTH \"", "u", "x", "c", 0},
};

START_TEST(test_errors)
{
    const struct err_case *e = &err_cases[_i];
    char out[512];

    memset(out, 'z', sizeof out);
    int rc =
        answer(e->challenge, e->user, "pw", "AUTH", e->uri, 1, e->cnonce, NULL, out, sizeof out);
    ck_assert_msg(rc == e->rc, "#%d '%s': rc %d, want %d", _i, e->challenge, rc, e->rc);
    if (rc != 0)
        ck_assert_str_eq(out, "");
}
END_TEST

/* Control characters in challenge fields we write back (a struct not made by the parser). */
START_TEST(test_errors_challenge_ctl)
{
    struct msrp_digest d = {0};
    char out[256];

    d.realm = MSRP_SPAN_LIT("r");
    d.nonce = MSRP_SPAN_LIT("n\r\n");
    ck_assert_int_eq(
        msrp_digest_answer(&d, "u", "p", "AUTH", "x", 1, "c", NULL, out, sizeof out, NULL), EINVAL);
    d.nonce = MSRP_SPAN_LIT("n");
    d.opaque = MSRP_SPAN_LIT("o\n");
    ck_assert_int_eq(
        msrp_digest_answer(&d, "u", "p", "AUTH", "x", 1, "c", NULL, out, sizeof out, NULL), EINVAL);
    d.opaque = MSRP_SPAN_LIT("o");
    ck_assert_int_eq(
        msrp_digest_answer(&d, "u", "p", "AUTH", "x", 1, "c", NULL, out, sizeof out, NULL), 0);
}
END_TEST

START_TEST(test_errors_null)
{
    struct msrp_digest d;
    char *copy, out[256];
    size_t len;

    parse_challenge(PROBE_CHALLENGE, &d, &copy);
    ck_assert_int_eq(
        msrp_digest_answer(NULL, "u", "p", "AUTH", "x", 1, "c", NULL, out, sizeof out, &len),
        EINVAL);
    ck_assert_int_eq(
        msrp_digest_answer(&d, NULL, "p", "AUTH", "x", 1, "c", NULL, out, sizeof out, &len),
        EINVAL);
    ck_assert_int_eq(
        msrp_digest_answer(&d, "u", NULL, "AUTH", "x", 1, "c", NULL, out, sizeof out, &len),
        EINVAL);
    ck_assert_int_eq(
        msrp_digest_answer(&d, "u", "p", NULL, "x", 1, "c", NULL, out, sizeof out, &len), EINVAL);
    ck_assert_int_eq(
        msrp_digest_answer(&d, "u", "p", "AUTH", NULL, 1, "c", NULL, out, sizeof out, &len),
        EINVAL);
    ck_assert_int_eq(msrp_digest_answer(&d, "u", "p", "AUTH", "x", 1, "c", NULL, NULL, 10, &len),
                     EINVAL);
    guarded_free(copy, strlen(PROBE_CHALLENGE));
}
END_TEST

/* ---- limits ------------------------------------------------------------------------------- */

/*
 * ENOSPC reports the length needed; every smaller buffer fails without writing past its end
 * (each ends right before a guard page) and holds ""; cap = length + 1 is exactly enough.
 */
START_TEST(test_small_buffer)
{
    struct msrp_digest d;
    char *copy, full[512];
    size_t need = 0, len;

    memset(full, 'x', sizeof full);
    parse_challenge(RFC_CHALLENGE, &d, &copy);
    ck_assert_int_eq(msrp_digest_answer(&d, RFC_USER, RFC_PASS, "GET", "/dir/index.html", 1,
                                        "0a4f113b", NULL, NULL, 0, &need),
                     ENOSPC);
    ck_assert_uint_eq(need, strlen(kats[0].value));

    for (size_t cap = 1; cap <= need + 1; cap++) {
        char *buf = guarded_copy(full, cap); /* contents irrelevant: overwritten */
        len = 0;
        int rc = msrp_digest_answer(&d, RFC_USER, RFC_PASS, "GET", "/dir/index.html", 1, "0a4f113b",
                                    NULL, buf, cap, &len);
        ck_assert_uint_eq(len, need);
        if (cap <= need) {
            ck_assert_msg(rc == ENOSPC, "cap %zu: rc %d", cap, rc);
            ck_assert_int_eq(buf[0], '\0');
        } else {
            ck_assert_int_eq(rc, 0);
            ck_assert_str_eq(buf, kats[0].value);
        }
        guarded_free(buf, cap);
    }
    /* A drawn cnonce has a fixed length, so the needed length does not depend on it. */
    struct msrp_idgen ids;
    ck_assert_int_eq(msrp_idgen_init(&ids), 0);
    ck_assert_int_eq(msrp_digest_answer(&d, RFC_USER, RFC_PASS, "GET", "/dir/index.html", 1, NULL,
                                        &ids, NULL, 0, &need),
                     ENOSPC);
    ck_assert_uint_eq(need, strlen(kats[0].value) + MSRP_DIGEST_CNONCE_LEN - strlen("0a4f113b"));
    char *buf = guarded_copy(full, need + 1);
    ck_assert_int_eq(msrp_digest_answer(&d, RFC_USER, RFC_PASS, "GET", "/dir/index.html", 1, NULL,
                                        &ids, buf, need + 1, &len),
                     0);
    ck_assert_uint_eq(len, need);
    guarded_free(buf, need + 1);
    guarded_free(copy, strlen(RFC_CHALLENGE));
}
END_TEST

/* Long fields: nothing in the module has a length limit of its own. */
START_TEST(test_long_fields)
{
    enum { N = 3000 };
    char *user = malloc(N + 1), *nonce = malloc(N + 1), *chal = malloc(N + 64);
    char *out = malloc(4 * N), want[33];
    struct msrp_digest back;

    ck_assert(user != NULL && nonce != NULL && chal != NULL && out != NULL);
    memset(user, 'u', N);
    user[N] = '\0';
    memset(nonce, 'n', N);
    nonce[N] = '\0';
    snprintf(chal, N + 64, "Digest realm=\"r\", nonce=\"%s\", qop=\"auth\"", nonce);
    ck_assert_int_eq(answer(chal, user, "p", "AUTH", "x", 3, "c", NULL, out, 4 * N), 0);
    ck_assert(msrp_digest_challenge_parse(msrp_span_cstr(out), &back));
    /* expected_response's buffers are too small for these: build the definition here */
    char *a1 = malloc(N + 8), *kd = malloc(N + 128), ha1[33], ha2[33];
    ck_assert(a1 != NULL && kd != NULL);
    snprintf(a1, N + 8, "%s:r:p", user);
    md5_hex_of(a1, ha1);
    md5_hex_of("AUTH:x", ha2);
    snprintf(kd, N + 128, "%s:%s:00000003:c:auth:%s", ha1, nonce, ha2);
    md5_hex_of(kd, want);
    assert_field(back.response, true, want, "response");
    free(a1);
    free(kd);
    free(user);
    free(nonce);
    free(chal);
    free(out);
}
END_TEST

/* ---- qop lists ---------------------------------------------------------------------------- */

static const struct qop_case {
    const char *list;
    bool has_auth;
} qop_cases[] = {
    {"auth", true},
    {"auth,auth-int", true},
    {"auth-int,auth", true},
    {"auth-int", false},
    {"", false},
    {" auth , auth-int", true},
    {"auth-int ,\tauth\t", true},
    {"AUTH", true},
    {"Auth-Int", false},
    {"authx", false},
    {"aut", false},
    {"xauth", false},
    {",,auth,", true},
    {",", false},
    {"auth-int,token", false},
    {"au\\th", true},    /* a quoted-pair stands for its character */
    {"x\\,auth", false}, /* an escaped comma does not split */
    {"auth\\", false},   /* a lone trailing backslash is a character */
    {"a uth", false},
};

START_TEST(test_qop_has_auth)
{
    const struct qop_case *c = &qop_cases[_i];
    size_t n = strlen(c->list);
    char *copy = guarded_copy(c->list, n);

    ck_assert_msg(msrp_digest_qop_has_auth(msrp_span_make(copy, n)) == c->has_auth, "'%s'",
                  c->list);
    guarded_free(copy, n);
}
END_TEST

START_TEST(test_qop_has_auth_empty)
{
    ck_assert(!msrp_digest_qop_has_auth(msrp_span_make(NULL, 0)));
}
END_TEST

/* ---- suite -------------------------------------------------------------------------------- */

Suite *make_digest_suite(void)
{
    Suite *s = suite_create("digest");
    TCase *tc = tcase_create("Core");

    tcase_add_loop_test(tc, test_known_answer, 0, NELEM(kats));
    tcase_add_test(tc, test_rfc2069_independent);
    tcase_add_loop_test(tc, test_random_vs_definition, 0, 64);
    tcase_add_loop_test(tc, test_probe_roundtrip, 0, 2);
    tcase_add_test(tc, test_probe_stale);
    tcase_add_loop_test(tc, test_escaping, 0, NELEM(esc_cases));
    tcase_add_loop_test(tc, test_nc, 0, NELEM(nc_cases));
    tcase_add_test(tc, test_cnonce_drawn);
    tcase_add_test(tc, test_cnonce_source);
    tcase_add_loop_test(tc, test_qop_has_auth, 0, NELEM(qop_cases));
    tcase_add_test(tc, test_qop_has_auth_empty);
    suite_add_tcase(s, tc);

    tc = tcase_create("Limits");
    tcase_add_test(tc, test_small_buffer);
    tcase_add_test(tc, test_long_fields);
    suite_add_tcase(s, tc);

    tc = tcase_create("Malformed");
    tcase_add_loop_test(tc, test_errors, 0, NELEM(err_cases));
    tcase_add_test(tc, test_errors_challenge_ctl);
    tcase_add_test(tc, test_errors_null);
    suite_add_tcase(s, tc);
    return s;
}
