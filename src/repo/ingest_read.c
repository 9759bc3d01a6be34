/*
 * ingest_read.c - the reading half of ingest: one worker per core reads,
 * chunks, hashes, compresses, encrypts and packs the files the walk
 * queued (largest first), sharing only the chunk index; a worker busy
 * with a large file hands chunks to idle ones. One thread reads ahead of
 * the workers (ingest_ahead.c); another stages their catalog rows as
 * their jobs end.
 */
#include "repo/ingest_int.h"

#define SEAL_QUEUE 8

typedef struct seal_task {
	uint8_t id[32];
	uint8_t *p;
	size_t n;
	int mode; /* STRATA_SEAL_* */
} seal_task;

typedef struct worker {
	ingest *g;
	strata_codec *codec;
	strata_hmac *hmac;
	strata_sha256_pair *sha; /* the file's, and its chunks' */
	strata_pack_writer pack;
	uint8_t *buf;
	size_t bufsize;
	uint8_t (*ids)[32];
	size_t nids, capids;
	strata_attrs *attrs;
	strata_cuts cuts;
	int rc;
} worker;

static bool known_compressed(const uint8_t *p, size_t n)
{
	if (n < 4)
		return false;
	return (p[0] == 0x1f && p[1] == 0x8b) || /* gzip, BGZF */
	       !memcmp(p, "CRAM", 4) || !memcmp(p, "PK\3\4", 4) ||
	       (p[0] == 0xff && p[1] == 0xd8) || /* JPEG */
	       !memcmp(p, "\x89PNG", 4) || !memcmp(p, "\x28\xb5\x2f\xfd", 4) ||
	       !memcmp(p,
		       "\xfd"
		       "7zX",
		       4) ||
	       !memcmp(p, "BZh", 3);
}

/* How to compress a file, from what its format reader found: DICOM
 * pixel data stored native (not encapsulated, not deflated) is known to
 * compress, so no sample of it is compressed first to find out. */
static int seal_mode(const strata_attrs *a, int mode)
{
	const strata_attr *enc =
	    a ? strata_attrs_find(a, "dicom.Encapsulated") : NULL;
	const strata_attr *ts =
	    enc ? strata_attrs_find(a, "dicom.TransferSyntaxUID") : NULL;
	if (mode == STRATA_SEAL_TRY && enc && enc->type == STRATA_ATTR_INT &&
	    !enc->i &&
	    !(ts && ts->type == STRATA_ATTR_STR &&
	      !strcmp(ts->s, "1.2.840.10008.1.2.1.99")))
		return STRATA_SEAL_ZSTD;
	return mode;
}

static int push_id(worker *w, const uint8_t id[32])
{
	int rc = strata_grow(&w->ids, &w->capids, w->nids, 32);
	if (rc)
		return rc;
	memcpy(w->ids[w->nids++], id, 32);
	return 0;
}

static int seal_into_pack(worker *w, const uint8_t id[32], const uint8_t *p,
			  size_t n, int mode)
{
	strata_repo *r = w->g->r;
	int rc = strata_pack_seal(&w->pack, w->codec, id, STRATA_BLOB_DATA, p,
				  n, mode);
	if (rc)
		return rc;
	if (w->pack.data.len >= r->pack_size)
		rc = repo__uploader_submit(w->g->up, &w->pack, w->codec);
	return rc;
}

/* Give the chunk to an idle worker if there is one: true if queued. */
static bool hand_over(ingest *g, const uint8_t id[32], const uint8_t *p,
		      size_t n, int mode)
{
	if (!__atomic_load_n(&g->idle, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&g->qcount, __ATOMIC_RELAXED) >= SEAL_QUEUE)
		return false;
	uint8_t *copy = strata_malloc(n);
	if (!copy)
		return false;
	memcpy(copy, p, n);
	pthread_mutex_lock(&g->qlock);
	if (g->qcount >= SEAL_QUEUE) {
		pthread_mutex_unlock(&g->qlock);
		strata_free(copy);
		return false;
	}
	seal_task *t = &g->q[(g->qhead + g->qcount) % SEAL_QUEUE];
	memcpy(t->id, id, 32);
	t->p = copy;
	t->n = n;
	t->mode = mode;
	g->qcount++;
	pthread_cond_signal(&g->qcond);
	pthread_mutex_unlock(&g->qlock);
	return true;
}

