/*
 * check_cli.c - the msrpload command line, run as a user would: --help, --version, decode.
 *
 * The binary under test is $MSRPLOAD_BIN, or ./msrpload from the top of the tree.
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "suites.h"
#include "testutil.h"

struct run_result {
    int status;     /* exit code, or -1 when killed */
    char *out;
    size_t out_len;
    char *err;
    size_t err_len;
};


/* Runs `msrpload ARGS` through the shell with stdin from `input` (or /dev/null). */
static struct run_result run(const char *args, const char *input)
{
    char dir[] = "/tmp/msrpload-cli-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *cmd, *out_path, *err_path;
    ck_assert_int_ge(asprintf(&out_path, "%s/out", dir), 0);
    ck_assert_int_ge(asprintf(&err_path, "%s/err", dir), 0);
    ck_assert_int_ge(asprintf(&cmd, "%s %s <%s >%s 2>%s", msrpload_binary(), args,
                              input != NULL ? input : "/dev/null", out_path, err_path),
                     0);
    int st = system(cmd);
    struct run_result r;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = read_file(out_path, &r.out_len);
    r.err = read_file(err_path, &r.err_len);
    r.out = realloc(r.out, r.out_len + 1);
    r.out[r.out_len] = '\0';
    r.err = realloc(r.err, r.err_len + 1);
    r.err[r.err_len] = '\0';
    unlink(out_path);
    unlink(err_path);
    rmdir(dir);
    free(cmd);
    free(out_path);
    free(err_path);
    return r;
}

static void run_free(struct run_result *r)
{
    free(r->out);
    free(r->err);
}

/* Splits output into JSON objects, one per line; returns how many. */
static size_t json_lines(const char *out, json_t **objs, size_t max)
{
    size_t n = 0;
    const char *line = out;
    while (*line != '\0') {
        const char *nl = strchr(line, '\n');
        ck_assert_msg(nl != NULL, "output line without newline");
        json_error_t jerr;
        json_t *o = json_loadb(line, (size_t)(nl - line), 0, &jerr);
        ck_assert_msg(o != NULL && json_is_object(o), "not a JSON object: %.*s (%s)",
                      (int)(nl - line), line, jerr.text);
        ck_assert_uint_lt(n, max);
        objs[n++] = o;
        line = nl + 1;
    }
    return n;
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n;
    ck_assert_int_eq(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL), 1);
    for (unsigned i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

START_TEST(version_and_help)
{
    struct run_result r = run("--version", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert(strncmp(r.out, "msrpload ", 9) == 0);
    run_free(&r);

    r = run("--help", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "decode"));
    ck_assert_ptr_nonnull(strstr(r.out, "bench"));
    run_free(&r);

    r = run("", NULL);
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "usage"));
    run_free(&r);

    r = run("frobnicate", NULL);
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "unknown command"));
    run_free(&r);

    const char *sub[] = {"decode --help", "bench --help"};
    for (size_t i = 0; i < 2; i++) {
        r = run(sub[i], NULL);
        ck_assert_int_eq(r.status, 0);
        ck_assert_ptr_nonnull(strstr(r.out, "usage: msrpload"));
        run_free(&r);
    }
    r = run("decode --bogus", NULL);
    ck_assert_int_eq(r.status, 2);
    run_free(&r);
}
END_TEST

