#include "frame.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

/*
 * Every allocation protobuf-c makes through us carries this header, which
 * records the charged size. A free can then return its bytes to the budget
 * during unpack (protobuf-c frees scan slabs and replaced fields as it goes),
 * and sx_frame_free needs no state from the decode that made the frame.
 */
union alloc_hdr {
	size_t size;
	max_align_t align;
};

struct budget {
	size_t left;
	int exhausted;
};

static void *budget_alloc(void *data, size_t size)
{
	struct budget *b = data;

	if (size > b->left || b->left - size < sizeof(union alloc_hdr)) {
		b->exhausted = 1;
		return NULL;
	}
	size += sizeof(union alloc_hdr);
	union alloc_hdr *h = malloc(size);
	if (!h) {
		b->exhausted = 1;
		return NULL;
	}
	h->size = size;
	b->left -= size;
	return h + 1;
}

/* data is the budget while unpacking, NULL when freeing a finished frame. */
static void budget_free(void *data, void *p)
{
	struct budget *b = data;

	if (!p)
		return;
	union alloc_hdr *h = (union alloc_hdr *)p - 1;
	if (b)
		b->left += h->size;
	/* Frames carry reporters' originals (Submit): nothing of them is left
	 * behind in freed memory. */
	explicit_bzero(h, h->size);
	free(h);
}

static ProtobufCAllocator free_allocator = { budget_alloc, budget_free, NULL };

size_t sx_frame_budget(size_t len)
{
	if (len > (SIZE_MAX - SX_FRAME_BUDGET_BASE) / SX_FRAME_BUDGET_MUL)
		return SIZE_MAX;
	return len * SX_FRAME_BUDGET_MUL + SX_FRAME_BUDGET_BASE;
}

/*
 * Field number 0 is invalid, but protobuf-c 1.4 accepts it when the tag takes
 * more than one byte, keeps it as an unknown field and packs it in one byte,
 * which it then rejects. Refusing it keeps every frame we return re-packable.
 */
static int has_field_zero(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	for (unsigned i = 0; i < m->n_unknown_fields; i++)
		if (m->unknown_fields[i].tag == 0)
			return 1;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];
		const char *at = (const char *)m + fd->offset;
		const char *q = (const char *)m + fd->quantifier_offset;
		ProtobufCMessage *const *sub = (ProtobufCMessage *const *)at;
		size_t n = 1;

		if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)q;
			sub = *(ProtobufCMessage **const *)at;
		} else if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
			   *(const uint32_t *)q != fd->id) {
			continue;
		}
		for (size_t k = 0; k < n; k++)
			if (sub[k] && has_field_zero(sub[k]))
				return 1;
	}
	return 0;
}

int sx_frame_unpack(const uint8_t *body, size_t len, Sprex__Frame **out)
{
	struct budget b = { sx_frame_budget(len), 0 };
	ProtobufCAllocator a = { budget_alloc, budget_free, &b };

	*out = sprex__frame__unpack(&a, len, body);
	if (!*out)
		return b.exhausted ? SX_ENOMEM : SX_EPROTO;
	if ((*out)->msg_case == SPREX__FRAME__MSG__NOT_SET ||
	    has_field_zero(&(*out)->base)) {
		sx_frame_free(*out);
		*out = NULL;
		return SX_EPROTO;
	}
	return 0;
}

void sx_frame_free(Sprex__Frame *f)
{
	if (f)
		sprex__frame__free_unpacked(f, &free_allocator);
}

void sx_fdec_init(struct sx_fdec *d, uint32_t max_frame)
{
	memset(d, 0, sizeof(*d));
	d->max_frame = max_frame;
}

/* Forgets the frame in progress; the error and the limit stay. */
static void fdec_reset(struct sx_fdec *d)
{
	if (d->body)
		explicit_bzero(d->body, d->body_len);
	free(d->body);
	d->body = NULL;
	d->hdr_have = d->body_len = d->body_have = 0;
}

void sx_fdec_finish(struct sx_fdec *d)
{
	fdec_reset(d);
}

void sx_fdec_set_max(struct sx_fdec *d, uint32_t max_frame)
{
	d->max_frame = max_frame;
}

int sx_fdec_idle(const struct sx_fdec *d)
{
	return d->hdr_have == 0;
}

