/*
 * restore.c - reading versions back: dataset and version listings, ls,
 * cat, diff between versions, and restore. Every chunk read is checked
 * against its id before its bytes are used, and restored files are
 * written under a temporary name and renamed, so a damaged chunk never
 * leaves a plausible-looking wrong file behind.
 */
#include "repo/repo_int.h"

#include <fnmatch.h>

typedef struct ds_ctx {
	strata_dataset_cb cb;
	void *payload;
} ds_ctx;

static int ds_one(const strata_cat_dataset *d, void *payload)
{
	ds_ctx *x = payload;
	strata_dataset_info i = {d->name, d->versions, d->latest, d->layer,
				 d->klass};
	return x->cb(&i, x->payload);
}

int strata_repo_datasets(strata_repo *r, strata_dataset_cb cb, void *payload)
{
	ds_ctx x = {cb, payload};
	int rc = repo__gate_read(r, "datasets", NULL, NULL);
	if (!rc)
		rc = strata_catalog_datasets(r->cat, ds_one, &x);
	repo__audit_done(r, rc, 0);
	return rc;
}

typedef struct log_ctx {
	strata_repo *r;
	strata_version_cb cb;
	void *payload;
} log_ctx;

static int log_one(const strata_cat_snap *s, void *payload)
{
	log_ctx *x = payload;
	strata_snapshot full;
	strata_version_info v;
	memset(&v, 0, sizeof(v));
	v.dataset = s->dataset;
	v.version = s->version;
	strata_hex(v.snapshot, s->id, 32);
	v.time_ns = s->time_ns;
	v.message = s->message;
	v.layer = s->layer;
	v.klass = s->klass;
	v.files = s->files;
	v.bytes = s->bytes;
	v.parent_version = s->parent_version;
	bool have = repo__load_snapshot(x->r, s->id, &full) == 0;
	v.author = have ? full.author : NULL;
	int rc = x->cb(&v, x->payload);
	if (have)
		strata_snapshot_release(&full);
	return rc;
}

int strata_repo_log(strata_repo *r, const char *dataset, strata_version_cb cb,
		    void *payload)
{
	log_ctx x = {r, cb, payload};
	int rc = repo__gate_read(r, "log", NULL, NULL);
	if (!rc)
		rc = strata_catalog_log(r->cat, dataset, log_one, &x);
	repo__audit_done(r, rc, 0);
	return rc;
}

/* ---- ls ---- */

static void to_entry(strata_entry *e, const strata_node *n, const char *path,
		     size_t len)
{
	memset(e, 0, sizeof(*e));
	e->path = path;
	e->path_len = len;
	e->type = n->type == STRATA_NODE_FILE  ? STRATA_ENT_FILE
		  : n->type == STRATA_NODE_DIR ? STRATA_ENT_DIR
					       : STRATA_ENT_SYMLINK;
	e->mode = n->mode;
	e->size = n->size;
	e->mtime_ns = n->mtime_ns;
	e->sha256 = n->type == STRATA_NODE_FILE ? n->sha256 : NULL;
	e->target = n->target;
}

typedef struct ls_ctx {
	strata_repo *r;
	strata_entry_cb cb;
	void *payload;
	strata_buf path;
} ls_ctx;

static int ls_tree(ls_ctx *x, const uint8_t id[32])
{
	strata_tree t;
	int rc = repo__load_tree(x->r, id, &t);
	if (rc)
		return rc;
	size_t base = x->path.len;
	for (size_t i = 0; !rc && i < t.n; i++) {
		strata_node *n = &t.nodes[i];
		strata_entry e;
		x->path.len = base;
		if ((base && (rc = strata_buf_put_u8(&x->path, '/'))) ||
		    (rc = strata_buf_put(&x->path, n->name, n->name_len)) ||
		    (rc = strata_buf_cstr(&x->path)))
			break;
		to_entry(&e, n, (char *)x->path.ptr, x->path.len);
		if ((rc = x->cb(&e, x->payload)))
			break;
		if (n->type == STRATA_NODE_DIR)
			rc = ls_tree(x, n->subtree);
	}
	x->path.len = base;
	strata_tree_release(&t);
	return rc;
}

static int clean_path(const char *in, strata_buf *out)
{
	int rc = 0;
	strata_buf_reset(out);
	while (*in) {
		while (*in == '/')
			in++;
		const char *s = strchr(in, '/');
		size_t n = s ? (size_t)(s - in) : strlen(in);
		if (!n)
			break;
		if (!(n == 1 && in[0] == '.')) {
			if ((out->len && (rc = strata_buf_put_u8(out, '/'))) ||
			    (rc = strata_buf_put(out, in, n)))
				return rc;
		}
		in += n;
	}
	return strata_buf_cstr(out);
}

