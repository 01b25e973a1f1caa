/*
 * frame.h: the wire framing, pure (bytes in, frames out; no I/O).
 *
 * A frame is a 4-byte big-endian length followed by that many bytes of a
 * protobuf Sprex__Frame. Length 0 and lengths above the negotiated maximum are
 * protocol errors, detected from the 4 header bytes before anything is
 * allocated. Unpacking runs under an allocation budget proportional to the
 * frame length, so a small frame cannot make protobuf-c allocate a lot.
 */
#ifndef SX_FRAME_H
#define SX_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "proto/sprex.pb-c.h"
#include "buf.h"

#define SX_PROTO_VERSION 1u
#define SX_FRAME_HDR 4u
/* Smallest and largest maximum a peer may negotiate. */
#define SX_FRAME_MIN_MAX (16u * 1024u)
#define SX_FRAME_MAX_MAX (64u * 1024u * 1024u)
/* Maximum before Hello/Welcome have agreed one. */
#define SX_FRAME_PREAUTH_MAX (64u * 1024u)
/*
 * Unpack budget: while unpacking a body of len bytes, protobuf-c may hold at
 * most MUL * len + BASE bytes (each request counted with a 16-byte header).
 * protobuf-c spends 60-120 bytes on each repeated submessage or string (the
 * element, its pointer, a 32-byte scan record). Measured: lists of small items
 * cost 10-19x their wire size, long lists of real records (ParkedList) 5x,
 * bytes 1x, crafted empty submessages 57x. BASE admits the small list-heavy
 * frames (a 2000-range Ack is 20 KB and needs 225 KB); MUL caps large ones.
 */
#define SX_FRAME_BUDGET_MUL 8u
#define SX_FRAME_BUDGET_BASE (256u * 1024u)

/* Incremental decoder state; init/finish on the caller's memory. */
struct sx_fdec {
	uint32_t max_frame;     /* current limit on the length field */
	uint8_t hdr[SX_FRAME_HDR];
	uint32_t hdr_have;
	uint8_t *body;          /* allocated once the header is valid */
	uint32_t body_len;
	uint32_t body_have;
	int error;              /* sticky: once set, feed returns it */
	uint32_t bad_len;       /* after an error: the offending frame's length (0: empty) */
};

/* Prepares a decoder that accepts frames up to max_frame bytes. */
void sx_fdec_init(struct sx_fdec *d, uint32_t max_frame);
/* Releases a partly received frame. */
void sx_fdec_finish(struct sx_fdec *d);
/* Changes the limit for frames whose header has not been read yet. */
void sx_fdec_set_max(struct sx_fdec *d, uint32_t max_frame);
/* Returns non-zero when no partial frame is buffered (a clean place to stop). */
int sx_fdec_idle(const struct sx_fdec *d);

/*
 * Feeds up to n bytes. Consumes bytes until one frame is complete or the input
 * is exhausted, and stores the count in *used. When a frame completes, *out
 * receives it (free with sx_frame_free) and the call returns 0; otherwise *out
 * is NULL and the call returns 0 (more input needed). Errors (sticky):
 * SX_EPROTO for length 0 or unparsable protobuf, SX_ETOOBIG for a length over
 * max_frame, SX_ENOMEM when the allocation budget ran out.
 */
int sx_fdec_feed(struct sx_fdec *d, const uint8_t *p, size_t n, size_t *used,
		 Sprex__Frame **out);

/* Non-zero for the kinds of frame a member may send to the server at all
 * (whatever its role); the rest are the server's. */
int sx_frame_from_member(Sprex__Frame__MsgCase kind);

/* Number of NoticeActionKind values besides UNSPECIFIED (1..SX_ACTIONS). */
#define SX_ACTIONS 6
/* The name of a NoticeActionKind as DESIGN §1 words it ("investigating",
 * "warning", "suspension", "termination", "not-our-customer",
 * "insufficient-evidence"), or NULL for any other value. */
const char *sx_action_name(int action);
/* The NoticeActionKind named name, or 0 when none is. */
int sx_action_parse(const char *name);

/* Frees a frame returned by sx_fdec_feed or sx_frame_unpack; NULL is fine. */
void sx_frame_free(Sprex__Frame *f);

/* Unpacks exactly one frame body (no length prefix) under the budget; returns
 * 0 and *out, or SX_EPROTO (also for a Frame with no message set) / SX_ENOMEM. */
int sx_frame_unpack(const uint8_t *body, size_t len, Sprex__Frame **out);

/* Returns the unpack budget in bytes for a body of len bytes (saturating). */
size_t sx_frame_budget(size_t len);

/*
 * Appends the length prefix and the packed frame to out. Returns 0, or
 * SX_ETOOBIG when the packed frame would exceed max_frame or out's bound
 * (out is then unchanged), SX_ENOMEM, SX_EINVAL for a Frame with no message
 * set (the peer would reject it).
 */
int sx_frame_pack(const Sprex__Frame *f, uint32_t max_frame, struct sx_buf *out);

/* Returns the packed length of f including the 4-byte prefix. */
size_t sx_frame_size(const Sprex__Frame *f);

#endif
