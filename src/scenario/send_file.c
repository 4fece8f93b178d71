/*
 * send_file.c - a send step's "file" key (scenarios/README.md, "send.file"): file transfers
 * with RFC 5547 semantics over MSRP, from a directory or generated, each file one MSRP
 * message, optionally interrupted and resumed.
 *
 * Owns: struct step_file's keys and rules, the directory's listing, and each of its files
 * read once while loading (64 KiB at a time, never whole) for its size and SHA-1 (the hash
 * selector of RFC 5547 section 6, "MUST add a 160-bit string resulting from the computation
 * of US Secure Hash Algorithm 1"). The bytes themselves are read again as they leave
 * (load/runner_file.c). May not touch: the send's other keys (steps.c).
 */
#include "scenario/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_OBJ_WHAT "an object with \"dir\" or \"size\" (and pick, interrupt_at, resume)"
/* A directory path (at most 511 bytes) quoted whole, every byte escaped at worst. */
#define SCENARIO_PATH_SHOWN_DIR (512 * 6 + 8)
#define INTERRUPT_WHAT "a fraction between 0 and 1 or a whole number of bytes >= 1"

void scenario_file_free(struct step_file *f)
{
    if (f == NULL)
        return;
    for (unsigned i = 0; i < f->num_files; i++) {
        free(f->files[i].path);
        free(f->files[i].name);
    }
    free(f->files);
    distrib_free(&f->size);
    free(f);
}

/* A Content-Type from the name's extension; application/octet-stream for the rest. */
static const char *type_of(const char *name)
{
    static const char *const table[][2] = {
        {"txt", "text/plain"},       {"html", "text/html"},        {"htm", "text/html"},
        {"xml", "application/xml"},  {"json", "application/json"}, {"pdf", "application/pdf"},
        {"jpg", "image/jpeg"},       {"jpeg", "image/jpeg"},       {"png", "image/png"},
        {"gif", "image/gif"},        {"mp4", "video/mp4"},         {"mp3", "audio/mpeg"},
        {"zip", "application/zip"},  {"gz", "application/gzip"},   {"csv", "text/csv"},
    };
    const char *dot = strrchr(name, '.');
    if (dot != NULL && dot != name)
        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
            if (strcasecmp(dot + 1, table[i][0]) == 0)
                return table[i][1];
    return "application/octet-stream";
}

/* Size and SHA-1 of one regular file, read 64 KiB at a time. */
static int hash_file(struct scn__ctx *c, struct scenario_file *f)
{
    char ebuf[128], shown[1100];
    scn__quote_string(f->path, strlen(f->path), shown, sizeof shown);
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return scn__fail(c, "cannot open %s: %s", shown, strerror_r(errno, ebuf, sizeof ebuf));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    char *buf = malloc(65536);
    int rc = -1;
    if (ctx == NULL || buf == NULL || EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1) {
        scn__fail(c, "cannot hash %s: out of memory", shown);
        goto out;
    }
    uint64_t size = 0;
    for (;;) {
        ssize_t n = read(fd, buf, 65536);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            scn__fail(c, "cannot read %s: %s", shown, strerror_r(errno, ebuf, sizeof ebuf));
            goto out;
        }
        if (n == 0)
            break;
        size += (uint64_t)n;
        if (size > SCENARIO_FILE_MAX) {
            scn__fail(c, "%s is larger than %llu bytes (1 GiB), the most a file may be", shown,
                      (unsigned long long)SCENARIO_FILE_MAX);
            goto out;
        }
        EVP_DigestUpdate(ctx, buf, (size_t)n);
    }
    unsigned len = 0;
    if (EVP_DigestFinal_ex(ctx, f->sha1, &len) != 1 || len != 20) {
        scn__fail(c, "cannot hash %s", shown);
        goto out;
    }
    f->size = size;
    rc = 0;
out:
    free(buf);
    EVP_MD_CTX_free(ctx);
    close(fd);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(((const struct scenario_file *)a)->name, ((const struct scenario_file *)b)->name);
}

