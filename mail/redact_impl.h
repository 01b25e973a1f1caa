/*
 * redact_impl.h: what the redactor's files share; not an API.
 *
 * The redactor works on layers. A layer is a decoding: its child text (the
 * decoded bytes) is cut into segments, each a span of the child and the span
 * of the parent it came from. An identity segment is the same bytes in both,
 * so a change inside it is a change of those bytes; a coded segment can only
 * be rewritten whole, through the layer's encoder. A body is a stack of
 * layers (transfer encoding, charset), a header field one (encoded-words,
 * raw 8-bit text), and each search view another on top (full-width folding,
 * URL escapes, HTML references, base64 tokens). A match found in a view is
 * an edit of that view's text; lowering it layer by layer gives the bytes of
 * the stored mail to replace.
 */
#ifndef SX_REDACT_IMPL_H
#define SX_REDACT_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ident.h"
#include "mime.h"
#include "redact.h"

/* Manifest encodings, in the order of their names (sx_redact_enc_name). */
enum rx_enc {
	RX_ENC_RAW = 0,
	RX_ENC_2047B,
	RX_ENC_2047Q,
	RX_ENC_QP,
	RX_ENC_B64,
	RX_ENC_URL,
	RX_ENC_HTML,
	RX_ENC_URLB64,
};

/* Search-and-replace rounds on one text before it counts as not converging. */
#define RX_ROUNDS 6
/* Scratch memory per message: decoded copies, views, replacements. */
#define RX_SCRATCH(len) ((len) * 8u + (1u << 20))
/* Shortest run of base64 characters taken as a token. */
#define RX_B64_TOKEN_MIN 12
/* Whether c is a base64 character, standard or URL-safe alphabet. */
int sx_rx_b64ch(uint8_t c);
/* Length of a character readers do not show (soft hyphen, zero widths, word
 * joiner, BOM) at t[i] (i < n), 0 when none. */
size_t sx_rx_invisible_at(const uint8_t *t, size_t n, size_t i);
/* Shortest identifier looked for in the raw text of a base64 block: shorter
 * strings occur in base64 by chance. */
#define RX_B64_RAW_MIN 8
/* Nesting of encoded message/rfc822 parts the redactor opens. */
#define RX_DEPTH_MAX 8

/* One replacement: bytes [off, off + len) of some text become data. */
struct rx_edit {
	size_t off, len;
	uint8_t *data;       /* owned */
	size_t dlen;
	unsigned count;      /* identifiers removed */
	uint8_t kind;        /* enum sx_ident_kind of the first */
	uint8_t enc;         /* enum rx_enc */
	uint8_t addr;        /* an address among them (wins over overlaps) */
	int part;            /* message level: the part, -1 unknown */
	char path[SX_MIME_PATH]; /* message level: the part's path */
	const uint8_t *where;/* message level: field name (not NUL-terminated), NULL = body */
	size_t wlen;
};

struct rx_edits {
	struct rx_edit *v;
	size_t n, cap;
};

struct rx_seg {
	size_t c_off, c_len;  /* child span */
	size_t p_off, p_len;  /* parent span */
	unsigned coded : 1;   /* rewritten only whole, through the encoder */
	unsigned join : 1;    /* rewritten only together with the next segment */
	unsigned info;        /* the encoder's own datum */
	uint8_t enc;          /* manifest encoding of a rewrite here; RAW: the layer's */
};

struct rx_ctx;
struct rx_layer;

/* Encodes the new child text of segments first..last into out (parent bytes). */
typedef int (*rx_encode_fn)(struct rx_ctx *x, const struct rx_layer *l, size_t first, size_t last,
			    const uint8_t *in, size_t n, struct sx_buf *out);

struct rx_layer {
	const uint8_t *p;     /* parent text */
	size_t plen;
	struct sx_buf c;      /* child text (owned) */
	struct rx_seg *seg;
	size_t nseg, cap;
	int to_end;           /* a rewrite runs to the last segment (base64) */
	uint8_t enc;          /* manifest encoding of a rewrite through coded segments */
	rx_encode_fn encode;
	const void *arg;      /* the encoder's */
	size_t argn;
};

