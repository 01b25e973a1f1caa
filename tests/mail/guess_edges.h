/*
 * guess_edges.h: the edges of "looks quoted-printable" and "looks base64",
 * which the redactor (sx_rx_looks_*) and the leak check (sx_lk_looks_*)
 * decide each by its own code and must decide alike: a body one of them
 * reads so and the other does not is either redacted for nothing or sent to
 * quarantine. test_redact.c and test_leak.c run both over this one table.
 */
#ifndef SX_TEST_GUESS_EDGES_H
#define SX_TEST_GUESS_EDGES_H

struct guess_edge {
	const char *text;
	int b64;    /* 0: the quoted-printable guess, 1: the base64 one */
	int looks;  /* what it must say */
};

static const struct guess_edge guess_edges[] = {
	{ "a=3Db", 0, 1 },
	{ "x=y\nsoft=\nmore", 0, 1 },               /* the soft break's line is an encoder's */
	{ "=?UTF-8?Q?=E3=81=94?= x", 0, 1 },        /* an encoded-word's delimiters */
	{ "a=3Db&c=d", 0, 0 },                      /* a bare '=' beside the escape */
	{ "?a=b&n==?utf-8?q?=E3=81=94?=", 0, 1 },   /* but a Q encoded-word anywhere */
	{ "?a=b&n==?utf-8?b?44GU?=", 0, 0 },
	/* the Q encoded-word's label at its bound, 64 characters, and past it */
	{ "?a=b&n==?cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc?q?=E3=81=94?=", 0, 1 },
	{ "?a=b&n==?ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc?q?=E3=81=94?=", 0, 0 },
	{ "dGFybw==\nmore", 0, 0 },                 /* padding, then a soft break of '=' */
	{ "end=\n", 0, 0 },                         /* a soft break with nothing after it */
	{ "=4G", 0, 0 },
	{ "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY", 1, 1 },
	{ "QUJDREVGR0hJSktMTU5PUA==\r\nQUJDREVGR0hJSktMTU5PUA==", 1, 1 },
	{ "QUJDREVGR0hJSktMTU5PUA=QUJDREVGR0hJSktMTU5PUA", 1, 0 },  /* '=' inside */
	{ "=E3=81=94=E6=A1=88=E5=86=85=E3=81=A7=E3=81=99", 1, 0 },   /* quoted-printable */
};

#endif