static int store_chunk_id(worker *w, const uint8_t *p, size_t n, int mode,
			  const uint8_t id[32])
{
	strata_repo *r = w->g->r;
	int rc;
	if ((rc = push_id(w, id)))
		return rc;
	pthread_mutex_lock(&r->ix.lock);
	int claimed = repo__claim(r, id);
	pthread_mutex_unlock(&r->ix.lock);
	if (claimed <= 0)
		return claimed;
	__atomic_add_fetch(&w->g->st->bytes_new, n, __ATOMIC_RELAXED);
	if (hand_over(w->g, id, p, n, mode))
		return 0;
	return seal_into_pack(w, id, p, n, mode);
}

static int store_chunk(worker *w, const uint8_t *p, size_t n, int mode,
		       const uint8_t sha[32])
{
	uint8_t id[32];
	strata_blob_id_of_sha(w->hmac, id, sha);
	return store_chunk_id(w, p, n, mode, id);
}

/* Metadata a producer read: spooled as if extracted here. */
static int given_meta(worker *w, inode *f, const repo_produced *pr)
{
	memset(&f->meta, 0, sizeof(f->meta));
	for (size_t i = 0; pr->cuts && i < pr->cuts->n; i++) {
		if (strata_grow(&w->cuts.off, &w->cuts.cap, w->cuts.n,
				sizeof(*w->cuts.off)))
			return strata_error_set(STRATA_ENOMEM, "out of memory");
		w->cuts.off[w->cuts.n++] = pr->cuts->off[i];
	}
	return repo__spool_attrs(&w->g->spool, pr->attrs, &f->meta);
}

/* Read, chunk and store one file. *src_err tells a problem with the
 * source file (reported, the file left out) from one with the repository
 * (fatal for the ingest). */