/* Every regular file of f->dir (symbolic links followed), in name order, hashed. */
static int read_dir(struct scn__ctx *c, struct step_file *f)
{
    char ebuf[128], shown[SCENARIO_PATH_SHOWN_DIR];
    scn__quote_string(f->dir, strlen(f->dir), shown, sizeof shown);
    DIR *d = opendir(f->dir);
    if (d == NULL)
        return scn__fail(c, "cannot open directory %s: %s", shown,
                         strerror_r(errno, ebuf, sizeof ebuf));
    unsigned cap = 0;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        size_t plen = strlen(f->dir) + 1 + strlen(e->d_name) + 1;
        char *path = malloc(plen);
        if (path == NULL) {
            rc = scn__fail(c, "out of memory");
            break;
        }
        snprintf(path, plen, "%s/%s", f->dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        if (f->num_files == SCENARIO_FILE_DIR_MAX) {
            free(path);
            rc = scn__fail(c, "more than %d files in %s", SCENARIO_FILE_DIR_MAX, shown);
            break;
        }
        if (f->num_files == cap) {
            unsigned ncap = cap ? cap * 2 : 16;
            struct scenario_file *nf = realloc(f->files, ncap * sizeof(*nf));
            if (nf == NULL) {
                free(path);
                rc = scn__fail(c, "out of memory");
                break;
            }
            f->files = nf;
            cap = ncap;
        }
        struct scenario_file *sf = &f->files[f->num_files];
        memset(sf, 0, sizeof(*sf));
        sf->path = path;
        sf->name = strdup(e->d_name);
        f->num_files++;
        if (sf->name == NULL)
            rc = scn__fail(c, "out of memory");
    }
    closedir(d);
    if (rc != 0)
        return -1;
    if (f->num_files == 0)
        return scn__fail(c, "no regular file in directory %s: nothing to send", shown);
    /* readdir's order is the file system's: sorted, a run picks the same files again */
    qsort(f->files, f->num_files, sizeof(*f->files), name_cmp);
    for (unsigned i = 0; i < f->num_files; i++) {
        if (hash_file(c, &f->files[i]) != 0)
            return -1;
        snprintf(f->files[i].type, sizeof(f->files[i].type), "%s", type_of(f->files[i].name));
    }
    return 0;
}

/* interrupt_at: a fraction (0 < x < 1) of each file, or whole bytes >= 1. */
static int read_interrupt(struct scn__ctx *c, const json_t *v, struct step_file *f)
{
    if (!json_is_number(v))
        return scn__expected(c, INTERRUPT_WHAT, v, false);
    double x = json_number_value(v);
    if (json_is_integer(v) && json_integer_value(v) >= 1) {
        f->interrupt_bytes = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v) && x > 0 && x < 1) {
        f->interrupt_frac = x;
        return 0;
    }
    return scn__expected(c, INTERRUPT_WHAT, v, false);
}

/* Keys of the send itself that mean nothing, or something else, for a file. */
static int check_send_keys(struct scn__ctx *c, const json_t *send)
{
    static const char *const refused[] = {"size",          "content_file",    "cpim",
                                          "overlap",       "unknown_total",   "interrupt_after",
                                          "abort_after",   NULL};
    for (unsigned i = 0; refused[i] != NULL; i++)
        if (json_object_get(send, refused[i]) != NULL) {
            scn__path_push(c, ".%s", refused[i]);
            return scn__fail(c, "\"%s\" is not allowed together with \"file\"%s", refused[i],
                             strcmp(refused[i], "size") == 0 ? " (give file.size)" : "");
        }
    const json_t *order = json_object_get(send, "order");
    if (order != NULL && !(json_is_string(order) &&
                           strcmp(json_string_value(order), "in-order") == 0)) {
        scn__path_push(c, ".order");
        return scn__fail(c, "only \"in-order\" with \"file\": each byte is read or made once, "
                            "in order, as it leaves");
    }
    return 0;
}

