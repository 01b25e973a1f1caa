/*
 * leak_impl.h: what leak.c (the walk over a message), leak_views.c (the
 * views of one byte string) and leak_match.c (the needles and the search)
 * share; not an API.
 *
 * Nothing here is shared with the redactor: the leak check is a second,
 * independent reading of the redacted mail, and only the low-level decoders
 * (codec.h, charset.h, mime.h) and the byte-vector helper (v16.h) are
 * common to both.
 */
#ifndef SX_LEAK_IMPL_H
#define SX_LEAK_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "v16.h"
#include "ident.h"

/* Total bytes of views examined per message: this many times the mail ... */
#define LK_WORK_FACTOR 32u
/* ... plus this much, so a small mail with many encodings is not refused. */
#define LK_WORK_FLOOR ((size_t)1 << 20)
/* Shortest run of base64 characters decoded as a token (DESIGN §2). */
#define LK_TOKEN_MIN 12u
/* Token levels: a token, and a token inside a decoded token, no deeper. */
#define LK_TOKEN_DEPTH 2u
/* Shortest needle searched where only long ones are (raw base64 text, the
 * whole message): shorter strings occur there by chance. */
#define LK_LONG_MIN 8u
/* Shortest line taken as base64 text when it holds nothing else. */
#define LK_B64_LINE 40u
/* Encoded message parts (message/rfc822 in base64 or quoted-printable)
 * opened inside each other. */
#define LK_NEST_MAX 8u
/* Longest charset name read from an encoded-word. */
#define LK_CHARSET_MAX 64u

/* How an identifier is spelled as a needle. */
enum lk_form {
	LK_F_UTF8 = 0,  /* as stored, ASCII lower case */
	LK_F_FOLDED,    /* full-width ASCII and U+3000 folded to ASCII */
	LK_F_CP932,
	LK_F_EUCJP,
	LK_F_JIS,       /* ISO-2022-JP from its first escape, without the final ESC ( B */
	LK_F_UTF16LE,
	LK_F_UTF16BE,
};

struct lk_needle {
	const uint8_t *s;  /* lower case (ASCII letters), in the automaton's store */
	size_t n;
	uint16_t ident;    /* index in the sx_idset */
	uint8_t form;      /* enum lk_form */
	uint8_t whole;     /* short identifier: whole words only */
};

/* Aho-Corasick over every needle; transitions of inner nodes in a hash. */
struct lk_ac {
	struct lk_needle *nd;
	size_t nnd;
	size_t maxlen;     /* longest needle */
	uint8_t *store;
	uint32_t nnodes;
	uint32_t root[256];
	uint32_t *fail;
	uint32_t *dict;    /* nearest node on the failure chain ending a needle, 0 none */
	int32_t *term;     /* needle ending here, -1 none */
	uint32_t *first;   /* first child (0 none), for the breadth-first pass */
	uint32_t *sib;     /* next sibling */
	uint8_t *label;    /* byte leading to the node */
	uint64_t *hkey;    /* (node << 8 | byte) + 1, 0 empty */
	uint32_t *hval;
	size_t hmask;
	/* The same automaton as a table, failures followed in advance, when it
	 * is small enough (LK_DFA_MAX): one load per byte of a view. */
	uint32_t *delta;   /* row + class -> entry (see LK_HIT); NULL: use the hash */
	uint8_t cls[256];  /* byte (either case) -> class; 0: in no needle */
	uint32_t nclass;
};

/* Entries of the table automaton at most (4 bytes each); a node's row
 * offset (node * nclass) stays below LK_HIT. */
#define LK_DFA_MAX ((size_t)1 << 18)
/* In a table entry: the node ends a needle or has one on its failure chain. */
#define LK_HIT (1u << 31)

/* What lk_view does with a byte string besides searching it. */
enum {
	LK_V_TOKENS = 1u << 0,   /* decode base64 runs */
	LK_V_DERIVE = 1u << 1,   /* URL escapes, HTML references, both orders */
	LK_V_CONVERT = 1u << 2,  /* from the declared charset and the Japanese ones */
	LK_V_HTML = 1u << 3,     /* with DERIVE: also the rendered text (tags removed) */
	LK_V_LONGONLY = 1u << 4, /* search needles of LK_LONG_MIN bytes or more only */
	/* Not views: a base64 run (tokens()) recorded as decoded, so that the
	 * same run in another view is not decoded again. */
	LK_V_RUN = 1u << 5,      /* in the standard alphabet */
	LK_V_RUNURL = 1u << 6,   /* in the URL-safe one */
	LK_V_RUN4 = 1u << 7,     /* at all four alignments */
};

