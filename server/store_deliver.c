/*
 * store_deliver.c: a stored report read whole for delivery. The manifest and
 * the evidence are stored as JSON (what operators and auditors read); SQLite's
 * json_each decodes them here, so sprexd needs no JSON parser of its own.
 */
#include "store_sqlite.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

/* Upper bounds far above what intake writes (SX_MANIFEST_MAX, the evidence
 * list): a row beyond them is damaged, not large. */
#define FULL_MANIFEST_MAX 4096
#define FULL_EVIDENCE_MAX 256

static const char *const full_sql[] = {
	[SX_STMT_FULL_MANIFEST] =
		"SELECT json_extract(j.value, '$.part'), json_extract(j.value, '$.where'), "
		"json_extract(j.value, '$.kind'), json_extract(j.value, '$.encoding'), "
		"json_extract(j.value, '$.count'), json_extract(j.value, '$.offset'), "
		"json_extract(j.value, '$.length') "
		"FROM reports AS r, json_each(r.manifest) AS j WHERE r.id = ?1 ORDER BY j.key",
	[SX_STMT_FULL_EVIDENCE] =
		"SELECT coalesce(json_extract(j.value, '$.flag'), ''), "
		"json_extract(j.value, '$.check'), json_extract(j.value, '$.where'), "
		"json_extract(j.value, '$.detail'), json_extract(j.value, '$.article') "
		"FROM reports AS r, json_each(r.evidence) AS j WHERE r.id = ?1 ORDER BY j.key",
	/* Ids only: the caller loads what it keeps. */
	[SX_STMT_FULL_BEFORE] =
		"SELECT seq, id FROM reports WHERE state = 0 AND seq < ?1 ORDER BY seq DESC "
		"LIMIT ?2",
};

/* Copies column i, truncated to fit (these are labels, never evidence of
 * identity, so truncation loses nothing that matters). */
static void col_copy(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	size_t n = t ? (size_t)sqlite3_column_bytes(st, i) : 0;
	if (n >= outlen)
		n = outlen - 1;
	if (n)
		memcpy(out, t, n);
	out[n] = '\0';
}

/* Grows *v (elements of size sz) to hold one more; bounded by max. */
static int grow(struct sx_store *s, void **v, size_t n, size_t sz, size_t max)
{
	if (n >= max)
		return sx_store_failf(s, SX_EDB, "report has more than %zu manifest or evidence "
					       "entries", max);
	if ((n & (n - 1)) == 0 || n == 0) { /* 0, 1, 2, 4, ...: double */
		size_t cap = n ? n * 2 : 4;
		void *nv = realloc(*v, cap * sz);
		if (!nv)
			return sx_store_failf(s, SX_ENOMEM, "out of memory");
		*v = nv;
	}
	return 0;
}

/* Fills item i from the current row of a manifest statement. */
static void manifest_row(sqlite3_stmt *st, void *v, size_t i)
{
	struct sx_manifest_item *m = (struct sx_manifest_item *)v + i;
	col_copy(st, 0, m->part, sizeof m->part);
	col_copy(st, 1, m->where, sizeof m->where);
	col_copy(st, 2, m->kind, sizeof m->kind);
	col_copy(st, 3, m->encoding, sizeof m->encoding);
	m->count = (unsigned)sqlite3_column_int64(st, 4);
	m->offset = (uint64_t)sqlite3_column_int64(st, 5);
	m->length = (uint64_t)sqlite3_column_int64(st, 6);
}

static void evidence_row(sqlite3_stmt *st, void *v, size_t i)
{
	struct sx_evidence_item *e = (struct sx_evidence_item *)v + i;
	col_copy(st, 0, e->flag, sizeof e->flag);
	col_copy(st, 1, e->check, sizeof e->check);
	col_copy(st, 2, e->where, sizeof e->where);
	col_copy(st, 3, e->detail, sizeof e->detail);
	col_copy(st, 4, e->article, sizeof e->article);
}

/* Reads the rows of slot (one JSON array of report id, decoded by
 * json_each) into a growing array of sz-byte items. */
static int read_items(struct sx_store *s, enum sx_stmt slot, const char *id, void **v, size_t *n,
		      size_t sz, size_t max, void (*row)(sqlite3_stmt *, void *, size_t))
{
	sqlite3_stmt *st;
	int err = sx_store_stmt(s, slot, full_sql[slot], &st);
	if (err)
		return err;
	int rc = sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		if ((rc = sqlite3_step(st)) != SQLITE_ROW)
			break;
		if ((err = grow(s, v, *n, sz, max)))
			break;
		row(st, *v, (*n)++);
	}
	if (!err && rc != SQLITE_DONE)
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}

int sx_store_report_full(struct sx_store *s, const char *id, struct sx_report_full *out)
{
	memset(out, 0, sizeof *out);
	int err = sx_store_report_get(s, id, &out->row);
	if (!err)
		err = sx_store_report_mail(s, id, &out->mail, &out->mail_len);
	if (!err)
		err = read_items(s, SX_STMT_FULL_MANIFEST, id, (void **)&out->manifest,
				 &out->nmanifest, sizeof *out->manifest, FULL_MANIFEST_MAX,
				 manifest_row);
	if (!err)
		err = read_items(s, SX_STMT_FULL_EVIDENCE, id, (void **)&out->evidence,
				 &out->nevidence, sizeof *out->evidence, FULL_EVIDENCE_MAX,
				 evidence_row);
	if (err)
		sx_report_full_finish(out);
	return err;
}

int sx_store_report_before(struct sx_store *s, int64_t before, size_t limit, sx_report_fn fn,
			   void *ctx)
{
	sqlite3_stmt *st;
	int err = sx_store_stmt(s, SX_STMT_FULL_BEFORE, full_sql[SX_STMT_FULL_BEFORE], &st);
	if (err)
		return err;
	/* Collected first: fn may look reports up, which a live walk forbids. */
	enum { CHUNK = 512 };
	struct { int64_t seq; char id[SX_REPORT_ID_LEN + 1]; } v[CHUNK];
	size_t n = 0;
	int rc = sqlite3_bind_int64(st, 1, before);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, (int64_t)(limit < CHUNK ? limit : CHUNK));
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		if ((rc = sqlite3_step(st)) != SQLITE_ROW)
			break;
		v[n].seq = sqlite3_column_int64(st, 0);
		if (sx_store_col_text(st, 1, v[n].id, sizeof v[n].id) < 0) {
			err = sx_store_failf(s, SX_EDB, "malformed report row");
			break;
		}
		n++;
	}
	if (!err && rc != SQLITE_DONE)
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	for (size_t i = 0; i < n && !err; i++) {
		struct sx_report_row r;
		err = sx_store_report_get(s, v[i].id, &r);
		if (!err)
			err = fn(ctx, &r);
	}
	return err;
}

void sx_report_full_finish(struct sx_report_full *f)
{
	free(f->mail);
	free(f->manifest);
	free(f->evidence);
	memset(f, 0, sizeof *f);
}
