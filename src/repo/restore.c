/*
 * restore.c - restore: a version's files written back below a directory,
 * byte for byte. Every chunk read is checked against its id before its
 * bytes are used, and restored files are written under a temporary name
 * and renamed, so a damaged chunk never leaves a plausible-looking wrong
 * file behind.
 */
#include "repo/repo_int.h"

#include <fnmatch.h>
#include <sanitizer/asan_interface.h> /* no-ops unless built with ASan */
#include <sys/vfs.h>

typedef struct rjob {
	char *path; /* destination */
	strata_node n;
	char *tmp;     /* written under this name, then renamed */
	int fd;	       /* -1 until its first chunk arrives */
	int dfd;       /* the same file opened O_DIRECT, or -1 */
	uint32_t left; /* items not written yet; the last one finishes */
	bool failed;
	strata_buf edges; /* partial blocks not written yet (put_chunk) */
} rjob;

/* One chunk of one file (an empty file is one item of length 0), in the
 * order the jobs are sorted; pack, offset, length say where its blob is. */
typedef struct ritem {
	uint32_t job, chunk;
	uint32_t pack, offset, length, raw_len;
	uint64_t at; /* offset in the file */
} ritem;

typedef struct rdir {
	char *path;
	uint32_t mode;
	int64_t mtime_ns;
} rdir;

typedef struct restore_ctx {
	strata_repo *r;
	const char *glob;
	strata_restore_stats *st;
	strata_buf rel, dst;
	rjob *jobs;
	size_t njobs, capjobs;
	ritem *items;
	size_t nitems, capitems;
	size_t *wins; /* window i is items [wins[i], wins[i + 1]) */
	size_t nwins, capwins;
	size_t front, back; /* windows [front, back) are left */
	int nt;		    /* workers */
	rdir *dirs;
	size_t ndirs, capdirs;
	uint64_t done;
	pthread_mutex_t lock;
	pthread_cond_t all_done; /* under lock: every job done, or fatal */
	/* a job's file is created under open_lock[job % OPEN_LOCKS], so that
	 * slow creates of different files overlap */
	pthread_mutex_t open_lock[16];
	bool direct; /* large files are written with O_DIRECT */
	bool verify; /* STRATA_RESTORE_VERIFY */
	int fatal;
	char fatal_msg[512]; /* why, from the worker that stopped it */
} restore_ctx;

/* With --include, a path is restored if it matches, or if a directory
 * above it matched (`selected`). Directories are created only when
 * something in them is restored. */
static bool matches(const restore_ctx *x, const char *rel)
{
	return !x->glob || !fnmatch(x->glob, rel, 0);
}

static int make_parent(const char *dst)
{
	char tmp[PATH_MAX];
	const char *slash = strrchr(dst, '/');
	if (!slash || (size_t)(slash - dst) >= sizeof(tmp))
		return 0;
	memcpy(tmp, dst, (size_t)(slash - dst));
	tmp[slash - dst] = 0;
	struct stat sb;
	if (!stat(tmp, &sb))
		return 0;
	return strata_mkdir_p(tmp, 0700);
}

static void rwarn(restore_ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void rwarn(restore_ctx *x, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&x->lock);
	strata_warn("%s", msg);
	x->st->errors++;
	pthread_mutex_unlock(&x->lock);
}

static int restore_tree(restore_ctx *x, const uint8_t id[32], bool selected);

