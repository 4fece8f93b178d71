/*
 * runner_file.c - send.file of `msrpload run` (scenarios/README.md, "send.file"): file
 * transfers with RFC 5547 semantics over the calling sessions, beside their chat messages.
 *
 * A transfer is one file sent whole as one MSRP message (RFC 5547 section 8.7: "MUST include
 * a single file in a single MSRP message"). Its description is the file-selector of section 6
 * (name, type, size, and the hash selector, SHA-1 over the whole file, "even when the file
 * transfer is limited to a number of octets"), computed before the first byte leaves, as an
 * SDP offer would carry it: a directory's files were hashed when the scenario was loaded; a
 * generated file is made and hashed once here, 64 KiB at a time. Its bytes are then made
 * again as each chunk is cut (msrp_send_opts.fill): a directory's file read with pread, a
 * generated one from the session's seed, so a transfer of any size costs one chunk of memory.
 *
 * Interrupted and resumed: the first message stops after `cut` bytes with "#" (RFC 4975
 * section 7.1: "If the sender is aborting an incomplete message ... the flag MUST be a '#'";
 * RFC 5547 section 8.4 aborts a file transfer exactly so, "Since a file is transmitted as one
 * MSRP message, aborting the MSRP message effectively aborts the file transfer"), and the rest
 * goes as a new message. RFC 5547 section 6 says where the rest sits in the file with the
 * 'file-range' attribute ("start offset" 1-based, inclusive), and that it "must not be
 * confused with the Byte-Range header in MSRP": "MSRP starts counting the delivered message
 * at octet number 1, independently of the position of that octet in the file" (section 8.7:
 * the sender "MUST extract the indicated range of octets", which MSRP numbers from 1). So the
 * resumption's Byte-Range runs 1..size-cut, its file-range cut+1..size, and section 8.1 makes
 * it a new transfer with a new file-transfer-id. There is no SDP between our ends: the
 * answering end learns the file-range the way an SDP answer would tell it, from this
 * worker's table of transfers by Message-ID (both ends of a session run on one worker).
 *
 * Receiving (answer.check_sha256, embedded and relay topologies): our answering end hashes
 * each transfer's bytes in file order as they arrive (msrp_session_handlers.on_piece), the
 * first message's bytes at their file offsets and the resumption's after them, and at the
 * end compares the joined file's SHA-1 with the file-selector's (RFC 5547 section 8.2: the
 * file receiver "SHOULD compute the hash of the file after its reception and check it against
 * the hash received"; section 8.3.1 the same for an answerer).
 *
 * Where this differs from RFC 5547 on purpose, as a load generator without SDP: section 8.7
 * says senders "MUST NOT send additional files over the same MSRP session" and 8.4 that a
 * sender that aborted SHOULD then close the MSRP session; here a session carries its chat and
 * any number of transfers, and resumes on the same session (scenarios/README.md says so).
 *
 * Owns: struct ft_xfer and the worker's table (w->files), the report's files counts and list.
 * Runs on the worker's loop thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "load/pending.h"
#include "load/runner_int.h"
#include "msrp/session.h"
#include "wire/idgen.h"

#define FT_ID_LEN 32 /* RFC 5547 8.1: "relatively big random identifier (e.g., 32 characters)" */
#define FT_BLOCK 65536

struct ft_part {
    struct ft_xfer *x;
    uint64_t base;  /* the file offset of the message's first byte */
    bool corrupt;   /* send.file.test_corrupt_resume: flip its first byte */
};

struct ft_xfer {
    struct worker *w;
    unsigned refs;  /* one per message tag and per entry in the worker's table */
    const struct scenario_file *src; /* NULL: generated from key */
    uint64_t key;
    int fd;
    uint64_t size, cut;
    bool resume;
    unsigned char sha1[20];
    char mid[2][MSRP_MESSAGE_ID_LEN + 1]; /* the messages' ids: first, resumption */
    struct ft_part part[2];
    int rec;        /* its place in w->stats.files.list, or -1 */
    /* the answering end */
    EVP_MD_CTX *rx;
    uint64_t rx_next; /* the file offset the next byte in order has */
    bool rx_broken, rx_done;
};

