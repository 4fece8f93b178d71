/*
 * decode.c - `msrpload decode [FILE]`: one JSON line per MSRP chunk of a raw byte stream.
 *
 * Memory stays bounded whatever the input: the parser hands over bodies larger than
 * DECODE_SEGMENT in virtual segments, and the body's SHA-256 is computed as they pass.
 *
 * Owns: the command line and the JSON line per chunk. May not touch: the framing (wire/parser.c
 * does it; this file only reads the parser's output).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cli/cli.h"
#include "report/jsonw.h"
#include "wire/parser.h"

#define DECODE_SEGMENT (1u << 20)
#define DECODE_MAX_HEADERS 256

static void decode_usage(FILE *out)
{
    fprintf(out,
            "usage: msrpload decode [FILE]\n"
            "\n"
            "Reads a raw MSRP byte stream (FILE, or standard input when FILE is absent or '-'),\n"
            "for instance one direction of a TCP stream saved from a capture, and prints one JSON\n"
            "object per line for each chunk:\n"
            "  offset       byte offset of the chunk's start line in the stream\n"
            "  tid          transaction id\n"
            "  method       for requests; status (integer) and comment for responses\n"
            "  headers      header name -> value, in wire order (a repeated name repeats)\n"
            "  byte_range   [start, end, total], null for '*'; null without a Byte-Range header\n"
            "  body_len     body bytes; body_sha256 their SHA-256 in hex\n"
            "  flag         '$' (complete), '+' (more chunks follow) or '#' (aborted)\n"
            "  violations   tolerated deviations from the RFC 4975 grammar, when there are any\n"
            "  error        for a chunk whose framing is intact but whose head is invalid\n"
            "\n"
            "A chunk with an error is printed, named on standard error with its byte offset, and\n"
            "decoding goes on to the end of the stream; the exit code is then 1.\n"
            "Malformed framing (the end of a chunk cannot be found): the chunks before it are\n"
            "printed, then a message on standard error with the byte offset and the reason, and\n"
            "the exit code is 1.\n");
}

struct decode_state {
    char *line;       /* the JSON line being built for the open chunk */
    size_t line_len;
    FILE *out;        /* memstream writing into line */
    EVP_MD_CTX *sha;
    uint64_t body_len;
    uint64_t offset;
    enum msrp_error chunk_error;
};

static void json_u64_or_null(FILE *f, uint64_t v)
{
    if (v == MSRP_RANGE_UNKNOWN)
        fputs("null", f);
    else
        fprintf(f, "%" PRIu64, v);
}

static int begin_chunk(struct decode_state *st, const struct msrp_chunk *c)
{
    st->out = open_memstream(&st->line, &st->line_len);
    if (st->out == NULL || EVP_DigestInit_ex(st->sha, EVP_sha256(), NULL) != 1)
        return -1;
    st->body_len = 0;
    st->offset = c->offset;
    st->chunk_error = c->error;
    FILE *f = st->out;
    fprintf(f, "{\"offset\":%" PRIu64 ",\"tid\":", c->offset);
    jsonw_string(f, c->tid.ptr, c->tid.len);
    if (c->kind == MSRP_REQUEST) {
        fputs(",\"method\":", f);
        jsonw_string(f, c->method.ptr, c->method.len);
    } else {
        fprintf(f, ",\"status\":%d,\"comment\":", c->status);
        jsonw_string(f, c->comment.ptr, c->comment.len);
    }
    fputs(",\"headers\":{", f);
    for (size_t i = 0; i < c->num_headers; i++) {
        if (i > 0)
            putc(',', f);
        jsonw_string(f, c->headers[i].name.ptr, c->headers[i].name.len);
        putc(':', f);
        jsonw_string(f, c->headers[i].value.ptr, c->headers[i].value.len);
    }
    fputs("},\"byte_range\":", f);
    if (c->has_byte_range) {
        fprintf(f, "[%" PRIu64 ",", c->byte_range.start);
        json_u64_or_null(f, c->byte_range.end);
        putc(',', f);
        json_u64_or_null(f, c->byte_range.total);
        putc(']', f);
    } else {
        fputs("null", f);
    }
    if (c->violations != 0) {
        fputs(",\"violations\":[", f);
        bool first = true;
        for (unsigned bit = 1; bit != 0; bit <<= 1) {
            const char *name = (c->violations & bit) ? msrp_violation_name(bit) : NULL;
            if (name == NULL)
                continue;
            fprintf(f, "%s\"%s\"", first ? "" : ",", name);
            first = false;
        }
        putc(']', f);
    }
    if (c->error != MSRP_OK)
        fprintf(f, ",\"error\":\"%s\"", msrp_error_name(c->error));
    return 0;
}