/* Settled texts a message keeps (struct rx_ctx). */
#define RX_SETTLED_MAX 16

/* Longest form of an identifier (UTF-16 doubles it). */
#define RX_NEEDLE_MAX (2 * SX_IDENT_LEN_MAX + 8)
/* Shortest form other than UTF-8 searched: two bytes occur anywhere. */
#define RX_FORM_MIN 4

/* One identifier in one form as searched: lower-case ASCII; the UTF-8 form
 * full-width folded. */
struct rx_needle {
	uint8_t s[RX_NEEDLE_MAX];
	size_t n;
	uint8_t kind;
	uint8_t form;         /* 0: UTF-8, else another charset's bytes */
	uint8_t whole;        /* short: whole words only */
};

struct rx_needles {
	struct rx_needle *v;
	size_t n;
	/* UTF-8 needles with first byte b: v[start[b] .. start[b + 1]); the
	 * other forms likewise in fstart */
	size_t start[257];
	size_t fstart[257];
	size_t minlen;
	size_t maxu, maxo;    /* longest UTF-8 needle, longest of the others */
	/* Prefilters: bit (a << 8 | b) is set when a needle can start at the
	 * two bytes a, b of the text, in any case; pair for the UTF-8 needles
	 * (full-width and invisible characters included), fpair for the other
	 * forms. one[b]: a UTF-8 needle of one byte starts with b. */
	uint8_t pair[8192];
	uint8_t fpair[8192];
	uint8_t apair[8192];  /* either */
	uint8_t one[256];
	/* lead[k][a]: some bit (a << 8 | b) is set, in apair (k 0), pair (1)
	 * or fpair (2): the scan passes over the other bytes on one look-up */
	uint8_t lead[3][256];
};

/* Base64 runs met before whose decodings held nothing (redact_runs.c). */
#define RX_RUNS_SLOTS 1024
#define RX_RUNS_BYTES (256u << 10)

struct rx_run {
	uint8_t *bytes;       /* owned copy; NULL: free slot */
	size_t n;
	unsigned key;         /* token levels left and chain depth */
	uint64_t hash;
};

struct rx_runs {
	struct rx_run *v;     /* RX_RUNS_SLOTS */
	size_t count, bytes;
};

/* Charset conversions made before (redact_charset.c): a body is read in
 * the same charset again and again (each round, each transfer encoding
 * guessed), and its lines and words mostly come back unchanged. */
#define RX_CONV_SLOTS 512
#define RX_CONV_BYTES (512u << 10)
#define RX_CONV_IN_MAX 4096

struct rx_conv {
	uint8_t *in;          /* owned: input, then output; NULL: free slot */
	size_t inn, outn;
	uint64_t hash;
	const char *label;    /* the reading's label (compared by content) */
};

struct rx_convs {
	struct rx_conv *v;    /* RX_CONV_SLOTS, made on first use */
	size_t bytes;
};

struct rx_ctx {
	struct rx_needles nd;
	struct sx_redact_result *res;
	const struct sx_mail_limits *lim;
	size_t scratch;       /* bound of every scratch buffer */
	unsigned depth;
	struct sx_mail *top;  /* the original as sx_rx_mail parsed it at depth 0, kept
			       * for the last look's comparison; sx_redact frees it */
	const char *path;     /* part path for reasons */
	size_t top_min;       /* shortest needle searched in the text itself (not its
			       * views): raised for raw base64, which spells short
			       * strings by chance */
	/* Texts every view of which was searched and held nothing (copies):
	 * a decoded token that is one of them needs no search again. */
	uint8_t *settled[RX_SETTLED_MAX];
	size_t settled_n[RX_SETTLED_MAX];
	size_t nsettled;
	struct rx_runs runs;
	struct rx_convs convs;
	/* A text (this very buffer) whose own search, of needles of clean_min
	 * bytes or more, found nothing: not searched so again. */
	const uint8_t *clean_p;
	size_t clean_n, clean_min;
};