struct ft_worker {
    struct pending_map table; /* Message-ID -> ft_xfer, for the answering end */
    struct msrp_idgen ids;    /* file-transfer-ids */
    uint64_t next_file[SCENARIO_MAX_STEPS]; /* pick "sequential": each step's next file */
};

/* The generated content: 8 bytes per counter value, from the transfer's key (splitmix64's
 * finaliser), so any offset is made without the bytes before it. Little-endian on every host. */
static inline uint64_t gen_word(uint64_t key, uint64_t i)
{
    uint64_t z = key + (i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void gen_fill(uint64_t key, uint64_t off, char *dst, size_t n)
{
    while (n > 0) {
        uint64_t v = gen_word(key, off / 8);
        unsigned k = (unsigned)(off % 8);
        size_t take = 8 - k < n ? 8 - k : n;
        for (size_t j = 0; j < take; j++)
            dst[j] = (char)(v >> (8 * (k + j)));
        dst += take;
        off += take;
        n -= take;
    }
}

static int read_at(struct ft_xfer *x, uint64_t off, char *dst, size_t n)
{
    if (x->src == NULL) {
        gen_fill(x->key, off, dst, n);
        return 0;
    }
    while (n > 0) {
        ssize_t r = pread(x->fd, dst, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1; /* unreadable, or shorter than when it was loaded */
        dst += r;
        off += (uint64_t)r;
        n -= (size_t)r;
    }
    return 0;
}

/* msrp_send_opts.fill: the message's bytes from its place in the file. */
static int part_fill(void *arg, uint64_t off, char *dst, size_t n)
{
    struct ft_part *p = arg;
    if (read_at(p->x, p->base + off, dst, n) != 0)
        return -1;
    if (p->corrupt && off == 0 && n > 0)
        dst[0] ^= 0x01;
    return 0;
}

static void xfer_put(struct ft_xfer *x)
{
    if (--x->refs > 0)
        return;
    if (x->fd >= 0)
        close(x->fd);
    EVP_MD_CTX_free(x->rx);
    free(x);
}

static struct ft_worker *ft_worker(struct worker *w)
{
    if (w->files == NULL) {
        struct ft_worker *f = calloc(1, sizeof(*f));
        if (f == NULL || msrp_idgen_init(&f->ids) != 0) {
            free(f);
            return NULL;
        }
        pending_init(&f->table);
        w->files = f;
    }
    return w->files;
}

/* The file-selector (RFC 5547 section 6): name:"..." type:... size:N hash:sha-1:XX:... with
 * the name's NUL, CR, LF, '"' and '%' percent-encoded (filename-char) and no white space in
 * the type ("free insertion of linear-white-space is not permitted"). */
static void selector(const struct ft_xfer *x, const char *name, const char *type, char *out,
                     size_t cap)
{
    size_t o = (size_t)snprintf(out, cap, "name:\"");
    for (const char *p = name; *p != '\0' && o + 4 < cap; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '\r' || ch == '\n' || ch == '"' || ch == '%')
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", ch);
        else
            out[o++] = (char)ch;
    }
    o += (size_t)snprintf(out + o, cap - o < cap ? cap - o : 0, "\" type:");
    for (const char *p = type; *p != '\0' && o + 1 < cap; p++)
        if (*p != ' ' && *p != '\t')
            out[o++] = *p;
    if (o < cap)
        o += (size_t)snprintf(out + o, cap - o, " size:%llu hash:sha-1:",
                              (unsigned long long)x->size);
    for (int i = 0; i < 20 && o + 3 < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%02X", i ? ":" : "", x->sha1[i]);
    if (o >= cap)
        out[cap - 1] = '\0';
}

/* A generated file's SHA-1, made 64 KiB at a time (the selector needs it before sending). */
static int hash_generated(struct ft_xfer *x)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    char *buf = malloc(FT_BLOCK);
    unsigned len = 0;
    int rc = -1;
    if (ctx != NULL && buf != NULL && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1) {
        for (uint64_t off = 0; off < x->size; off += FT_BLOCK) {
            size_t n = x->size - off < FT_BLOCK ? (size_t)(x->size - off) : FT_BLOCK;
            gen_fill(x->key, off, buf, n);
            EVP_DigestUpdate(ctx, buf, n);
        }
        rc = EVP_DigestFinal_ex(ctx, x->sha1, &len) == 1 && len == 20 ? 0 : -1;
    }
    free(buf);
    EVP_MD_CTX_free(ctx);
    return rc;
}

static struct msg_tag *tag_take(struct worker *w)
{
    struct msg_tag *tag = w->free_tags;
    if (tag != NULL)
        w->free_tags = tag->next_free;
    else
        tag = malloc(sizeof(*tag));
    return tag;
}

static void tag_give(struct worker *w, struct msg_tag *tag)
{
    tag->ft = NULL;
    tag->next_free = w->free_tags;
    w->free_tags = tag;
}

static void register_rx(struct ft_worker *fw, struct ft_xfer *x, int part)
{
    if (pending_put(&fw->table, x->mid[part], MSRP_MESSAGE_ID_LEN, x) == 0)
        x->refs++;
}

int runner_file_send(struct lsession *ls, struct msg_tag *tag, const struct step_send *st,
                      struct msrp_send_opts *o)
{
    struct worker *w = ls->w;
    const struct step_file *f = st->file;
    struct ft_worker *fw = ft_worker(w);
    struct ft_xfer *x = fw != NULL ? calloc(1, sizeof(*x)) : NULL;
    if (x == NULL)
        return false;
    x->w = w;
    x->fd = -1;
    x->rec = -1;
    char gen_name[64];
    const char *name = gen_name, *type = st->content_type;
    if (f->num_files > 0) {
        uint64_t i = f->random ? distrib_below(&ls->rng, f->num_files)
                               : fw->next_file[ls->pc % SCENARIO_MAX_STEPS]++ % f->num_files;
        x->src = &f->files[i];
        x->size = x->src->size;
        memcpy(x->sha1, x->src->sha1, 20);
        name = x->src->name;
        if (!f->type_given)
            type = x->src->type;
        x->fd = open(x->src->path, O_RDONLY | O_CLOEXEC);
        if (x->fd < 0) {
            char what[600];
            snprintf(what, sizeof(what), "send.file: cannot open %.500s: %s", x->src->path,
                     strerror(errno));
            note_error(w, what);
            free(x);
            w->stats.files.transfers++;
            w->stats.files.failed++;
            return -1;
        }
    } else {
        /* from the session's generator: the same seed makes the same files */
        x->size = distrib_draw_u64(&f->size, &ls->rng);
        x->key = distrib_next(&ls->rng);
        snprintf(gen_name, sizeof(gen_name), "msrpload-%016llx.bin", (unsigned long long)x->key);
        if (hash_generated(x) != 0) {
            free(x);
            return 0;
        }
    }
    x->cut = scenario_file_cut(f, x->size);
    x->resume = x->cut > 0 && f->resume;
    bool check = w->sc->answer_check_sha256 && w->sc->topology != SCENARIO_TARGET;
    if (check && ((x->rx = EVP_MD_CTX_new()) == NULL ||
                  EVP_DigestInit_ex(x->rx, EVP_sha1(), NULL) != 1)) {
        xfer_put((x->refs = 1, x));
        return 0;
    }
    /* the first message: the whole file, or its first cut bytes and "#" */
    struct msg_tag *first = tag;
    if (x->resume && (first = tag_take(w)) == NULL) {
        xfer_put((x->refs = 1, x));
        return 0;
    }
    struct msrp_send_opts o1 = *o;
    o1.content_type = type;
    o1.fill = part_fill;
    x->part[0] = (struct ft_part){x, 0, false};
    o1.fill_arg = &x->part[0];
    o1.abort_after = x->cut;
    o1.message_id_out = x->mid[0];
    if (first != tag) {
        *first = *tag;
        first->tracked = false; /* aborted: never delivered whole */
        first->in_send = false; /* its outcome needs no filing by send_one: taken at once */
        o1.cookie = first;
    }
    first->ft = x;
    first->ft_part = x->resume ? 1 : 2;
    /* the first message's reference, and this function's: msrp_session_send may report the
     * message (and drop its reference) before it returns */
    x->refs = 2;
    struct msrp_session *s = ls->s;
    if (msrp_session_send(s, NULL, (size_t)x->size, &o1) != 0) {
        if (first != tag)
            tag_give(w, first);
        tag->ft = NULL;
        x->refs = 1;
        xfer_put(x);
        return 0;
    }
    struct stats_files *sf = &w->stats.files;
    sf->transfers++;
    if (check)
        register_rx(fw, x, 0);
    if (sf->list_len < STATS_FILES_LISTED &&
        (sf->list != NULL || (sf->list = calloc(STATS_FILES_LISTED, sizeof(*sf->list))) != NULL)) {
        struct stats_file_rec *r = &sf->list[sf->list_len];
        x->rec = (int)sf->list_len++;
        selector(x, name, type, r->selector, sizeof(r->selector));
        msrp_idgen_ident(&fw->ids, r->transfer_id, FT_ID_LEN);
        memcpy(r->message_id[0], x->mid[0], sizeof(r->message_id[0]));
        r->size = x->size;
        r->interrupted_at = x->cut;
        snprintf(r->outcome, sizeof(r->outcome), "unfinished");
        snprintf(r->hash, sizeof(r->hash), "unchecked");
    }
    if (!x->resume) {
        if (o->message_id_out != NULL)
            memcpy(o->message_id_out, x->mid[0], MSRP_MESSAGE_ID_LEN + 1);
        xfer_put(x);
        return 1;
    }
    /* the resumption: a new message whose Byte-Range starts at 1 (RFC 5547 section 6) and
     * whose bytes are the file's from cut + 1 (its file-range) */
    struct msrp_send_opts o2 = *o;
    o2.content_type = type;
    o2.fill = part_fill;
    x->part[1] = (struct ft_part){x, x->cut, f->test_corrupt_resume};
    o2.fill_arg = &x->part[1];
    o2.abort_after = 0;
    o2.message_id_out = x->mid[1];
    tag->ft = x;
    tag->ft_part = 2;
    x->refs++;
    /* the first message may have ended the session (a file that shrank since it was read) */
    if (ls->s != s ||
        msrp_session_send(s, NULL, (size_t)(x->size - x->cut), &o2) != 0) {
        /* the first message is on its way and ends in its own on_sent (part 1, not
         * counted there): the transfer failed here, and the step's message with it */
        x->refs--;
        tag->ft = NULL;
        sf->failed++;
        if (x->rec >= 0)
            snprintf(sf->list[x->rec].outcome, sizeof(sf->list[x->rec].outcome), "failed");
        note_error(w, "send.file: the resumption could not be queued (the session is ending)");
        xfer_put(x);
        return -1;
    }
    if (o->message_id_out != NULL)
        memcpy(o->message_id_out, x->mid[1], MSRP_MESSAGE_ID_LEN + 1);
    if (check)
        register_rx(fw, x, 1);
    if (x->rec >= 0) {
        struct stats_file_rec *r = &sf->list[x->rec];
        memcpy(r->message_id[1], x->mid[1], sizeof(r->message_id[1]));
        msrp_idgen_ident(&fw->ids, r->resume_id, FT_ID_LEN);
    }
    xfer_put(x);
    return 1;
}

bool runner_file_sent(struct lsession *ls, struct msg_tag *tag, const struct msrp_sent *m)
{
    struct worker *w = ls->w;
    struct ft_xfer *x = tag->ft;
    struct stats_files *sf = &w->stats.files;
    /* an aborted message's bytes are its length: it carried only the cut's */
    sf->bytes += m->aborted ? x->cut : m->bytes;
    if (m->aborted)
        sf->interrupted++;
    if (tag->ft_part == 1) {
        /* the first part of a resumed transfer: its outcome is the resumption's */
        tag_give(w, tag);
        xfer_put(x);
        return true;
    }
    if (x->resume && m->chunks > 0)
        sf->resumed++;
    const char *outcome;
    if (m->status == 200 && !m->aborted) {
        sf->completed++;
        outcome = "completed";
    } else if (m->status == 200) {
        sf->abandoned++; /* interrupted, and resume is false */
        outcome = "abandoned";
    } else if (m->status == 0 &&
               (w->stopping || (ls->lifetime_over && ls->ending != SCENARIO_ENDING_CLEAN))) {
        /* cut off by the run's end or by a churn ending that does not wait, as its messages
         * are */
        sf->unfinished++;
        outcome = "unfinished";
    } else {
        sf->failed++;
        outcome = "failed";
    }
    if (x->rec >= 0) {
        struct stats_file_rec *r = &sf->list[x->rec];
        snprintf(r->outcome, sizeof(r->outcome), "%s", outcome);
        r->status = m->status;
    }
    if (x->fd >= 0) {
        close(x->fd);
        x->fd = -1;
    }
    /* Not answered 200: the answering end will not finish it, so its table entries go now
     * rather than at the worker's end (the table stays as large as the transfers in flight). */
    if (m->status != 200 && w->files != NULL)
        for (int i = 0; i < 2; i++)
            if (x->mid[i][0] != '\0' &&
                pending_get(&w->files->table, x->mid[i], MSRP_MESSAGE_ID_LEN) == x) {
                pending_take(&w->files->table, x->mid[i], MSRP_MESSAGE_ID_LEN);
                xfer_put(x);
            }
    tag->ft = NULL;
    xfer_put(x);
    return false;
}

/* The answering end's check of the joined file, once its last byte is in. */
static void rx_finish(struct worker *w, struct ft_xfer *x)
{
    unsigned char got[20];
    unsigned len = 0;
    x->rx_done = true;
    bool ok = !x->rx_broken && x->rx_next == x->size &&
              EVP_DigestFinal_ex(x->rx, got, &len) == 1 && len == 20 &&
              memcmp(got, x->sha1, 20) == 0;
    struct stats_files *sf = &w->stats.files;
    if (ok) {
        sf->hash_ok++;
    } else {
        sf->hash_failed++;
        w->stats.expect_failures++;
        char what[200];
        snprintf(what, sizeof(what),
                 "file transfer %.16s%s%.16s: the %llu bytes received %s the file-selector's "
                 "SHA-1",
                 x->mid[0], x->resume ? " resumed as " : "", x->resume ? x->mid[1] : "",
                 (unsigned long long)x->rx_next,
                 x->rx_broken ? "came out of order, so they cannot match" : "do not match");
        note_error(w, what);
    }
    if (x->rec >= 0)
        snprintf(sf->list[x->rec].hash, sizeof(sf->list[x->rec].hash), "%s",
                 ok ? "ok" : "failed");
}

void runner_file_piece(struct worker *w, struct msrp_span mid, uint64_t pos, const char *p,
                       size_t len, char flag)
{
    if (w->files == NULL)
        return;
    struct ft_xfer *x = pending_get(&w->files->table, mid.ptr, mid.len);
    if (x == NULL || x->rx == NULL || x->rx_done || pos == 0)
        return;
    int part = mid.len == MSRP_MESSAGE_ID_LEN && memcmp(mid.ptr, x->mid[1], mid.len) == 0;
    uint64_t off = x->part[part].base + pos - 1;
    if (off == x->rx_next) {
        EVP_DigestUpdate(x->rx, p, len);
        x->rx_next += len;
    } else if (off + len > x->rx_next) {
        x->rx_broken = true; /* a gap: sent in order, so something went missing */
    }
    /* the end of the file: the last message's "$" (the first's "#" only ends its part) */
    bool last = x->resume ? part == 1 : true;
    if (flag == '$' && last)
        rx_finish(w, x);
}

bool runner_file_received(struct worker *w, const struct msrp_received *m)
{
    if (w->files == NULL)
        return false;
    const char *id = m->info->message_id;
    struct ft_xfer *x = pending_take(&w->files->table, id, strlen(id));
    if (x == NULL)
        return false;
    xfer_put(x);
    return true;
}

/* Frees the worker's table (its transfers' last references) once its sessions are gone. */
void runner_file_fini(struct worker *w)
{
    struct ft_worker *fw = w->files;
    if (fw == NULL)
        return;
    for (size_t i = 0; i < fw->table.cap; i++)
        if (fw->table.slots[i].value != NULL)
            xfer_put(fw->table.slots[i].value);
    pending_free(&fw->table);
    free(fw);
    w->files = NULL;
}
