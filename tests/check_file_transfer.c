/*
 * check_file_transfer.c - the file_transfer suite: send.file end to end in the embedded
 * topology (generated files hash-checked by the answering end and the same again from the
 * same seed; a directory's files with their file-selectors; transfers interrupted with "#" and
 * resumed, the answering end checking the joined file, and a corrupted resumption it must
 * catch; abandoned ones; chat and files in one run; a 256 MiB file with the process's memory
 * bounded), and the loader's errors for bad send.file values, naming the JSON path.
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "scenario/scenario.h"
#include "suites.h"
#include "testutil.h"

static int run_cmd(struct tmp *t, const char *args)
{
    char *cmd;
    ck_assert_int_ge(asprintf(&cmd, "timeout 300 %s %s >%s/out 2>%s/err", msrpload_binary(),
                              args, t->dir, t->dir),
                     0);
    int st = system(cmd);
    free(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* Writes a scenario with these steps and answer keys to DIR/s.json and runs it into DIR/r;
 * returns the exit status and the summary (NULL when there is none). */
static json_t *run_steps(struct tmp *t, const char *load, const char *steps, const char *answer,
                         int *rc)
{
    char path[128], *text;
    snprintf(path, sizeof(path), "%s/s.json", t->dir);
    ck_assert_int_ge(asprintf(&text,
                              "{\"name\": \"ft\", \"load\": {%s, \"warm_up\": 0, \"mode\": "
                              "\"closed\", \"duration\": 120},"
                              " \"topology\": {\"kind\": \"embedded\", \"transport\": \"tcp\"},"
                              " \"steps\": [%s], \"answer\": {\"status\": 200%s}}",
                              load, steps, answer),
                     0);
    write_file(path, text, strlen(text));
    free(text);
    char args[512];
    snprintf(args, sizeof(args), "run %s --threads 1 --out %s/r", path, t->dir);
    *rc = run_cmd(t, args);
    snprintf(path, sizeof(path), "%s/r/summary.json", t->dir);
    return json_load_file(path, 0, NULL);
}

static json_int_t fint(json_t *j, const char *key)
{
    json_t *v = json_object_get(json_object_get(j, "files"), key);
    ck_assert_msg(json_is_integer(v), "files.%s is no integer", key);
    return json_integer_value(v);
}

static json_int_t hash_count(json_t *j, const char *key)
{
    json_t *v = json_object_get(json_object_get(json_object_get(j, "files"), "hash_checked"),
                                key);
    ck_assert_msg(json_is_integer(v), "files.hash_checked.%s is no integer", key);
    return json_integer_value(v);
}

static json_t *listed(json_t *j, size_t i)
{
    json_t *e = json_array_get(json_object_get(json_object_get(j, "files"), "list"), i);
    ck_assert_ptr_nonnull(e);
    return e;
}

static const char *sfield(json_t *e, const char *key)
{
    json_t *v = json_object_get(e, key);
    ck_assert_msg(json_is_string(v), "%s is no string", key);
    return json_string_value(v);
}

/* The counts add up: every transfer ends exactly one way. */
static void check_sums(json_t *j)
{
    ck_assert_int_eq(fint(j, "transfers"), fint(j, "completed") + fint(j, "failed") +
                                               fint(j, "abandoned") + fint(j, "unfinished"));
    ck_assert_int_le(fint(j, "resumed"), fint(j, "interrupted"));
}

static const char *const CHECK = ", \"check_sha256\": true";

