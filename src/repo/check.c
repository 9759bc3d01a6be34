/*
 * check.c - verify a repository. Without --read-data: every pack's table
 * decrypts and agrees with the index, every snapshot decrypts and matches
 * its name, every tree loads and every chunk it names is indexed in a pack
 * that exists. With --read-data: every pack is re-hashed and every blob
 * decrypted and checked against its id. Damaged or missing blobs are then
 * traced to the dataset versions and paths that use them.
 */
#include "repo/repo_int.h"

#define CHECKERS_MAX 8
/* packs asked of the store ahead of the one being checked */
#define CHECK_AHEAD 2

/* One pack object: checked by one checker, its problems reported in
 * pack order once every pack before it is done. */
typedef struct pack_job {
	char *name;
	uint64_t size;
	char **msgs;
	size_t nmsgs, capmsgs;
	bool done;
} pack_job;

typedef struct check_ctx {
	strata_repo *r;
	bool read_data;
	strata_check_cb cb;
	void *payload;
	strata_check_report *rep;
	strata_index bad; /* ids of damaged or missing blobs (a set) */
	bool *pack_seen;  /* per index pack number: pack object exists */
	uint32_t *by_id;  /* index pack numbers sorted by id (pack_no) */
	strata_progress pr;
	int rc;
	/* the packs, checked by several threads: under lock */
	pthread_mutex_t lock;
	pack_job *jobs;
	size_t njobs, capjobs, next, reported;
} check_ctx;

/* A checker thread's own decoder, id key and buffer, and its pack. */
typedef struct checker {
	check_ctx *x;
	pthread_t th;
	strata_codec *codec;
	strata_hmac *hmac;
	strata_buf plain;
	pack_job *job;
} checker;

