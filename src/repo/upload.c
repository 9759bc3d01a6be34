/*
 * upload.c - a background writer for finished packs. Workers hand over a
 * sealed pack and go back to hashing and compressing while this thread
 * writes, fsyncs and renames it; only then are its blobs published in the
 * index. At most `depth` packs wait, which bounds memory.
 *
 * The buffer of a pack just written is kept and handed to the next worker
 * that needs one: a fresh buffer costs a page fault and a zeroed page per
 * 2 MiB it fills (5-7% of an ingest's CPU on a VM), a reused one nothing.
 * A worker takes the kept buffer once its own pack is queued, that is once
 * the pack before it is written, so workers, the queue and the writer
 * hold at most workers + depth buffers, as when each was fresh.
 */
#include "repo/repo_int.h"

typedef struct upack {
	strata_buf data;
	strata_pack_entry *ents;
	size_t n;
	uint8_t id[32];
} upack;

struct repo_uploader {
	strata_repo *r;
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	upack *q;
	size_t head, count, depth;
	bool closing;
	int rc;
	char msg[1024];
	uint64_t stored;
	strata_buf spare; /* the last written pack's buffer, emptied */
};

static void *run(void *arg)
{
	repo_uploader *u = arg;
	pthread_mutex_lock(&u->lock);
	for (;;) {
		while (!u->count && !u->closing)
			pthread_cond_wait(&u->cond, &u->lock);
		if (!u->count)
			break;
		upack p = u->q[u->head];
		pthread_mutex_unlock(&u->lock);
		char name[128];
		int rc = 0;
		if (!u->rc) {
			strata_pack_name(name, sizeof(name), p.id);
			rc = u->r->be->ops->put_deferred(
			    u->r->be, name, p.data.ptr, p.data.len);
			if (!rc)
				rc = repo__publish(u->r, p.id, p.ents, p.n);
		}
		pthread_mutex_lock(&u->lock);
		if (rc && !u->rc) {
			u->rc = rc;
			snprintf(u->msg, sizeof(u->msg), "%s",
				 strata_error_msg());
		}
		if (!rc)
			u->stored += p.data.len;
		if (!u->spare.ptr) {
			u->spare = p.data;
			u->spare.len = 0;
		} else {
			strata_buf_release(&p.data);
		}
		strata_free(p.ents);
		u->head = (u->head + 1) % u->depth;
		u->count--;
		pthread_cond_broadcast(&u->cond);
	}
	pthread_mutex_unlock(&u->lock);
	return NULL;
}

int repo__uploader_start(repo_uploader **out, strata_repo *r, size_t depth)
{
	repo_uploader *u = strata_calloc(1, sizeof(*u));
	if (!u || !(u->q = strata_calloc(depth, sizeof(*u->q)))) {
		strata_free(u);
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	}
	u->r = r;
	u->depth = depth;
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->cond, NULL);
	if (pthread_create(&u->th, NULL, run, u)) {
		strata_free(u->q);
		strata_free(u);
		return strata_error_set(STRATA_EIO, "cannot start a thread");
	}
	*out = u;
	return 0;
}

int repo__uploader_submit(repo_uploader *u, strata_pack_writer *w,
			  strata_codec *c)
{
	upack p;
	int rc;
	if (!w->n)
		return 0;
	memset(&p, 0, sizeof(p));
	if ((rc = strata_pack_finish(w, c, p.id)))
		return rc;
	/* move the buffers out */
	p.data = w->data;
	p.ents = w->ents;
	p.n = w->n;
	size_t limit = w->data.limit, cap = w->data.cap;
	memset(&w->data, 0, sizeof(w->data));
	w->data.limit = limit;
	w->ents = NULL;
	w->n = w->cap = 0;
	pthread_mutex_lock(&u->lock);
	while (u->count == u->depth && !u->rc)
		pthread_cond_wait(&u->cond, &u->lock);
	if ((rc = u->rc)) {
		strata_error_set(rc, "%s", u->msg);
		pthread_mutex_unlock(&u->lock);
		strata_buf_release(&p.data);
		strata_free(p.ents);
		return rc;
	}
	u->q[(u->head + u->count) % u->depth] = p;
	u->count++;
	/* taken only now, when the pack written before has given its buffer
	 * back: a worker that finds none here would allocate one more */
	if (u->spare.cap >= cap) {
		w->data = u->spare;
		w->data.limit = limit;
		memset(&u->spare, 0, sizeof(u->spare));
	}
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
	/* the same capacity again, so the next pack does not grow by doubling
	 * (pages are only touched as they fill) */
	if (!w->data.ptr && cap &&
	    (rc = strata_buf_alloc_huge(&w->data, cap, u->r->pack_size)))
		return rc;
	return 0;
}

int repo__uploader_finish(repo_uploader *u, uint64_t *stored)
{
	if (!u)
		return 0;
	pthread_mutex_lock(&u->lock);
	u->closing = true;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
	pthread_join(u->th, NULL);
	int rc = u->rc;
	if (rc)
		strata_error_set(rc, "%s", u->msg);
	if (stored)
		*stored += u->stored;
	pthread_mutex_destroy(&u->lock);
	pthread_cond_destroy(&u->cond);
	strata_buf_release(&u->spare);
	strata_free(u->q);
	strata_free(u);
	return rc;
}
