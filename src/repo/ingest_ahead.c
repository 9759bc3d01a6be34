/*
 * ingest_ahead.c - reading ahead of the ingest workers. One thread walks
 * the job list a window ahead of them.
 *
 * Files under DIRECT_MAX on a local disk file system are read whole,
 * with O_DIRECT, through io_uring, many at once, into a ring the worker
 * then hashes and compresses in place. A cold cache thus costs neither a
 * page-cache fill nor a copy into the worker's buffer (together about a
 * quarter of the CPU of an ingest of many small files), and the disk sees
 * a queue of reads instead of one per worker.
 *
 * Other files (larger ones, other file systems, STRATA_NO_DIRECT, no
 * io_uring) are opened and the kernel asked to read them; the worker
 * reads them itself. Whatever goes wrong here (a refused O_DIRECT, a
 * read error, a file that changed size) only leaves the file to the
 * worker, which reads it the ordinary way and reports what it finds.
 */
#include "repo/ingest_int.h"

#include <liburing.h>
#include <sys/statfs.h>

#define AHEAD_FILES 128
#define AHEAD_BYTES (64u << 20) /* of files ahead, whichever way read */
#define RING_BYTES (8u << 20)	/* the memory whole files are read into */
#define DIRECT_MAX (4u << 20)
#define DIO_ALIGN 4096
#define SUBMIT_BATCH 16 /* the first reads start before the window fills */

struct ahead_read {
	struct stat st; /* taken before the read */
	uint8_t *p;
	size_t len;
	size_t span; /* its span in the ring */
};

typedef struct ingest_ahead {
	ingest *g;
	pthread_t th;
	struct io_uring ring;
	bool ring_ok;
	bool direct; /* io_uring works and no file system refused O_DIRECT */
	unsigned inflight, queued;
	dev_t dev; /* the last device checked, and whether it is a disk */
	bool dev_known, dev_ok;
} reader;

/* Whole files are read into one ring of RING_BYTES, in job order, and
 * given back as the workers finish them (nearly in order): memory fixed
 * and touched once, where per-file buffers from malloc grew the peak RSS
 * by a third. Under g->ahead_lock. */
#define RING_SPANS (AHEAD_FILES + 64 + 1) /* + files the workers hold */

struct ahead_ring {
	uint8_t *base;
	size_t head; /* where the next span starts */
	struct {
		size_t off, len;
		bool done;
	} s[RING_SPANS]; /* live spans, oldest first, from s[first] */
	size_t first, n;
};

/* Where a span of len bytes would start, or SIZE_MAX if none fits now.
 * The live spans run from the oldest's offset to head, wrapping at most
 * once. */
static size_t ring_place(const struct ahead_ring *rg, size_t len)
{
	if (len > RING_BYTES || rg->n == RING_SPANS)
		return SIZE_MAX;
	if (!rg->n)
		return 0;
	size_t tail = rg->s[rg->first].off;
	size_t last = rg->s[(rg->first + rg->n - 1) % RING_SPANS].off;
	if (last >= tail) { /* not wrapped: free at the end, then the start */
		if (RING_BYTES - rg->head >= len)
			return rg->head;
		return tail >= len ? 0 : SIZE_MAX;
	}
	return tail - rg->head >= len ? rg->head : SIZE_MAX;
}

/* A span of len bytes: its index in rg->s (its bytes at rg->base plus
 * its offset), or SIZE_MAX if the ring has no room now. */
static size_t ring_get(struct ahead_ring *rg, size_t len)
{
	size_t off = ring_place(rg, len);
	if (off == SIZE_MAX)
		return SIZE_MAX;
	size_t k = (rg->first + rg->n++) % RING_SPANS;
	rg->s[k].off = off;
	rg->s[k].len = len;
	rg->s[k].done = false;
	rg->head = off + len;
	return k;
}

/* Span k is done with; the tail moves past every finished span. */
static void ring_put(struct ahead_ring *rg, size_t k)
{
	rg->s[k].done = true;
	while (rg->n && rg->s[rg->first].done) {
		rg->first = (rg->first + 1) % RING_SPANS;
		rg->n--;
	}
}

static size_t read_len(uint64_t size)
{
	return ((size_t)size + DIO_ALIGN) & ~(size_t)(DIO_ALIGN - 1);
}

static void set_state(ingest *g, inode *f, int state)
{
	pthread_mutex_lock(&g->ahead_lock);
	f->ahead = state;
	pthread_cond_broadcast(&g->ahead_cond);
	pthread_mutex_unlock(&g->ahead_lock);
}

/* NONE -> state, unless a worker took the file first. */
static bool claim(ingest *g, inode *f, int state)
{
	pthread_mutex_lock(&g->ahead_lock);
	bool ok = f->ahead == AHEAD_NONE;
	if (ok)
		f->ahead = state;
	pthread_mutex_unlock(&g->ahead_lock);
	return ok;
}

static void free_read(ingest *g, struct ahead_read *ar)
{
	if (ar) {
		pthread_mutex_lock(&g->ahead_lock);
		ring_put(g->ahead_ring, ar->span);
		pthread_mutex_unlock(&g->ahead_lock);
		strata_free(ar);
	}
}