int strata_repo_ls(strata_repo *r, const char *spec, const char *path,
		   strata_entry_cb cb, void *payload)
{
	strata_snapshot s;
	strata_node n;
	uint8_t id[32];
	ls_ctx x = {r, cb, payload, STRATA_BUF_INIT};
	int rc = repo__gate_read(r, "ls", spec, NULL);
	if (rc || (rc = repo__open_spec(r, spec, &s, id))) {
		repo__audit_done(r, rc, 0);
		return rc;
	}
	if ((rc = clean_path(path ? path : "", &x.path)))
		goto out;
	if ((rc = repo__lookup(r, s.root, (char *)x.path.ptr, &n))) {
		strata_error_prefix(rc, "'%s': ", spec);
		goto out;
	}
	if (n.type == STRATA_NODE_DIR) {
		rc = ls_tree(&x, n.subtree);
	} else {
		strata_entry e;
		to_entry(&e, &n, (char *)x.path.ptr, x.path.len);
		rc = cb(&e, payload);
	}
	strata_node_release(&n);
out:
	strata_buf_release(&x.path);
	strata_snapshot_release(&s);
	repo__audit_done(r, rc, 0);
	return rc;
}

/* ---- cat ---- */

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int write_chunks(strata_repo *r, strata_codec *c, strata_hmac *h,
			const strata_node *n, int fd, const char *what)
{
	strata_buf b = STRATA_BUF_INIT;
	uint64_t total = 0;
	int rc = 0;
	b.limit = STRATA_BLOB_MAX;
	for (uint32_t i = 0; !rc && i < n->nchunks; i++) {
		if ((rc = repo__load_blob(r, c, h, n->chunks[i], &b))) {
			strata_error_prefix(rc, "'%s': ", what);
			break;
		}
		total += b.len;
		if (write_all(fd, b.ptr, b.len))
			rc = strata_error_set(strata_errno_code(errno),
					      "cannot write '%s': %s", what,
					      strerror(errno));
	}
	if (!rc && total != n->size)
		rc =
		    strata_error_set(STRATA_ECORRUPT,
				     "'%s': stored size %" PRIu64
				     " does not match its chunks (%" PRIu64 ")",
				     what, n->size, total);
	strata_buf_release(&b);
	return rc;
}

int strata_repo_cat(strata_repo *r, const char *spec, const char *path, int fd)
{
	strata_snapshot s;
	strata_node n;
	uint8_t id[32];
	strata_buf p = STRATA_BUF_INIT;
	uint64_t bytes = 0;
	int rc = repo__gate_read(r, "cat", spec, path);
	if (rc || (rc = repo__open_spec(r, spec, &s, id))) {
		repo__audit_done(r, rc, 0);
		return rc;
	}
	if ((rc = clean_path(path, &p)))
		goto out;
	if ((rc = repo__lookup(r, s.root, (char *)p.ptr, &n))) {
		strata_error_prefix(rc, "'%s': ", spec);
		goto out;
	}
	if (n.type != STRATA_NODE_FILE)
		rc = strata_error_set(STRATA_EINVAL, "'%s:%s' is not a file",
				      spec, path);
	else if (!(rc = write_chunks(r, r->codec, r->hmac, &n, fd, path)))
		bytes = n.size;
	strata_node_release(&n);
out:
	strata_buf_release(&p);
	strata_snapshot_release(&s);
	repo__audit_done(r, rc, bytes);
	return rc;
}

/* ---- diff ---- */

typedef struct diff_ctx {
	strata_repo *r;
	strata_diff_cb cb;
	void *payload;
	strata_buf path;
} diff_ctx;

static int diff_trees(diff_ctx *x, const uint8_t *a, const uint8_t *b);

static int diff_all(diff_ctx *x, const strata_node *n, strata_diff_kind k)
{
	int rc = x->cb((char *)x->path.ptr, x->path.len, k, x->payload);
	if (!rc && n->type == STRATA_NODE_DIR)
		rc = k == STRATA_DIFF_ADDED ? diff_trees(x, NULL, n->subtree)
					    : diff_trees(x, n->subtree, NULL);
	return rc;
}