START_TEST(generated_hash_checked)
{
    struct tmp t;
    tmp_make(&t);
    int rc;
    const char *steps = "{\"send\": {\"count\": 3, \"chunk_size\": 4096, \"file\": {\"size\": "
                        "{\"min\": 1024, \"max\": 300000}}}}, {\"expect\": {\"status\": 200}}";
    json_t *j = run_steps(&t, "\"sessions\": 2, \"seed\": 42", steps, CHECK, &rc);
    ck_assert_msg(rc == 0 && j != NULL, "exit %d", rc);
    ck_assert_int_eq(fint(j, "transfers"), 6);
    ck_assert_int_eq(fint(j, "completed"), 6);
    ck_assert_int_eq(hash_count(j, "ok"), 6);
    ck_assert_int_eq(hash_count(j, "failed"), 0);
    check_sums(j);
    char first[400];
    snprintf(first, sizeof(first), "%s", sfield(listed(j, 0), "file_selector"));
    ck_assert_msg(strncmp(first, "name:\"msrpload-", 15) == 0 &&
                      strstr(first, " type:application/octet-stream size:") != NULL &&
                      strstr(first, " hash:sha-1:") != NULL,
                  "%s", first);
    ck_assert_str_eq(sfield(listed(j, 0), "hash_check"), "ok");
    json_decref(j);
    /* the same seed makes the same files: the same selectors, hashes included */
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s/r", t.dir);
    ck_assert_int_eq(system(cmd), 0);
    j = run_steps(&t, "\"sessions\": 2, \"seed\": 42", steps, CHECK, &rc);
    ck_assert_msg(rc == 0 && j != NULL, "exit %d", rc);
    bool found = false;
    for (size_t i = 0; i < 6; i++)
        found = found || strcmp(sfield(listed(j, i), "file_selector"), first) == 0;
    ck_assert_msg(found, "no transfer of the second run has the selector %s", first);
    json_decref(j);
    tmp_remove(&t);
}
END_TEST

/* SHA-1 as RFC 5547's hash selector writes it: upper-case hex pairs joined by ':'. */
static void sha1_text(const char *data, size_t len, char *out)
{
    unsigned char md[20];
    unsigned n = 0;
    ck_assert(EVP_Digest(data, len, md, &n, EVP_sha1(), NULL) == 1 && n == 20);
    for (int i = 0; i < 20; i++)
        sprintf(out + 3 * i, "%02X%s", md[i], i < 19 ? ":" : "");
}