/* Steps of a view's chain kept for its name (the reason is one line). */
#define LK_STEPS_MAX 32u

/*
 * The views already examined, so that a view byte-identical to one of them
 * is not examined again when that one covers it: same bytes, same declared
 * charset, flags a superset (LONGONLY only covers LONGONLY), token depth no
 * deeper. Whatever the repeat would search, and every view it would derive,
 * the earlier one searches or derives itself (leak_views.c, view_seen).
 */
struct lk_seen {
	uint64_t h;
	size_t off, n;           /* bytes, in arena */
	size_t cs, csn;          /* declared charset, in arena */
	unsigned flags, tdepth;
};

struct lk_memo {
	struct lk_seen *v;
	size_t nv, cap;
	uint32_t *slot;          /* index + 1 into v, 0 empty */
	size_t smask;
	uint8_t *arena;
	size_t alen, acap;
	int off;                 /* an allocation failed: examine everything */
};

void sx_lk_memo_finish(struct lk_memo *m);

/* HTML references decoded, kept for their repeats (&nbsp;, '&' in URL
 * queries) in every view of a message; zeroed: empty. */
#define LK_REF_SLOTS 64u
#define LK_REF_MAX 24u
struct lk_refs {
	uint8_t in[LK_REF_SLOTS][LK_REF_MAX], out[LK_REF_SLOTS][LK_REF_MAX + 8];
	uint8_t inn[LK_REF_SLOTS], outn[LK_REF_SLOTS]; /* inn 0: empty */
};

/*
 * Scratch storage of one check, handed from view to view: every view makes
 * decodings, marks, changes and windows, and fresh storage for each was a
 * malloc and a chain of reallocs (each copying what it held) per view. A
 * buffer taken gets the bound its use always had (max). The pool keeps at
 * most LK_POOL_MAX of each, of LK_POOL_KEEP bytes at most: larger storage is
 * freed when handed back, so a rare huge view does not stay for the check.
 */
#define LK_POOL_MAX 48u
#define LK_POOL_KEEP ((size_t)256 << 10)
struct lk_pool {
	struct sx_buf b[LK_POOL_MAX];
	size_t nb;
	struct lk_wins_store {
		size_t *v;
		size_t cap;
	} w[LK_POOL_MAX];
	size_t nw;
};

struct lk_ctx {
	const struct sx_idset *ids;
	struct lk_ac ac;
	size_t work, work_max;
	int found;               /* an identifier was found: stop */
	int over;                /* the work bound was passed: stop */
	int undecodable;         /* a reason is in why (the first one wins) */
	char *why;
	size_t whylen;
	char loc[224];           /* "part 1.2 body", "top-level header To" */
	/* The decodings of the current view, named only when something is
	 * found (found() writes them out): pushing a pointer costs nothing. */
	const char *steps[LK_STEPS_MAX];
	size_t nsteps;           /* may pass LK_STEPS_MAX: the rest go unnamed */
	struct lk_memo memo;
	struct lk_refs refs;
	const char *charset;     /* declared charset of the current part, "" none */
	/* sx_charset_iconv_name of convert()'s own labels, once known */
	const char *fixed_names[4];
	int fixed_known;
	unsigned nest;
	char prefix[SX_MIME_PATH * 2]; /* path of the encoded message part being read */
	struct lk_pool pool;
};

static inline uint8_t lk_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* Word characters for whole-word matching: any byte of a non-ASCII
 * character counts, so a short Japanese name never matches inside a word. */
static inline int lk_wordch(unsigned c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '_' || c >= 0x80;
}

static inline int lk_b64ch(uint8_t c, int url)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == (url ? '-' : '+') || c == (url ? '_' : '/');
}

/* ---- leak_match.c ---- */

/* Builds the needles of every identifier in ids and their automaton.
 * Returns 0 or SX_ENOMEM; sx_lk_ac_finish frees either way. */
int sx_lk_ac_init(struct lk_ac *ac, const struct sx_idset *ids);
void sx_lk_ac_finish(struct lk_ac *ac);

/* What a view lets match besides long needles. */
enum {
	LK_S_SHORT = 1, /* text: short identifiers too, as whole words */
	LK_S_LONG = 2,  /* only needles of LK_LONG_MIN bytes or more */
};

