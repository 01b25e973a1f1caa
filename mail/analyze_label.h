/*
 * analyze_label.h: the text tests behind the opt-in and labeling flags
 * (internal to mail/): does the mail advertise, and does its body carry the
 * indications Art. 4 of the Act requires. Plain keyword and pattern tests,
 * chosen to be explainable: each result names what it found.
 */
#ifndef SX_ANALYZE_LABEL_H
#define SX_ANALYZE_LABEL_H

#include <stddef.h>
#include <stdint.h>

#include "analyze_words.h"

/* An opt-out statement or complaint keyword counts when an address or URL
 * (or, for complaints, a phone number) lies within this many bytes. */
#define SX_LABEL_NEAR 200
/* URLs, addresses and phone numbers remembered per message. */
#define SX_LABEL_POINTS_MAX 256

#define SX_LABEL_WORD 48

/* Where the label word lists (offer words, sender names, opt-out and
 * complaint words, prefectures, street words, "〒") occur in the decoded
 * subject and body: found in one pass over each text, then read by every
 * check below instead of searching the text once per word. */
struct sx_label_words {
	struct sx_wordset set;
	struct sx_wordhits subject, body;
};

/* Records the occurrences of the word lists in subject and body, which must
 * outlive w. Returns 0, or SX_EINVAL when a list does not fit the matcher
 * (a programming error, caught by the tests). */
int sx_label_words_init(struct sx_label_words *w, const uint8_t *subject, size_t sn,
			const uint8_t *body, size_t bn);

struct sx_ad {
	int url;                       /* an http(s) URL was seen */
	char url_host[64];             /* its host */
	const char *url_where;         /* "Subject" or "body" */
	int keyword;                   /* an offer word was seen */
	char keyword_text[SX_LABEL_WORD];
	const char *keyword_where;
};

/* Looks for advertising signals in the decoded subject and body of w. */
void sx_label_advertising(struct sx_label_words *w, struct sx_ad *out);

struct sx_labels {
	char name[SX_LABEL_WORD];       /* sender-name indication in the body, "" if none */
	int optout;                     /* statement with an address or URL beside it */
	char optout_stmt[SX_LABEL_WORD];/* the statement seen (with or without one) */
	char optout_where[SX_LABEL_WORD * 2]; /* the address or URL beside it */
	char postal[SX_LABEL_WORD * 2]; /* the postal address indication, "" if none */
	int contact;                    /* complaint contact with a means to reach it */
	char contact_word[SX_LABEL_WORD]; /* the complaint keyword seen */
	unsigned urls, addresses, phones;
};

/* Looks for the labeling indications in the decoded body of w. */
void sx_label_scan(struct sx_label_words *w, struct sx_labels *out);

#endif