static int end_chunk(struct decode_state *st, char flag)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (EVP_DigestFinal_ex(st->sha, md, &mdlen) != 1)
        return -1;
    FILE *f = st->out;
    fprintf(f, ",\"body_len\":%" PRIu64 ",\"body_sha256\":\"", st->body_len);
    for (unsigned int i = 0; i < mdlen; i++)
        fprintf(f, "%02x", md[i]);
    fprintf(f, "\",\"flag\":\"%c\"}\n", flag);
    fclose(f);
    st->out = NULL;
    fwrite(st->line, 1, st->line_len, stdout);
    free(st->line);
    st->line = NULL;
    return 0;
}

static int decode_stream(int fd, const char *name)
{
    struct msrp_limits lim;
    msrp_limits_default(&lim);
    lim.max_headers = DECODE_MAX_HEADERS;
    lim.segment_cap = DECODE_SEGMENT;
    struct msrp_parser p;
    msrp_parser_init(&p, &lim);
    size_t cap = msrp_parser_buffer_size(&p);
    char *buf = malloc(cap);
    struct msrp_header *headers = calloc(DECODE_MAX_HEADERS, sizeof(*headers));
    struct decode_state st = {.sha = EVP_MD_CTX_new()};
    int rc = EXIT_FAILED;
    if (buf == NULL || headers == NULL || st.sha == NULL) {
        fprintf(stderr, "msrpload decode: out of memory\n");
        goto out;
    }
    struct msrp_chunk c = {.headers = headers, .headers_cap = DECODE_MAX_HEADERS};
    size_t have = 0, bad_chunks = 0;
    bool eof = false;
    while (!eof || have > 0) {
        if (!eof && have < cap) {
            ssize_t n = read(fd, buf + have, cap - have);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                fprintf(stderr, "msrpload decode: %s: %s\n", name, strerror(errno));
                goto out;
            }
            eof = n == 0;
            have += (size_t)n;
        }
        size_t used = 0;
        for (;;) {
            ssize_t r = msrp_parse(&p, buf + used, have - used, &c);
            if (r == MSRP_INCOMPLETE)
                break;
            if (r == MSRP_MALFORMED) {
                fflush(stdout);
                fprintf(stderr, "msrpload decode: %s: byte %" PRIu64 ": %s (%s)\n", name,
                        p.stream_offset + p.error_offset, msrp_error_text(p.error),
                        msrp_error_name(p.error));
                goto out;
            }
            if (c.has_head && begin_chunk(&st, &c) != 0)
                goto out;
            if (EVP_DigestUpdate(st.sha, c.body.ptr, c.body.len) != 1)
                goto out;
            st.body_len += c.body.len;
            used += (size_t)r;
            if (c.flag != 0) {
                if (end_chunk(&st, c.flag) != 0)
                    goto out;
                /* Its framing held, so the chunks after it can still be read: go on. */
                if (st.chunk_error != MSRP_OK) {
                    fflush(stdout);
                    fprintf(stderr, "msrpload decode: %s: chunk at byte %" PRIu64 ": %s (%s)\n",
                            name, st.offset, msrp_error_text(st.chunk_error),
                            msrp_error_name(st.chunk_error));
                    bad_chunks++;
                }
            }
        }
        memmove(buf, buf + used, have - used);
        have -= used;
        if (eof && have > 0) {
            fflush(stdout);
            fprintf(stderr, "msrpload decode: %s: byte %" PRIu64 ": stream ends inside a chunk\n",
                    name, p.stream_offset);
            goto out;
        }
    }
    if (st.out != NULL) {
        fprintf(stderr, "msrpload decode: %s: byte %" PRIu64 ": stream ends inside a chunk\n",
                name, p.stream_offset);
        goto out;
    }
    rc = bad_chunks == 0 ? EXIT_OK : EXIT_FAILED;
out:
    if (st.out != NULL)
        fclose(st.out);
    free(st.line);
    EVP_MD_CTX_free(st.sha);
    free(headers);
    free(buf);
    return rc;
}

int cmd_decode(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            decode_usage(stdout);
            return EXIT_OK;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "msrpload decode: unknown option '%s'\n", argv[i]);
            decode_usage(stderr);
            return EXIT_USAGE;
        }
        if (path != NULL) {
            fprintf(stderr, "msrpload decode: only one FILE may be given\n");
            return EXIT_USAGE;
        }
        path = argv[i];
    }
    if (path == NULL || strcmp(path, "-") == 0)
        return decode_stream(STDIN_FILENO, "<stdin>");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "msrpload decode: %s: %s\n", path, strerror(errno));
        return EXIT_USAGE;
    }
    int rc = decode_stream(fd, path);
    close(fd);
    return rc;
}