START_TEST(decode_report_example)
{
    struct run_result r = run("decode tests/vectors/4975-11.6-report.msrp", NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    json_t *o[4];
    ck_assert_uint_eq(json_lines(r.out, o, 4), 2);

    ck_assert_int_eq(json_integer_value(json_object_get(o[0], "offset")), 0);
    ck_assert_str_eq(json_string_value(json_object_get(o[0], "tid")), "5sdkd");
    ck_assert_str_eq(json_string_value(json_object_get(o[0], "method")), "SEND");
    json_t *h = json_object_get(o[0], "headers");
    ck_assert_uint_eq(json_object_size(h), 7);
    ck_assert_str_eq(json_string_value(json_object_get(h, "Success-Report")), "yes");
    /* Header order is wire order. */
    ck_assert_str_eq(json_object_iter_key(json_object_iter(h)), "To-Path");
    json_t *br = json_object_get(o[0], "byte_range");
    ck_assert_int_eq(json_integer_value(json_array_get(br, 0)), 1);
    ck_assert_int_eq(json_integer_value(json_array_get(br, 1)), 16);
    ck_assert_int_eq(json_integer_value(json_array_get(br, 2)), 16);
    ck_assert_int_eq(json_integer_value(json_object_get(o[0], "body_len")), 14);
    char want[65];
    sha256_hex("Hi, I'm Alice!", 14, want);
    ck_assert_str_eq(json_string_value(json_object_get(o[0], "body_sha256")), want);
    ck_assert_str_eq(json_string_value(json_object_get(o[0], "flag")), "$");
    ck_assert_ptr_null(json_object_get(o[0], "violations"));

    ck_assert_str_eq(json_string_value(json_object_get(o[1], "method")), "REPORT");
    size_t first_len;
    char *raw = read_file("tests/vectors/4975-11.6-report.msrp", &first_len);
    size_t second = (size_t)(strstr(raw, "MSRP dkei38sd") - raw);
    ck_assert_int_eq(json_integer_value(json_object_get(o[1], "offset")), (json_int_t)second);
    free(raw);
    for (int i = 0; i < 2; i++)
        json_decref(o[i]);
    run_free(&r);
}
END_TEST

START_TEST(decode_responses_and_stars)
{
    struct run_result r = run("decode -", "tests/vectors/4975-11.3-chunked.msrp");
    ck_assert_int_eq(r.status, 0);
    json_t *o[4];
    ck_assert_uint_eq(json_lines(r.out, o, 4), 2);
    json_t *br = json_object_get(o[0], "byte_range");
    ck_assert(json_is_null(json_array_get(br, 1)));
    ck_assert(json_is_null(json_array_get(br, 2)));
    ck_assert_str_eq(json_string_value(json_object_get(o[0], "flag")), "+");
    json_decref(o[0]);
    json_decref(o[1]);
    run_free(&r);

    r = run("decode tests/vectors/4976-5.1-auth-responses.msrp", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(json_lines(r.out, o, 4), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(o[0], "status")), 401);
    ck_assert_str_eq(json_string_value(json_object_get(o[0], "comment")), "Unauthorized");
    ck_assert(json_is_null(json_object_get(o[0], "byte_range")));
    ck_assert_ptr_null(json_object_get(o[0], "method"));
    /* Quotes inside header values survive the JSON escaping. */
    const char *www = json_string_value(
        json_object_get(json_object_get(o[0], "headers"), "WWW-Authenticate"));
    ck_assert_ptr_nonnull(strstr(www, "realm=\"intra.example.com\""));
    for (int i = 0; i < 3; i++)
        json_decref(o[i]);
    run_free(&r);
}
END_TEST

START_TEST(decode_malformed_reports_offset)
{
    struct run_result r = run("decode tests/malformed/protocol.garbage-between.msrp", NULL);
    ck_assert_int_eq(r.status, 1);
    json_t *o[2];
    ck_assert_uint_eq(json_lines(r.out, o, 2), 1);
    json_decref(o[0]);
    size_t len;
    char *raw = read_file("tests/malformed/protocol.garbage-between.msrp", &len);
    size_t at = (size_t)(strstr(raw, "XMSRP") - raw);
    char want[64];
    snprintf(want, sizeof(want), "byte %zu:", at);
    ck_assert_msg(strstr(r.err, want) != NULL, "stderr: %s", r.err);
    ck_assert_ptr_nonnull(strstr(r.err, "(protocol)"));
    free(raw);
    run_free(&r);

    /* A chunk error: the chunk is printed with its error, and the exit code is 1. */
    r = run("decode tests/malformed/byte-range.syntax.msrp", NULL);
    ck_assert_int_eq(r.status, 1);
    ck_assert_uint_eq(json_lines(r.out, o, 2), 1);
    ck_assert_str_eq(json_string_value(json_object_get(o[0], "error")), "byte-range");
    json_decref(o[0]);
    ck_assert_ptr_nonnull(strstr(r.err, "chunk at byte 0"));
    run_free(&r);

    r = run("decode tests/does-not-exist.msrp", NULL);
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "does-not-exist"));
    run_free(&r);
}
END_TEST

/*
 * A chunk whose framing holds but whose head is invalid (a Message-ID that is not an ident)
 * between two good ones: all three are printed, the bad one with its error, and decode still
 * exits 1 once the stream is read to its end.
 */