/* ---- redact_edit.c: edit lists and layers ---- */

void sx_rx_edits_init(struct rx_edits *e);
void sx_rx_edits_finish(struct rx_edits *e);
/* Appends an edit; data (dlen bytes) is copied. */
int sx_rx_edits_add(struct rx_edits *e, size_t off, size_t len, const void *data, size_t dlen,
		    unsigned count, uint8_t kind, uint8_t enc, uint8_t addr);
/* Moves every edit of from onto the end of to (from is left empty). */
int sx_rx_edits_move(struct rx_edits *to, struct rx_edits *from);
/* Sorts by offset, then longer first. */
void sx_rx_edits_sort(struct rx_edits *e);
/* Keeps a non-overlapping subset, edits with an address first; sorted. */
void sx_rx_edits_select(struct rx_edits *e);

void sx_rx_layer_init(struct rx_layer *l, const uint8_t *p, size_t plen, size_t max);
void sx_rx_layer_finish(struct rx_layer *l);
/* Appends a segment whose child bytes are c (cn bytes) from parent span. */
int sx_rx_layer_seg(struct rx_layer *l, const void *c, size_t cn, size_t p_off, size_t p_len,
		    int coded, unsigned info);
/* Index of the segment holding child byte c (c < child length). */
size_t sx_rx_layer_find(const struct rx_layer *l, size_t c);
/* Non-zero when some segment is coded (the child differs from the parent). */
int sx_rx_layer_coded(const struct rx_layer *l);
/*
 * Turns edits of l's child (sorted, disjoint) into edits of its parent,
 * appended to out. A group the encoder refuses is dropped and makes the
 * result unsure. Returns 0 or SX_ENOMEM / SX_ETOOBIG.
 */
int sx_rx_lower(struct rx_ctx *x, const struct rx_layer *l, const struct rx_edits *in,
		struct rx_edits *out);

