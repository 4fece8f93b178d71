/*
 * steps.c - the "steps" list of a scenario compiled into the flat step array of scenario.h:
 * send, expect, pause, repeat and close here; raw and receive in raw.c.
 *
 * Owns: the step array, the send and expect keys, a send's content_file (read while its step
 * is compiled, after the rules that need no file and before those that need its length; the
 * body belongs to the step from then on, and every way out frees it). May not touch: the
 * templates (template.c), the sections outside "steps", any file but a content_file.
 */
#include "scenario/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wire/values.h"

#define STEP_WHAT                                                                                  \
    "an object with one key: \"send\", \"expect\", \"pause\", \"repeat\", \"close\" or \"raw\""
#define CONTENT_TYPE_WHAT "a media type such as \"text/plain\""
/* A send's content_file is read whole into memory: the cap keeps a wrong path from eating it. */
#define MAX_CONTENT_BYTES (1u << 30)
/* A content_file path (at most 511 bytes) quoted whole, every byte escaped at worst. */
#define SCENARIO_PATH_SHOWN (512 * 6 + 8)

/* ---- steps -------------------------------------------------------------------------------- */

/*
 * Appends a step; compile_step has made sure there is room. A BEGIN keeps a place for its END,
 * so that a repeat whose body would fill the array is refused at the step that overflows rather
 * than at the END, which has no place in the file to name.
 */
struct step *scn__emit(struct scn__ctx *c, enum step_kind kind)
{
    struct scenario *sc = c->sc;
    if (kind == SCN_STEP_REPEAT_BEGIN)
        c->open_repeats++;
    else if (kind == SCN_STEP_REPEAT_END)
        c->open_repeats--;
    struct step *st = &sc->steps[sc->num_steps++];
    memset(st, 0, sizeof *st);
    st->kind = kind;
    return st;
}

static int check_size(struct scn__ctx *c, const json_t *v, struct step_send *s)
{
    if (scn__read_distrib(c, v, true, &s->size) != 0)
        return -1;
    s->size_min = (uint64_t)s->size.min;
    s->size_max = (uint64_t)s->size.max;
    return 0;
}

/*
 * Reads a send's content_file whole. The path is taken as given, so a relative one is relative
 * to the current directory, like every other path msrpload is given.
 */