static int do_file(worker *w, inode *f, bool *src_err)
{
	strata_repo *r = w->g->r;
	struct stat st0, st1;
	size_t have = 0;
	uint64_t total = 0;
	bool eof = false, first = true, single = false;
	int mode = STRATA_SEAL_TRY; /* how chunks are compressed */
	uint8_t whole[32];
	repo_cutter cut;
	repo_produced pr;
	const repo_source *vs = f->virt ? w->g->source : NULL;
	const uint8_t *mem = NULL; /* a produced file's bytes, or read ahead */
	size_t mem_len = 0;
	int fd = -1, rc = 0;
	ingest_pre pre = {.fd = -1};
	memset(&pr, 0, sizeof(pr));
	if (vs) {
		*src_err = false; /* the producer's errors are fatal */
		if ((rc = vs->produce(vs->payload, f->vi, &pr)))
			goto out;
		if (pr.skip) {
			f->failed = true; /* left out, as the producer said */
			goto out;
		}
		mem = pr.path ? NULL : pr.data;
		mem_len = pr.path ? 0 : pr.data_len;
	}
	/* read ahead: an open file, maybe its bytes too */
	if (!vs)
		ingest__ahead_take(w->g, f, &pre);
	if (pre.data) {
		mem = pre.data;
		mem_len = pre.len;
	}
	/* the bytes: read into w->buf, or the ones already in memory */
	uint8_t *buf = mem ? (uint8_t *)mem : w->buf;
	size_t kn = 0; /* next of pr.known */
	*src_err = true;
	const char *from = pr.path ? pr.path : f->src;
	if (!vs || pr.path) {
		fd = pre.fd >= 0
			 ? pre.fd
			 : open(from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			rc = strata_error_set(strata_errno_code(errno),
					      "cannot open '%s': %s", from,
					      strerror(errno));
			goto out;
		}
	}
	if (fd < 0)
		memset(&st0, 0, sizeof(st0));
	else if (pre.st) /* taken before the bytes were read */
		st0 = *pre.st;
	else if (fstat(fd, &st0) || !S_ISREG(st0.st_mode)) {
		rc = strata_error_set(
		    STRATA_EIO, "'%s' is no longer a regular file", f->src);
		goto out;
	}
	if (fd >= 0 && (uint64_t)st0.st_size > w->bufsize)
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	w->nids = 0;
	for (;;) {
		if (mem && !eof) { /* in memory already: no copy */
			have = total = mem_len;
			eof = true;
			__atomic_add_fetch(&w->g->st->bytes_read,
					   (uint64_t)have, __ATOMIC_RELAXED);
		}
		while (!eof && have < w->bufsize) {
			ssize_t n = read(fd, buf + have, w->bufsize - have);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				rc = strata_error_set(strata_errno_code(errno),
						      "cannot read '%s': %s",
						      f->src, strerror(errno));
				goto out;
			}
			have += (size_t)n;
			total += (uint64_t)n;
			/* at the size fstat gave: no read just to see EOF (a
			 * file that grows meanwhile is caught by the fstat
			 * after the read) */
			if (n == 0 || total == (uint64_t)st0.st_size)
				eof = true;
			__atomic_add_fetch(&w->g->st->bytes_read, (uint64_t)n,
					   __ATOMIC_RELAXED);
		}
		if (first) {
			mode = known_compressed(buf, have) ? STRATA_SEAL_RAW
							   : STRATA_SEAL_TRY;
			first = false;
			w->cuts.n = 0;
			if (pr.attrs) /* the producer read them already */
				rc = given_meta(w, f, &pr);
			else
				rc = w->g->no_extract
					 ? 0
					 : repo__extract(
					       &w->g->spool, f->src, buf, have,
					       eof && total == have, w->attrs,
					       &w->cuts, &f->meta);
			if (rc && !f->meta.damaged) {
				*src_err = false; /* the spool: our side */
				goto out;
			}
			if (rc)
				ingest__warn(w->g, WARN_NOTE,
					     "%s; stored without metadata",
					     strata_error_msg());
			else if (f->meta.len)
				__atomic_add_fetch(
				    &w->g->st->files_with_metadata, 1,
				    __ATOMIC_RELAXED);
			if (!rc && !w->g->no_extract)
				mode = seal_mode(pr.attrs ? pr.attrs : w->attrs,
						 mode);
			rc = 0;
			repo__cutter_start(&cut, &w->cuts, buf, have);
		}
		size_t off = 0;
		while (off < have && (eof || have - off >= r->chunk_max)) {
			uint8_t csha[32];
			size_t len;
			/* a chunk the producer knows: no chunker, no id */
			while (kn < pr.nknown && pr.known[kn].off < off)
				kn++;
			const repo_known *kc =
			    mem && kn < pr.nknown && pr.known[kn].off == off &&
				    pr.known[kn].len <= have - off
				? &pr.known[kn++]
				: NULL;
			if (kc) {
				len = kc->len;
			} else {
				/* no need to look past a hard cut point or a
				 * known chunk: the chunk ends there at most */
				size_t room =
				    repo__cut_room(&cut, off, have - off);
				if (kn < pr.nknown && pr.known[kn].off > off &&
				    pr.known[kn].off - off < room)
					room = (size_t)(pr.known[kn].off - off);
				len = strata_chunker_next(
				    &r->chunker, buf + off, room,
				    eof || room < have - off);
				len = repo__cut(&cut, buf, have, off, len,
						r->chunk_min);
			}
			if (kc) {
				strata_sha256_pair_add(w->sha, buf + off, len,
						       NULL);
			} else if (off == 0 && len == have && eof &&
				   total == have) {
				/* the whole file is one chunk: one hash */
				strata_sha256(csha, buf, len);
				memcpy(whole, csha, 32);
				single = true;
			} else {
				strata_sha256_pair_add(w->sha, buf + off, len,
						       csha);
			}
			*src_err = false;
			if (kc)
				rc = store_chunk_id(w, buf + off, len, mode,
						    kc->id);
			else
				rc = store_chunk(w, buf + off, len, mode, csha);
			if (rc)
				goto out;
			*src_err = true;
			off += len;
		}
		if (buf == w->buf)
			memmove(buf, buf + off, have - off);
		have -= off;
		cut.base += off;
		if (eof && !have)
			break;
	}
	if (fd >= 0 && !vs &&
	    (fstat(fd, &st1) || st1.st_size != st0.st_size ||
	     ts_ns(st1.st_mtim) != ts_ns(st0.st_mtim) ||
	     ts_ns(st1.st_ctim) != ts_ns(st0.st_ctim) ||
	     total != (uint64_t)st0.st_size)) {
		rc = strata_error_set(STRATA_ECHANGED,
				      "'%s' changed while it was read", f->src);
		goto out;
	}
	if (vs) { /* made now: the source's mode and time */
		uint32_t perm = 0644;
		int64_t mtime = 0;
		vs->attr(vs->payload, f->vi, &perm, &mtime);
		f->n.mode = perm & 07777;
		f->n.mtime_ns = f->n.ctime_ns = mtime;
		f->n.ino = 0;
		f->n.size = total;
	} else {
		fill_stat(&f->n, &st0);
	}
	strata_sha256_pair_final(w->sha, f->n.sha256); /* also resets it */
	if (single)
		memcpy(f->n.sha256, whole, 32);
	strata_free(f->n.chunks);
	f->n.chunks = NULL;
	f->n.nchunks = (uint32_t)w->nids;
	if (w->nids) {
		if (!(f->n.chunks = strata_malloc(w->nids * 32))) {
			*src_err = false;
			rc = strata_error_set(STRATA_ENOMEM, "out of memory");
			goto out;
		}
		memcpy(f->n.chunks, w->ids, w->nids * 32);
	}