static int restore_node(restore_ctx *x, strata_node *n, bool selected)
{
	const char *dst = (char *)x->dst.ptr, *rel = (char *)x->rel.ptr;
	int rc;
	selected = selected || matches(x, rel);
	if (n->type != STRATA_NODE_DIR) {
		if (!selected)
			return 0;
		if ((rc = make_parent(dst)))
			return rc;
	}
	if (n->type == STRATA_NODE_DIR) {
		struct stat sb;
		if (!selected)
			goto record; /* created later if something inside is */
		if ((rc = make_parent(dst)))
			return rc;
		if (mkdir(dst, 0700) && errno != EEXIST)
			return strata_error_set(
			    strata_errno_code(errno),
			    "cannot create directory '%s': %s", dst,
			    strerror(errno));
		if (lstat(dst, &sb) || !S_ISDIR(sb.st_mode))
			return strata_error_set(
			    STRATA_EEXIST,
			    "cannot restore '%s': something "
			    "that is not a directory is in "
			    "the way",
			    dst);
		x->st->dirs++;
	record:
		if (strata_grow(&x->dirs, &x->capdirs, x->ndirs,
				sizeof(*x->dirs)))
			return STRATA_ENOMEM;
		rdir *d = &x->dirs[x->ndirs];
		if (!(d->path = strata_strdup(dst)))
			return strata_error_set(STRATA_ENOMEM, "out of memory");
		d->mode = n->mode;
		d->mtime_ns = n->mtime_ns;
		x->ndirs++;
		return restore_tree(x, n->subtree, selected);
	}
	if (n->type == STRATA_NODE_SYMLINK) {
		unlink(dst);
		if (symlink(n->target, dst)) {
			rwarn(x, "cannot create symlink '%s': %s", dst,
			      strerror(errno));
			return 0;
		}
		struct timespec ts[2] = {
		    {0, UTIME_OMIT},
		    {n->mtime_ns / 1000000000, n->mtime_ns % 1000000000}};
		utimensat(AT_FDCWD, dst, ts, AT_SYMLINK_NOFOLLOW);
		x->st->symlinks++;
		return 0;
	}
	if (strata_grow(&x->jobs, &x->capjobs, x->njobs, sizeof(*x->jobs)))
		return STRATA_ENOMEM;
	rjob *j = &x->jobs[x->njobs];
	memset(j, 0, sizeof(*j));
	j->fd = j->dfd = -1;
	if (!(j->path = strata_strdup(dst)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	j->n = *n;
	memset(n, 0, sizeof(*n)); /* the job owns the chunk list now */
	x->njobs++;
	return 0;
}

static int restore_tree(restore_ctx *x, const uint8_t id[32], bool selected)
{
	strata_tree t;
	int rc = repo__load_tree(x->r, id, &t);
	if (rc)
		return rc;
	size_t rb = x->rel.len, db = x->dst.len;
	for (size_t i = 0; !rc && i < t.n; i++) {
		strata_node *n = &t.nodes[i];
		x->rel.len = rb;
		x->dst.len = db;
		if ((rb && (rc = strata_buf_put_u8(&x->rel, '/'))) ||
		    (rc = strata_buf_put(&x->rel, n->name, n->name_len)) ||
		    (rc = strata_buf_cstr(&x->rel)) ||
		    (rc = strata_buf_put_u8(&x->dst, '/')) ||
		    (rc = strata_buf_put(&x->dst, n->name, n->name_len)) ||
		    (rc = strata_buf_cstr(&x->dst)))
			break;
		rc = restore_node(x, n, selected);
	}
	x->rel.len = rb;
	x->dst.len = db;
	strata_tree_release(&t);
	return rc;
}

/*
 * Reads are coalesced. The files' chunks, in the order the jobs are sorted
 * (where their first chunks lie), are cut into windows of at most
 * WINDOW_MAX stored bytes. A worker takes a window, reads each run of
 * neighbouring blobs of one pack with one get_range (one request on S3
 * instead of one per blob), checks every blob from that buffer and writes
 * it at its offset in its file. A file may span windows, so workers may
 * write it together; whoever writes its last chunk finishes it.
 *
 * Half the workers take windows from the first forward, half from the
 * last backwards. Ingest stores large files first, so a tree of both
 * kinds used to be restored in two phases: large files, waiting on the
 * disk with the cores half idle, then small ones, creating files with
 * both cores busy and the disk idle (3.2 s and 2.6 s of a 5.8 s restore
 * of the bench corpus). From both ends they overlap.
 */
#define WINDOW_MAX ((uint64_t)16 << 20)
#define RANGE_MAX                                                              \
	((uint64_t)16 << 20)	      /* one request, unless one blob is more */
#define GAP_MAX ((uint64_t)256 << 10) /* read over a gap up to this */
#define THREADS_MAX 32
/* a worker starting window i asks the store to read window
 * i + workers * PREFETCH_AHEAD (64 MiB of each worker's windows ahead) */
#define PREFETCH_AHEAD 4

/*
 * Files of DIRECT_MIN bytes or more are written with O_DIRECT where the
 * file system takes it: the whole blocks inside each chunk go from the
 * worker's buffer straight to the disk, the partial blocks at its edges
 * through the page cache (a second descriptor). Copying into the page
 * cache is the largest cost of a restore on a VM, and restoring terabytes
 * should not push everything else out of memory. A chunk is decoded
 * DIRECT_ALIGN-aligned to its offset in the file, so its whole blocks lie
 * on aligned memory. Setting STRATA_NO_DIRECT turns this off.
 */
#define DIRECT_MIN ((uint64_t)1 << 20)
#define DIRECT_ALIGN ((size_t)4096)
#define OPEN_LOCKS                                                             \
	(sizeof(((restore_ctx *)0)->open_lock) / sizeof(pthread_mutex_t))

/* One distinct blob of a window. */
typedef struct rplace {
	uint32_t pack, offset, length;
	size_t item;	  /* the first item that needs it */
	const uint8_t *p; /* its bytes, or NULL: `rc`, `err` say why */
	int rc;
	char *err;
} rplace;

/*
 * Each worker decodes and checks chunks; its WRITERS writer threads
 * create the files, write the chunks and finish the files, through a ring
 * of RING decoded chunks. Creating, writing (O_DIRECT waits for the disk)
 * and renaming files block, and decoding the next chunk meanwhile keeps
 * the cores busy. With one writer, a worker waited for it 2.8 s of a 5 s
 * restore: two write different chunks at once, in any order (a file is
 * finished by whoever writes its last chunk), and a slot is reused once
 * it and every slot before it are written.
 */
#define RING 4
#define WRITERS 2

typedef struct rslot {
	uint8_t *buf; /* DIRECT_ALIGN-aligned */
	size_t cap;
	size_t item;	  /* SIZE_MAX: the worker is done */
	size_t lead, len; /* the chunk is buf[lead, lead + len) */
	bool written;
	bool checked; /* run_window: its id is checked, or needs no check */
} rslot;

typedef struct rworker {
	restore_ctx *x;
	strata_codec *c;
	strata_hmac *h;
	strata_sha256_lanes *lanes;
	rslot ring[RING];
	/* written up to head, taken by a writer up to claim, decoded up to
	 * tail */
	size_t head, claim, tail;
	int writers;
	bool from_back; /* takes windows from the end backwards */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	rplace *pl;
	size_t npl, cappl;
	size_t *slot; /* item a + i is place slot[i]; SIZE_MAX: no blob */
	size_t capslot;
	uint8_t **bufs; /* a window's reads that did not fit in the arena */
	size_t nbufs, capbufs;
	/* A window's reads, one after the other, kept from window to window:
	 * a fresh 16 MiB buffer per window cost page faults and 20 MiB more
	 * peak RSS. Only what has been handed out is addressable under ASan. */
	strata_buf arena; /* len: handed out */
} rworker;

static void set_fatal(restore_ctx *x, int rc)
{
	pthread_mutex_lock(&x->lock);
	if (!x->fatal) {
		x->fatal = rc;
		snprintf(x->fatal_msg, sizeof(x->fatal_msg), "%s",
			 strata_error_msg());
	}
	pthread_cond_broadcast(&x->all_done);
	pthread_mutex_unlock(&x->lock);
}

/* The first failure of a file is reported; ENOSPC and ENOMEM stop all. */
static void fail_job(restore_ctx *x, rjob *j, int rc)
{
	if (rc == STRATA_ENOSPC || rc == STRATA_ENOMEM)
		set_fatal(x, rc);
	if (!__atomic_exchange_n(&j->failed, true, __ATOMIC_ACQ_REL))
		rwarn(x, "%s", strata_error_msg());
}

/* A job's chunks as items; errors that need no reading (a chunk missing
 * from the index, sizes that do not add up) are found here. The caller
 * holds the index lock. */
static int plan_job(restore_ctx *x, uint32_t ji)
{
	rjob *j = &x->jobs[ji];
	const strata_index *ix = &x->r->ix;
	size_t first = x->nitems;
	uint32_t n = j->n.nchunks ? j->n.nchunks : 1; /* an empty file: one */
	uint64_t at = 0;
	for (uint32_t i = 0; i < n; i++) {
		ritem it = {ji, i, 0, 0, 0, 0, at};
		if (j->n.nchunks) {
			const strata_index_ent *e =
			    strata_index_find(ix, j->n.chunks[i]);
			if (!e || e->pack >= ix->npacks) {
				char hex[65];
				strata_hex(hex, j->n.chunks[i], 32);
				x->nitems = first;
				return strata_error_set(
				    STRATA_ECORRUPT,
				    "'%s': blob %.16s is missing from the "
				    "index",
				    j->path, hex);
			}
			it.pack = e->pack;
			it.offset = e->offset;
			it.length = e->length;
			it.raw_len = e->raw_len;
		}
		if (strata_grow(&x->items, &x->capitems, x->nitems,
				sizeof(*x->items))) {
			x->nitems = first;
			return strata_error_set(STRATA_ENOMEM, "out of memory");
		}
		x->items[x->nitems++] = it;
		at += it.raw_len;
	}
	if (at != j->n.size) {
		x->nitems = first;
		return strata_error_set(STRATA_ECORRUPT,
					"'%s': stored size %" PRIu64
					" does not match its chunks (%" PRIu64
					")",
					j->path, j->n.size, at);
	}
	j->left = n;
	return 0;
}

static int add_window(restore_ctx *x, size_t start)
{
	if (strata_grow(&x->wins, &x->capwins, x->nwins, sizeof(*x->wins)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	x->wins[x->nwins++] = start;
	return 0;
}

static int plan(restore_ctx *x)
{
	int rc = 0;
	pthread_mutex_lock(&x->r->ix.lock);
	for (size_t i = 0; !rc && i < x->njobs; i++) {
		int jr = plan_job(x, (uint32_t)i);
		if (jr == STRATA_ENOMEM) {
			rc = jr;
		} else if (jr) {
			x->jobs[i].failed = true;
			rwarn(x, "%s", strata_error_msg());
			x->done++;
		}
	}
	pthread_mutex_unlock(&x->r->ix.lock);
	uint64_t sum = 0;
	for (size_t i = 0; !rc && i < x->nitems; i++) {
		uint64_t len = x->items[i].length;
		if (i == 0 || (sum && sum + len > WINDOW_MAX)) {
			rc = add_window(x, i);
			sum = 0;
		}
		sum += len;
	}
	if (!rc && x->nitems && !(rc = add_window(x, x->nitems)))
		x->nwins--; /* the last entry only ends the last window */
	return rc;
}

static int by_where(const void *a, const void *b)
{
	const rplace *p = a, *q = b;
	if (p->pack != q->pack)
		return p->pack < q->pack ? -1 : 1;
	return p->offset < q->offset ? -1 : p->offset > q->offset;
}

/* The distinct blobs of items [a, b), sorted by where they lie. */
static int collect(rworker *w, size_t a, size_t b)
{
	restore_ctx *x = w->x;
	w->npl = 0;
	if (strata_grow(&w->slot, &w->capslot, b - a, sizeof(*w->slot)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	for (size_t i = a; i < b; i++) {
		const ritem *it = &x->items[i];
		w->slot[i - a] = SIZE_MAX;
		if (!it->length)
			continue;
		if (strata_grow(&w->pl, &w->cappl, w->npl, sizeof(*w->pl)))
			return strata_error_set(STRATA_ENOMEM, "out of memory");
		w->pl[w->npl++] = (rplace){it->pack, it->offset, it->length, i,
					   NULL,     0,		 NULL};
	}
	qsort(w->pl, w->npl, sizeof(*w->pl), by_where);
	size_t u = 0;
	for (size_t i = 0; i < w->npl; i++) {
		if (!u || by_where(&w->pl[u - 1], &w->pl[i]))
			w->pl[u++] = w->pl[i];
		w->slot[w->pl[i].item - a] = u - 1;
	}
	w->npl = u;
	return 0;
}

/* A buffer of n bytes for the current window, freed with it. */
static uint8_t *keep_buf(rworker *w, size_t n)
{
	strata_buf *a = &w->arena;
	size_t step = (n + 63) & ~(size_t)63;
	if (a->ptr && step >= n && a->cap - a->len >= step) {
		uint8_t *q = a->ptr + a->len;
		a->len += step;
		ASAN_UNPOISON_MEMORY_REGION(q, n);
		return q;
	}
	uint8_t *p = strata_malloc(n ? n : 1);
	if (p &&
	    strata_grow(&w->bufs, &w->capbufs, w->nbufs, sizeof(*w->bufs))) {
		strata_free(p);
		p = NULL;
	}
	if (p)
		w->bufs[w->nbufs++] = p;
	return p;
}

/* The arena: a window's stored bytes, the gaps read over between its
 * blobs and room to spare, on huge pages where the kernel has them.
 * Without one (no memory), keep_buf allocates each read. */
static void arena_new(rworker *w)
{
	strata_buf *a = &w->arena;
	size_t cap = (size_t)WINDOW_MAX + ((size_t)4 << 20);
	if (strata_buf_alloc_huge(a, cap, cap))
		return; /* not an error: reads are allocated one by one */
	ASAN_POISON_MEMORY_REGION(a->ptr, a->cap);
}

static void place_failed(rplace *pl, int rc)
{
	pl->p = NULL;
	pl->rc = rc;
	pl->err = strata_strdup(strata_error_msg());
}

/* Read places [u, v) of one pack, [start, end) in it, with one request.
 * If that fails, each blob is read alone, so that only the files whose
 * blobs cannot be read fail, each with its own reason. */
static int fetch(rworker *w, size_t u, size_t v, uint64_t start, uint64_t end)
{
	strata_repo *r = w->x->r;
	char name[128];
	strata_pack_name(name, sizeof(name), r->ix.packs[w->pl[u].pack]);
	uint8_t *buf = keep_buf(w, (size_t)(end - start));
	if (!buf)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	int rc = r->be->ops->get_range(r->be, name, start,
				       (size_t)(end - start), buf);
	for (size_t i = u; !rc && i < v; i++)
		w->pl[i].p = buf + (w->pl[i].offset - start);
	if (rc && v - u == 1)
		place_failed(&w->pl[u], rc);
	for (size_t i = u; rc && v - u > 1 && i < v; i++) {
		rplace *pl = &w->pl[i];
		uint8_t *one = keep_buf(w, pl->length);
		if (!one)
			return strata_error_set(STRATA_ENOMEM, "out of memory");
		int orc = r->be->ops->get_range(r->be, name, pl->offset,
						pl->length, one);
		if (orc)
			place_failed(pl, orc);
		else
			pl->p = one;
	}
	return 0;
}

/* Read every place, neighbours in one pack together. */
static int fetch_all(rworker *w)
{
	size_t u = 0;
	while (u < w->npl) {
		uint64_t start = w->pl[u].offset, end = start + w->pl[u].length;
		size_t v = u + 1;
		for (; v < w->npl; v++) {
			const rplace *n = &w->pl[v];
			uint64_t nend = (uint64_t)n->offset + n->length;
			if (n->pack != w->pl[u].pack ||
			    n->offset > end + GAP_MAX ||
			    (nend > end ? nend : end) - start > RANGE_MAX)
				break;
			if (nend > end)
				end = nend;
		}
		int rc = fetch(w, u, v, start, end);
		if (rc)
			return rc;
		u = v;
	}
	return 0;
}

/* Room for n bytes at an aligned address in s->buf. */
static int reserve_slot(rslot *s, size_t n)
{
	const size_t mib = (size_t)1 << 20;
	if (n <= s->cap)
		return 0;
	size_t cap = n <= SIZE_MAX - mib ? (n + mib - 1) / mib * mib : n;
	void *p = NULL;
	if (posix_memalign(&p, DIRECT_ALIGN, cap))
		return strata_error_set(STRATA_ENOMEM,
					"out of memory (%zu bytes)", cap);
	strata_free(s->buf);
	s->buf = p;
	s->cap = cap;
	return 0;
}

/* Decode item `it` from its place into s->buf + s->lead. */
static int open_item(rworker *w, rslot *s, const ritem *it, const rplace *pl)
{
	const rjob *j = &w->x->jobs[it->job];
	char hex[65], name[128];
	int rc;
	if (!pl->p)
		return strata_error_set(pl->rc, "'%s': %s", j->path,
					pl->err ? pl->err : "cannot read");
	s->len = 0;
	if ((rc = reserve_slot(s, s->lead + it->raw_len)))
		return rc;
	rc = strata_codec_open_into(w->c, s->buf + s->lead, it->raw_len, pl->p,
				    it->length, &s->len);
	if (!rc)
		return 0;
	strata_hex(hex, j->n.chunks[it->chunk], 32);
	strata_pack_name(name, sizeof(name), w->x->r->ix.packs[it->pack]);
	return strata_error_prefix(
	    rc, "'%s': blob %.16s in pack '%s': ", j->path, hex, name);
}

/* Whether the decoded item, whose bytes have SHA-256 sha, is the chunk
 * its id names. */
static int check_item(rworker *w, const rslot *s, const ritem *it,
		      const uint8_t sha[32])
{
	const rjob *j = &w->x->jobs[it->job];
	const uint8_t *id = j->n.chunks[it->chunk];
	char hex[65], name[128];
	uint8_t check[32];
	strata_blob_id_of_sha(w->h, check, sha);
	if (!memcmp(check, id, 32) && s->len == it->raw_len)
		return 0;
	strata_hex(hex, id, 32);
	strata_pack_name(name, sizeof(name), w->x->r->ix.packs[it->pack]);
	return strata_error_set(STRATA_ECORRUPT,
				"'%s': blob %.16s in pack '%s' does not match "
				"its id",
				j->path, hex, name);
}

static bool direct_fs(const char *dest)
{
	struct statfs sf;
	return !statfs(dest, &sf) && strata_fs_local_disk(&sf);
}

static bool wants_direct(restore_ctx *x, const rjob *j)
{
	return j->n.size >= DIRECT_MIN &&
	       __atomic_load_n(&x->direct, __ATOMIC_RELAXED);
}

/* A second descriptor of the file j->fd has just created, O_DIRECT. A
 * file system that refuses O_DIRECT turns it off for the rest of the
 * restore; any other failure leaves this one file to plain writes. */
static void open_direct(restore_ctx *x, rjob *j)
{
	struct stat a, b;
	j->dfd = open(j->tmp, O_WRONLY | O_DIRECT | O_NOFOLLOW | O_CLOEXEC);
	if (j->dfd < 0) {
		if (errno == EINVAL)
			__atomic_store_n(&x->direct, false, __ATOMIC_RELAXED);
		return;
	}
	/* the temporary name could have been replaced in between */
	if (fstat(j->fd, &a) || fstat(j->dfd, &b) || a.st_dev != b.st_dev ||
	    a.st_ino != b.st_ino) {
		close(j->dfd);
		j->dfd = -1;
	}
}

/* The job's file, created under a temporary name by its first chunk. */
static int job_fd(restore_ctx *x, rjob *j, uint32_t ji, int *fd, int *dfd)
{
	pthread_mutex_t *lk = &x->open_lock[ji % OPEN_LOCKS];
	int rc = 0;
	pthread_mutex_lock(lk);
	if (j->fd < 0) {
		char tmp[PATH_MAX + 64];
		const char *slash = strrchr(j->path, '/');
		int n = snprintf(tmp, sizeof(tmp), "%.*s/.strata-tmp-%s",
				 (int)(slash - j->path), j->path, slash + 1);
		if (n < 0 || (size_t)n >= sizeof(tmp) ||
		    strlen(slash + 1) > 230)
			snprintf(tmp, sizeof(tmp), "%.*s/.strata-tmp-%" PRIx32,
				 (int)(slash - j->path), j->path, ji);
		j->fd = open(
		    tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		    0600);
		if (j->fd < 0)
			rc = strata_error_set(strata_errno_code(errno),
					      "cannot create '%s': %s", j->path,
					      strerror(errno));
		else if (!(j->tmp = strata_strdup(tmp)))
			rc = strata_error_set(STRATA_ENOMEM, "out of memory");
		if (rc && j->fd >= 0) {
			close(j->fd);
			unlink(tmp);
			j->fd = -1;
		}
		if (!rc && wants_direct(x, j))
			open_direct(x, j);
		/* Its blocks allocated now (ext4, XFS): O_DIRECT writes that
		 * neither extend the file nor fill a hole take the inode's
		 * lock shared, so the two workers writing one large file no
		 * longer wait for each other's disk writes. A file system
		 * without it is written as before; running out of space is
		 * reported by the writes. */
		if (!rc && j->dfd >= 0)
			(void)fallocate(j->fd, 0, 0, (off_t)j->n.size);
	}
	*fd = j->fd;
	*dfd = j->dfd;
	pthread_mutex_unlock(lk);
	return rc;
}

/*
 * The partial blocks at a chunk's edges go through the page cache, and a
 * buffered write takes the file's lock exclusively: it waited for every
 * O_DIRECT write of the other worker to the same large file (2 s of a 5 s
 * restore's off-CPU time). They are kept with the job instead, and
 * written when it finishes, or once EDGES_MAX bytes are waiting.
 */
#define EDGES_MAX ((size_t)1 << 20)

/* Write a job's waiting edges. Under the job's open lock. */
static int flush_edges(rjob *j)
{
	strata_rd rd;
	int rc = 0;
	strata_rd_init(&rd, j->edges.ptr, j->edges.len);
	while (!rc && strata_rd_left(&rd)) {
		uint64_t at = strata_rd_u64(&rd);
		uint32_t n = strata_rd_u32(&rd);
		const uint8_t *p = strata_rd_bytes(&rd, n);
		if (!p)
			break; /* cannot happen: put_edge wrote them */
		rc = strata_pwrite_all(j->fd, p, n, at);
	}
	strata_buf_reset(&j->edges);
	return rc;
}

static int put_edge(restore_ctx *x, rjob *j, uint32_t ji, const uint8_t *p,
		    size_t n, uint64_t at)
{
	pthread_mutex_t *lk = &x->open_lock[ji % OPEN_LOCKS];
	int rc;
	pthread_mutex_lock(lk);
	if ((rc = strata_buf_put_u64(&j->edges, at)) ||
	    (rc = strata_buf_put_u32(&j->edges, (uint32_t)n)) ||
	    (rc = strata_buf_put(&j->edges, p, n))) {
		strata_buf_reset(&j->edges);
		errno = ENOMEM;
		rc = -1;
	} else if (j->edges.len >= EDGES_MAX) {
		rc = flush_edges(j);
	}
	pthread_mutex_unlock(lk);
	return rc;
}

/* Write p[0..n) at `at` of job j's file; p lies as far past an aligned
 * address as `at` past a block boundary. With a direct descriptor, the
 * whole blocks go through it. */
static int put_chunk(restore_ctx *x, rjob *j, uint32_t ji, int fd, int dfd,
		     const uint8_t *p, size_t n, uint64_t at)
{
	uint64_t end = at + n;
	uint64_t a = (at + DIRECT_ALIGN - 1) / DIRECT_ALIGN * DIRECT_ALIGN;
	uint64_t b = end / DIRECT_ALIGN * DIRECT_ALIGN;
	if (dfd < 0 || a >= b)
		return strata_pwrite_all(fd, p, n, at);
	if (a > at && put_edge(x, j, ji, p, (size_t)(a - at), at))
		return -1;
	if (strata_pwrite_all(dfd, p + (a - at), (size_t)(b - a), a)) {
		if (errno != EINVAL)
			return -1;
		/* this file system takes O_DIRECT opens but not writes */
		__atomic_store_n(&x->direct, false, __ATOMIC_RELAXED);
		if (strata_pwrite_all(fd, p + (a - at), (size_t)(b - a), a))
			return -1;
	} else {
		__atomic_add_fetch(&x->st->bytes_direct, b - a,
				   __ATOMIC_RELAXED);
	}
	if (end > b && put_edge(x, j, ji, p + (b - at), (size_t)(end - b), b))
		return -1;
	return 0;
}

static int write_item(restore_ctx *x, const rslot *s)
{
	const ritem *it = &x->items[s->item];
	rjob *j = &x->jobs[it->job];
	int fd, dfd, rc;
	if ((rc = job_fd(x, j, it->job, &fd, &dfd)))
		return rc;
	if (it->length &&
	    put_chunk(x, j, it->job, fd, dfd, s->buf + s->lead, s->len, it->at))
		rc = strata_error_set(strata_errno_code(errno),
				      "cannot write '%s': %s", j->path,
				      strerror(errno));
	return rc;
}

/* --verify: read the file written under its temporary name back and
 * compare its size and SHA-256 with the version's. */
static int verify_file(restore_ctx *x, const rjob *j)
{
	uint8_t buf[64 << 10], sum[32];
	uint64_t total = 0;
	strata_sha256_ctx *h;
	int rc = strata_sha256_new(&h);
	if (rc)
		return rc;
	int fd = open(j->tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		rc = strata_error_set(strata_errno_code(errno),
				      "cannot read back '%s': %s", j->path,
				      strerror(errno));
	while (!rc) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = strata_error_set(strata_errno_code(errno),
					      "cannot read back '%s': %s",
					      j->path, strerror(errno));
		if (n <= 0)
			break;
		strata_sha256_update(h, buf, (size_t)n);
		total += (uint64_t)n;
	}
	if (fd >= 0)
		close(fd);
	strata_sha256_final(h, sum);
	strata_sha256_free(h);
	if (!rc && (total != j->n.size || memcmp(sum, j->n.sha256, 32)))
		rc =
		    strata_error_set(STRATA_ECORRUPT,
				     "'%s': the bytes written do not match "
				     "the version (size or SHA-256 read back); "
				     "the file is not kept. Check the disk or "
				     "file system under the destination, then "
				     "restore it again",
				     j->path);
	if (!rc)
		__atomic_add_fetch(&x->st->verified, 1, __ATOMIC_RELAXED);
	return rc;
}

/* All of a job's chunks are written (or it failed): attributes, rename. */
static void finish_job(restore_ctx *x, rjob *j)
{
	bool failed = __atomic_load_n(&j->failed, __ATOMIC_ACQUIRE);
	struct timespec ts[2] = {
	    {0, UTIME_OMIT},
	    {j->n.mtime_ns / 1000000000, j->n.mtime_ns % 1000000000}};
	int rc = 0;
	/* every other write to the file has returned: no lock needed */
	if (!failed && j->edges.len && flush_edges(j))
		rc = strata_error_set(strata_errno_code(errno),
				      "cannot write '%s': %s", j->path,
				      strerror(errno));
	strata_buf_release(&j->edges);
	if (!failed && !rc &&
	    (fchmod(j->fd, j->n.mode & 07777) || futimens(j->fd, ts)))
		rc = strata_error_set(strata_errno_code(errno),
				      "cannot set attributes of '%s': %s",
				      j->path, strerror(errno));
	if (!failed && !rc && x->verify && j->tmp)
		rc = verify_file(x, j);
	if (j->dfd >= 0 && close(j->dfd) && !failed && !rc)
		rc = strata_error_set(strata_errno_code(errno),
				      "cannot write '%s': %s", j->path,
				      strerror(errno));
	if (j->fd >= 0 && close(j->fd) && !failed && !rc)
		rc = strata_error_set(strata_errno_code(errno),
				      "cannot write '%s': %s", j->path,
				      strerror(errno));
	j->fd = j->dfd = -1;
	if (!failed && !rc && rename(j->tmp, j->path))
		rc = strata_error_set(strata_errno_code(errno),
				      "cannot rename into '%s': %s", j->path,
				      strerror(errno));
	if ((failed || rc) && j->tmp)
		unlink(j->tmp);
	strata_free(j->tmp);
	j->tmp = NULL;
	if (rc) {
		fail_job(x, j, rc);
	} else if (!failed) {
		pthread_mutex_lock(&x->lock);
		x->st->files++;
		x->st->bytes += j->n.size;
		pthread_mutex_unlock(&x->lock);
	}
	if (__atomic_add_fetch(&x->done, 1, __ATOMIC_RELAXED) == x->njobs) {
		pthread_mutex_lock(&x->lock); /* the main thread waits on it */
		pthread_cond_broadcast(&x->all_done);
		pthread_mutex_unlock(&x->lock);
	}
}

/* Write (or skip, if its file failed) the chunk of slot s, and finish
 * its file if that was the last one. */
static void put_slot(restore_ctx *x, const rslot *s)
{
	rjob *j = &x->jobs[x->items[s->item].job];
	int wr;
	if (__atomic_load_n(&x->fatal, __ATOMIC_RELAXED))
		return; /* the unfinished files are removed at the end */
	if (!__atomic_load_n(&j->failed, __ATOMIC_ACQUIRE) &&
	    (wr = write_item(x, s)))
		fail_job(x, j, wr);
	if (!__atomic_sub_fetch(&j->left, 1, __ATOMIC_ACQ_REL))
		finish_job(x, j);
}

static void *restore_writer(void *arg)
{
	rworker *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->claim == w->tail)
			pthread_cond_wait(&w->cv, &w->mu);
		rslot *s = &w->ring[w->claim % RING];
		if (s->item == SIZE_MAX)
			break; /* the end, left for the other writers to see */
		w->claim++;
		pthread_mutex_unlock(&w->mu);
		put_slot(w->x, s);
		pthread_mutex_lock(&w->mu);
		s->written = true;
		while (w->head < w->claim && w->ring[w->head % RING].written) {
			w->ring[w->head % RING].written = false;
			w->head++;
		}
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* The slot of the k-th item past those handed to the writers: it waits
 * for them to free it. */
static rslot *slot_ahead(rworker *w, size_t k)
{
	pthread_mutex_lock(&w->mu);
	while (w->tail + k + 1 - w->head > RING)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	return &w->ring[(w->tail + k) % RING];
}

/* Hand the next n slots (slot_ahead) to the writers; without a writer
 * thread, write them here. */
static void post_slots(rworker *w, size_t n)
{
	if (!w->writers) {
		for (size_t k = 0; k < n; k++) {
			rslot *s = &w->ring[(w->tail + k) % RING];
			if (s->item != SIZE_MAX)
				put_slot(w->x, s);
		}
		w->tail += n; /* written as soon as handed over */
		w->head += n;
		return;
	}
	pthread_mutex_lock(&w->mu);
	w->tail += n;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void release_window(rworker *w)
{
	for (size_t i = 0; i < w->npl; i++)
		strata_free(w->pl[i].err);
	for (size_t i = 0; i < w->nbufs; i++)
		strata_free(w->bufs[i]);
	w->npl = w->nbufs = 0;
	if (w->arena.ptr)
		ASAN_POISON_MEMORY_REGION(w->arena.ptr, w->arena.cap);
	w->arena.len = 0;
}

/* Decodes item i into s. Whether its id is to be checked: not when it
 * is empty, its file has failed, or it could not be decoded. */
static bool start_item(rworker *w, rslot *s, size_t i, size_t a)
{
	restore_ctx *x = w->x;
	const ritem *it = &x->items[i];
	rjob *j = &x->jobs[it->job];
	int rc;
	s->item = i;
	s->lead = wants_direct(x, j) ? (size_t)(it->at % DIRECT_ALIGN) : 0;
	s->len = 0;
	s->checked = true;
	if (!it->length || __atomic_load_n(&j->failed, __ATOMIC_ACQUIRE))
		return false;
	if ((rc = open_item(w, s, it, &w->pl[w->slot[i - a]]))) {
		fail_job(x, j, rc);
		return false;
	}
	s->checked = false;
	return true;
}

/*
 * The decoded items' ids are checked through two SHA-256 lanes (one
 * SHA-NI stream is bound by latency; sha256_pair.c): when one item ends,
 * the next decoded item takes its lane. Slots go to the writers in order,
 * so an item checked before an earlier one waits for it in its slot;
 * items [posted, next) hold slots, at most RING of them.
 */
static void run_window(rworker *w, size_t a, size_t b)
{
	restore_ctx *x = w->x;
	size_t posted = a, next = a;
	int rc = collect(w, a, b);
	if (!rc)
		rc = fetch_all(w);
	if (rc) { /* out of memory */
		rwarn(x, "%s", strata_error_msg());
		set_fatal(x, rc);
	}
	while (!rc && posted < b) {
		/* once fatal, no new item: the unfinished files are
		 * removed at the end */
		bool stop = __atomic_load_n(&x->fatal, __ATOMIC_RELAXED);
		while (!stop && next < b && next - posted < RING &&
		       strata_sha256_lanes_busy(w->lanes) < 2) {
			rslot *s = slot_ahead(w, next - posted);
			if (start_item(w, s, next, a))
				strata_sha256_lanes_put(
				    w->lanes, s->buf + s->lead, s->len, next);
			next++;
		}
		if (strata_sha256_lanes_busy(w->lanes)) {
			uint8_t sha[32];
			size_t i = strata_sha256_lanes_next(w->lanes, sha);
			rslot *s = &w->ring[(w->tail + i - posted) % RING];
			rjob *j = &x->jobs[x->items[i].job];
			int dr;
			if (!__atomic_load_n(&j->failed, __ATOMIC_ACQUIRE) &&
			    (dr = check_item(w, s, &x->items[i], sha)))
				fail_job(x, j, dr);
			s->checked = true;
		}
		size_t n = 0;
		while (posted + n < next &&
		       w->ring[(w->tail + n) % RING].checked)
			n++;
		if (n)
			post_slots(w, n);
		posted += n;
		if (stop && posted == next)
			break;
	}
	release_window(w);
}

/* Ask the store to start reading window i, which a worker will take
 * soon: its blobs, neighbours in one pack as one range. */
static void prefetch_window(restore_ctx *x, size_t i)
{
	strata_backend *be = x->r->be;
	if (!be->ops->prefetch || i >= x->nwins)
		return;
	uint64_t start = 0, end = 0;
	uint32_t pack = UINT32_MAX;
	for (size_t k = x->wins[i]; k <= x->wins[i + 1]; k++) {
		const ritem *it = k < x->wins[i + 1] ? &x->items[k] : NULL;
		if (it && !it->length)
			continue;
		if (it && it->pack == pack && it->offset >= start &&
		    it->offset <= end + GAP_MAX) {
			if ((uint64_t)it->offset + it->length > end)
				end = (uint64_t)it->offset + it->length;
			continue;
		}
		if (pack != UINT32_MAX) {
			char name[128];
			strata_pack_name(name, sizeof(name),
					 x->r->ix.packs[pack]);
			be->ops->prefetch(be, name, start,
					  (size_t)(end - start));
		}
		if (it) {
			pack = it->pack;
			start = it->offset;
			end = start + it->length;
		}
	}
}

static void *restore_work(void *arg)
{
	rworker *w = arg;
	restore_ctx *x = w->x;
	pthread_t wt[WRITERS];
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	/* without a writer thread, the worker writes itself */
	while (w->writers < WRITERS &&
	       !pthread_create(&wt[w->writers], NULL, restore_writer, w))
		w->writers++;
	/* as many workers as take from the front (or back) as this one */
	size_t ahead = ((size_t)x->nt + !w->from_back) / 2 * PREFETCH_AHEAD;
	for (;;) {
		size_t i = 0;
		pthread_mutex_lock(&x->lock);
		bool more = x->front < x->back &&
			    !__atomic_load_n(&x->fatal, __ATOMIC_RELAXED);
		if (more)
			i = w->from_back ? --x->back : x->front++;
		pthread_mutex_unlock(&x->lock);
		if (!more)
			break;
		if (!w->from_back)
			prefetch_window(x, i + ahead);
		else if (i >= ahead)
			prefetch_window(x, i - ahead);
		run_window(w, x->wins[i], x->wins[i + 1]);
	}
	rslot *end = slot_ahead(w, 0);
	end->item = SIZE_MAX;
	post_slots(w, 1);
	for (int i = 0; i < w->writers; i++)
		pthread_join(wt[i], NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	return NULL;
}

/* Restore files in the order their first chunks lie in the packs, so
 * that neighbouring blobs are read together and a cold repository is
 * read mostly forward. */
static uint64_t first_place(const strata_index *ix, const rjob *j)
{
	const strata_index_ent *e =
	    j->n.nchunks ? strata_index_find(ix, j->n.chunks[0]) : NULL;
	return e ? (uint64_t)e->pack << 32 | e->offset : 0;
}

static int by_place(const void *a, const void *b, void *ix)
{
	uint64_t x = first_place(ix, a), y = first_place(ix, b);
	return x < y ? -1 : x > y;
}

/* STRATA_RESTORE_THREADS, else 2, or 4 for a remote store (hiding the
 * latency of requests matters more there than CPU). */
static int restore_threads(const strata_repo *r)
{
	return strata_env_threads("STRATA_RESTORE_THREADS", THREADS_MAX,
				  strncmp(r->be->location, "s3://", 5) ? 2 : 4);
}

static int run_restore(restore_ctx *x, bool progress)
{
	int nt = x->nt = restore_threads(x->r);
	rworker ws[THREADS_MAX];
	pthread_t th[THREADS_MAX];
	int started = 0, rc = 0;
	strata_progress pr;
	memset(ws, 0, sizeof(ws));
	x->front = 0;
	x->back = x->nwins;
	for (int i = 0; i < nt; i++) {
		ws[i].x = x;
		ws[i].from_back = i % 2;
		arena_new(&ws[i]);
		if ((rc = strata_codec_new(&ws[i].c, &x->r->keys, 1)) ||
		    (rc = strata_hmac_new(&ws[i].h, x->r->keys.id_key, 32)) ||
		    (rc = strata_sha256_lanes_new(&ws[i].lanes)))
			goto out;
		if (pthread_create(&th[i], NULL, restore_work, &ws[i])) {
			rc = strata_error_set(STRATA_EIO,
					      "cannot start a thread");
			goto out;
		}
		started++;
	}
	/* each worker asks for the window PREFETCH_AHEAD rounds past the one
	 * it takes: the ones before that are asked for here, or the first
	 * 64 MiB per worker would be read only as they are needed */
	size_t nf = ((size_t)nt + 1) / 2, nb = (size_t)nt / 2;
	for (size_t i = nf; i < nf * PREFETCH_AHEAD; i++)
		prefetch_window(x, i);
	for (size_t i = nb; i < nb * PREFETCH_AHEAD && i < x->nwins; i++)
		prefetch_window(x, x->nwins - 1 - i);
	strata_progress_init(&pr);
	pr.enabled = pr.enabled && progress;
	/* woken as the last file is finished, not at the next progress tick */
	pthread_mutex_lock(&x->lock);
	while (__atomic_load_n(&x->done, __ATOMIC_RELAXED) < x->njobs &&
	       !x->fatal) {
		strata_cond_wait_ms(&x->all_done, &x->lock, 50);
		pthread_mutex_unlock(&x->lock);
		if (strata_progress_due(&pr))
			strata_progress_show(
			    &pr, "restore: %" PRIu64 "/%zu files",
			    __atomic_load_n(&x->done, __ATOMIC_RELAXED),
			    x->njobs);
		pthread_mutex_lock(&x->lock);
	}
	pthread_mutex_unlock(&x->lock);
	strata_progress_done(&pr);
out:
	if (rc) /* let started workers stop at their next window */
		set_fatal(x, rc);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < nt; i++) {
		strata_codec_free(ws[i].c);
		strata_hmac_free(ws[i].h);
		strata_sha256_lanes_free(ws[i].lanes);
		if (ws[i].arena.ptr)
			ASAN_UNPOISON_MEMORY_REGION(ws[i].arena.ptr,
						    ws[i].arena.cap);
		strata_buf_release(&ws[i].arena);
		for (int k = 0; k < RING; k++)
			strata_free(ws[i].ring[k].buf);
		strata_free(ws[i].pl);
		strata_free(ws[i].slot);
		strata_free(ws[i].bufs);
	}
	/* files left half-written by a stop */
	for (size_t i = 0; i < x->njobs; i++) {
		rjob *j = &x->jobs[i];
		if (j->dfd >= 0)
			close(j->dfd);
		if (j->fd >= 0)
			close(j->fd);
		if (j->tmp)
			unlink(j->tmp);
		strata_free(j->tmp);
		strata_buf_release(&j->edges);
		j->fd = j->dfd = -1;
		j->tmp = NULL;
	}
	return rc;
}

int strata_repo_restore(strata_repo *r, const char *spec, const char *dest,
			const char *include_glob, unsigned flags,
			strata_restore_stats *st)
{
	strata_snapshot s;
	uint8_t id[32];
	restore_ctx x;
	double t0 = strata_mono();
	memset(st, 0, sizeof(*st));
	memset(&x, 0, sizeof(x));
	x.r = r;
	x.glob = include_glob;
	x.st = st;
	x.verify = flags & STRATA_RESTORE_VERIFY;
	pthread_mutex_init(&x.lock, NULL);
	strata_cond_init_mono(&x.all_done);
	for (size_t i = 0; i < OPEN_LOCKS; i++)
		pthread_mutex_init(&x.open_lock[i], NULL);
	int rc = repo__gate_read(r, "restore", spec, NULL);
	if (rc || (rc = repo__open_spec(r, spec, &s, id)))
		goto done;
	if ((rc = strata_mkdir_p(dest, 0755)) ||
	    (rc = strata_buf_puts(&x.dst, dest)) ||
	    (rc = strata_buf_cstr(&x.rel)))
		goto out;
	x.direct = getenv("STRATA_NO_DIRECT") == NULL && direct_fs(dest);
	while (x.dst.len > 1 && x.dst.ptr[x.dst.len - 1] == '/')
		x.dst.len--;
	if ((rc = strata_buf_cstr(&x.dst)) ||
	    (rc = restore_tree(&x, s.root, false)))
		goto out;
	strata_trace("trees", t0);
	if (x.njobs > 1)
		qsort_r(x.jobs, x.njobs, sizeof(*x.jobs), by_place, &r->ix);
	if ((rc = plan(&x)))
		goto out;
	strata_trace("plan", t0);
	if ((rc = run_restore(&x, flags & STRATA_RESTORE_PROGRESS)))
		goto out;
	strata_trace("files", t0);
	if (x.fatal)
		rc = strata_error_set(x.fatal, "restore stopped: %s",
				      x.fatal_msg);
	/* directories last, deepest first, so file creation does not
	 * disturb their times */
	for (size_t i = x.ndirs; i-- > 0;) {
		struct timespec ts[2] = {{0, UTIME_OMIT},
					 {x.dirs[i].mtime_ns / 1000000000,
					  x.dirs[i].mtime_ns % 1000000000}};
		struct stat sb;
		if (lstat(x.dirs[i].path, &sb) || !S_ISDIR(sb.st_mode))
			continue; /* nothing in it was selected */
		chmod(x.dirs[i].path, x.dirs[i].mode & 07777);
		utimensat(AT_FDCWD, x.dirs[i].path, ts, 0);
	}
	strata_trace("dirs", t0);
	if (!rc && st->errors)
		rc = strata_error_set(STRATA_EPARTIAL,
				      "%" PRIu64 " files could not be restored",
				      st->errors);
out:
	strata_snapshot_release(&s);
done:
	for (size_t i = 0; i < x.njobs; i++) {
		strata_free(x.jobs[i].path);
		strata_node_release(&x.jobs[i].n);
	}
	for (size_t i = 0; i < x.ndirs; i++)
		strata_free(x.dirs[i].path);
	strata_free(x.jobs);
	strata_free(x.items);
	strata_free(x.wins);
	strata_free(x.dirs);
	strata_buf_release(&x.rel);
	strata_buf_release(&x.dst);
	pthread_mutex_destroy(&x.lock);
	pthread_cond_destroy(&x.all_done);
	for (size_t i = 0; i < OPEN_LOCKS; i++)
		pthread_mutex_destroy(&x.open_lock[i]);
	st->seconds = strata_mono() - t0;
	repo__audit_done(r, rc, st->bytes);
	return rc;
}
