/*
 * ray_parse_ahead.c
 *		Event Export bodies parsed ahead in a thread (see ray_parse_ahead.h).
 *
 * Entries are a list in id order, each in one state. The thread takes the
 * first QUEUED entry, marks it PARSING and parses it without the lock; the
 * caller's thread takes an entry by marking it PARSING itself (when it was
 * still QUEUED) or by waiting for the thread's DONE. An entry is freed only
 * by the caller's thread and never while the other thread parses it, so
 * the thread needs the lock only to change a state.
 */
#include "ray_parse_ahead.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ray_json_read.h"

typedef enum EntryState
{
	ENTRY_QUEUED,				/* waiting for a thread */
	ENTRY_PARSING,				/* being parsed (by either thread) */
	ENTRY_DONE,					/* parsed, not yet taken */
	ENTRY_TAKEN					/* lent to the caller until the release */
} EntryState;

typedef struct Entry
{
	struct Entry *next;
	EntryState	state;
	RayParsedBody pb;
} Entry;

struct RayParseAhead
{
	pthread_t	thread;
	pthread_mutex_t lock;
	pthread_cond_t work;		/* an entry was queued, or stop */
	pthread_cond_t done;		/* an entry became DONE */
	bool		stopping;
	Entry	   *head;			/* id order */
	Entry	   *tail;
};

static void
parse_entry(Entry *e)
{
	e->pb.batch = NULL;
	e->pb.err[0] = '\0';
	e->pb.status = ray_event_batch_parse(e->pb.body, e->pb.len, &e->pb.v, NULL, &e->pb.batch,
										 e->pb.err, sizeof(e->pb.err));
	if (e->pb.status != RAY_OK)
		e->pb.batch = NULL;
}

static void
free_entry(Entry *e)
{
	if (e->pb.batch != NULL)
		ray_event_batch_free(e->pb.batch);
	free(e->pb.body);
	free(e);
}

static Entry *
first_queued(RayParseAhead *pa)
{
	for (Entry *e = pa->head; e != NULL; e = e->next)
		if (e->state == ENTRY_QUEUED)
			return e;
	return NULL;
}

static void *
thread_main(void *arg)
{
	RayParseAhead *pa = arg;

	pthread_mutex_lock(&pa->lock);
	for (;;)
	{
		Entry	   *e = NULL;

		while (!pa->stopping && (e = first_queued(pa)) == NULL)
			pthread_cond_wait(&pa->work, &pa->lock);
		if (pa->stopping)
			break;
		e->state = ENTRY_PARSING;
		pthread_mutex_unlock(&pa->lock);
		parse_entry(e);
		pthread_mutex_lock(&pa->lock);
		e->state = ENTRY_DONE;
		pthread_cond_broadcast(&pa->done);
	}
	pthread_mutex_unlock(&pa->lock);
	return NULL;
}