/* Returns the needle of the longest accepted match around the first one in
 * p (n bytes), or -1. */
long sx_lk_search(const struct lk_ac *ac, const uint8_t *p, size_t n, unsigned sf);
/* The same for matches that lie in [a, b) of p, the rules reading p as a
 * whole (words, lines and placeholders around a match). */
long sx_lk_search_range(const struct lk_ac *ac, const uint8_t *p, size_t n, size_t a, size_t b,
			unsigned sf);

/* ---- leak_class.c ---- */

/* Byte classes of sx_lk_cls. */
enum {
	LK_C_B64 = 1u << 0,     /* standard base64 alphabet */
	LK_C_URL = 1u << 1,     /* URL-safe base64 alphabet */
	LK_C_URLSPEC = 1u << 2, /* '-' and '_', only in the URL-safe one */
	LK_C_PAD = 1u << 3,     /* '=' */
	LK_C_BLANK = 1u << 4,   /* space, tab */
	LK_C_EOL = 1u << 5,     /* CR, LF */
	LK_C_RARE = 1u << 6,    /* control characters, ESC, '%', '&', '<', C2 E2 E3 EF */
	LK_C_HIGH = 1u << 7,    /* 8-bit */
};
extern const uint8_t sx_lk_cls[256];

struct lk_wins;

/* What a view is made of (sx_lk_profile): counts, so that a derived
 * view's can be had from its parent's (sx_lk_prof_derive). */
struct lk_prof {
	size_t ctrl;     /* C0 controls but tab, CR, LF, FF and ESC; DEL */
	size_t fffd;     /* U+FFFD replacement characters */
	size_t alpha;    /* characters of either base64 alphabet, and '=' */
	size_t blank;    /* spaces and tabs */
	size_t other;    /* every other byte but line ends */
	size_t ends;     /* line ends (CR, LF) */
	size_t longest;  /* longest line; LK_UNKNOWN when not known */
	size_t has8;     /* 8-bit bytes */
	size_t esc;      /* ESCs */
	size_t pct;      /* '%' escapes (two hex digits) */
	size_t ref;      /* '&' reference starts ('#' or a word character) */
	size_t lt;       /* '<' */
	size_t norm;     /* full-width, no-break and invisible characters */
	size_t flowed;   /* blanks before a line end */
	size_t urlspec;  /* '-' and '_' (a URL-safe base64 token needs one) */
	int valid;       /* valid UTF-8: -1 not known yet (sx_lk_prof_valid) */
};
#define LK_UNKNOWN SIZE_MAX

/* Fills f for p (n bytes) in one pass. */
void sx_lk_profile(const uint8_t *p, size_t n, struct lk_prof *f);
/* Non-zero when f is a block of base64 text (see sx_lk_b64block); -1 when
 * that turns on a longest line f does not know. */
int sx_lk_prof_b64block(const struct lk_prof *f);
/*
 * The profile of a view x (n bytes) made from parent p by local changes, from
 * the parent's (pf, known in full) and the windows of x around the changes
 * (w; wp the same windows in p, which is x outside them): the windows of p
 * taken out, those of x put in. A window's edges are bytes no change wrote,
 * the same in p and x, so what a count misses across an edge it misses in
 * both. The longest line is not known then (LK_UNKNOWN).
 */
void sx_lk_prof_derive(struct lk_prof *f, const struct lk_prof *pf, const uint8_t *x, size_t n,
		       const struct lk_wins *w, const uint8_t *p, const struct lk_wins *wp);
/* Non-zero when p (profiled as f) is valid UTF-8; asked once, kept in f. */
int sx_lk_prof_valid(struct lk_prof *f, const uint8_t *p, size_t n);
/* Non-zero when p (profiled as f) is text a reader shows as such: valid
 * UTF-8, few control and replacement characters. */
int sx_lk_prof_texty(struct lk_prof *f, const uint8_t *p, size_t n);
/* Non-zero when p holds a '%' escape, an '&' reference start. */
int sx_lk_has_pct(const uint8_t *p, size_t n);
int sx_lk_has_ref(const uint8_t *p, size_t n);

/* Non-zero when p is a block of base64 text (40 or more characters of the
 * alphabet, a line that long, hardly anything else): searched as it stands
 * for long needles only, read through its decoding. */
int sx_lk_b64block(const uint8_t *p, size_t n);
/* Non-zero when p could be base64 whatever its label says (16 or more
 * characters of the alphabet, no blanks to speak of, '=' only as padding):
 * worth decoding. */
