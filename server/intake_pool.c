/*
 * intake_pool.c: worker threads over a FIFO of intake jobs (intake_pool.h).
 *
 * One mutex guards the queue and every job's done flag; the jobs themselves
 * are touched by one worker between taking and finishing them, and by their
 * owner only after sx_intake_pool_wait. The pipeline holds no lock while it
 * runs, so the workers share nothing but the queue.
 */
#include "intake_pool.h"

#include <pthread.h>
#include <stdlib.h>

#include "charset.h"
#include "err.h"

struct sx_intake_pool {
	pthread_mutex_t mu;
	pthread_cond_t work;         /* a job was queued, or stop */
	pthread_cond_t done;         /* a job has run */
	struct sx_intake_job *head, *tail;
	int stop;
	unsigned nthreads;
	pthread_t th[SX_INTAKE_POOL_MAX];
};

static void *worker(void *arg)
{
	struct sx_intake_pool *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->head == NULL && !p->stop)
			pthread_cond_wait(&p->work, &p->mu);
		if (p->head == NULL)
			break; /* stopped with nothing left */
		struct sx_intake_job *j = p->head;
		p->head = j->qnext;
		if (p->head == NULL)
			p->tail = NULL;
		pthread_mutex_unlock(&p->mu);
		sx_intake_job_run(j);
		pthread_mutex_lock(&p->mu);
		j->done = 1;
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	sx_charset_thread_finish();
	return NULL;
}

/* Stops and joins the first n workers, then frees p. */
static void stop(struct sx_intake_pool *p, unsigned n)
{
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < n; i++)
		pthread_join(p->th[i], NULL);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

int sx_intake_pool_create(unsigned threads, struct sx_intake_pool **out)
{
	*out = NULL;
	if (threads == 0 || threads > SX_INTAKE_POOL_MAX)
		return SX_EINVAL;
	struct sx_intake_pool *p = calloc(1, sizeof *p);
	if (p == NULL)
		return SX_ENOMEM;
	if (pthread_mutex_init(&p->mu, NULL) != 0) {
		free(p);
		return SX_ENOMEM;
	}
	if (pthread_cond_init(&p->work, NULL) != 0) {
		pthread_mutex_destroy(&p->mu);
		free(p);
		return SX_ENOMEM;
	}
	if (pthread_cond_init(&p->done, NULL) != 0) {
		pthread_cond_destroy(&p->work);
		pthread_mutex_destroy(&p->mu);
		free(p);
		return SX_ENOMEM;
	}
	for (unsigned i = 0; i < threads; i++) {
		if (pthread_create(&p->th[i], NULL, worker, p) != 0) {
			stop(p, i);
			return SX_ENOMEM;
		}
	}
	p->nthreads = threads;
	*out = p;
	return 0;
}

void sx_intake_pool_run(struct sx_intake_pool *p, struct sx_intake_job *j)
{
	pthread_mutex_lock(&p->mu);
	j->qnext = NULL;
	j->done = 0;
	if (p->tail != NULL)
		p->tail->qnext = j;
	else
		p->head = j;
	p->tail = j;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
}

void sx_intake_pool_wait(struct sx_intake_pool *p, struct sx_intake_job *j)
{
	pthread_mutex_lock(&p->mu);
	while (!j->done)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void sx_intake_pool_destroy(struct sx_intake_pool *p)
{
	if (p != NULL)
		stop(p, p->nthreads); /* the workers empty the queue before they stop */
}