/* Sets the result unsure with the first reason given. */
void sx_rx_unsure(struct rx_ctx *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *sx_rx_enc_name(uint8_t enc);

/* ---- redact_search.c: needles and matching ---- */

int sx_rx_needles_init(struct rx_needles *nd, const struct sx_idset *ids);
void sx_rx_needles_finish(struct rx_needles *nd);
/* Adds one edit per match of a needle in t (placeholders as data), selected
 * so that none overlap, addresses first. */
int sx_rx_search(const struct rx_needles *nd, const uint8_t *t, size_t n, uint8_t enc,
		 struct rx_edits *out);
/* The same with the UTF-8 form and the others chosen, and needles of
 * minlen bytes or more only. */
int sx_rx_search_forms(const struct rx_needles *nd, const uint8_t *t, size_t n, uint8_t enc,
		       int utf8, int others, size_t minlen, struct rx_edits *out);

/* The same over the needles of every form, for matches that start inside
 * the windows wu[2k] .. wu[2k + 1] (UTF-8 needles) and wo[2k] .. wo[2k + 1]
 * (the others) only, each list sorted by start (a byte in two windows is
 * only searched twice). */
int sx_rx_search_win(const struct rx_needles *nd, const uint8_t *t, size_t n, uint8_t enc,
		     const size_t *wu, size_t nwu, const size_t *wo, size_t nwo,
		     struct rx_edits *out);
/* Where a match of a UTF-8 needle that reaches t[a] can start, at the
 * earliest, in text without invisible characters. */
size_t sx_rx_back(const struct rx_needles *nd, const uint8_t *t, size_t a);
/* Non-zero when a needle of any form matches somewhere in t. */
int sx_rx_hit(const struct rx_needles *nd, const uint8_t *t, size_t n);
/* Non-zero when t holds a character the UTF-8 matcher skips unseen: a match
 * can then stretch over any number of bytes. */
int sx_rx_invisible(const uint8_t *t, size_t n);

/* ---- redact_view.c: the views of a text ---- */

/* One round: every match in every view of t, as edits of t (sorted,
 * disjoint, addresses first) appended to out. */
int sx_rx_views(struct rx_ctx *x, const uint8_t *t, size_t n, struct rx_edits *out);
/* The same for a text whose every view was searched before, and found
 * nothing, but for the spans [spans[2k], spans[2k + 1]) of t (sorted,
 * disjoint; empty ones mark where bytes went): only matches a changed byte
 * can make are looked for. */
int sx_rx_views_in(struct rx_ctx *x, const uint8_t *t, size_t n, const size_t *spans,
		   size_t nspans, struct rx_edits *out);

/* ---- redact_runs.c: base64 runs searched before ---- */

/* An empty table. Returns 0 or SX_ENOMEM. */
int sx_rx_runs_init(struct rx_runs *r);
/* Frees the table and the runs it holds (r may be one never set up). */
void sx_rx_runs_finish(struct rx_runs *r);
/* Non-zero when the run p (n bytes, from its first character through its
 * padding) was recorded with key: every decoding of it held nothing. */
int sx_rx_run_clean(const struct rx_runs *r, const uint8_t *p, size_t n, unsigned key);
/* Records such a run. Best effort: a full table records nothing. */
void sx_rx_run_add(struct rx_runs *r, const uint8_t *p, size_t n, unsigned key);

/* ---- redact_text.c: the rounds ---- */

/*
 * Removes every identifier from UTF-8 text t (n bytes) in all its views,
 * round after round until none is found. Appends the edits of t to out.
 */
int sx_rx_text(struct rx_ctx *x, const uint8_t *t, size_t n, struct rx_edits *out);
/*
 * The same, given prev (prevn bytes): a text this function left, whose
 * views hold no identifier, that t differs from in one stretch at most;
 * only matches that stretch can make are looked for. prev NULL: none. When
 * final is given, it receives the text left when every view of it was
 * searched and nothing found (empty otherwise), for the next call's prev.
 */
int sx_rx_text_since(struct rx_ctx *x, const uint8_t *t, size_t n, const uint8_t *prev,
		     size_t prevn, struct rx_edits *out, struct sx_buf *final);
/* Records t (n bytes) as settled: every view of it, searched with the
 * shortest needles too, held nothing. Best effort: a full list or no memory
 * records nothing. */
void sx_rx_settled_add(struct rx_ctx *x, const uint8_t *t, size_t n);
/* Non-zero when t is a text recorded as settled. */
int sx_rx_settled(const struct rx_ctx *x, const uint8_t *t, size_t n);
/* Frees the settled texts x keeps. */
void sx_rx_settled_finish(struct rx_ctx *x);
/*
 * Composes edits first (of t, sorted, disjoint) and then (of the text first
 * makes, sorted, disjoint) into edits of t, appended to out.
 */
int sx_rx_compose(struct rx_ctx *x, const uint8_t *t, size_t n, const struct rx_edits *first,
		  const struct rx_edits *then, struct rx_edits *out);

/* ---- redact_header.c ---- */

/* Redacts one header field; appends edits of the message to out. */
int sx_rx_header(struct rx_ctx *x, const struct sx_mail *m, const struct sx_hfield *f,
		 struct rx_edits *out);

/* ---- redact_cte.c: transfer encodings ---- */

struct rx_cte {
	char eol[3];          /* the body's line end */
	size_t width;         /* QP: longest soft-broken line; base64: line length (0: one) */
};

/* Builds the layer of a quoted-printable or base64 body e (n bytes) and
 * measures its layout into ci. Returns 0, SX_EINVAL (other encodings), or
 * SX_ENOMEM / SX_ETOOBIG. */
int sx_rx_cte_layer(struct rx_ctx *x, enum sx_cte cte, const uint8_t *e, size_t n,
		    struct rx_layer *l, struct rx_cte *ci);
/* Bodies not labelled so that look quoted-printable or base64 all the same:
 * readers (and the leak check) may decode them. Quoted-printable: a line as
 * an encoder writes it (every '=' an escape, a soft break or an
 * encoded-word's delimiter) holds one, or a Q encoded-word stands in it. */
int sx_rx_looks_qp(const uint8_t *e, size_t n);
int sx_rx_looks_b64(const uint8_t *e, size_t n);
/* Base64 and nothing else, in lines of some length: a body that spells
 * short strings by chance. */
int sx_rx_b64_block(const uint8_t *p, size_t n);
/* Encodes a whole body in cte with the layout ci (identity for the others). */
int sx_rx_cte_encode(enum sx_cte cte, const struct rx_cte *ci, const uint8_t *in, size_t n,
		     struct sx_buf *out);

/* ---- redact_charset.c ---- */

struct rx_charset {
	char label[SX_MIME_TOKEN];
	int jis;              /* stateful ISO-2022-JP */
};

/* Readings a reader could make of the decoded body d of p: charset labels,
 * "" for the bytes as they are (UTF-8, ASCII, or undeclared bytes searched
 * in every form). The declared charset alone when there is one; an unknown
 * one makes the result unsure. Returns how many (at most max, at least 1). */
int sx_rx_charset_readings(struct rx_ctx *x, const struct sx_part *p, const uint8_t *d, size_t n,
			   char labels[][SX_MIME_TOKEN], size_t max);
/* Builds the layer converting d (in ci->label) to UTF-8. */
int sx_rx_charset_layer(struct rx_ctx *x, const uint8_t *d, size_t n, struct rx_layer *l,
			struct rx_charset *ci);

/* Frees the conversions x keeps. */
void sx_rx_convs_finish(struct rx_ctx *x);

/* ---- redact_body.c ---- */

/* Redacts bytes that belong to no part's body or field (preambles, boundary
 * lines...) as undeclared text; appends edits of e to out. */
int sx_rx_region(struct rx_ctx *x, const uint8_t *e, size_t n, struct rx_edits *out);
/* Redacts the body of leaf part p; appends edits of the message to out. */
int sx_rx_body(struct rx_ctx *x, const struct sx_mail *m, int p, struct rx_edits *out);

/* ---- redact_binary.c ---- */

/* Inspects a part the redactor cannot rewrite (decoded bytes d, raw body e):
 * unsure when it holds an identifier in any common encoding, also behind a
 * transfer encoding it does not declare, or is a compressed container. */
int sx_rx_binary(struct rx_ctx *x, const struct sx_part *p, const uint8_t *d, size_t n,
		 const uint8_t *e, size_t en);
/* Sets *hit when d holds an identifier in any form, as it is or (outside
 * image, audio, video) in any view of any charset reading of p's. Search
 * only: nothing is changed. */
int sx_rx_inspect(struct rx_ctx *x, const struct sx_part *p, const uint8_t *d, size_t n,
		  int *hit);
/* Inspects the forms in text the redactor cannot rewrite: RTF escapes, inline
 * uuencoded data. Unsure when one could hold an identifier. */
int sx_rx_text_forms(struct rx_ctx *x, const struct sx_part *p, const uint8_t *d, size_t n);

/* Sets *hit when an identifier occurs in d in UTF-16, Shift_JIS, EUC-JP or
 * ISO-2022-JP form. */
int sx_rx_other_forms(struct rx_ctx *x, const uint8_t *d, size_t n, int *hit);

/* ---- redact_check.c ---- */

/* Looks at the redacted mail once more for a structure other than the
 * original's (x->top) and for identifiers in forms the redactor does not
 * rewrite inside text (another charset than the one declared, UTF-16):
 * unsure when it finds one. Returns 0 or SX_ENOMEM. */
int sx_rx_check(struct rx_ctx *x, const uint8_t *mail, size_t len);

/* ---- redact.c ---- */

/* Redacts a whole message (recursion for encoded message parts); appends
 * edits of buf to out. */
int sx_rx_mail(struct rx_ctx *x, const uint8_t *buf, size_t len, struct rx_edits *out,
	       char *err, size_t errlen);
/* Applies sorted, disjoint edits to buf into out. */
int sx_rx_apply(const uint8_t *buf, size_t len, const struct rx_edits *e, struct sx_buf *out);

#endif