static int diff_pair(diff_ctx *x, const strata_node *a, const strata_node *b)
{
	if (!a)
		return diff_all(x, b, STRATA_DIFF_ADDED);
	if (!b)
		return diff_all(x, a, STRATA_DIFF_REMOVED);
	if (a->type != b->type) {
		int rc = x->cb((char *)x->path.ptr, x->path.len,
			       STRATA_DIFF_TYPE, x->payload);
		if (!rc && a->type == STRATA_NODE_DIR)
			rc = diff_trees(x, a->subtree, NULL);
		if (!rc && b->type == STRATA_NODE_DIR)
			rc = diff_trees(x, NULL, b->subtree);
		return rc;
	}
	if (a->type == STRATA_NODE_DIR)
		return memcmp(a->subtree, b->subtree, 32)
			   ? diff_trees(x, a->subtree, b->subtree)
			   : 0;
	bool same = a->type == STRATA_NODE_FILE
			? !memcmp(a->sha256, b->sha256, 32) &&
			      a->size == b->size && a->mode == b->mode
			: !strcmp(a->target, b->target);
	return same ? 0
		    : x->cb((char *)x->path.ptr, x->path.len,
			    STRATA_DIFF_MODIFIED, x->payload);
}

static int diff_trees(diff_ctx *x, const uint8_t *a, const uint8_t *b)
{
	strata_tree ta = {0}, tb = {0};
	int rc = 0;
	if ((a && (rc = repo__load_tree(x->r, a, &ta))) ||
	    (b && (rc = repo__load_tree(x->r, b, &tb))))
		goto out;
	size_t i = 0, j = 0, base = x->path.len;
	while (!rc && (i < ta.n || j < tb.n)) {
		const strata_node *na = i < ta.n ? &ta.nodes[i] : NULL;
		const strata_node *nb = j < tb.n ? &tb.nodes[j] : NULL;
		int c = !na   ? 1
			: !nb ? -1
			      : strata_name_cmp(na->name, na->name_len,
						nb->name, nb->name_len);
		const strata_node *n = c <= 0 ? na : nb;
		x->path.len = base;
		if ((base && (rc = strata_buf_put_u8(&x->path, '/'))) ||
		    (rc = strata_buf_put(&x->path, n->name, n->name_len)) ||
		    (rc = strata_buf_cstr(&x->path)))
			break;
		rc = diff_pair(x, c <= 0 ? na : NULL, c >= 0 ? nb : NULL);
		i += c <= 0;
		j += c >= 0;
	}
	x->path.len = base;
out:
	strata_tree_release(&ta);
	strata_tree_release(&tb);
	return rc;
}

int strata_repo_diff(strata_repo *r, const char *a, const char *b,
		     strata_diff_cb cb, void *payload)
{
	strata_snapshot sa, sb;
	uint8_t ia[32], ib[32];
	diff_ctx x = {r, cb, payload, STRATA_BUF_INIT};
	int rc = repo__gate_read(r, "diff", a, NULL);
	if (!rc)
		rc = repo__gate_read(r, "diff", b, NULL);
	if (rc || (rc = repo__open_spec(r, a, &sa, ia))) {
		repo__audit_done(r, rc, 0);
		return rc;
	}
	if ((rc = repo__open_spec(r, b, &sb, ib))) {
		strata_snapshot_release(&sa);
		repo__audit_done(r, rc, 0);
		return rc;
	}
	if ((rc = strata_buf_cstr(&x.path)) == 0)
		rc = diff_trees(&x, sa.root, sb.root);
	strata_buf_release(&x.path);
	strata_snapshot_release(&sa);
	strata_snapshot_release(&sb);
	repo__audit_done(r, rc, 0);
	return rc;
}

/* ---- restore ---- */

typedef struct rjob {
	char *path; /* destination */
	strata_node n;
} rjob;

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
	size_t njobs, capjobs, next;
	rdir *dirs;
	size_t ndirs, capdirs;
	uint64_t done;
	pthread_mutex_t lock;
	int fatal;
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