START_TEST(directory_transfer)
{
    struct tmp t;
    tmp_make(&t);
    char dir[128], path[192];
    snprintf(dir, sizeof(dir), "%s/files", t.dir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    static char big[70000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 7 + 3);
    snprintf(path, sizeof(path), "%s/a.txt", dir);
    write_file(path, "hello, file transfer\n", 21);
    snprintf(path, sizeof(path), "%s/b.png", dir);
    write_file(path, big, sizeof(big));
    snprintf(path, sizeof(path), "%s/sub", dir); /* not a regular file: skipped */
    ck_assert_int_eq(mkdir(path, 0700), 0);
    char steps[512];
    snprintf(steps, sizeof(steps),
             "{\"send\": {\"count\": 4, \"chunk_size\": 8192, \"file\": {\"dir\": \"%s\"}}},"
             " {\"expect\": {\"status\": 200}}",
             dir);
    int rc;
    json_t *j = run_steps(&t, "\"sessions\": 1", steps, CHECK, &rc);
    ck_assert_msg(rc == 0 && j != NULL, "exit %d", rc);
    ck_assert_int_eq(fint(j, "transfers"), 4);
    ck_assert_int_eq(fint(j, "completed"), 4);
    ck_assert_int_eq(hash_count(j, "ok"), 4);
    ck_assert_int_eq(fint(j, "bytes"), 2 * (21 + 70000));
    check_sums(j);
    /* in turn, in name order, each with its own name, type, size and SHA-1 */
    char want[400], hex[64];
    sha1_text("hello, file transfer\n", 21, hex);
    snprintf(want, sizeof(want), "name:\"a.txt\" type:text/plain size:21 hash:sha-1:%s", hex);
    ck_assert_str_eq(sfield(listed(j, 0), "file_selector"), want);
    ck_assert_str_eq(sfield(listed(j, 2), "file_selector"), want);
    sha1_text(big, sizeof(big), hex);
    snprintf(want, sizeof(want), "name:\"b.png\" type:image/png size:70000 hash:sha-1:%s", hex);
    ck_assert_str_eq(sfield(listed(j, 1), "file_selector"), want);
    json_decref(j);
    tmp_remove(&t);
}
END_TEST

START_TEST(resumed_joined_verified)
{
    struct tmp t;
    tmp_make(&t);
    int rc;
    const char *steps = "{\"send\": {\"count\": 2, \"chunk_size\": 4096, \"file\": {\"size\": "
                        "100000, \"interrupt_at\": 30000}}}, {\"expect\": {\"status\": 200}},"
                        "{\"send\": {\"count\": 2, \"chunk_size\": 4096, \"file\": {\"size\": "
                        "50001, \"interrupt_at\": 0.5}}}, {\"expect\": {\"status\": 200}}";
    json_t *j = run_steps(&t, "\"sessions\": 1", steps, CHECK, &rc);
    ck_assert_msg(rc == 0 && j != NULL, "exit %d", rc);
    ck_assert_int_eq(fint(j, "transfers"), 4);
    ck_assert_int_eq(fint(j, "interrupted"), 4);
    ck_assert_int_eq(fint(j, "resumed"), 4);
    ck_assert_int_eq(fint(j, "completed"), 4);
    ck_assert_int_eq(hash_count(j, "ok"), 4);
    ck_assert_int_eq(fint(j, "bytes"), 2 * 100000 + 2 * 50001);
    check_sums(j);
    json_t *e = listed(j, 0);
    ck_assert_int_eq(json_integer_value(json_object_get(e, "interrupted_at")), 30000);
    ck_assert_str_eq(sfield(e, "resume_file_range"), "30001-100000");
    ck_assert_uint_eq(json_array_size(json_object_get(e, "message_ids")), 2);
    ck_assert_str_ne(sfield(e, "resume_file_transfer_id"), sfield(e, "file_transfer_id"));
    e = listed(j, 2);
    ck_assert_int_eq(json_integer_value(json_object_get(e, "interrupted_at")), 25000);
    ck_assert_str_eq(sfield(e, "resume_file_range"), "25001-50001");
    json_decref(j);
    tmp_remove(&t);
}
END_TEST

/* Failure-Report: no after a think time: each message is written whole, and so over, inside
 * msrp_session_send (from the think timer, the session idle): transfers and chat still count
 * once each, and every session finishes its steps (it hung, waiting for a message counted
 * before it was filed, and a transfer was used after it was freed). */
START_TEST(reported_while_sending)
{
    struct tmp t;
    tmp_make(&t);
    int rc;
    const char *steps = "{\"send\": {\"count\": 3, \"failure_report\": \"no\", \"think\": 0.02,"
                        " \"file\": {\"size\": 1000, \"interrupt_at\": 0.5}}},"
                        "{\"send\": {\"count\": 3, \"failure_report\": \"no\", \"think\": 0.02,"
                        " \"file\": {\"size\": 900}}},"
                        "{\"send\": {\"count\": 5, \"size\": 100, \"failure_report\": \"no\","
                        " \"think\": 0.02}}";
    json_t *j = run_steps(&t, "\"sessions\": 2", steps, CHECK, &rc);
    ck_assert_msg(rc == 0 && j != NULL, "exit %d", rc);
    json_t *sess = json_object_get(j, "sessions");
    ck_assert_int_eq(json_integer_value(json_object_get(sess, "completed")), 2);
    json_t *msgs = json_object_get(j, "messages");
    ck_assert_int_eq(json_integer_value(json_object_get(msgs, "sent")), 22);
    ck_assert_int_eq(json_integer_value(json_object_get(msgs, "ok")), 22);
    ck_assert_int_eq(fint(j, "transfers"), 12);
    ck_assert_int_eq(fint(j, "completed"), 12);
    ck_assert_int_eq(fint(j, "resumed"), 6);
    ck_assert_int_eq(hash_count(j, "ok"), 12);
    check_sums(j);
    json_decref(j);
    tmp_remove(&t);
}
END_TEST

START_TEST(corrupted_resume_detected)
{
    struct tmp t;
    tmp_make(&t);
    int rc;
    const char *steps = "{\"send\": {\"count\": 2, \"chunk_size\": 4096, \"file\": {\"size\": "
                        "100000, \"interrupt_at\": 30000, \"test_corrupt_resume\": true}}},"
                        " {\"expect\": {\"status\": 200}}";
    json_t *j = run_steps(&t, "\"sessions\": 1", steps, CHECK, &rc);
    ck_assert_ptr_nonnull(j);
    ck_assert_msg(rc != 0, "a run whose files arrived wrong exited 0");
    ck_assert_int_eq(hash_count(j, "failed"), 2);
    ck_assert_int_eq(hash_count(j, "ok"), 0);
    ck_assert_str_eq(sfield(listed(j, 0), "hash_check"), "failed");
    ck_assert_ptr_nonnull(strstr(sfield(j, "first_error"), "file-selector's SHA-1"));
    json_decref(j);
    tmp_remove(&t);
}
END_TEST

START_TEST(abandoned_without_resume)
{
    struct tmp t;
    tmp_make(&t);
    int rc;
    const char *steps = "{\"send\": {\"count\": 3, \"file\": {\"size\": 9000, \"interrupt_at\": "
                        "1000, \"resume\": false}}}, {\"expect\": {\"status\": 200}}";
    json_t *j = run_steps(&t, "\"sessions\": 1", steps, CHECK, &rc);
    ck_assert_msg(rc == 0 && j != NULL, "exit %d", rc);
    ck_assert_int_eq(fint(j, "transfers"), 3);
    ck_assert_int_eq(fint(j, "interrupted"), 3);
    ck_assert_int_eq(fint(j, "resumed"), 0);
    ck_assert_int_eq(fint(j, "abandoned"), 3);
    ck_assert_int_eq(fint(j, "bytes"), 3000);
    /* never whole at the answering end: nothing to check */
    ck_assert_int_eq(hash_count(j, "ok") + hash_count(j, "failed"), 0);
    check_sums(j);
    json_decref(j);
    tmp_remove(&t);
}
END_TEST

/* A peer that refuses a file (413 past its byte limit): each transfer fails, none is hashed
 * whole, and the counts still add up. */
START_TEST(refused_counts_add_up)
{
    struct tmp t;
    tmp_make(&t);
    int rc;
    const char *steps = "{\"send\": {\"count\": 2, \"chunk_size\": 4096, \"file\": {\"size\": "
                        "100000, \"interrupt_at\": 20000}}}, {\"expect\": {\"status\": 200}}";
    json_t *j = run_steps(&t, "\"sessions\": 1", steps,
                          ", \"check_sha256\": true, \"reject_after_bytes\": 50000", &rc);
    ck_assert_ptr_nonnull(j);
    ck_assert_msg(rc != 0, "a run whose files were refused exited 0");
    ck_assert_int_eq(fint(j, "transfers"), 2);
    ck_assert_int_eq(fint(j, "failed"), 2);
    ck_assert_int_eq(fint(j, "completed"), 0);
    ck_assert_int_eq(fint(j, "interrupted"), 2);
    ck_assert_int_eq(hash_count(j, "ok") + hash_count(j, "failed"), 0);
    check_sums(j);
    ck_assert_int_eq(json_integer_value(json_object_get(listed(j, 0), "status")), 413);
    json_decref(j);
    tmp_remove(&t);
}
END_TEST

START_TEST(chat_and_files_mixed)
{
    struct tmp t;
    tmp_make(&t);
    char args[256];
    snprintf(args, sizeof(args), "run scenarios/file-transfer.json --out %s/r", t.dir);
    int rc = run_cmd(&t, args);
    char path[128];
    snprintf(path, sizeof(path), "%s/r/summary.json", t.dir);
    json_t *j = json_load_file(path, 0, NULL);
    ck_assert_msg(rc == 0 && j != NULL, "exit %d", rc);
    ck_assert_int_eq(fint(j, "transfers"), 16);
    ck_assert_int_eq(fint(j, "completed"), 16);
    ck_assert_int_eq(fint(j, "interrupted"), 8);
    ck_assert_int_eq(fint(j, "resumed"), 8);
    ck_assert_int_eq(hash_count(j, "ok"), 16);
    check_sums(j);
    /* 4 sessions of 20 chat messages and 4 transfers: each transfer one message of its step */
    json_t *m = json_object_get(j, "messages");
    ck_assert_int_eq(json_integer_value(json_object_get(m, "sent")), 96);
    ck_assert_int_eq(json_integer_value(json_object_get(m, "ok")), 96);
    /* the chat payloads are checked by SHA-256 too, the files by their own SHA-1 */
    ck_assert_int_eq(json_integer_value(json_object_get(m, "checked")), 80);
    json_decref(j);
    tmp_remove(&t);
}
END_TEST

/* A 256 MiB file through the embedded ends, interrupted and resumed, hash-checked: the
 * process's resident memory stays far below the file (each side holds one chunk). */
START_TEST(large_generated_bounded_memory)
{
    struct tmp t;
    tmp_make(&t);
    int rc;
    const char *steps = "{\"send\": {\"count\": 1, \"chunk_size\": 65536, \"file\": {\"size\": "
                        "268435456, \"interrupt_at\": 0.25}}}, {\"expect\": {\"status\": 200, "
                        "\"timeout\": 240}}";
    json_t *j = run_steps(&t, "\"sessions\": 1", steps, CHECK, &rc);
    ck_assert_msg(rc == 0 && j != NULL, "exit %d", rc);
    ck_assert_int_eq(hash_count(j, "ok"), 1);
    ck_assert_int_eq(fint(j, "bytes"), 268435456);
    json_t *mem = json_object_get(j, "memory");
    json_int_t peak = json_integer_value(json_object_get(mem, "rss_peak_open_bytes"));
    json_int_t start = json_integer_value(json_object_get(mem, "rss_start_bytes"));
    fprintf(stderr, "large_generated_bounded_memory: RSS %lld -> %lld bytes for a 256 MiB file\n",
            (long long)start, (long long)peak);
    /* sampled once a second while the session is open: the transfer takes longer than that */
    ck_assert_msg(peak > 0, "no memory sample while the session was open");
    ck_assert_msg(peak < 128ll * 1024 * 1024, "RSS %lld bytes for a 256 MiB file", (long long)peak);
    json_decref(j);
    tmp_remove(&t);
}
END_TEST

/* ---- the loader's errors ------------------------------------------------------------------ */

struct bad_case {
    const char *file;  /* the send's "file" value ("DIR" and "EMPTY": the test's directories) */
    const char *extra; /* more keys of the send, or "" */
    const char *path;  /* the JSON path the message must name */
    const char *words; /* and words it must hold */
};

static const struct bad_case bad_cases[] = {
    {"{\"dir\": \"DIR/missing\"}", "", "$.steps[0].send.file.dir: ",
     "cannot open directory \"DIR/missing\": No such file or directory"},
    {"{\"dir\": \"EMPTY\"}", "", "$.steps[0].send.file.dir: ", "no regular file in directory"},
    {"{\"size\": 1000, \"interrupt_at\": 1000}", "", "$.steps[0].send.file.interrupt_at: ",
     "expected fewer bytes than the smallest size (1000), got 1000"},
    {"{\"size\": {\"min\": 500, \"max\": 5000}, \"interrupt_at\": 600}", "",
     "$.steps[0].send.file.interrupt_at: ", "smallest size (500), got 600"},
    {"{\"dir\": \"DIR/files\", \"interrupt_at\": 50}", "", "$.steps[0].send.file.interrupt_at: ",
     "smallest file (small.txt, 10 bytes), got 50"},
    {"{\"size\": 1000, \"interrupt_at\": 1.5}", "", "$.steps[0].send.file.interrupt_at: ",
     "a fraction between 0 and 1 or a whole number of bytes >= 1"},
    {"{\"size\": 1000, \"dir\": \"DIR/files\"}", "", "$.steps[0].send.file: ",
     "exactly one of \"dir\""},
    {"{}", "", "$.steps[0].send.file: ", "got neither"},
    {"{\"size\": 2000000000}", "", "$.steps[0].send.file.size: ", "1 to 1073741824 bytes"},
    {"{\"size\": 1000}", ", \"size\": 100", "$.steps[0].send.size: ",
     "not allowed together with \"file\""},
    {"{\"size\": 1000}", ", \"order\": \"reverse\"", "$.steps[0].send.order: ", "in-order"},
    {"{\"size\": 1000, \"resume\": false}", "", "$.steps[0].send.file.resume: ",
     "only allowed with \"interrupt_at\""},
    {"{\"size\": 1000, \"pick\": \"random\"}", "", "$.steps[0].send.file.pick: ",
     "only allowed with \"dir\""},
};

START_TEST(bad_input_named)
{
    const struct bad_case *bc = &bad_cases[_i];
    struct tmp t;
    tmp_make(&t);
    char dir[160], empty[160], path[200];
    snprintf(dir, sizeof(dir), "%s/files", t.dir);
    snprintf(empty, sizeof(empty), "%s/empty", t.dir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    ck_assert_int_eq(mkdir(empty, 0700), 0);
    snprintf(path, sizeof(path), "%s/small.txt", dir);
    write_file(path, "0123456789", 10);
    snprintf(path, sizeof(path), "%s/larger.bin", dir);
    write_file(path, "0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij", 60);
    /* the case's DIR and EMPTY become the test's directories */
    char file[400], words[400];
    const char *src[2] = {bc->file, bc->words};
    char *dst[2] = {file, words};
    for (int k = 0; k < 2; k++) {
        size_t o = 0;
        for (const char *p = src[k]; *p != '\0' && o + 200 < 400;) {
            if (strncmp(p, "DIR", 3) == 0) {
                o += (size_t)snprintf(dst[k] + o, 400 - o, "%s", t.dir);
                p += 3;
            } else if (strncmp(p, "EMPTY", 5) == 0) {
                o += (size_t)snprintf(dst[k] + o, 400 - o, "%s", empty);
                p += 5;
            } else {
                dst[k][o++] = *p++;
            }
        }
        dst[k][o] = '\0';
    }
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"name\": \"t\", \"steps\": [{\"send\": {\"count\": 1, \"file\": %s%s}}], \"answer\": "
             "{\"check_sha256\": true}}",
             file, bc->extra);
    struct scenario *sc = calloc(1, sizeof(*sc));
    char err[1024];
    int rc = scenario_parse("t.json", text, strlen(text), sc, err, sizeof err);
    ck_assert_msg(rc != 0, "%s loaded", text);
    char want[300];
    snprintf(want, sizeof(want), "t.json: %s", bc->path);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s: got \"%s\"", want, err);
    ck_assert_msg(strstr(err, words) != NULL, "\"%s\" not in \"%s\"", words, err);
    scenario_free(sc);
    free(sc);
    tmp_remove(&t);
}
END_TEST

Suite *make_file_transfer_suite(void)
{
    Suite *s = suite_create("file_transfer");
    TCase *tc = tcase_create("file_transfer");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, generated_hash_checked);
    tcase_add_test(tc, directory_transfer);
    tcase_add_test(tc, resumed_joined_verified);
    tcase_add_test(tc, corrupted_resume_detected);
    tcase_add_test(tc, reported_while_sending);
    tcase_add_test(tc, abandoned_without_resume);
    tcase_add_test(tc, refused_counts_add_up);
    tcase_add_test(tc, chat_and_files_mixed);
    tcase_add_test(tc, large_generated_bounded_memory);
    tcase_add_loop_test(tc, bad_input_named, 0, (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
    suite_add_tcase(s, tc);
    return s;
}
