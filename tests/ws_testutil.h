/*
 * ws_testutil.h - helpers of the WebSocket tests (check_ws.c): a growing byte buffer, a tap
 * transport recording the bytes a transport above it writes, the tests' own frame reader, and
 * raw sockets playing the other side.
 */
#ifndef MSRPLOAD_TESTS_WS_TESTUTIL_H
#define MSRPLOAD_TESTS_WS_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/transport.h"

/* A growing byte buffer; zero it to start. bytes_add fails the test when out of memory. */
struct bytes {
    unsigned char *p;
    size_t len, cap;
};
void bytes_add(struct bytes *b, const void *p, size_t n);
void bytes_free(struct bytes *b);

/* A transport that passes everything to lower and appends every byte written to out. */
struct tap_setup {
    struct net_transport_setup lower;
    struct bytes out; /* every byte written, in order (one connection per tap) */
};
struct net_transport_setup tap_over(struct tap_setup *ts, struct net_transport_setup lower);

/* One WebSocket frame as it was on the wire (payload still masked when masked). */
struct frame {
    bool fin, masked;
    unsigned opcode;
    size_t len;
    const unsigned char *payload; /* masked as sent */
    unsigned char key[4];
};
/* Reads the frame at b[*off] and moves *off past it; false when no whole frame is there. */
bool read_frame(const struct bytes *b, size_t *off, struct frame *f);
/* The offset just past the HTTP handshake's blank line (fails the test when there is none). */
size_t after_handshake(const struct bytes *b);

/* Raw loopback sockets (non-blocking once connected); each fails the test on an error. */
int raw_listen(uint16_t *port);
int raw_connect(uint16_t port);
void raw_send(int fd, const void *p, size_t n);
/* A frame of n < 126 bytes as a peer writes it: masked (a client) with a fixed key, or not. */
void raw_frame(int fd, unsigned first, const void *payload, size_t n, bool mask);
/* The value of header name in the handshake text b (NUL-terminated copy in out). */
void header_value(const struct bytes *b, const char *name, char *out, size_t outlen);

#endif
