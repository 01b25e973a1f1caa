/*
 * digest.c: the digest state, pure (see digest.h).
 */
#include "digest.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "err.h"

void sx_digest_init(struct sx_digest *dg)
{
	memset(dg, 0, sizeof *dg);
}

static void group_free(struct sx_digest_group *g)
{
	for (size_t i = 0; i < g->n_ids; i++)
		free(g->ids[i]);
	free(g->ids);
	free(g->headers);
}

void sx_digest_finish(struct sx_digest *dg)
{
	for (size_t i = 0; i < dg->n; i++)
		group_free(&dg->g[i]);
	free(dg->g);
	memset(dg, 0, sizeof *dg);
}

static int token_ok(const char *s, size_t max)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (n >= max || (unsigned char)s[n] <= ' ' || s[n] == 0x7f)
			return 0;
	return 1;
}

/* "d" + 26 base32 characters of SHA-256(day "|" ip "|" first report id). */
static void group_id(const char *day, const char *ip, const char *first, char out[28])
{
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char in[11 + SX_DIGEST_IP_MAX + SX_DIGEST_ID_MAX + 4];
	int n = snprintf(in, sizeof in, "%s|%s|%s", day, ip, first);
	if (EVP_Digest(in, (size_t)n, md, &mdlen, EVP_sha256(), NULL) != 1)
		memset(md, 0, 32);
	out[0] = 'd';
	for (int i = 0; i < 26; i++) {
		int bit = i * 5, byte = bit / 8, off = bit % 8;
		unsigned v = ((unsigned)md[byte] << 8 | md[byte + 1]) >> (11 - off);
		out[1 + i] = b32[v & 31];
	}
	out[27] = '\0';
}

int sx_digest_has(const struct sx_digest *dg, const char *id)
{
	for (size_t i = 0; i < dg->n; i++)
		for (size_t k = 0; k < dg->g[i].n_ids; k++)
			if (strcmp(dg->g[i].ids[k], id) == 0)
				return 1;
	return 0;
}

static void day_of(int64_t ms, char day[11])
{
	sx_notice_day(ms, day, 11);
}

int sx_digest_add(struct sx_digest *dg, const char *ip, int64_t received_ms, const char *id,
		  const uint8_t *hdr, size_t hlen)
{
	if (!ip)
		ip = "";
	if (!id || !id[0] || !token_ok(id, SX_DIGEST_ID_MAX) ||
	    !token_ok(ip, SX_DIGEST_IP_MAX - 1))
		return SX_EINVAL;
	if (sx_digest_has(dg, id))
		return 0;
	char day[11];
	day_of(received_ms, day);
	struct sx_digest_group *g = NULL;
	for (size_t i = 0; i < dg->n && !g; i++)
		if (strcmp(dg->g[i].day, day) == 0 && strcmp(dg->g[i].ip, ip) == 0)
			g = &dg->g[i];
	if (!g) {
		if (dg->n >= SX_DIGEST_GROUPS_MAX)
			return SX_ETOOBIG;
		if (dg->n == dg->cap) {
			size_t cap = dg->cap ? dg->cap * 2 : 16;
			struct sx_digest_group *ng = realloc(dg->g, cap * sizeof *ng);
			if (!ng)
				return SX_ENOMEM;
			dg->g = ng;
			dg->cap = cap;
		}
		g = &dg->g[dg->n];
		memset(g, 0, sizeof *g);
		memcpy(g->day, day, sizeof g->day);
		snprintf(g->ip, sizeof g->ip, "%s", ip);
		group_id(day, ip, id, g->id);
		g->first_ms = g->last_ms = received_ms;
		if (hdr && hlen) {
			if (hlen > SX_NOTICE_HEADERS_MAX)
				hlen = SX_NOTICE_HEADERS_MAX;
			if (!(g->headers = malloc(hlen)))
				return SX_ENOMEM;
			memcpy(g->headers, hdr, hlen);
			g->headers_len = hlen;
		}
		dg->n++;
	}
	if (g->n_ids >= SX_DIGEST_IDS_MAX)
		return SX_ETOOBIG;
	if (g->n_ids == g->cap_ids) {
		size_t cap = g->cap_ids ? g->cap_ids * 2 : 8;
		char **ni = realloc(g->ids, cap * sizeof *ni);
		if (!ni)
			return SX_ENOMEM;
		g->ids = ni;
		g->cap_ids = cap;
	}
	if (!(g->ids[g->n_ids] = strdup(id)))
		return SX_ENOMEM;
	g->n_ids++;
	g->count++;
	if (received_ms < g->first_ms)
		g->first_ms = received_ms;
	if (received_ms > g->last_ms)
		g->last_ms = received_ms;
	return 0;
}