RayStatus
ray_parse_ahead_start(RayParseAhead **out, char *err, size_t errlen)
{
	RayParseAhead *pa = calloc(1, sizeof(*pa));
	sigset_t	all,
				old;
	int			rc;

	*out = NULL;
	if (pa == NULL)
	{
		snprintf(err, errlen, "out of memory");
		return RAY_ERR_OOM;
	}
	pthread_mutex_init(&pa->lock, NULL);
	pthread_cond_init(&pa->work, NULL);
	pthread_cond_init(&pa->done, NULL);
	/* cJSON's hooks are set before a second thread can be inside cJSON. */
	ray_json_threads_init();

	/*
	 * The thread starts with every signal blocked, so that the process's
	 * signals (PostgreSQL's handlers, in the merger) reach the caller's
	 * thread only.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&pa->thread, NULL, thread_main, pa);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
	{
		snprintf(err, errlen, "could not start a thread: %s", strerror(rc));
		pthread_cond_destroy(&pa->done);
		pthread_cond_destroy(&pa->work);
		pthread_mutex_destroy(&pa->lock);
		free(pa);
		return RAY_ERR_OOM;
	}
	*out = pa;
	return RAY_OK;
}

bool
ray_parse_ahead_submit(RayParseAhead *pa, int64_t id, const RayVersion *v, const char *body, size_t len)
{
	Entry	   *e;

	if (pa->tail != NULL && id <= pa->tail->pb.id)
		return false;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return false;
	e->pb.body = malloc(len + 1);
	if (e->pb.body == NULL)
	{
		free(e);
		return false;
	}
	memcpy(e->pb.body, body, len);
	e->pb.body[len] = '\0';
	e->pb.len = len;
	e->pb.id = id;
	e->pb.v = *v;
	e->state = ENTRY_QUEUED;
	pthread_mutex_lock(&pa->lock);
	if (pa->tail != NULL)
		pa->tail->next = e;
	else
		pa->head = e;
	pa->tail = e;
	pthread_cond_signal(&pa->work);
	pthread_mutex_unlock(&pa->lock);
	return true;
}

size_t
ray_parse_ahead_held(RayParseAhead *pa, int64_t *ids, size_t max)
{
	size_t		n = 0;

	pthread_mutex_lock(&pa->lock);
	for (Entry *e = pa->head; e != NULL; e = e->next)
		if (e->state != ENTRY_TAKEN)
		{
			if (n < max)
				ids[n] = e->pb.id;
			n++;
		}
	pthread_mutex_unlock(&pa->lock);
	return n;
}

int64_t
ray_parse_ahead_last(RayParseAhead *pa)
{
	int64_t		last = -1;

	pthread_mutex_lock(&pa->lock);
	for (Entry *e = pa->head; e != NULL; e = e->next)
		if (e->state != ENTRY_TAKEN)
			last = e->pb.id;
	pthread_mutex_unlock(&pa->lock);
	return last;
}

static bool
same_version(const RayVersion *a, const RayVersion *b)
{
	return a->major == b->major && a->minor == b->minor && a->patch == b->patch;
}

/* Wait, holding the lock, until the other thread is done with e. */
static void
wait_parsed(RayParseAhead *pa, Entry *e)
{
	while (e->state == ENTRY_PARSING)
		pthread_cond_wait(&pa->done, &pa->lock);
}

const RayParsedBody *
ray_parse_ahead_take(RayParseAhead *pa, int64_t id, const RayVersion *v)
{
	Entry	   *e;

	pthread_mutex_lock(&pa->lock);
	for (e = pa->head; e != NULL; e = e->next)
		if (e->pb.id == id && e->state != ENTRY_TAKEN)
			break;
	if (e == NULL)
	{
		pthread_mutex_unlock(&pa->lock);
		return NULL;
	}
	wait_parsed(pa, e);
	if (e->state == ENTRY_QUEUED || !same_version(&e->pb.v, v))
	{
		/* Not begun (parsed here, not waited for), or for another version. */
		e->state = ENTRY_PARSING;
		pthread_mutex_unlock(&pa->lock);
		if (e->pb.batch != NULL)
			ray_event_batch_free(e->pb.batch);
		e->pb.v = *v;
		parse_entry(e);
		pthread_mutex_lock(&pa->lock);
	}
	e->state = ENTRY_TAKEN;
	pthread_mutex_unlock(&pa->lock);
	return &e->pb;
}

/*
 * Unlink and free the taken entries (taken), or those not taken whose id is
 * below below; one still being parsed is waited for first.
 */
static void
free_where(RayParseAhead *pa, bool taken, int64_t below)
{
	Entry	   *prev = NULL;
	Entry	   *e;

	pthread_mutex_lock(&pa->lock);
	e = pa->head;
	while (e != NULL)
	{
		Entry	   *next = e->next;
		bool		drop = taken ? e->state == ENTRY_TAKEN
			: (e->state != ENTRY_TAKEN && e->pb.id < below);

		if (drop)
		{
			wait_parsed(pa, e);
			if (prev != NULL)
				prev->next = next;
			else
				pa->head = next;
			if (pa->tail == e)
				pa->tail = prev;
			free_entry(e);
		}
		else
			prev = e;
		e = next;
	}
	pthread_mutex_unlock(&pa->lock);
}

void
ray_parse_ahead_drop_below(RayParseAhead *pa, int64_t id)
{
	free_where(pa, false, id);
}

void
ray_parse_ahead_release(RayParseAhead *pa)
{
	free_where(pa, true, 0);
}

void
ray_parse_ahead_stop(RayParseAhead *pa)
{
	Entry	   *e;

	if (pa == NULL)
		return;
	pthread_mutex_lock(&pa->lock);
	pa->stopping = true;
	pthread_cond_broadcast(&pa->work);
	pthread_mutex_unlock(&pa->lock);
	pthread_join(pa->thread, NULL);
	e = pa->head;
	while (e != NULL)
	{
		Entry	   *next = e->next;

		free_entry(e);
		e = next;
	}
	pthread_cond_destroy(&pa->done);
	pthread_cond_destroy(&pa->work);
	pthread_mutex_destroy(&pa->lock);
	free(pa);
}