int scn__read_file(struct scn__ctx *c, const json_t *v, struct step_send *s, const json_t *send)
{
    if (check_send_keys(c, send) != 0)
        return -1;
    size_t mark = scn__path_push(c, ".file");
    /* a conformance case sends the bytes it describes, not files */
    if (c->sc->kase != NULL)
        return scn__fail(c, "not allowed in a conformance case file");
    if (!json_is_object(v))
        return scn__expected(c, FILE_OBJ_WHAT, v, false);
    static const char *const allowed[] = {"dir",    "size",   "pick", "interrupt_at",
                                          "resume", "test_corrupt_resume", NULL};
    if (scn__check_keys(c, v, allowed) != 0)
        return -1;
    const json_t *vdir = json_object_get(v, "dir"), *vsize = json_object_get(v, "size");
    if ((vdir == NULL) == (vsize == NULL))
        return scn__fail(c, "expected exactly one of \"dir\" (files to send) and \"size\" "
                            "(files to generate), got %s",
                         vdir == NULL ? "neither" : "both");
    struct step_file *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return scn__fail(c, "out of memory");
    s->file = f; /* owned by the step from here: scn__send_free frees it */
    f->resume = true;
    f->type_given = json_object_get(send, "content_type") != NULL;
    const json_t *x;
    if ((x = json_object_get(v, "pick")) != NULL) {
        size_t m = scn__path_push(c, ".pick");
        static const char *const picks[] = {"sequential", "random", NULL};
        int pick = 0;
        if (vdir == NULL)
            return scn__fail(c, "\"pick\" is only allowed with \"dir\"");
        if (scn__get_enum(c, x, picks, &pick) != 0)
            return -1;
        f->random = pick == 1;
        scn__path_pop(c, m);
    }
    if ((x = json_object_get(v, "resume")) != NULL) {
        size_t m = scn__path_push(c, ".resume");
        if (scn__get_bool(c, x, &f->resume) != 0)
            return -1;
        if (json_object_get(v, "interrupt_at") == NULL)
            return scn__fail(c, "\"resume\" is only allowed with \"interrupt_at\"");
        scn__path_pop(c, m);
    }
    if ((x = json_object_get(v, "test_corrupt_resume")) != NULL) {
        size_t m = scn__path_push(c, ".test_corrupt_resume");
        if (scn__get_bool(c, x, &f->test_corrupt_resume) != 0)
            return -1;
        if (f->test_corrupt_resume && (json_object_get(v, "interrupt_at") == NULL || !f->resume))
            return scn__fail(c, "only with \"interrupt_at\" and \"resume\" true");
        scn__path_pop(c, m);
    }
    if ((x = json_object_get(v, "interrupt_at")) != NULL) {
        size_t m = scn__path_push(c, ".interrupt_at");
        if (read_interrupt(c, x, f) != 0)
            return -1;
        scn__path_pop(c, m);
    }
    uint64_t smallest = 0;
    const char *smallest_name = "size";
    if (vdir != NULL) {
        size_t m = scn__path_push(c, ".dir");
        if (scn__copy_string(c, vdir, "a directory path", f->dir, sizeof(f->dir)) != 0)
            return -1;
        if (f->dir[0] == '\0')
            return scn__expected(c, "a directory path", vdir, true);
        if (read_dir(c, f) != 0)
            return -1;
        smallest = f->files[0].size;
        smallest_name = f->files[0].name;
        for (unsigned i = 1; i < f->num_files; i++)
            if (f->files[i].size < smallest) {
                smallest = f->files[i].size;
                smallest_name = f->files[i].name;
            }
        scn__path_pop(c, m);
    } else {
        size_t m = scn__path_push(c, ".size");
        if (scn__read_distrib(c, vsize, true, &f->size) != 0)
            return -1;
        if (f->size.min < 1 || f->size.max > (double)SCENARIO_FILE_MAX)
            return scn__fail(c, "expected sizes of 1 to %llu bytes (1 GiB), got %.0f to %.0f",
                             (unsigned long long)SCENARIO_FILE_MAX, f->size.min, f->size.max);
        smallest = (uint64_t)f->size.min;
        scn__path_pop(c, m);
    }
    /* An interruption at or past a file's end would interrupt nothing, silently. */
    if (f->interrupt_bytes > 0 && f->interrupt_bytes >= smallest) {
        scn__path_push(c, ".interrupt_at");
        if (vdir != NULL)
            return scn__fail(c, "expected fewer bytes than the smallest file (%s, %llu bytes), "
                                "got %llu",
                             smallest_name, (unsigned long long)smallest,
                             (unsigned long long)f->interrupt_bytes);
        return scn__fail(c, "expected fewer bytes than the smallest size (%llu), got %llu",
                         (unsigned long long)smallest, (unsigned long long)f->interrupt_bytes);
    }
    if (f->interrupt_frac > 0 && smallest < 2) {
        scn__path_push(c, ".interrupt_at");
        return scn__fail(c, "a file of %llu bytes (%s) cannot be cut in two",
                         (unsigned long long)smallest, smallest_name);
    }
    scn__path_pop(c, mark);
    /* The step's own size stays 0: the runner's shared chat payload is not made for files. */
    s->size_min = s->size_max = 0;
    distrib_free(&s->size);
    s->size = (struct distrib){.kind = DISTRIB_FIXED};
    if (!f->type_given)
        snprintf(s->content_type, sizeof(s->content_type), "application/octet-stream");
    return 0;
}

uint64_t scenario_file_cut(const struct step_file *f, uint64_t size)
{
    if (f->interrupt_bytes > 0)
        return f->interrupt_bytes < size ? f->interrupt_bytes : 0;
    if (f->interrupt_frac > 0 && size >= 2) {
        uint64_t k = (uint64_t)floor((double)size * f->interrupt_frac);
        return k < 1 ? 1 : k >= size ? size - 1 : k;
    }
    return 0;
}