static int read_content(struct scn__ctx *c, const char *file, char **out, size_t *outlen)
{
    char shown[SCENARIO_PATH_SHOWN];
    char ebuf[128];
    scn__quote_string(file, strlen(file), shown, sizeof shown);

    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return scn__fail(c, "cannot open %s: %s", shown, strerror_r(errno, ebuf, sizeof ebuf));
    /* A regular file is read into a buffer of its size and one byte more, where the end of
     * the file shows without a copy; anything else (a pipe, a device) grows as it comes. */
    size_t cap = 65536, len = 0;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        if ((uint64_t)st.st_size > MAX_CONTENT_BYTES) {
            close(fd);
            return scn__fail(c, "cannot read %s: larger than %u bytes", shown, MAX_CONTENT_BYTES);
        }
        cap = (size_t)st.st_size + 1;
    }
    char *buf = malloc(cap);
    if (buf == NULL) {
        close(fd);
        return scn__fail(c, "cannot read %s: out of memory", shown);
    }
    for (;;) {
        if (len > MAX_CONTENT_BYTES) {
            scn__fail(c, "cannot read %s: larger than %u bytes", shown, MAX_CONTENT_BYTES);
            goto err;
        }
        if (len == cap) {
            size_t ncap = cap * 2 > MAX_CONTENT_BYTES + 1 ? MAX_CONTENT_BYTES + 1 : cap * 2;
            char *nb = realloc(buf, ncap);
            if (nb == NULL) {
                scn__fail(c, "cannot read %s: out of memory", shown);
                goto err;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            scn__fail(c, "cannot read %s: %s", shown, strerror_r(errno, ebuf, sizeof ebuf));
            goto err;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    *out = buf;
    *outlen = len;
    return 0;

err:
    close(fd);
    free(buf);
    return -1;
}

/* How the rules on abort_after and interrupt_after name the message size they compare with. */
static const char *size_name(bool content, bool range, bool low)
{
    if (content)
        return "the length of content_file";
    if (range)
        return low ? "size.min" : "size.max";
    return "size";
}

/*
 * The rules on abort_after and interrupt_after, once the size is known (content_file's is known
 * only once it has been read). Either would otherwise do nothing, silently: an abort past the
 * end of a message, an interruption past its end or past its abort.
 */
static int check_cut(struct scn__ctx *c, const struct step_send *s, bool range)
{
    bool content = s->content != NULL;
    if (s->abort_after > s->size_min) {
        scn__path_push(c, ".abort_after");
        return scn__fail(c, "expected an integer <= %s (%llu), got %llu",
                    size_name(content, range, true), (unsigned long long)s->size_min,
                    (unsigned long long)s->abort_after);
    }
    if (s->interrupt_after > 0 && s->interrupt_after >= s->size_max) {
        scn__path_push(c, ".interrupt_after");
        return scn__fail(c, "expected an integer < %s (%llu), got %llu",
                    size_name(content, range, false), (unsigned long long)s->size_max,
                    (unsigned long long)s->interrupt_after);
    }
    if (s->interrupt_after > 0 && s->abort_after > 0 && s->interrupt_after >= s->abort_after) {
        scn__path_push(c, ".interrupt_after");
        return scn__fail(c, "expected an integer < abort_after (%llu), got %llu",
                    (unsigned long long)s->abort_after, (unsigned long long)s->interrupt_after);
    }
    return 0;
}

/* A send as its keys are read: the step, and what only decides it (the file, the overlap). */
struct send_build {
    struct step_send s;
    char content_file[512];
    uint32_t overlap;
};

static int read_size(struct scn__ctx *c, const json_t *v, void *base)
{
    return check_size(c, v, &((struct send_build *)base)->s);
}

static int read_think(struct scn__ctx *c, const json_t *v, void *base)
{
    struct step_send *s = &((struct send_build *)base)->s;
    if (scn__read_distrib(c, v, false, &s->think) != 0)
        return -1;
    /* The open loop's schedule says when each message leaves (schedule.c). */
    if (c->sc->mode == SCENARIO_OPEN && s->think.max > 0)
        return scn__fail(c, "not allowed when load.mode is \"open\": the rate says when "
                            "messages leave");
    return 0;
}

/* What a send step owns beyond its struct: its content and its size table. */
void scn__send_free(struct step_send *s)
{
    free(s->content);
    s->content = NULL;
    s->content_len = 0;
    distrib_free(&s->size);
    distrib_free(&s->think);
    scenario_file_free(s->file);
    s->file = NULL;
}

/* It goes on the wire as the Content-Type header: it must be one (RFC 4975 section 9), and a
 * line end in it would forge headers. */
static bool content_type_valid(const char *s)
{
    struct msrp_media_type mt;
    return msrp_media_type_parse(msrp_span_cstr(s), &mt);
}

/* In the order of enum msrp_chunk_order. */
static const char *const orders[] = {"in-order", "reverse", "shuffled", "overlapping", NULL};

/* The rules between a send's keys, once each key is known to be right on its own. */
static int check_send_rules(struct scn__ctx *c, const json_t *obj, struct send_build *b)
{
    struct step_send *s = &b->s;
    if (json_object_get(obj, "content_file") != NULL && json_object_get(obj, "size") != NULL) {
        scn__path_push(c, ".content_file");
        return scn__fail(c, "\"content_file\" is not allowed together with \"size\"");
    }
    bool has_overlap = json_object_get(obj, "overlap") != NULL;
    if (has_overlap && s->order != MSRP_ORDER_OVERLAPPING) {
        scn__path_push(c, ".overlap");
        return scn__fail(c, "\"overlap\" is only allowed when order is \"overlapping\"");
    }
    /* A total of "*", an interruption and an abort are a sender's going through a message from
     * its first byte; one whose last chunk may leave first knows the end and may have sent it. */
    if (s->order == MSRP_ORDER_REVERSE || s->order == MSRP_ORDER_SHUFFLED) {
        const char *key = s->unknown_total         ? "unknown_total"
                          : s->interrupt_after > 0 ? "interrupt_after"
                          : s->abort_after > 0     ? "abort_after"
                                                   : NULL;
        if (key != NULL) {
            scn__path_push(c, ".%s", key);
            return scn__fail(c, "\"%s\" is not allowed when order is \"%s\"", key,
                             orders[s->order]);
        }
    }
    if (s->order == MSRP_ORDER_OVERLAPPING) {
        /* Each chunk must carry at least one byte the one before did not. */
        if (b->overlap >= s->chunk_size && has_overlap) {
            scn__path_push(c, ".overlap");
            return scn__fail(c, "expected an integer < chunk_size (%" PRIu32 "), got %" PRIu32,
                             s->chunk_size, b->overlap);
        }
        if (b->overlap >= s->chunk_size) {
            scn__path_push(c, ".chunk_size");
            return scn__fail(c,
                             "expected an integer > overlap (%" PRIu32 ") as order is "
                             "\"overlapping\", got %" PRIu32,
                             b->overlap, s->chunk_size);
        }
        s->overlap = b->overlap;
    }
    return 0;
}

static int compile_send(struct scn__ctx *c, const json_t *obj)
{
    static const char *const allowed[] = {
        "count",      "size",           "content_file",    "content_type",
        "chunk_size", "failure_report", "success_report",  "order",
        "overlap",    "unknown_total",  "interrupt_after", "abort_after",
        "numeric_range_end", "cpim", "think", "file", NULL};
    static const char *const failure[] = {"yes", "no", "partial", "absent", NULL};
    static const int failure_val[] = {MSRP_REPORT_YES, MSRP_REPORT_NO, MSRP_REPORT_PARTIAL,
                                      MSRP_REPORT_ABSENT};
    static const char *const success[] = {"yes", "no", "absent", NULL};
    static const int success_val[] = {MSRP_REPORT_YES, MSRP_REPORT_NO, MSRP_REPORT_ABSENT};
#define B struct send_build
    static const struct scn__key keys[] = {
        SCN_KEY_INT("count", B, s.count, 1, UINT32_MAX),
        SCN_KEY_CUSTOM("size", read_size),
        SCN_KEY_CUSTOM("think", read_think),
        SCN_KEY_STRING("content_file", B, content_file, FILE_WHAT, true, NULL),
        SCN_KEY_STRING("content_type", B, s.content_type, CONTENT_TYPE_WHAT, false,
                       content_type_valid),
        SCN_KEY_INT("chunk_size", B, s.chunk_size, 1, UINT32_MAX),
        SCN_KEY_ENUM("failure_report", B, s.failure_report, failure, failure_val),
        SCN_KEY_ENUM("success_report", B, s.success_report, success, success_val),
        SCN_KEY_ENUM("order", B, s.order, orders, NULL),
        SCN_KEY_INT("overlap", B, overlap, 1, UINT32_MAX),
        SCN_KEY_BOOL("unknown_total", B, s.unknown_total),
        SCN_KEY_BOOL("numeric_range_end", B, s.numeric_range_end),
        SCN_KEY_INT("interrupt_after", B, s.interrupt_after, 1, INT_NO_MAX),
        SCN_KEY_INT("abort_after", B, s.abort_after, 1, INT_NO_MAX),
    };
#undef B
    struct send_build b = {.s = {.count = 1,
                                 .size_min = 100,
                                 .size_max = 100,
                                 .size = {.kind = DISTRIB_FIXED, .value = 100, .min = 100,
                                          .max = 100},
                                 .chunk_size = 2048,
                                 .failure_report = MSRP_REPORT_ABSENT,
                                 .success_report = MSRP_REPORT_ABSENT,
                                 .order = MSRP_ORDER_IN_ORDER},
                           .overlap = 16};

    strcpy(b.s.content_type, "text/plain");
    if (scn__need_object(c, obj) != 0 || scn__check_keys(c, obj, allowed) != 0)
        return -1;
    /* From here the step may own a size table and a content: every way out frees them. */
    if (SCN__READ_KEYS(c, obj, keys, &b) != 0 || check_send_rules(c, obj, &b) != 0)
        goto fail;
    if (b.content_file[0] != '\0') {
        size_t mark = scn__path_push(c, ".content_file");
        if (read_content(c, b.content_file, &b.s.content, &b.s.content_len) != 0)
            goto fail;
        scn__path_pop(c, mark);
        b.s.size_min = b.s.size_max = b.s.content_len;
        b.s.size.value = b.s.size.min = b.s.size.max = (double)b.s.content_len;
    }
    const json_t *vcpim = json_object_get(obj, "cpim");
    if (vcpim != NULL) {
        size_t mark = scn__path_push(c, ".cpim");
        if (scn__read_cpim(c, vcpim, &b.s, json_object_get(obj, "content_type") != NULL) != 0)
            goto fail;
        scn__path_pop(c, mark);
        /* The answering end keeps a message/cpim body whole to check it and answer its IMDN
         * (runner_cpim_keep): a size it could not keep would go unanswered. */
        if (b.s.cpim.on && b.s.size_max > SCENARIO_CPIM_SIZE_MAX) {
            scn__path_push(c, b.s.content != NULL ? ".content_file" : ".size");
            scn__fail(c, "at most %u bytes with cpim (the answering end keeps each "
                         "message/cpim body whole to check it), got up to %llu",
                      SCENARIO_CPIM_SIZE_MAX, (unsigned long long)b.s.size_max);
            goto fail;
        }
    }
    const json_t *vfile = json_object_get(obj, "file");
    if (vfile != NULL && scn__read_file(c, vfile, &b.s, obj) != 0)
        goto fail;
    const json_t *vsize = json_object_get(obj, "size");
    if (check_cut(c, &b.s, vsize != NULL && json_is_object(vsize)) != 0)
        goto fail;
    scn__emit(c, SCN_STEP_SEND)->u.send = b.s;
    return 0;
fail:
    scn__send_free(&b.s);
    return -1;
}


/* expect.status and raw.status: one code or a short list of them. */
int scn__check_statuses(struct scn__ctx *c, const json_t *v, int *statuses, unsigned *num)
{
    json_int_t x;
    if (json_is_integer(v)) {
        if (scn__get_int_what(c, v, 100, 999, STATUS_WHAT, &x) != 0)
            return -1;
        statuses[0] = (int)x;
        *num = 1;
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) == 0)
        return scn__expected(c, STATUS_WHAT, v, false);
    if (json_array_size(v) > SCENARIO_MAX_STATUSES)
        return scn__fail(c, "expected %s, got an array of %zu", STATUS_WHAT, json_array_size(v));
    for (size_t i = 0; i < json_array_size(v); i++) {
        size_t mark = scn__path_push(c, "[%zu]", i);
        if (scn__get_int(c, json_array_get(v, i), 100, 999, &x) != 0)
            return -1;
        statuses[i] = (int)x;
        scn__path_pop(c, mark);
    }
    *num = (unsigned)json_array_size(v);
    return 0;
}

static int read_status(struct scn__ctx *c, const json_t *v, void *base)
{
    struct step_expect *e = base;
    return scn__check_statuses(c, v, e->statuses, &e->num_statuses);
}

/* An integer 100..999, or null: no REPORT expected. */
static int read_report(struct scn__ctx *c, const json_t *v, void *base)
{
    json_int_t x;
    if (json_is_null(v))
        return 0;
    if (scn__get_int_what(c, v, 100, 999, "an integer 100..999 or null", &x) != 0)
        return -1;
    ((struct step_expect *)base)->report = (int)x;
    return 0;
}

static int read_answered(struct scn__ctx *c, const json_t *v, void *base)
{
    bool b = false;
    if (scn__get_bool(c, v, &b) != 0)
        return -1;
    ((struct step_expect *)base)->answered = b ? 1 : 0;
    return 0;
}

static int read_unobservable_if(struct scn__ctx *c, const json_t *v, void *base)
{
    struct step_expect *e = base;
    return scn__check_statuses(c, v, e->unobservable_if, &e->num_unobservable_if);
}

static int compile_expect(struct scn__ctx *c, const json_t *obj)
{
    static const char *const load_keys[] = {"status", "report", "timeout", "answered", NULL};
    static const char *const case_keys[] = {"status",   "report",          "timeout",
                                            "answered", "unobservable_if", NULL};
    static const struct scn__key keys[] = {
        SCN_KEY_CUSTOM("status", read_status),
        SCN_KEY_CUSTOM("report", read_report),
        SCN_KEY_NS("timeout", struct step_expect, timeout_ns),
        SCN_KEY_CUSTOM("answered", read_answered),
        SCN_KEY_CUSTOM("unobservable_if", read_unobservable_if),
    };
    struct step_expect e = {.statuses = {200},
                            .num_statuses = 1,
                            .report = 0,
                            .timeout_ns = 30ull * 1000000000ull,
                            .answered = -1};

    if (scn__need_object(c, obj) != 0 ||
        scn__check_keys(c, obj, c->is_case ? case_keys : load_keys) != 0 ||
        SCN__READ_KEYS(c, obj, keys, &e) != 0)
        return -1;
    scn__emit(c, SCN_STEP_EXPECT)->u.expect = e;
    return 0;
}

static int compile_repeat(struct scn__ctx *c, const json_t *obj)
{
    static const char *const keys[] = {"times", "steps", NULL};
    uint32_t times;

    if (scn__need_object(c, obj) != 0 || scn__check_keys(c, obj, keys) != 0)
        return -1;
    const json_t *vtimes = json_object_get(obj, "times"), *body = json_object_get(obj, "steps");
    if (vtimes == NULL)
        return scn__fail(c, "required key \"times\" missing");
    if (body == NULL)
        return scn__fail(c, "required key \"steps\" missing");
    size_t mark = scn__path_push(c, ".times");
    if (scn__get_u32(c, vtimes, 0, &times) != 0)
        return -1;
    scn__path_pop(c, mark);
    mark = scn__path_push(c, ".steps");
    /* An empty body repeated until the run ends would spin without doing anything. */
    if (!json_is_array(body) || json_array_size(body) == 0)
        return scn__expected(c, STEPS_WHAT, body, false);
    scn__path_pop(c, mark);

    struct step *st = scn__emit(c, SCN_STEP_REPEAT_BEGIN);
    uint32_t begin = c->sc->num_steps - 1;
    st->u.repeat.times = times;

    mark = scn__path_push(c, ".steps");
    if (scn__compile_list(c, body) != 0)
        return -1;
    scn__path_pop(c, mark);

    st = scn__emit(c, SCN_STEP_REPEAT_END);
    uint32_t end = c->sc->num_steps - 1;
    st->u.repeat.times = times;
    st->u.repeat.other = begin;
    c->sc->steps[begin].u.repeat.other = end;
    return 0;
}

static int compile_step(struct scn__ctx *c, const json_t *item, bool *after_send)
{
    static const char *const load_keys[] = {"send",  "expect", "pause", "repeat",
                                            "close", "raw",    NULL};
    static const char *const case_keys[] = {"send",  "expect", "pause",   "repeat",
                                            "close", "raw",    "receive", NULL};
    const char *const *keys = c->is_case ? case_keys : load_keys;
    static const char *const none[] = {NULL};

    if (!json_is_object(item))
        return scn__expected(c, STEP_WHAT, item, false);
    if (scn__check_keys(c, item, keys) != 0)
        return -1;
    if (json_object_size(item) != 1) {
        if (json_object_size(item) == 0)
            return scn__expected(c, STEP_WHAT, item, false);
        return scn__fail(c, "expected %s, got an object with %zu keys", STEP_WHAT,
                    json_object_size(item));
    }
    void *it = json_object_iter((json_t *)item);
    const char *key = json_object_iter_key(it);
    const json_t *v = json_object_iter_value(it);

    /* An expect checks the messages of the send right before it; anywhere else it would have
     * nothing to check. */
    bool is_send = strcmp(key, "send") == 0;
    if (strcmp(key, "expect") == 0 && !*after_send)
        return scn__fail(c, "expect must directly follow a send in the same list of steps");
    *after_send = is_send;

    unsigned need = strcmp(key, "repeat") == 0 ? 2 : 1;
    if (c->sc->num_steps + c->open_repeats + need > SCENARIO_MAX_STEPS)
        return scn__fail(c, "too many steps: at most %d in all, a repeat counting as 2",
                    SCENARIO_MAX_STEPS);

    size_t mark = scn__path_push(c, ".%s", key);
    int rc;
    if (is_send) {
        rc = compile_send(c, v);
    } else if (strcmp(key, "expect") == 0) {
        rc = compile_expect(c, v);
    } else if (strcmp(key, "pause") == 0 && json_is_object(v) && !c->is_case) {
        /* a wait drawn for each session from a distribution, as send.think */
        struct distrib d;
        rc = scn__read_distrib(c, v, false, &d);
        if (rc == 0)
            scn__emit(c, SCN_STEP_PAUSE)->pause_dist = d;
    } else if (strcmp(key, "pause") == 0) {
        uint64_t ns = 0;
        rc = scn__get_ns(c, v, &ns);
        if (rc == 0)
            scn__emit(c, SCN_STEP_PAUSE)->u.pause_ns = ns;
    } else if (strcmp(key, "repeat") == 0) {
        rc = compile_repeat(c, v);
    } else if (strcmp(key, "raw") == 0) {
        rc = scn__compile_raw(c, v);
    } else if (strcmp(key, "receive") == 0) {
        rc = scn__compile_receive(c, v);
    } else {
        if (!json_is_object(v))
            return scn__expected(c, "an empty object", v, false);
        rc = scn__check_keys(c, v, none);
        if (rc == 0)
            scn__emit(c, SCN_STEP_CLOSE);
    }
    if (rc != 0)
        return -1;
    scn__path_pop(c, mark);
    return 0;
}

int scn__compile_list(struct scn__ctx *c, const json_t *list)
{
    bool after_send = false;
    for (size_t i = 0; i < json_array_size(list); i++) {
        size_t mark = scn__path_push(c, "[%zu]", i);
        if (compile_step(c, json_array_get(list, i), &after_send) != 0)
            return -1;
        scn__path_pop(c, mark);
    }
    return 0;
}
