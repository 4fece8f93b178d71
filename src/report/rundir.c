/*
 * rundir.c - the run directory itself: making it before the load, writing one file into it
 * whole (temporary name, then rename), and the PARTIAL file that says the report in it is not
 * (yet) whole. report.c decides what goes into the files.
 */
#include "report/report.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int report_write_file(const char *dir, const char *name, const char *text, size_t len,
                      char *err, size_t errlen)
{
    char tmp[1024], final[1024];
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
    snprintf(final, sizeof(final), "%s/%s", dir, name);
    errno = 0;
    FILE *f = fopen(tmp, "wb");
    bool ok = f != NULL && fwrite(text, 1, len, f) == len;
    /* A full disk may only show at the flush, so fflush's errno is kept over fclose's. */
    if (f != NULL && ok && fflush(f) != 0)
        ok = false;
    int e = errno;
    if (f != NULL && fclose(f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        e = e ? e : EIO;
        snprintf(err, errlen, "cannot write %s: %s", final, strerror(e));
        unlink(tmp); /* gives back what it took: PARTIAL may then still say why */
        return e;
    }
    if (rename(tmp, final) != 0) {
        e = errno;
        snprintf(err, errlen, "cannot rename %s: %s", tmp, strerror(e));
        unlink(tmp);
        return e;
    }
    return 0;
}

/* Writes text as dir/PARTIAL in place (no temporary: on a full disk the rewrite of a file that
 * already holds a block is the write most likely to still succeed). */
static int write_partial(const char *dir, const char *text)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/" REPORT_PARTIAL_FILE, dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno;
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int e = n == (ssize_t)len ? 0 : n < 0 ? errno : ENOSPC;
    if (close(fd) != 0 && e == 0)
        e = errno;
    return e;
}

void report_mark_partial(const char *dir, const char *why)
{
    char text[1400];
    snprintf(text, sizeof(text),
             "msrpload: this report is partial, not every file could be written: %s\n", why);
    write_partial(dir, text);
}

/* mkdir, and the PARTIAL file in it; the directory is removed again when PARTIAL fails. */
static int make_marked_dir(const char *dir, char *err, size_t errlen, bool *exists)
{
    *exists = false;
    if (mkdir(dir, 0755) != 0) {
        int e = errno;
        *exists = e == EEXIST;
        snprintf(err, errlen, "cannot create %s: %s%s", dir, strerror(e),
                 e == EEXIST ? " (a run is never written over another)" : "");
        return e;
    }
    int e = write_partial(dir, "msrpload: the report is being written into this directory; "
                               "while this file is here it is not whole\n");
    if (e != 0) {
        snprintf(err, errlen, "cannot write %s/" REPORT_PARTIAL_FILE ": %s", dir, strerror(e));
        char path[1024];
        snprintf(path, sizeof(path), "%s/" REPORT_PARTIAL_FILE, dir);
        unlink(path);
        rmdir(dir);
    }
    return e;
}

int report_make_dir(const char *results_root, const char *out_dir, const char *name,
                    double when_unix, char *dir, size_t dirlen, char *err, size_t errlen)
{
    bool exists;
    if (out_dir != NULL) {
        if (out_dir[0] == '\0') {
            snprintf(err, errlen, "an empty path is no directory");
            return EINVAL;
        }
        if (strlen(out_dir) >= dirlen || strlen(out_dir) > 900) {
            snprintf(err, errlen, "%.60s...: the path is too long", out_dir);
            return ENAMETOOLONG;
        }
        snprintf(dir, dirlen, "%s", out_dir);
        return make_marked_dir(dir, err, errlen, &exists);
    }
    if (mkdir(results_root, 0755) != 0 && errno != EEXIST) {
        int e = errno;
        snprintf(err, errlen, "cannot create %s: %s", results_root, strerror(e));
        return e;
    }
    time_t t = (time_t)when_unix;
    struct tm tm;
    gmtime_r(&t, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    for (int n = 1; n < 1000; n++) {
        if (n == 1)
            snprintf(dir, dirlen, "%s/%s-%s", results_root, name, stamp);
        else
            snprintf(dir, dirlen, "%s/%s-%s-%d", results_root, name, stamp, n);
        int e = make_marked_dir(dir, err, errlen, &exists);
        if (!exists)
            return e;
    }
    snprintf(err, errlen, "too many runs named %s/%s-%s", results_root, name, stamp);
    return EEXIST;
}

int report_finish_dir(const char *dir, char *err, size_t errlen)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/" REPORT_PARTIAL_FILE, dir);
    if (unlink(path) != 0 && errno != ENOENT) {
        int e = errno;
        snprintf(err, errlen, "cannot remove %s: %s", path, strerror(e));
        return e;
    }
    return 0;
}

void report_discard_dir(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/" REPORT_PARTIAL_FILE, dir);
    unlink(path);
    rmdir(dir); /* only when nothing else is in it */
}

bool report_dir_partial(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/" REPORT_PARTIAL_FILE, dir);
    struct stat sb;
    return lstat(path, &sb) == 0;
}