static int restore_file(restore_ctx *x, strata_codec *c, strata_hmac *h,
			const rjob *j)
{
	char tmp[PATH_MAX + 64];
	const char *slash = strrchr(j->path, '/');
	int n = snprintf(tmp, sizeof(tmp), "%.*s/.strata-tmp-%s",
			 (int)(slash - j->path), j->path, slash + 1);
	if (n < 0 || (size_t)n >= sizeof(tmp) || strlen(slash + 1) > 230)
		snprintf(tmp, sizeof(tmp), "%.*s/.strata-tmp-%lx",
			 (int)(slash - j->path), j->path,
			 (unsigned long)pthread_self());
	int fd = open(
	    tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return strata_error_set(strata_errno_code(errno),
					"cannot create '%s': %s", j->path,
					strerror(errno));
	int rc = write_chunks(x->r, c, h, &j->n, fd, j->path);
	struct timespec ts[2] = {
	    {0, UTIME_OMIT},
	    {j->n.mtime_ns / 1000000000, j->n.mtime_ns % 1000000000}};
	if (!rc && (fchmod(fd, j->n.mode & 07777) || futimens(fd, ts)))
		rc = strata_error_set(strata_errno_code(errno),
				      "cannot set attributes of '%s': %s",
				      j->path, strerror(errno));
	if (close(fd) && !rc)
		rc = strata_error_set(strata_errno_code(errno),
				      "cannot write '%s': %s", j->path,
				      strerror(errno));
	if (!rc && rename(tmp, j->path))
		rc = strata_error_set(strata_errno_code(errno),
				      "cannot rename into '%s': %s", j->path,
				      strerror(errno));
	if (rc)
		unlink(tmp);
	return rc;
}

typedef struct rworker {
	restore_ctx *x;
	strata_codec *c;
	strata_hmac *h;
} rworker;

static void *restore_work(void *arg)
{
	rworker *w = arg;
	restore_ctx *x = w->x;
	for (;;) {
		size_t i = __atomic_fetch_add(&x->next, 1, __ATOMIC_RELAXED);
		if (i >= x->njobs ||
		    __atomic_load_n(&x->fatal, __ATOMIC_RELAXED))
			break;
		int rc = restore_file(x, w->c, w->h, &x->jobs[i]);
		if (rc == STRATA_ENOSPC || rc == STRATA_ENOMEM) {
			pthread_mutex_lock(&x->lock);
			if (!x->fatal)
				x->fatal = rc;
			pthread_mutex_unlock(&x->lock);
			rwarn(x, "%s", strata_error_msg());
			break;
		}
		if (rc) {
			rwarn(x, "%s", strata_error_msg());
		} else {
			pthread_mutex_lock(&x->lock);
			x->st->files++;
			x->st->bytes += x->jobs[i].n.size;
			pthread_mutex_unlock(&x->lock);
		}
		__atomic_add_fetch(&x->done, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Restore files in the order their first chunks lie in the packs, so a
 * cold repository is read mostly forward and read-ahead helps. */
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

static int run_restore(restore_ctx *x, bool progress)
{
	enum { NT = 2 };
	rworker ws[NT];
	pthread_t th[NT];
	int started = 0, rc = 0;
	strata_progress pr;
	memset(ws, 0, sizeof(ws));
	for (int i = 0; i < NT; i++) {
		ws[i].x = x;
		if ((rc = strata_codec_new(&ws[i].c, &x->r->keys, 1)) ||
		    (rc = strata_hmac_new(&ws[i].h, x->r->keys.id_key, 32)))
			goto out;
		if (pthread_create(&th[i], NULL, restore_work, &ws[i])) {
			rc = strata_error_set(STRATA_EIO,
					      "cannot start a thread");
			goto out;
		}
		started++;
	}
	strata_progress_init(&pr);
	pr.enabled = pr.enabled && progress;
	while (__atomic_load_n(&x->done, __ATOMIC_RELAXED) < x->njobs &&
	       !__atomic_load_n(&x->fatal, __ATOMIC_RELAXED)) {
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
		if (strata_progress_due(&pr))
			strata_progress_show(
			    &pr, "restore: %" PRIu64 "/%zu files",
			    __atomic_load_n(&x->done, __ATOMIC_RELAXED),
			    x->njobs);
	}
	strata_progress_done(&pr);
out:
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < NT; i++) {
		strata_codec_free(ws[i].c);
		strata_hmac_free(ws[i].h);
	}
	return rc;
}

int strata_repo_restore(strata_repo *r, const char *spec, const char *dest,
			const char *include_glob, bool progress,
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
	pthread_mutex_init(&x.lock, NULL);
	int rc = repo__gate_read(r, "restore", spec, NULL);
	if (rc || (rc = repo__open_spec(r, spec, &s, id)))
		goto done;
	if ((rc = strata_mkdir_p(dest, 0755)) ||
	    (rc = strata_buf_puts(&x.dst, dest)) ||
	    (rc = strata_buf_cstr(&x.rel)))
		goto out;
	while (x.dst.len > 1 && x.dst.ptr[x.dst.len - 1] == '/')
		x.dst.len--;
	if ((rc = strata_buf_cstr(&x.dst)) ||
	    (rc = restore_tree(&x, s.root, false)))
		goto out;
	if (x.njobs > 1)
		qsort_r(x.jobs, x.njobs, sizeof(*x.jobs), by_place, &r->ix);
	if ((rc = run_restore(&x, progress)))
		goto out;
	if (x.fatal)
		rc = strata_error_set(x.fatal, "restore stopped: %s",
				      strata_error_msg());
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
	strata_free(x.dirs);
	strata_buf_release(&x.rel);
	strata_buf_release(&x.dst);
	pthread_mutex_destroy(&x.lock);
	st->seconds = strata_mono() - t0;
	repo__audit_done(r, rc, st->bytes);
	return rc;
}