START_TEST(decode_goes_on_after_a_bad_head)
{
    static const char good[] = "MSRP good%04d SEND\r\nTo-Path: msrp://b.example.com:8888/s1;tcp\r\n"
                               "From-Path: msrp://a.example.com:7777/s2;tcp\r\n"
                               "Message-ID: mid%05d\r\nByte-Range: 1-2/2\r\n"
                               "Content-Type: text/plain\r\n\r\nhi\r\n-------good%04d$\r\n";
    char path[] = "/tmp/msrpload-badhead-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "wb");
    ck_assert_ptr_nonnull(f);
    fprintf(f, good, 1, 1, 1);
    long bad_at = ftell(f);
    fputs("MSRP badd0002 SEND\r\nTo-Path: msrp://b.example.com:8888/s1;tcp\r\n"
          "From-Path: msrp://a.example.com:7777/s2;tcp\r\nMessage-ID: ab\r\n"
          "-------badd0002$\r\n",
          f);
    fprintf(f, good, 3, 3, 3);
    fclose(f);
    char *args;
    ck_assert_int_ge(asprintf(&args, "decode %s", path), 0);
    struct run_result r = run(args, NULL);
    ck_assert_msg(r.status == 1, "exit %d: %s", r.status, r.err);
    json_t *o[4];
    ck_assert_uint_eq(json_lines(r.out, o, 4), 3);
    ck_assert_str_eq(json_string_value(json_object_get(o[0], "tid")), "good0001");
    ck_assert_ptr_null(json_object_get(o[0], "error"));
    ck_assert_str_eq(json_string_value(json_object_get(o[1], "tid")), "badd0002");
    ck_assert_str_eq(json_string_value(json_object_get(o[1], "error")), "message-id");
    ck_assert_int_eq(json_integer_value(json_object_get(o[1], "offset")), bad_at);
    ck_assert_str_eq(json_string_value(json_object_get(o[2], "tid")), "good0003");
    ck_assert_ptr_null(json_object_get(o[2], "error"));
    ck_assert_int_eq(json_integer_value(json_object_get(o[2], "body_len")), 2);
    for (int i = 0; i < 3; i++)
        json_decref(o[i]);
    char want[64];
    snprintf(want, sizeof(want), "chunk at byte %ld:", bad_at);
    ck_assert_msg(strstr(r.err, want) != NULL, "stderr: %s", r.err);
    run_free(&r);
    unlink(path);
    free(args);
}
END_TEST

START_TEST(decode_truncated_stream)
{
    char path[] = "/tmp/msrpload-trunc-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    size_t len;
    char *raw = read_file("tests/vectors/4975-11.1-basic-im.msrp", &len);
    ck_assert_int_eq(write(fd, raw, len - 5), (ssize_t)(len - 5));
    close(fd);
    char *args;
    ck_assert_int_ge(asprintf(&args, "decode %s", path), 0);
    struct run_result r = run(args, NULL);
    ck_assert_int_eq(r.status, 1);
    json_t *o[2];
    ck_assert_uint_eq(json_lines(r.out, o, 2), 1);
    json_decref(o[0]);
    ck_assert_ptr_nonnull(strstr(r.err, "stream ends inside a chunk"));
    run_free(&r);
    unlink(path);
    free(args);
    free(raw);
}
END_TEST

START_TEST(decode_large_body_in_segments)
{
    /* 3 MiB body: more than decode's 1 MiB segment, so its hash spans several segments. */
    size_t body_len = 3u << 20;
    char *body = malloc(body_len);
    uint64_t seed = 7;
    for (size_t i = 0; i < body_len; i++)
        body[i] = (char)(test_rand(&seed) & 0xff);
    /* Keep the random body from holding the end-line by accident: no dash at all. */
    for (size_t i = 0; i < body_len; i++)
        if (body[i] == '-')
            body[i] = '_';
    char path[] = "/tmp/msrpload-big-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "wb");
    fprintf(f, "MSRP big00001 SEND\r\nTo-Path: msrp://b.example.com:1/s;tcp\r\n"
               "From-Path: msrp://a.example.com:2/t;tcp\r\nMessage-ID: bigm1\r\n"
               "Byte-Range: 1-%zu/%zu\r\nContent-Type: application/octet-stream\r\n\r\n",
            body_len, body_len);
    fwrite(body, 1, body_len, f);
    fputs("\r\n-------big00001$\r\n", f);
    fclose(f);
    char *args;
    ck_assert_int_ge(asprintf(&args, "decode %s", path), 0);
    struct run_result r = run(args, NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    json_t *o[2];
    ck_assert_uint_eq(json_lines(r.out, o, 2), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(o[0], "body_len")), (json_int_t)body_len);
    char want[65];
    sha256_hex(body, body_len, want);
    ck_assert_str_eq(json_string_value(json_object_get(o[0], "body_sha256")), want);
    json_decref(o[0]);
    run_free(&r);
    unlink(path);
    free(args);
    free(body);
}
END_TEST