out:
	if (rc) {
		uint8_t junk[32];
		/* reset for the next file */
		strata_sha256_pair_final(w->sha, junk);
	}
	if (fd >= 0)
		close(fd);
	ingest__ahead_drop(w->g, &pre);
	if (vs)
		vs->release(vs->payload, f->vi, &pr);
	return rc;
}

static void set_fatal(ingest *g, int rc)
{
	pthread_mutex_lock(&g->lock);
	if (!g->fatal) {
		g->fatal = rc;
		snprintf(g->fatal_msg, sizeof(g->fatal_msg), "%s",
			 strata_error_msg());
	}
	pthread_cond_broadcast(&g->done);
	pthread_mutex_unlock(&g->lock);
}

static void do_job(worker *w, inode *f)
{
	ingest *g = w->g;
	bool src_err = false;
	int rc = 0;
	for (int attempt = 0; attempt < 3; attempt++) {
		rc = do_file(w, f, &src_err);
		if (rc != STRATA_ECHANGED)
			break;
	}
	if (rc && !src_err) {
		set_fatal(g, rc);
	} else if (rc) {
		ingest__warn(g, WARN_ERROR, "%s%s; left out of this version",
			     strata_error_msg(),
			     rc == STRATA_ECHANGED ? " (3 attempts)" : "");
		f->failed = true;
	}
	uint64_t ended =
	    __atomic_add_fetch(&g->files_done, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&f->done, 1, __ATOMIC_RELEASE);
	if (ended == g->njobs) {
		pthread_mutex_lock(&g->lock); /* the main thread waits on it */
		pthread_cond_broadcast(&g->done);
		pthread_mutex_unlock(&g->lock);
	}
}

/* Each worker seals chunks handed over by others first, then takes the
 * next file; it leaves when no file is left, none is being read and no
 * chunk waits. */
static void *work(void *arg)
{
	worker *w = arg;
	ingest *g = w->g;
	pthread_mutex_lock(&g->qlock);
	for (;;) {
		if (g->qcount) {
			seal_task t = g->q[g->qhead];
			g->qhead = (g->qhead + 1) % SEAL_QUEUE;
			g->qcount--;
			pthread_mutex_unlock(&g->qlock);
			int rc = seal_into_pack(w, t.id, t.p, t.n, t.mode);
			strata_free(t.p);
			if (rc)
				set_fatal(g, rc);
			pthread_mutex_lock(&g->qlock);
			continue;
		}
		bool fatal = __atomic_load_n(&g->fatal, __ATOMIC_RELAXED);
		if (g->next_job < g->njobs && !fatal) {
			inode *f = g->jobs[g->next_job++];
			g->active++;
			pthread_mutex_unlock(&g->qlock);
			do_job(w, f);
			pthread_mutex_lock(&g->qlock);
			g->active--;
			pthread_cond_broadcast(&g->qcond);
			continue;
		}
		if (!g->active)
			break;
		g->idle++;
		pthread_cond_wait(&g->qcond, &g->qlock);
		g->idle--;
	}
	pthread_cond_broadcast(&g->qcond);
	pthread_mutex_unlock(&g->qlock);
	int rc = repo__uploader_submit(g->up, &w->pack, w->codec);
	if (rc)
		set_fatal(g, rc);
	return NULL;
}

