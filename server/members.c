#include "members.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

struct sx_members {
	struct sx_member *v;   /* sorted by spki */
	size_t n, cap;
};

static int collect(void *ctx, const struct sx_member *m)
{
	struct sx_members *ms = ctx;
	if (m->state == SX_MEMBER_REMOVED)
		return 0;
	if (ms->n == ms->cap) {
		size_t cap = ms->cap ? ms->cap * 2 : 64;
		struct sx_member *v = realloc(ms->v, cap * sizeof *v);
		if (!v)
			return SX_ENOMEM;
		ms->v = v;
		ms->cap = cap;
	}
	ms->v[ms->n++] = *m;
	return 0;
}

static int by_spki(const void *a, const void *b)
{
	return memcmp(((const struct sx_member *)a)->spki, ((const struct sx_member *)b)->spki,
		      SX_SPKI_LEN);
}

int sx_members_load(struct sx_store *s, struct sx_members **out)
{
	struct sx_members *ms = calloc(1, sizeof *ms);
	if (!ms)
		return SX_ENOMEM;
	int rc = sx_store_member_each(s, 0, collect, ms);
	if (rc < 0) {
		sx_members_destroy(ms);
		return rc;
	}
	if (ms->n > 1)
		qsort(ms->v, ms->n, sizeof *ms->v, by_spki);
	*out = ms;
	return 0;
}

void sx_members_destroy(struct sx_members *m)
{
	if (!m)
		return;
	free(m->v);
	free(m);
}

const struct sx_member *sx_members_by_spki(const struct sx_members *m, const uint8_t *spki)
{
	struct sx_member key;
	memcpy(key.spki, spki, SX_SPKI_LEN);
	return m->n ? bsearch(&key, m->v, m->n, sizeof *m->v, by_spki) : NULL;
}

const struct sx_member *sx_members_by_id(const struct sx_members *m, int64_t id)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].id == id)
			return &m->v[i];
	return NULL;
}

const struct sx_member *sx_members_by_name(const struct sx_members *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->v[i].name, name) == 0)
			return &m->v[i];
	return NULL;
}

size_t sx_members_count(const struct sx_members *m)
{
	return m->n;
}