int sx_lk_looks_b64(const uint8_t *p, size_t n);
/* Non-zero when a line of p that a quoted-printable encoder could have
 * written (every '=' in it an escape, a soft break or an encoded-word's
 * delimiter) holds an escape or a soft line break, or p holds a Q
 * encoded-word. */
int sx_lk_looks_qp(const uint8_t *p, size_t n);
/* Non-zero when p is ASCII or valid UTF-8: text any charset label reads. */
int sx_lk_ascii_or_utf8(const uint8_t *p, size_t n);

/* Folds full-width ASCII and U+3000 to ASCII and drops characters readers
 * do not show; out holds n bytes. Returns the length written. When mark is
 * not NULL (n bytes too), it gets the marks of leak_window.c, and chg (room
 * for n + 2 size_t) the changes, *nchg of them. */
size_t sx_lk_normalize(const uint8_t *p, size_t n, uint8_t *out, uint8_t *mark, size_t *chg,
		       size_t *nchg);

/* ---- leak_window.c ---- */

/* Windows of a view to search: pairs [v[2i], v[2i+1]), in order. */
struct lk_wins {
	size_t *v;
	size_t n, cap;
};

/* Margin of a window beyond the longest needle. */
#define LK_WIN_MARGIN 8u

/*
 * The windows around every marked byte of p (mark holds n bytes, 1 where a
 * change wrote): ext bytes on either side, widened to whole lines when lines
 * is set, else to whole UTF-8 characters; merged. Returns 0 or SX_ENOMEM.
 */
int sx_lk_windows(const uint8_t *p, size_t n, const uint8_t *mark, size_t ext, int lines,
		  struct lk_wins *w);
/* Frees w's storage; w is empty again. */
void sx_lk_wins_finish(struct lk_wins *w);

/*
 * sx_pct_decode, sx_html_decode and the format=flowed join of p, appended
 * to out with one mark a byte appended to mark: 1 where the change wrote,
 * and beside a removal. Return 0 or a buffer error (out, mark and chg are
 * bounded by their callers). refs keeps decoded references for repeats.
 */
int sx_lk_pct_marked(const uint8_t *p, size_t n, struct sx_buf *out, struct sx_buf *mark,
		     struct sx_buf *chg);
int sx_lk_html_marked(const uint8_t *p, size_t n, struct sx_buf *out, struct sx_buf *mark,
		      struct sx_buf *chg, struct lk_refs *refs);
int sx_lk_flowed_marked(const uint8_t *p, size_t n, struct sx_buf *out, struct sx_buf *mark,
			struct sx_buf *chg);
/*
 * Each of them also appends to chg, per change, where it ends in out and in
 * p (two size_t), in order; sx_lk_normalize the same into its array. With
 * them (nchg changes), sx_lk_wins_map gives windows w of out as the same
 * stretches of p, in wp. Returns 0 or SX_ENOMEM.
 */
int sx_lk_wins_map(const struct lk_wins *w, const size_t *chg, size_t nchg, struct lk_wins *wp);

/* ---- leak_views.c ---- */

/*
 * Examines p (n bytes) as one view named step (appended to the chain) and,
 * as flags ask, every view derived from it. Sets x->found or x->over and
 * fills why when it stops; returns 0 or SX_ENOMEM.
 */
int sx_lk_view(struct lk_ctx *x, const uint8_t *p, size_t n, const char *step, unsigned flags,
	       unsigned tdepth);

/*
 * An empty buffer bounded by max, with storage from the pool when it has
 * some (room for want bytes, when there is memory: appends ask again).
 * sx_lk_put hands it back; sx_lk_pool_finish frees what the pool keeps.
 */
void sx_lk_get(struct lk_ctx *x, struct sx_buf *b, size_t max, size_t want);
void sx_lk_put(struct lk_ctx *x, struct sx_buf *b);
/* The same for windows: sx_lk_wins_get gives empty ones (w->n 0). */
void sx_lk_wins_get(struct lk_ctx *x, struct lk_wins *w);
void sx_lk_wins_put(struct lk_ctx *x, struct lk_wins *w);
void sx_lk_pool_finish(struct lk_pool *p);

/* Records an undecodable part (the first reason is kept); never stops the
 * search, since a found identifier says more. */
void sx_lk_undecodable(struct lk_ctx *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));


#endif