/*
 * The output format, on the quick groups: the network and runner groups run thousands of
 * sessions for seconds each, which is make bench's job, not a test's.
 */
START_TEST(bench_output_format)
{
    static const struct {
        const char *args;
        const char *names[3];
    } groups[] = {
        {"bench --seconds 0.02 --only parse",
         {"parse_small_chunks_per_s", "parse_large_body_bytes_per_s", "memchr_bytes_per_s"}},
        {"bench --seconds 0.02 --only write", {"write_small_chunks_per_s", NULL, NULL}},
        {"bench --seconds 0.02 --only tcp_raw", {"tcp_raw_bytes_per_s", NULL, NULL}},
    };
    struct run_result r;
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        r = run(groups[g].args, NULL);
        ck_assert_msg(r.status == 0, "%s: exit %d: %s", groups[g].args, r.status, r.err);
        for (size_t i = 0; i < 3 && groups[g].names[i] != NULL; i++)
            ck_assert_msg(strstr(r.out, groups[g].names[i]) != NULL, "no %s in %s",
                          groups[g].names[i], r.out);
        /* Every line is `bench <name> <number> <unit>`, and only selected groups ran. */
        int lines = 0;
        for (char *line = strtok(r.out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
            char name[128], unit[64];
            double value;
            ck_assert_msg(sscanf(line, "bench %127s %lf %63s", name, &value, unit) == 3,
                          "bad line: %s", line);
            ck_assert(value > 0);
            ck_assert_msg(strstr(name, "run_") == NULL && strstr(name, "e2e_") == NULL,
                          "%s ran with %s", name, groups[g].args);
            lines++;
        }
        ck_assert_int_gt(lines, 0);
        r.out[0] = '\0';
        run_free(&r);
    }
    r = run("bench --seconds nope", NULL);
    ck_assert_int_eq(r.status, 2);
    run_free(&r);
}
END_TEST

/*
 * The TLS figures (one msrps session for a tenth of a second): the raw loop and MSRP over
 * TLS each print their figures, the raw loop names the negotiated version and cipher, and
 * --only keeps the TCP figures out. The raw loop's writer must also be stopped when its
 * window is full (a hang here is a timeout of this test).
 */
START_TEST(bench_tls_figures)
{
    struct run_result r = run("bench --seconds 0.1 --only e2e_tls", NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    const char *names[] = {"tls_raw_bytes_per_s", "e2e_tls_64k_bytes_per_s",
                           "e2e_tls_64k_percent_of_raw"};
    for (size_t i = 0; i < 3; i++)
        ck_assert_msg(strstr(r.out, names[i]) != NULL, "no %s in %s", names[i], r.out);
    ck_assert_msg(strstr(r.out, "tcp_raw") == NULL && strstr(r.out, "e2e_64k") == NULL,
                  "TCP figures ran: %s", r.out);
    ck_assert_msg(strstr(r.err, "# tls: TLSv1.") != NULL, "no cipher line: %s", r.err);
    run_free(&r);

    /* The limit alone: no MSRP session. */
    r = run("bench --seconds 0.1 --only tls", NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert(strstr(r.out, "bench tls_raw_bytes_per_s ") != NULL);
    ck_assert_msg(strstr(r.out, "e2e_") == NULL, "MSRP figures ran: %s", r.out);
    run_free(&r);
}
END_TEST

Suite *make_cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("Commands");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, version_and_help);
    tcase_add_test(tc, bench_output_format);
    tcase_add_test(tc, bench_tls_figures);
    suite_add_tcase(s, tc);
    tc = tcase_create("Decode");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, decode_report_example);
    tcase_add_test(tc, decode_responses_and_stars);
    tcase_add_test(tc, decode_malformed_reports_offset);
    tcase_add_test(tc, decode_goes_on_after_a_bad_head);
    tcase_add_test(tc, decode_truncated_stream);
    tcase_add_test(tc, decode_large_body_in_segments);
    suite_add_tcase(s, tc);
    return s;
}
