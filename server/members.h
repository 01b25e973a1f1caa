/*
 * members.h: an immutable snapshot of the member registry, looked up by
 * certificate key on every handshake. sprexd builds a new snapshot when the
 * database changes and swaps it in; sessions copy what they need, so an old
 * snapshot can be destroyed at once.
 */
#ifndef SX_MEMBERS_H
#define SX_MEMBERS_H

#include <stddef.h>

#include "store.h"

struct sx_members;

/* Reads every member that is not removed from s. Returns 0 and *out (free
 * with sx_members_destroy) or the store's error. */
int sx_members_load(struct sx_store *s, struct sx_members **out);
/* Frees a snapshot; NULL is fine. */
void sx_members_destroy(struct sx_members *m);
/* The member holding this key, or NULL (owned by the snapshot). */
const struct sx_member *sx_members_by_spki(const struct sx_members *m, const uint8_t *spki);
/* The member with this id, or NULL. */
const struct sx_member *sx_members_by_id(const struct sx_members *m, int64_t id);
/* The member called name (active or suspended), or NULL. */
const struct sx_member *sx_members_by_name(const struct sx_members *m, const char *name);
size_t sx_members_count(const struct sx_members *m);

#endif