/* Checks the complete header and allocates the body: nothing before this. */
static int fdec_start_body(struct sx_fdec *d)
{
	uint32_t len = (uint32_t)d->hdr[0] << 24 | (uint32_t)d->hdr[1] << 16 |
		       (uint32_t)d->hdr[2] << 8 | d->hdr[3];

	d->bad_len = len; /* read only after an error */
	if (len == 0 || len > d->max_frame)
		return len == 0 ? SX_EPROTO : SX_ETOOBIG;
	d->body = malloc(len);
	if (!d->body)
		return SX_ENOMEM;
	d->body_len = len;
	d->body_have = 0;
	return 0;
}

int sx_fdec_feed(struct sx_fdec *d, const uint8_t *p, size_t n, size_t *used,
		 Sprex__Frame **out)
{
	size_t i = 0;
	int rc = 0;

	*out = NULL;
	if (d->error) {
		*used = 0;
		return d->error;
	}
	while (d->hdr_have < SX_FRAME_HDR && i < n)
		d->hdr[d->hdr_have++] = p[i++];
	if (d->hdr_have < SX_FRAME_HDR)
		goto done;
	if (!d->body && (rc = fdec_start_body(d)) < 0)
		goto done;

	size_t take = d->body_len - d->body_have;
	if (take > n - i)
		take = n - i;
	if (take > 0)
		memcpy(d->body + d->body_have, p + i, take);
	d->body_have += take;
	i += take;
	if (d->body_have == d->body_len) {
		rc = sx_frame_unpack(d->body, d->body_len, out);
		fdec_reset(d);
	}
done:
	*used = i;
	if (rc < 0)
		d->error = rc;
	return rc;
}

size_t sx_frame_size(const Sprex__Frame *f)
{
	return SX_FRAME_HDR + sprex__frame__get_packed_size(f);
}

int sx_frame_pack(const Sprex__Frame *f, uint32_t max_frame, struct sx_buf *out)
{
	if (f->msg_case == SPREX__FRAME__MSG__NOT_SET)
		return SX_EINVAL;
	size_t len = sprex__frame__get_packed_size(f);
	if (len > max_frame)
		return SX_ETOOBIG;
	int rc = sx_buf_reserve(out, SX_FRAME_HDR + len);
	if (rc < 0)
		return rc;

	uint8_t *t = sx_buf_tail(out);
	t[0] = (uint8_t)(len >> 24);
	t[1] = (uint8_t)(len >> 16);
	t[2] = (uint8_t)(len >> 8);
	t[3] = (uint8_t)len;
	sprex__frame__pack(f, t + SX_FRAME_HDR);
	sx_buf_commit(out, SX_FRAME_HDR + len);
	return 0;
}

int sx_frame_from_member(Sprex__Frame__MsgCase kind)
{
	switch (kind) {
	case SPREX__FRAME__MSG_HELLO:
	case SPREX__FRAME__MSG_ERROR:
	case SPREX__FRAME__MSG_PING:
	case SPREX__FRAME__MSG_PONG:
	case SPREX__FRAME__MSG_GOAWAY:
	case SPREX__FRAME__MSG_SUBSCRIBE:
	case SPREX__FRAME__MSG_ACK:
	case SPREX__FRAME__MSG_NAK:
	case SPREX__FRAME__MSG_REJECT:
	case SPREX__FRAME__MSG_PARKED_QUERY:
	case SPREX__FRAME__MSG_SUBMIT:
	case SPREX__FRAME__MSG_NOTICE_ACTION:
	case SPREX__FRAME__MSG_AUDIT_QUERY:
		return 1;
	default:
		return 0;
	}
}

static const char *const action_names[SX_ACTIONS + 1] = {
	[SPREX__NOTICE_ACTION_KIND__ACTION_INVESTIGATING] = "investigating",
	[SPREX__NOTICE_ACTION_KIND__ACTION_WARNING] = "warning",
	[SPREX__NOTICE_ACTION_KIND__ACTION_SUSPENSION] = "suspension",
	[SPREX__NOTICE_ACTION_KIND__ACTION_TERMINATION] = "termination",
	[SPREX__NOTICE_ACTION_KIND__ACTION_NOT_OUR_CUSTOMER] = "not-our-customer",
	[SPREX__NOTICE_ACTION_KIND__ACTION_INSUFFICIENT_EVIDENCE] = "insufficient-evidence",
};

const char *sx_action_name(int action)
{
	return action >= 1 && action <= SX_ACTIONS ? action_names[action] : NULL;
}

int sx_action_parse(const char *name)
{
	for (int a = 1; name && a <= SX_ACTIONS; a++)
		if (strcmp(action_names[a], name) == 0)
			return a;
	return 0;
}