static bool local_disk(reader *rd, int fd, const struct stat *st)
{
	if (!rd->dev_known || rd->dev != st->st_dev) {
		struct statfs sf;
		rd->dev = st->st_dev;
		rd->dev_known = true;
		rd->dev_ok = !fstatfs(fd, &sf) && strata_fs_local_disk(&sf);
	}
	return rd->dev_ok;
}

/* Queue a whole-file read of f, open as fd; false leaves it to the
 * ordinary path. One block more than the size is asked for, so a file
 * that grew since fstat reads long and is seen to have changed. */
static bool queue_direct(reader *rd, inode *f, int fd, const struct stat *st)
{
	if (!rd->direct || st->st_size <= 0 || st->st_size > DIRECT_MAX ||
	    !local_disk(rd, fd, st))
		return false;
	size_t cap = read_len((uint64_t)st->st_size);
	struct ahead_read *ar = strata_calloc(1, sizeof(*ar));
	if (!ar)
		return false;
	struct ahead_ring *rg = rd->g->ahead_ring;
	pthread_mutex_lock(&rd->g->ahead_lock);
	ar->span = ring_get(rg, cap);
	pthread_mutex_unlock(&rd->g->ahead_lock);
	if (ar->span == SIZE_MAX) { /* grew past the room window_full saw */
		strata_free(ar);
		return false;
	}
	ar->p = rg->base + rg->s[ar->span].off;
	ar->st = *st;
	struct io_uring_sqe *sqe = NULL;
	if (fcntl(fd, F_SETFL, O_DIRECT)) { /* the file system refuses it */
		if (errno == EINVAL)
			rd->dev_ok = false;
	} else if (!(sqe = io_uring_get_sqe(&rd->ring))) {
		fcntl(fd, F_SETFL, 0);
	}
	if (!sqe) {
		free_read(rd->g, ar);
		return false;
	}
	io_uring_prep_read(sqe, fd, ar->p, (unsigned)cap, 0);
	io_uring_sqe_set_data(sqe, f);
	f->ahead_fd = fd;
	f->ahead_read = ar;
	rd->inflight++;
	rd->queued++;
	return true;
}

/* Start reading job f: whole with O_DIRECT, or by the kernel's
 * read-ahead for the worker to read. O_NONBLOCK: a FIFO put in the
 * file's place must not block this thread (the worker finds it is no
 * longer a regular file). */
static void start(reader *rd, inode *f)
{
	ingest *g = rd->g;
	struct stat st;
	if (!claim(g, f, AHEAD_READING))
		return;
	int fd = open(f->src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0 && (fstat(fd, &st) || !S_ISREG(st.st_mode))) {
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		set_state(g, f, AHEAD_NONE); /* the worker finds out why */
		return;
	}
	fcntl(fd, F_SETFL, 0); /* back to blocking reads */
	if (queue_direct(rd, f, fd, &st))
		return;
	posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
	f->ahead_fd = fd;
	set_state(g, f, AHEAD_OPEN);
}

/* A whole-file read ended: the bytes for the worker, or (an error, a
 * size other than fstat's) the open file for it to read. */
static void reap(reader *rd, struct io_uring_cqe *cqe)
{
	inode *f = io_uring_cqe_get_data(cqe);
	struct ahead_read *ar = f->ahead_read;
	int res = cqe->res, state = AHEAD_READ;
	rd->inflight--;
	if (res == -EINVAL)
		rd->direct = false;
	if (res < 0 || (uint64_t)res != (uint64_t)ar->st.st_size) {
		free_read(rd->g, ar);
		f->ahead_read = NULL;
		fcntl(f->ahead_fd, F_SETFL, 0);
		state = AHEAD_OPEN;
	} else {
		ar->len = (size_t)res;
		__atomic_add_fetch(&rd->g->st->bytes_read_direct, (uint64_t)res,
				   __ATOMIC_RELAXED);
	}
	set_state(rd->g, f, state);
}

static bool window_full(reader *rd, size_t cur, size_t i)
{
	ingest *g = rd->g;
	uint64_t ahead = 0;
	if (i - cur >= AHEAD_FILES)
		return true;
	/* a file that may be read whole waits for room in the ring */
	const inode *f = g->jobs[i];
	if (rd->direct && f->n.size > 0 && f->n.size <= DIRECT_MAX) {
		pthread_mutex_lock(&g->ahead_lock);
		size_t at = ring_place(g->ahead_ring, read_len(f->n.size));
		pthread_mutex_unlock(&g->ahead_lock);
		if (at == SIZE_MAX)
			return true;
	}
	for (size_t k = cur; k < i && k < g->njobs; k++)
		ahead += g->jobs[k]->n.size;
	return ahead >= AHEAD_BYTES;
}

/* io_uring failed with reads in flight (it does not, short of a kernel
 * bug): give their files to the workers. The kernel may still write
 * into the buffers, so they and the descriptors are left as they are. */
