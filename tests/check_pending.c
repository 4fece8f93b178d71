/*
 * check_pending.c - the Message-ID map that finds relayed messages again where they arrive.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "load/pending.h"
#include "suites.h"

START_TEST(test_put_take)
{
    struct pending_map m;
    pending_init(&m);
    int a = 1, b = 2, c = 3;
    ck_assert_ptr_null(pending_take(&m, "x", 1)); /* empty, never allocated */
    ck_assert_int_eq(pending_put(&m, "abc", 3, &a), 0);
    ck_assert_int_eq(pending_put(&m, "abd", 3, &b), 0);
    ck_assert_uint_eq(pending_count(&m), 2);
    /* the same id again replaces its value */
    ck_assert_int_eq(pending_put(&m, "abc", 3, &c), 0);
    ck_assert_uint_eq(pending_count(&m), 2);
    ck_assert_ptr_null(pending_take(&m, "ab", 2)); /* a prefix is another id */
    ck_assert_ptr_null(pending_take(&m, "abcd", 4));
    ck_assert_ptr_eq(pending_take(&m, "abc", 3), &c);
    ck_assert_ptr_null(pending_take(&m, "abc", 3)); /* taken: gone */
    ck_assert_ptr_eq(pending_take(&m, "abd", 3), &b);
    ck_assert_uint_eq(pending_count(&m), 0);
    pending_free(&m);
}
END_TEST

START_TEST(test_bad_input)
{
    struct pending_map m;
    pending_init(&m);
    int a = 1;
    char long_id[PENDING_ID_MAX + 2];
    memset(long_id, 'a', sizeof(long_id));
    ck_assert_int_eq(pending_put(&m, "", 0, &a), EINVAL);
    ck_assert_int_eq(pending_put(&m, "a", 1, NULL), EINVAL);
    ck_assert_int_eq(pending_put(&m, long_id, PENDING_ID_MAX + 1, &a), EINVAL);
    ck_assert_int_eq(pending_put(&m, long_id, PENDING_ID_MAX, &a), 0);
    ck_assert_ptr_null(pending_take(&m, long_id, PENDING_ID_MAX + 1));
    ck_assert_ptr_null(pending_take(&m, "", 0));
    ck_assert_ptr_eq(pending_take(&m, long_id, PENDING_ID_MAX), &a);
    pending_free(&m);
}
END_TEST

/*
 * Many ids put and taken in a mixed order, against a plain array: every take must find
 * exactly what is still there, across growth and the backward shifts that removal makes
 * (with 20,000 ids the probe runs are long enough to wrap around the table's end).
 */
START_TEST(test_many_against_array)
{
    enum { N = 20000 };
    static int values[N];
    static char live[N];
    struct pending_map m;
    pending_init(&m);
    uint64_t x = 88172645463325252ull;
    size_t expected = 0;
    for (int round = 0; round < 200000; round++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int i = (int)(x % N);
        char id[24];
        int len = snprintf(id, sizeof(id), "msg%d", i);
        if (live[i]) {
            ck_assert_ptr_eq(pending_take(&m, id, (size_t)len), &values[i]);
            live[i] = 0;
            expected--;
        } else {
            ck_assert_int_eq(pending_put(&m, id, (size_t)len, &values[i]), 0);
            live[i] = 1;
            expected++;
        }
        ck_assert_uint_eq(pending_count(&m), expected);
    }
    for (int i = 0; i < N; i++) {
        char id[24];
        int len = snprintf(id, sizeof(id), "msg%d", i);
        void *v = pending_take(&m, id, (size_t)len);
        ck_assert_ptr_eq(v, live[i] ? &values[i] : NULL);
    }
    ck_assert_uint_eq(pending_count(&m), 0);
    pending_free(&m);
}
END_TEST

Suite *make_pending_suite(void)
{
    Suite *s = suite_create("pending");
    TCase *tc = tcase_create("map");
    tcase_add_test(tc, test_put_take);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_many_against_array);
    suite_add_tcase(s, tc);
    return s;
}