int sx_digest_line(struct sx_buf *out, const char *ip, int64_t received_ms, const char *id,
		   const uint8_t *hdr, size_t hlen)
{
	if (!ip)
		ip = "";
	if (!id || !id[0] || !token_ok(id, SX_DIGEST_ID_MAX) ||
	    !token_ok(ip, SX_DIGEST_IP_MAX - 1))
		return SX_EINVAL;
	if (hlen > SX_NOTICE_HEADERS_MAX)
		hlen = SX_NOTICE_HEADERS_MAX;
	int rc = sx_notice_put(out, "R\t%" PRId64 "\t%s\t%s\t", received_ms, ip[0] ? ip : "-", id);
	if (rc < 0)
		return rc;
	if (hdr && hlen) {
		size_t b = 4 * ((hlen + 2) / 3);
		if ((rc = sx_buf_reserve(out, b + 1)) < 0)
			return rc;
		EVP_EncodeBlock(sx_buf_tail(out), hdr, (int)hlen);
		sx_buf_commit(out, b);
		return sx_buf_append(out, "\n", 1);
	}
	return sx_buf_append(out, "-\n", 2);
}

int sx_digest_group_lines(struct sx_buf *out, const struct sx_digest_group *g)
{
	/* every report keeps its own time only through first/last: the first
	 * id gets first_ms (and the headers), the others last_ms, which
	 * replays to the same count, first and last seen */
	for (size_t i = 0; i < g->n_ids; i++) {
		int64_t ms = i == 0 ? g->first_ms : g->last_ms;
		int rc = sx_digest_line(out, g->ip, ms, g->ids[i], i == 0 ? g->headers : NULL,
					i == 0 ? g->headers_len : 0);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int load_line(struct sx_digest *dg, char *line)
{
	char *f[5];
	size_t n = 0;
	for (char *p = line; n < 5;) {
		f[n++] = p;
		char *t = strchr(p, '\t');
		if (!t)
			break;
		*t = '\0';
		p = t + 1;
	}
	if (n != 5 || strcmp(f[0], "R") != 0)
		return SX_EINVAL;
	char *end;
	long long ms = strtoll(f[1], &end, 10);
	if (*end || end == f[1])
		return SX_EINVAL;
	const char *ip = strcmp(f[2], "-") == 0 ? "" : f[2];
	uint8_t *hdr = NULL;
	int hlen = 0;
	if (strcmp(f[4], "-") != 0) {
		size_t bl = strlen(f[4]);
		if (bl % 4 || bl > SX_DIGEST_LINE_MAX)
			return SX_EINVAL;
		if (!(hdr = malloc(bl / 4 * 3 + 1)))
			return SX_ENOMEM;
		hlen = EVP_DecodeBlock(hdr, (const unsigned char *)f[4], (int)bl);
		if (hlen < 0) {
			free(hdr);
			return SX_EINVAL;
		}
		for (size_t k = bl; k > 0 && f[4][k - 1] == '=' && hlen > 0; k--)
			hlen--;
	}
	int rc = sx_digest_add(dg, ip, (int64_t)ms, f[3], hdr, (size_t)hlen);
	free(hdr);
	return rc;
}

int sx_digest_load(struct sx_digest *dg, const char *buf, size_t len, size_t *used)
{
	size_t pos = 0;
	if (used)
		*used = 0;
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		if (!nl)
			break;   /* torn: never acked */
		size_t n = (size_t)(nl - (buf + pos));
		if (n > 0) {
			char *line = malloc(n + 1);
			if (!line)
				return SX_ENOMEM;
			memcpy(line, buf + pos, n);
			line[n] = '\0';
			int rc = load_line(dg, line);
			free(line);
			if (rc < 0)
				return rc;
		}
		pos += n + 1;
		if (used)
			*used = pos;
	}
	return 0;
}

int sx_digest_due(const struct sx_digest_group *g, int64_t now_ms)
{
	char today[11];
	day_of(now_ms, today);
	return strcmp(g->day, today) < 0;
}

void sx_digest_drop(struct sx_digest *dg, size_t i)
{
	if (i >= dg->n)
		return;
	group_free(&dg->g[i]);
	memmove(&dg->g[i], &dg->g[i + 1], (dg->n - i - 1) * sizeof *dg->g);
	dg->n--;
}

void sx_digest_view(const struct sx_digest_group *g, struct sx_notice_digest *v)
{
	memset(v, 0, sizeof *v);
	v->id = g->id;
	v->day = g->day;
	v->source_ip = g->ip;
	v->count = g->count;
	v->first_ms = g->first_ms;
	v->last_ms = g->last_ms;
	v->report_ids = (const char *const *)g->ids;
	v->n_ids = g->n_ids;
	v->headers = g->headers;
	v->headers_len = g->headers_len;
}