static int worker_init(worker *w, ingest *g)
{
	strata_repo *r = g->r;
	int rc;
	memset(w, 0, sizeof(*w));
	w->g = g;
	w->bufsize = (size_t)r->chunk_max * 2;
	w->pack.data.limit =
	    (size_t)r->pack_size + STRATA_BLOB_MAX + (1u << 20);
	/* once: doubling past pack_size would waste half the RSS; huge pages
	 * up to pack_size, the rest is touched only by a pack's last blob */
	if ((rc = strata_buf_alloc_huge(
		 &w->pack.data, (size_t)r->pack_size + r->chunk_max + 65536 + 1,
		 r->pack_size)))
		return rc;
	if (!(w->buf = strata_malloc(w->bufsize)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	if ((rc = strata_attrs_new(&w->attrs)) ||
	    (rc = strata_codec_new(&w->codec, &r->keys, r->zstd_level)) ||
	    (rc = strata_hmac_new(&w->hmac, r->keys.id_key, 32)) ||
	    (rc = strata_sha256_pair_new(&w->sha)))
		return rc;
	return 0;
}

static void worker_release(worker *w)
{
	strata_codec_free(w->codec);
	strata_hmac_free(w->hmac);
	strata_sha256_pair_free(w->sha);
	strata_pack_writer_release(&w->pack);
	strata_free(w->buf);
	strata_free(w->ids);
	strata_attrs_free(w->attrs);
	strata_free(w->cuts.off);
}

/* Large files first, largest first, so no core waits at the end on one
 * long file; small files after them in walk order, which is close to
 * their order on disk. qsort is not stable: the walk position breaks ties. */
static int job_cmp(const void *x, const void *y)
{
	const inode *a = *(inode *const *)x, *b = *(inode *const *)y;
	uint64_t sa = a->n.size >= INGEST_BIG_FILE ? a->n.size : 0;
	uint64_t sb = b->n.size >= INGEST_BIG_FILE ? b->n.size : 0;
	if (sa != sb)
		return sa < sb ? 1 : -1;
	return a < b ? -1 : a > b; /* kids arrays: walk order by address */
}

/* ---- catalog rows, staged while the files are read ---- */

/* A file read now, once its job has ended: its row and attributes. */
static int stage_file(ingest *g, const inode *k, const strata_buf *path)
{
	const char *sid =
	    repo__subject_map_find(&g->subjects, (const char *)path->ptr);
	uint8_t *attrs = NULL;
	int rc = 0;
	if (k->meta.len)
		rc = repo__spool_read(&g->spool, &k->meta, &attrs);
	if (!rc)
		rc = repo__attrs_to_stage(g->r, (const char *)path->ptr,
					  path->len, k->n.size, k->n.sha256,
					  attrs, attrs ? k->meta.len : 0, sid);
	strata_free(attrs);
	return rc;
}

/* The files below d, in add_rows' order: those read now as soon as their
 * job has ended, those carried unchanged at once. *stop: the ingest
 * failed meanwhile. */
static int stage_dir(ingest *g, const inode *d, strata_buf *path, bool *stop)
{
	size_t base = path->len;
	int rc = 0;
	for (size_t i = 0; !rc && !*stop && i < d->nkids; i++) {
		const inode *k = &d->kids[i];
		bool dir = k->n.type == STRATA_NODE_DIR;
		/* kept (--update) directories are added at commit */
		if (k->failed || (dir && k->kept) ||
		    (!dir && k->n.type != STRATA_NODE_FILE))
			continue;
		if ((rc = ingest__kid_path(path, base, k)))
			break;
		if (dir) {
			rc = stage_dir(g, k, path, stop);
			continue;
		}
		if (!k->src) {
			rc = strata_catalog_stage_carried(
			    g->r->cat, (const char *)path->ptr, path->len,
			    k->n.size, k->n.sha256);
			continue;
		}
		while (!__atomic_load_n(&k->done, __ATOMIC_ACQUIRE)) {
			if (__atomic_load_n(&g->fatal, __ATOMIC_RELAXED)) {
				*stop = true;
				break;
			}
			struct timespec ts = {0, 4 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		if (!*stop && !k->failed)
			rc = stage_file(g, k, path);
	}
	path->len = base;
	return rc;
}

static void *stage_rows(void *arg)
{
	ingest *g = arg;
	strata_buf path = STRATA_BUF_INIT;
	bool stop = false;
	int rc = stage_dir(g, &g->root, &path, &stop);
	if (!rc && !stop)
		rc = strata_catalog_stage_done(g->r->cat);
	if (rc) { /* staging only saves time: commit adds the rows itself */
		ingest__warn(g, WARN_NOTE,
			     "could not stage the catalog rows (%s); they are "
			     "added at commit instead, nothing is lost",
			     strata_error_msg());
		strata_catalog_stage_end(g->r->cat);
		g->staged = false; /* read after the join */
	}
	strata_buf_release(&path);
	return NULL;
}

static void show_progress(ingest *g, strata_progress *pr)
{
	if (!strata_progress_due(pr))
		return;
	double el = strata_mono() - pr->start;
	uint64_t rd = __atomic_load_n(&g->st->bytes_read, __ATOMIC_RELAXED);
	strata_progress_show(pr,
			     "ingest: %" PRIu64 "/%zu files read, %.1f MiB, "
			     "%.0f MiB/s",
			     __atomic_load_n(&g->files_done, __ATOMIC_RELAXED),
			     g->njobs, (double)rd / 1048576.0,
			     el > 0 ? (double)rd / 1048576.0 / el : 0.0);
}

int ingest__run_workers(ingest *g)
{
	int nt = g->o->threads > 0 ? g->o->threads
				   : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (nt < 1)
		nt = 1;
	if (nt > 64)
		nt = 64;
	worker *ws = strata_calloc((size_t)nt, sizeof(*ws));
	pthread_t *th = strata_calloc((size_t)nt, sizeof(*th));
	strata_progress pr;
	int rc = 0, started = 0;
	if (!ws || !th) {
		rc = strata_error_set(STRATA_ENOMEM, "out of memory");
		goto out;
	}
	if (g->njobs > 1)
		qsort(g->jobs, g->njobs, sizeof(*g->jobs), job_cmp);
	if (!(g->q = strata_calloc(SEAL_QUEUE, sizeof(*g->q)))) {
		rc = strata_error_set(STRATA_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = repo__uploader_start(&g->up, g->r, 1)))
		goto out;
	/* produced files are not on disk: nothing to read ahead */
	ingest_ahead *ahead = g->source ? NULL : ingest__ahead_start(g);
	/* Files read from disk have their catalog rows staged meanwhile;
	 * without staging (or a thread for it) commit adds them itself. */
	pthread_t stager;
	g->staged = !g->source && !g->carry_all && !getenv("STRATA_NO_STAGE") &&
		    !strata_catalog_stage_begin(g->r->cat);
	if (g->staged && pthread_create(&stager, NULL, stage_rows, g)) {
		strata_catalog_stage_end(g->r->cat);
		g->staged = false;
	}
	bool stager_started = g->staged;
	for (int i = 0; i < nt; i++) {
		if ((rc = worker_init(&ws[i], g)))
			goto join;
		if (pthread_create(&th[i], NULL, work, &ws[i])) {
			rc = strata_error_set(STRATA_EIO,
					      "cannot start a thread");
			goto join;
		}
		started++;
	}
	strata_progress_init(&pr);
	pr.enabled = pr.enabled && g->o->progress;
	/* woken as the last job ends, not at the next progress tick */
	pthread_mutex_lock(&g->lock);
	while (__atomic_load_n(&g->files_done, __ATOMIC_RELAXED) < g->njobs &&
	       !g->fatal) {
		strata_cond_wait_ms(&g->done, &g->lock, 50);
		pthread_mutex_unlock(&g->lock);
		show_progress(g, &pr);
		pthread_mutex_lock(&g->lock);
	}
	pthread_mutex_unlock(&g->lock);
	strata_progress_done(&pr);
join:
	if (rc)
		set_fatal(g, rc);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	ingest__ahead_stop(g, ahead);
	if (stager_started)
		pthread_join(stager, NULL);
	for (int i = 0; i < nt; i++)
		worker_release(&ws[i]);
	uint64_t stored = 0;
	int urc = repo__uploader_finish(g->up, &stored);
	g->up = NULL;
	g->st->bytes_stored += stored;
	if (urc)
		set_fatal(g, urc);
	for (size_t i = 0; i < g->qcount; i++) /* only after a fatal error */
		strata_free(g->q[(g->qhead + i) % SEAL_QUEUE].p);
out:
	strata_free(g->q);
	strata_free(ws);
	strata_free(th);
	return rc;
}