static void abandon(reader *rd, size_t upto)
{
	ingest *g = rd->g;
	pthread_mutex_lock(&g->ahead_lock);
	for (size_t k = 0; k < upto; k++) {
		inode *f = g->jobs[k];
		if (f->ahead == AHEAD_READING && f->ahead_read) {
			f->ahead_read = NULL;
			f->ahead = AHEAD_NONE;
		}
	}
	pthread_cond_broadcast(&g->ahead_cond);
	pthread_mutex_unlock(&g->ahead_lock);
	rd->inflight = 0;
	rd->direct = false;
}

static void *run(void *arg)
{
	reader *rd = arg;
	ingest *g = rd->g;
	size_t i = 0;
	for (;;) {
		bool stop = __atomic_load_n(&g->fatal, __ATOMIC_RELAXED) ||
			    __atomic_load_n(&g->ahead_stop, __ATOMIC_RELAXED);
		size_t cur = __atomic_load_n(&g->next_job, __ATOMIC_RELAXED);
		if (i < cur)
			i = cur;
		while (!stop && i < g->njobs && !window_full(rd, cur, i)) {
			start(rd, g->jobs[i++]);
			if (rd->queued >= SUBMIT_BATCH &&
			    io_uring_submit(&rd->ring) >= 0)
				rd->queued = 0;
		}
		if (!rd->inflight) {
			if (stop || i >= g->njobs)
				break;
			struct timespec ts = {0, 2 * 1000 * 1000};
			nanosleep(&ts, NULL);
			continue;
		}
		int rc = io_uring_submit_and_wait(&rd->ring, 1);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
			abandon(rd, i);
			continue;
		}
		if (rc >= 0)
			rd->queued = 0;
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		io_uring_for_each_cqe(&rd->ring, head, cqe)
		{
			reap(rd, cqe);
			n++;
		}
		io_uring_cq_advance(&rd->ring, n);
	}
	return NULL;
}

ingest_ahead *ingest__ahead_start(ingest *g)
{
	reader *rd = strata_calloc(1, sizeof(*rd));
	struct ahead_ring *rg = strata_calloc(1, sizeof(*rg));
	void *base = NULL;
	if (!rd || !rg) {
		strata_free(rd);
		strata_free(rg);
		return NULL;
	}
	rd->g = g;
	rd->ring_ok = !getenv("STRATA_NO_DIRECT") &&
		      !posix_memalign(&base, DIO_ALIGN, RING_BYTES) &&
		      !io_uring_queue_init(AHEAD_FILES, &rd->ring, 0);
	rd->direct = rd->ring_ok;
	rg->base = base;
	g->ahead_ring = rg;
	if (pthread_create(&rd->th, NULL, run, rd)) {
		if (rd->ring_ok)
			io_uring_queue_exit(&rd->ring);
		free(base);
		strata_free(rg);
		g->ahead_ring = NULL;
		strata_free(rd);
		return NULL;
	}
	return rd;
}

/* After the workers: stop the thread and close what no worker took (the
 * ingest stopped early). */
void ingest__ahead_stop(ingest *g, ingest_ahead *rd)
{
	if (rd) {
		__atomic_store_n(&g->ahead_stop, 1, __ATOMIC_RELAXED);
		pthread_join(rd->th, NULL);
		if (rd->ring_ok)
			io_uring_queue_exit(&rd->ring);
		strata_free(rd);
	}
	for (size_t i = 0; i < g->njobs; i++) {
		inode *f = g->jobs[i];
		if (f->ahead == AHEAD_OPEN || f->ahead == AHEAD_READ) {
			close(f->ahead_fd);
			free_read(g, f->ahead_read);
			f->ahead_read = NULL;
		}
		f->ahead = AHEAD_TAKEN;
	}
	if (g->ahead_ring) {
		free(g->ahead_ring->base); /* posix_memalign */
		strata_free(g->ahead_ring);
		g->ahead_ring = NULL;
	}
}

/* The worker's side: what was done ahead for f, waiting while its read
 * is in flight; from now on the file is the worker's. */
void ingest__ahead_take(ingest *g, inode *f, ingest_pre *p)
{
	p->fd = -1;
	p->r = NULL;
	pthread_mutex_lock(&g->ahead_lock);
	while (f->ahead == AHEAD_READING)
		pthread_cond_wait(&g->ahead_cond, &g->ahead_lock);
	if (f->ahead == AHEAD_OPEN || f->ahead == AHEAD_READ) {
		p->fd = f->ahead_fd;
		p->r = f->ahead_read;
		f->ahead_read = NULL;
	}
	f->ahead = AHEAD_TAKEN;
	pthread_mutex_unlock(&g->ahead_lock);
	if (p->r) {
		p->data = p->r->p;
		p->len = p->r->len;
		p->st = &p->r->st;
	}
}

/* The bytes read ahead, once the worker is done with them. */
void ingest__ahead_drop(ingest *g, ingest_pre *p)
{
	free_read(g, p->r);
	p->r = NULL;
	p->data = NULL;
}