static int problem(check_ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int problem(check_ctx *x, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	x->rep->errors++;
	strata_progress_done(&x->pr);
	return x->cb(msg, NULL, 0, NULL, x->payload);
}

static void mark_bad(check_ctx *x, const uint8_t id[32])
{
	strata_pack_entry e;
	memset(&e, 0, sizeof(e));
	memcpy(e.id, id, 32);
	strata_index_add(&x->bad, &e, 0);
}

/* A problem with the checker's pack, reported once the packs before it
 * are done (out of memory: reported at once, out of order). */
static void pack_problem(checker *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void pack_problem(checker *k, const char *fmt, ...)
{
	pack_job *j = k->job;
	char msg[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	char *m = strata_strdup(msg);
	if (m &&
	    !strata_grow(&j->msgs, &j->capmsgs, j->nmsgs, sizeof(*j->msgs))) {
		j->msgs[j->nmsgs++] = m;
		return;
	}
	strata_free(m);
	pthread_mutex_lock(&k->x->lock);
	problem(k->x, "%s", msg);
	pthread_mutex_unlock(&k->x->lock);
}

static void mark_bad_locked(check_ctx *x, const uint8_t id[32])
{
	pthread_mutex_lock(&x->lock);
	mark_bad(x, id);
	pthread_mutex_unlock(&x->lock);
}

static int by_pack_id(const void *a, const void *b, void *ix)
{
	const strata_index *x = ix;
	return memcmp(x->packs[*(const uint32_t *)a],
		      x->packs[*(const uint32_t *)b], 32);
}

/* The index's pack numbers sorted by pack id, for pack_no; NULL without
 * memory (pack_no then scans). */
static uint32_t *packs_by_id(const strata_index *ix)
{
	uint32_t *v = strata_calloc(ix->npacks + 1, sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < ix->npacks; i++)
		v[i] = (uint32_t)i;
	qsort_r(v, ix->npacks, sizeof(*v), by_pack_id, (void *)ix);
	return v;
}

/* Pack number of `pid` in the index, or -1. */
static long pack_no(check_ctx *x, const uint8_t pid[32])
{
	const strata_index *ix = &x->r->ix;
	if (!x->by_id) {
		for (size_t i = 0; i < ix->npacks; i++)
			if (!memcmp(ix->packs[i], pid, 32))
				return (long)i;
		return -1;
	}
	size_t lo = 0, hi = ix->npacks;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(ix->packs[x->by_id[mid]], pid, 32);
		if (!c)
			return (long)x->by_id[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static void verify_blobs(checker *k, const uint8_t *data, size_t len,
			 const strata_pack_entry *e, size_t n)
{
	check_ctx *x = k->x;
	uint8_t h[32];
	for (size_t i = 0; i < n; i++) {
		if ((uint64_t)e[i].offset + e[i].length > len ||
		    strata_codec_open(k->codec, &k->plain, data + e[i].offset,
				      e[i].length, e[i].raw_len)) {
			mark_bad_locked(x, e[i].id);
			pack_problem(k,
				     "pack '%s': blob %u fails authentication "
				     "(damaged)",
				     k->job->name, (unsigned)i);
			continue;
		}
		strata_blob_id(k->hmac, h, k->plain.ptr, k->plain.len);
		if (memcmp(h, e[i].id, 32) || k->plain.len != e[i].raw_len) {
			mark_bad_locked(x, e[i].id);
			pack_problem(k,
				     "pack '%s': blob %u does not match its id",
				     k->job->name, (unsigned)i);
		}
	}
}

/* Check k->job: its table against the index, and with --read-data every
 * blob against its id. Returns the number of blobs read and checked. */
static size_t check_pack(checker *k)
{
	check_ctx *x = k->x;
	const char *name = k->job->name;
	strata_pack_entry *e = NULL;
	size_t n = 0;
	uint8_t pid[32];
	const char *hex = strrchr(name, '/');
	if (!hex || strata_unhex(pid, 32, hex + 1)) {
		pack_problem(k, "unexpected object '%s' among the packs", name);
		return 0;
	}
	long pn = pack_no(x, pid);
	if (pn < 0) {
		/* written by an ingest that was interrupted before its index:
		 * harmless, and reclaimable by a future prune */
		return 0;
	}
	x->pack_seen[pn] = true; /* one element per pack: no two threads */
	/* With --read-data the whole pack is read once and its table taken
	 * from those bytes; else only the table is read. */
	uint8_t *data = NULL;
	size_t len = 0;
	char get_err[1024] = "";
	int rc = 0;
	if (x->read_data) {
		if (x->r->be->ops->get(x->r->be, name, (size_t)1 << 32, &data,
				       &len))
			snprintf(get_err, sizeof(get_err), "%s",
				 strata_error_msg());
		else
			__atomic_add_fetch(&x->rep->bytes_read, (uint64_t)len,
					   __ATOMIC_RELAXED);
	}
	if (data)
		rc = strata_pack_table_of(k->codec, name, data, len, &e, &n);
	else
		rc = strata_pack_read_table(x->r->be, k->codec, name,
					    k->job->size, &e, &n);
	if (rc) {
		pack_problem(k, "%s", strata_error_msg());
		/* every blob the index places in this pack is suspect */
		for (size_t i = 0; i <= x->r->ix.mask; i++)
			if (x->r->ix.slots[i].pack == (uint32_t)pn)
				mark_bad_locked(x, x->r->ix.slots[i].id);
		if (*get_err)
			pack_problem(k, "%s", get_err);
		strata_free(data);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		const strata_index_ent *s =
		    strata_index_find(&x->r->ix, e[i].id);
		if (!s ||
		    (s->pack == (uint32_t)pn &&
		     (s->offset != e[i].offset || s->length != e[i].length)))
			pack_problem(
			    k, "pack '%s': blob %zu disagrees with the index",
			    name, i);
	}
	size_t checked = 0;
	if (*get_err) {
		pack_problem(k, "%s", get_err);
	} else if (data) {
		if (!strata_pack_name_matches(pid, data, len))
			pack_problem(k,
				     "pack '%s' does not match its name (its "
				     "bytes changed)",
				     name);
		verify_blobs(k, data, len, e, n);
		checked = n;
	}
	strata_free(data);
	strata_free(e);
	return checked;
}

/* Under x->lock: the problems of every pack done since the last call, in
 * pack order. A callback that asks to stop ends the check. */
static void report_done(check_ctx *x)
{
	while (x->reported < x->njobs && x->jobs[x->reported].done) {
		pack_job *j = &x->jobs[x->reported++];
		for (size_t i = 0; i < j->nmsgs; i++) {
			int rc = problem(x, "%s", j->msgs[i]);
			if (rc && !x->rc)
				x->rc = rc;
			strata_free(j->msgs[i]);
		}
		strata_free(j->msgs);
		j->msgs = NULL;
		j->nmsgs = 0;
	}
	if (strata_progress_due(&x->pr))
		strata_progress_show(
		    &x->pr, "check: %" PRIu64 " packs, %" PRIu64 " MiB read",
		    x->rep->packs,
		    __atomic_load_n(&x->rep->bytes_read, __ATOMIC_RELAXED) >>
			20);
}

/* Ask the store for pack i's bytes, to be read soon. */
static void prefetch_pack(check_ctx *x, size_t i)
{
	strata_backend *be = x->r->be;
	if (x->read_data && be->ops->prefetch && i < x->njobs)
		be->ops->prefetch(be, x->jobs[i].name, 0,
				  (size_t)x->jobs[i].size);
}

static void *checker_run(void *arg)
{
	checker *k = arg;
	check_ctx *x = k->x;
	pthread_mutex_lock(&x->lock);
	while (!x->rc && x->next < x->njobs) {
		size_t i = x->next++;
		k->job = &x->jobs[i];
		pthread_mutex_unlock(&x->lock);
		prefetch_pack(x, i + CHECK_AHEAD);
		size_t blobs = check_pack(k);
		pthread_mutex_lock(&x->lock);
		x->rep->packs++;
		x->rep->blobs += blobs;
		k->job->done = true;
		report_done(x);
	}
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

static int collect_pack(const char *name, uint64_t size, void *payload)
{
	check_ctx *x = payload;
	if (strata_grow(&x->jobs, &x->capjobs, x->njobs, sizeof(*x->jobs)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	pack_job *j = &x->jobs[x->njobs];
	memset(j, 0, sizeof(*j));
	if (!(j->name = strata_strdup(name)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	j->size = size;
	x->njobs++;
	return 0;
}

/* STRATA_CHECK_THREADS, else one per CPU up to 4: reading packs and
 * verifying their blobs overlap. */
static int check_threads(void)
{
	long c = sysconf(_SC_NPROCESSORS_ONLN);
	return strata_env_threads("STRATA_CHECK_THREADS", CHECKERS_MAX,
				  c < 1	  ? 1
				  : c > 4 ? 4
					  : (int)c);
}

/* Every pack object: listed, then checked by several threads. */
static int check_packs(check_ctx *x)
{
	checker ks[CHECKERS_MAX];
	int rc = x->r->be->ops->list(x->r->be, "data/", collect_pack, x);
	int nt = check_threads(), started = 0;
	if (rc)
		return rc;
	x->by_id = packs_by_id(&x->r->ix);
	if ((size_t)nt > x->njobs)
		nt = x->njobs ? (int)x->njobs : 1;
	memset(ks, 0, sizeof(ks));
	for (int i = 0; i < nt && !rc; i++) {
		ks[i].x = x;
		ks[i].plain.limit = STRATA_BLOB_MAX;
		rc = strata_codec_new(&ks[i].codec, &x->r->keys,
				      x->r->zstd_level);
		if (!rc)
			rc =
			    strata_hmac_new(&ks[i].hmac, x->r->keys.id_key, 32);
	}
	for (size_t i = 0; !rc && i < CHECK_AHEAD; i++)
		prefetch_pack(x, i);
	/* the first checker is this thread */
	for (int i = 1; !rc && i < nt; i++) {
		if (pthread_create(&ks[i].th, NULL, checker_run, &ks[i]))
			break; /* fewer threads: the others do the rest */
		started = i;
	}
	if (!rc)
		checker_run(&ks[0]);
	for (int i = 1; i <= started; i++)
		pthread_join(ks[i].th, NULL);
	for (int i = 0; i < nt; i++) {
		strata_codec_free(ks[i].codec);
		strata_hmac_free(ks[i].hmac);
		strata_buf_release(&ks[i].plain);
	}
	return rc ? rc : x->rc;
}

/* ---- walking versions: missing blobs, and which files are affected ---- */

typedef struct walk_ctx {
	check_ctx *x;
	const char *dataset;
	uint32_t version;
	strata_buf path;
	bool report; /* second pass: name affected files */
} walk_ctx;

static bool blob_ok(check_ctx *x, const uint8_t id[32])
{
	if (strata_index_find(&x->bad, id))
		return false;
	const strata_index_ent *e = strata_index_find(&x->r->ix, id);
	return e && e->pack < x->r->ix.npacks && x->pack_seen[e->pack];
}

static int walk_tree(walk_ctx *w, const uint8_t id[32])
{
	check_ctx *x = w->x;
	strata_tree t;
	if (!blob_ok(x, id) || repo__load_tree(x->r, id, &t)) {
		if (w->report) {
			x->rep->errors++;
			return x->cb("directory listing is damaged or missing",
				     w->dataset, w->version,
				     w->path.len ? (char *)w->path.ptr : "/",
				     x->payload);
		}
		mark_bad(x, id);
		return 0;
	}
	if (!w->report)
		x->rep->trees++;
	size_t base = w->path.len;
	int rc = 0;
	for (size_t i = 0; !rc && i < t.n; i++) {
		strata_node *n = &t.nodes[i];
		w->path.len = base;
		if ((base && (rc = strata_buf_put_u8(&w->path, '/'))) ||
		    (rc = strata_buf_put(&w->path, n->name, n->name_len)) ||
		    (rc = strata_buf_cstr(&w->path)))
			break;
		if (n->type == STRATA_NODE_DIR) {
			rc = walk_tree(w, n->subtree);
			continue;
		}
		if (n->type != STRATA_NODE_FILE)
			continue;
		for (uint32_t c = 0; c < n->nchunks; c++) {
			if (blob_ok(x, n->chunks[c]))
				continue;
			if (w->report) {
				x->rep->errors++;
				rc = x->cb("file content is damaged or missing",
					   w->dataset, w->version,
					   (char *)w->path.ptr, x->payload);
				break;
			}
			mark_bad(x, n->chunks[c]);
		}
	}
	w->path.len = base;
	strata_tree_release(&t);
	return rc;
}

typedef struct snap_list {
	uint8_t (*ids)[32];
	size_t n, cap;
} snap_list;

static int collect_snap(const char *name, uint64_t size, void *payload)
{
	snap_list *l = payload;
	(void)size;
	int rc = strata_grow(&l->ids, &l->cap, l->n, 32);
	if (rc)
		return rc;
	if (strata_unhex(l->ids[l->n], 32, name + strlen("snapshots/")) == 0)
		l->n++;
	return 0;
}

static int walk_versions(check_ctx *x, const snap_list *l, bool report)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < l->n; i++) {
		strata_snapshot s;
		char hex[65];
		strata_hex(hex, l->ids[i], 32);
		if (repo__load_snapshot(x->r, l->ids[i], &s)) {
			if (!report)
				problem(x, "%s", strata_error_msg());
			continue;
		}
		if (!report)
			x->rep->snapshots++;
		walk_ctx w = {x, s.dataset, s.version, STRATA_BUF_INIT, report};
		if (!(rc = strata_buf_cstr(&w.path)))
			rc = walk_tree(&w, s.root);
		strata_buf_release(&w.path);
		strata_snapshot_release(&s);
	}
	return rc;
}

static int count_index(const char *name, uint64_t size, void *payload)
{
	(void)name;
	(void)size;
	((check_ctx *)payload)->rep->indexes++;
	return 0;
}

int strata_repo_check(strata_repo *r, bool read_data, bool progress,
		      strata_check_cb cb, void *payload,
		      strata_check_report *rep)
{
	check_ctx x;
	snap_list l = {0};
	int rc;
	memset(rep, 0, sizeof(*rep));
	memset(&x, 0, sizeof(x));
	x.r = r;
	x.read_data = read_data;
	x.cb = cb;
	x.payload = payload;
	x.rep = rep;
	strata_progress_init(&x.pr);
	x.pr.enabled = x.pr.enabled && progress;
	/* verifying every byte is an auditor's job: the 'audit' grant */
	if ((rc = repo__gate_manage(r, STRATA_ACT_AUDIT, "check", NULL)))
		return rc;
	if ((rc = strata_index_init(&x.bad))) {
		repo__audit_done(r, rc, 0);
		return rc;
	}
	pthread_mutex_init(&x.lock, NULL); /* destroyed at out */
	if (!(x.pack_seen = strata_calloc(r->ix.npacks + 1, sizeof(bool)))) {
		rc = strata_error_set(STRATA_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < r->nbad_indexes; i++)
		problem(&x, "%s", r->bad_indexes[i]);
	if ((rc = r->be->ops->list(r->be, "index/", count_index, &x)) ||
	    (rc = check_packs(&x)))
		goto out;
	for (size_t i = 0; i < r->ix.npacks; i++) {
		char name[128];
		if (x.pack_seen[i])
			continue;
		strata_pack_name(name, sizeof(name), r->ix.packs[i]);
		problem(&x, "pack '%s' is listed in the index but missing",
			name);
	}
	if ((rc = r->be->ops->list(r->be, "snapshots/", collect_snap, &l)) ||
	    (rc = walk_versions(&x, &l, false)))
		goto out;
	uint64_t in_catalog = 0;
	strata_catalog_snapshot_count(r->cat, &in_catalog);
	if (in_catalog != rep->snapshots)
		problem(&x,
			"catalog lists %" PRIu64 " versions but the store "
			"holds %" PRIu64 " readable snapshots",
			in_catalog, rep->snapshots);
	if (x.bad.count)
		rc = walk_versions(&x, &l, true);
	strata_progress_done(&x.pr);
out:
	for (size_t i = 0; i < x.njobs; i++) {
		for (size_t k = 0; k < x.jobs[i].nmsgs; k++)
			strata_free(x.jobs[i].msgs[k]);
		strata_free(x.jobs[i].msgs);
		strata_free(x.jobs[i].name);
	}
	strata_free(x.jobs);
	strata_free(x.by_id);
	pthread_mutex_destroy(&x.lock);
	strata_free(l.ids);
	strata_free(x.pack_seen);
	strata_index_release(&x.bad);
	repo__audit_done(r, rc, 0);
	return rc;
}
