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

/* An opt-out statement or complaint keyword counts when an address or URL
 * (or, for complaints, a phone number) lies within this many bytes. */
#define SX_LABEL_NEAR 200
/* URLs, addresses and phone numbers remembered per message. */
#define SX_LABEL_POINTS_MAX 256

#define SX_LABEL_WORD 48

struct sx_ad {
	int url;                       /* an http(s) URL was seen */
	char url_host[64];             /* its host */
	const char *url_where;         /* "Subject" or "body" */
	int keyword;                   /* an offer word was seen */
	char keyword_text[SX_LABEL_WORD];
	const char *keyword_where;
};

/* Looks for advertising signals in the decoded subject and body. */
void sx_label_advertising(const uint8_t *subject, size_t sn, const uint8_t *body, size_t bn,
			  struct sx_ad *out);

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

/* Looks for the labeling indications in the decoded body. */
void sx_label_scan(const uint8_t *body, size_t n, struct sx_labels *out);

#endif
