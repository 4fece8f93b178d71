/*
 * order.h - the order in which a message's chunks leave, shared by the session that sends
 * them (msrp/session.h) and the scenario layer that reads it from a file (send.order), so
 * that both speak of one enum and nothing casts between two.
 *
 * Owns: enum msrp_chunk_order. May not touch: anything else (no functions, no includes).
 */
#ifndef MSRPLOAD_MSRP_ORDER_H
#define MSRPLOAD_MSRP_ORDER_H

/*
 * The order in which a message's chunks are sent. Every order sends the same bytes with the
 * message length as Byte-Range total; the chunk sent last ends in "$", all others in "+".
 */
enum msrp_chunk_order {
    MSRP_ORDER_IN_ORDER = 0,  /* ranges 1-c, c+1-2c, ... (c: the chunk size) */
    MSRP_ORDER_REVERSE,       /* the same ranges, last one first */
    MSRP_ORDER_SHUFFLED,      /* the same ranges in a random order per message (an affine
                                 permutation: nothing stored per chunk); with two or more
                                 chunks the first one sent is never range 1 */
    MSRP_ORDER_OVERLAPPING,   /* in order, but each chunk after the first starts `overlap`
                                 bytes before the end of the one before and sends them again */
};

#endif
