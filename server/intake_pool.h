/*
 * intake_pool.h: threads that run intake jobs (intake.h) for a process that
 * stores their results itself, in its own order: sprexctl ingest reads and
 * stores on its main thread while the pipeline, which is pure and costs a
 * millisecond a report, runs on every core.
 */
#ifndef SX_INTAKE_POOL_H
#define SX_INTAKE_POOL_H

#include "intake.h"

/* Threads in one pool at most. */
#define SX_INTAKE_POOL_MAX 64

struct sx_intake_pool;

/*
 * Starts threads workers (1..SX_INTAKE_POOL_MAX). Returns 0 and *out (free
 * with sx_intake_pool_destroy), SX_EINVAL or SX_ENOMEM (nothing started).
 */
int sx_intake_pool_create(unsigned threads, struct sx_intake_pool **out);
/*
 * Queues j, already initialised, to run on a worker. The job stays the
 * caller's; it must not be touched, moved or freed until sx_intake_pool_wait
 * has returned for it.
 */
void sx_intake_pool_run(struct sx_intake_pool *p, struct sx_intake_job *j);
/* Blocks until j, queued by sx_intake_pool_run, has run. */
void sx_intake_pool_wait(struct sx_intake_pool *p, struct sx_intake_job *j);
/* Waits for every queued job, stops the workers and frees the pool; NULL is
 * fine. */
void sx_intake_pool_destroy(struct sx_intake_pool *p);

#endif
