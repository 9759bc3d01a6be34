/*
 * ingest.c - turn paths into a new dataset version. The walk (one thread)
 * builds the tree in memory and reuses the previous version's entries for
 * files whose size, mtime, ctime and inode are unchanged (the stat cache).
 * Files to read are handed, largest first, to one worker per core
 * (ingest_read.c); each worker reads, chunks, hashes, compresses, encrypts
 * and packs on its own, sharing only the chunk index. Trees, the index
 * object and the snapshot
 * follow, in that order, so a version becomes visible only when
 * everything it names is durable.
 */
#include "repo/ingest_int.h"

#include <pwd.h>

static void inode_release(inode *d)
{
	for (size_t i = 0; i < d->nkids; i++)
		inode_release(&d->kids[i]);
	strata_free(d->kids);
	strata_free(d->src);
	strata_node_release(&d->n);
}

static inode *add_kid(inode *d)
{
	if (strata_grow(&d->kids, &d->cap, d->nkids, sizeof(*d->kids)))
		return NULL;
	inode *k = &d->kids[d->nkids++];
	memset(k, 0, sizeof(*k));
	return k;
}

static int kid_cmp(const void *x, const void *y)
{
	const inode *a = x, *b = y;
	return strata_name_cmp(a->n.name, a->n.name_len, b->n.name,
			       b->n.name_len);
}

void ingest__warn(ingest *g, int kind, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&g->lock);
	strata_warn("%s", msg);
	if (kind == WARN_ERROR)
		g->st->errors++;
	else if (kind == WARN_SKIP)
		g->st->skipped++;
	pthread_mutex_unlock(&g->lock);
}

static const strata_node *old_find(const strata_tree *old, const char *name,
				   size_t len)
{
	size_t lo = 0, hi = old ? old->n : 0;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strata_name_cmp(old->nodes[mid].name,
					old->nodes[mid].name_len, name, len);
		if (!c)
			return &old->nodes[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int add_job(ingest *g, inode *f)
{
	int rc = strata_grow(&g->jobs, &g->capjobs, g->njobs, sizeof(*g->jobs));
	if (rc)
		return rc;
	g->jobs[g->njobs++] = f;
	return 0;
}

static int walk_dir(ingest *g, inode *d, const char *path,
		    const strata_tree *old);

static int collect_jobs(ingest *g, inode *d)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < d->nkids; i++) {
		inode *k = &d->kids[i];
		if (k->src)
			rc = add_job(g, k);
		else if (k->n.type == STRATA_NODE_DIR && !k->kept)
			rc = collect_jobs(g, k);
	}
	return rc;
}

/* Whether every file below d was carried unchanged from the previous
 * version (nothing failed, nothing kept by --update), counting them. */
static bool all_carried(const inode *d, uint64_t *files, uint64_t *bytes)
{
	for (size_t i = 0; i < d->nkids; i++) {
		const inode *k = &d->kids[i];
		if (k->failed || k->src || k->kept)
			return false;
		if (k->n.type == STRATA_NODE_DIR &&
		    !all_carried(k, files, bytes))
			return false;
		if (k->n.type == STRATA_NODE_FILE) {
			(*files)++;
			*bytes += k->n.size;
		}
	}
	return true;
}

/* Fill `k` (already named) from the file system object at `path`. */
static int visit(ingest *g, inode *k, const char *path, const struct stat *sb,
		 const strata_node *prev)
{
	int rc = 0;
	fill_stat(&k->n, sb);
	if (S_ISREG(sb->st_mode)) {
		k->n.type = STRATA_NODE_FILE;
		if (prev && prev->type == STRATA_NODE_FILE &&
		    prev->size == k->n.size &&
		    prev->mtime_ns == k->n.mtime_ns &&
		    prev->ctime_ns == k->n.ctime_ns && prev->ino == k->n.ino &&
		    (prev->nchunks || !prev->size)) {
			memcpy(k->n.sha256, prev->sha256, 32);
			k->n.nchunks = prev->nchunks;
			if (prev->nchunks) {
				size_t sz = (size_t)prev->nchunks * 32;
				if (!(k->n.chunks = strata_malloc(sz)))
					return strata_error_set(
					    STRATA_ENOMEM, "out of memory");
				memcpy(k->n.chunks, prev->chunks, sz);
			}
			g->st->files_unchanged++;
			return 0;
		}
		if (!(k->src = strata_strdup(path)))
			return strata_error_set(STRATA_ENOMEM, "out of memory");
		return 0; /* queued by collect_jobs once the tree stops moving
			   */
	}
	if (S_ISDIR(sb->st_mode) && sb->st_dev == g->repo_dev &&
	    sb->st_ino == g->repo_ino) {
		ingest__warn(g, WARN_SKIP,
			     "skipping '%s': it is the repository itself",
			     path);
		k->failed = true;
		return 0;
	}
	if (S_ISDIR(sb->st_mode)) {
		strata_tree sub = {0};
		bool have = false;
		k->n.type = STRATA_NODE_DIR;
		k->n.size = 0;
		if (prev && prev->type == STRATA_NODE_DIR)
			have = repo__load_tree(g->r, prev->subtree, &sub) == 0;
		rc = walk_dir(g, k, path, have ? &sub : NULL);
		if (have)
			strata_tree_release(&sub);
		return rc;
	}
	if (S_ISLNK(sb->st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n < 0) {
			ingest__warn(g, WARN_ERROR, "cannot read link '%s': %s",
				     path, strerror(errno));
			k->failed = true;
			return 0;
		}
		target[n] = 0;
		k->n.type = STRATA_NODE_SYMLINK;
		k->n.size = 0;
		if (!(k->n.target = strata_strdup(target)))
			return strata_error_set(STRATA_ENOMEM, "out of memory");
		return 0;
	}
	const char *what = S_ISFIFO(sb->st_mode)   ? "a fifo"
			   : S_ISSOCK(sb->st_mode) ? "a socket"
			   : S_ISCHR(sb->st_mode)  ? "a character device"
			   : S_ISBLK(sb->st_mode)  ? "a block device"
						   : "not a regular file";
	ingest__warn(g, WARN_SKIP, "skipping '%s': %s", path, what);
	k->failed = true;
	return 0;
}

static int walk_dir(ingest *g, inode *d, const char *path,
		    const strata_tree *old)
{
	DIR *dir = opendir(path);
	struct dirent *e;
	strata_buf p = STRATA_BUF_INIT;
	int rc = 0;
	if (!dir) {
		ingest__warn(g, WARN_ERROR, "cannot read directory '%s': %s",
			     path, strerror(errno));
		d->failed = true;
		return 0;
	}
	while (!rc && (errno = 0, e = readdir(dir))) {
		struct stat sb;
		size_t nl = strlen(e->d_name);
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		strata_buf_reset(&p);
		if ((rc = strata_buf_puts(&p, path)) ||
		    (rc = strata_buf_put_u8(&p, '/')) ||
		    (rc = strata_buf_put(&p, e->d_name, nl)) ||
		    (rc = strata_buf_cstr(&p)))
			break;
		const char *kp = (const char *)p.ptr;
		/* relative to the open directory: no walk of the whole path */
		if (fstatat(dirfd(dir), e->d_name, &sb, AT_SYMLINK_NOFOLLOW)) {
			ingest__warn(g, WARN_ERROR, "cannot stat '%s': %s", kp,
				     strerror(errno));
			continue;
		}
		inode *k = add_kid(d);
		if (!k || !(k->n.name = strata_strndup(e->d_name, nl))) {
			rc = strata_error_set(STRATA_ENOMEM, "out of memory");
			break;
		}
		k->n.name_len = (uint16_t)nl;
		rc = visit(g, k, kp, &sb, old_find(old, e->d_name, nl));
	}
	closedir(dir);
	strata_buf_release(&p);
	if (!rc)
		if (d->nkids > 1)
			qsort(d->kids, d->nkids, sizeof(*d->kids), kid_cmp);
	return rc;
}

/* path[0, base) + "/" + k's name, NUL-terminated (the root's kids have
 * no leading "/"). */
int ingest__kid_path(strata_buf *path, size_t base, const inode *k)
{
	int rc;
	path->len = base;
	if ((base && (rc = strata_buf_put_u8(path, '/'))) ||
	    (rc = strata_buf_put(path, k->n.name, k->n.name_len)))
		return rc;
	return strata_buf_cstr(path);
}

/* ---- trees, bottom up ---- */

typedef struct tree_ctx {
	ingest *g;
	strata_pack_writer pack;
	strata_buf enc;
} tree_ctx;

static int build_tree(tree_ctx *tc, inode *d, uint8_t id[32])
{
	strata_tree t = {0};
	int rc = 0;
	t.nodes = strata_calloc(d->nkids ? d->nkids : 1, sizeof(*t.nodes));
	if (!t.nodes)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	for (size_t i = 0; i < d->nkids; i++) {
		inode *k = &d->kids[i];
		if (k->failed)
			continue;
		if (k->n.type == STRATA_NODE_DIR && !k->kept) {
			if ((rc = build_tree(tc, k, k->n.subtree)))
				goto out;
			tc->g->st->dirs++;
		}
		if (k->n.type == STRATA_NODE_FILE) {
			tc->g->st->files++;
			tc->g->st->bytes_total += k->n.size;
		} else if (k->n.type == STRATA_NODE_SYMLINK) {
			tc->g->st->symlinks++;
		}
		t.nodes[t.n++] = k->n; /* shallow: d keeps ownership */
	}
	strata_buf_reset(&tc->enc);
	if ((rc = strata_tree_encode(&t, &tc->enc)))
		goto out;
	strata_blob_id(tc->g->r->hmac, id, tc->enc.ptr, tc->enc.len);
	uint64_t stored = 0;
	rc = repo__store_blob(tc->g->r, &tc->pack, tc->g->r->codec,
			      STRATA_BLOB_TREE, id, tc->enc.ptr, tc->enc.len,
			      true, &stored);
	tc->g->st->bytes_stored += stored;
out:
	strata_free(t.nodes);
	return rc;
}

/* Count what a kept (--update) subtree holds, for the statistics. */
static int count_kept(ingest *g, const uint8_t id[32])
{
	strata_tree t;
	int rc = repo__load_tree(g->r, id, &t);
	for (size_t i = 0; !rc && i < t.n; i++) {
		strata_node *n = &t.nodes[i];
		if (n->type == STRATA_NODE_DIR) {
			g->st->dirs++;
			rc = count_kept(g, n->subtree);
		} else if (n->type == STRATA_NODE_FILE) {
			g->st->files++;
			g->st->bytes_total += n->size;
		} else {
			g->st->symlinks++;
		}
	}
	if (!rc)
		strata_tree_release(&t);
	return rc;
}

/* ---- catalog rows from the in-memory tree ---- */

/* The attributes of a file read now (or carried from a version that had
 * none), from the spool, and its subjects. */
static int file_attrs(import_ctx *x, const inode *k, int64_t frow)
{
	int rc = strata_buf_cstr(&x->path);
	const char *sid =
	    rc ? NULL
	       : repo__subject_map_find(x->subjects, (char *)x->path.ptr);
	uint8_t *attrs = NULL;
	if (!rc && k->src && k->meta.len && x->spool)
		rc = repo__spool_read(x->spool, &k->meta, &attrs);
	if (!rc)
		rc = repo__attrs_to_catalog(x->r, attrs,
					    attrs ? k->meta.len : 0, frow, sid);
	strata_free(attrs);
	return rc;
}

static int add_rows(import_ctx *x, const inode *d)
{
	size_t base = x->path.len;
	int64_t frow = 0;
	int rc = 0;
	for (size_t i = 0; !rc && i < d->nkids; i++) {
		const inode *k = &d->kids[i];
		if (k->failed)
			continue;
		if ((rc = ingest__kid_path(&x->path, base, k)))
			break;
		if (k->n.type == STRATA_NODE_DIR && k->kept)
			rc = x->files_only ? 0
					   : repo__import_tree(x, k->n.subtree);
		else if (k->n.type == STRATA_NODE_DIR)
			rc = add_rows(x, k);
		else if (k->n.type == STRATA_NODE_FILE && !x->staged) {
			int64_t meta = k->src ? 0 : repo__carried_meta(x);
			rc = strata_catalog_add_file(
			    x->r->cat, x->row, (char *)x->path.ptr, x->path.len,
			    k->n.size, k->n.sha256, x->layer, x->klass, meta,
			    &frow);
			if (!rc && !meta)
				rc = file_attrs(x, k, frow);
		}
	}
	x->path.len = base;
	return rc;
}

/* ---- metadata records for the store (metastore.c) ---- */

/* Records for every described file below d: fresh ones from the spool for
 * files read now, the previous version's for files carried over. */
static int meta_walk(ingest *g, repo_metaw *w, const repo_metar *prev,
		     const inode *d, strata_buf *path)
{
	size_t base = path->len;
	int rc = 0;
	for (size_t i = 0; !rc && i < d->nkids; i++) {
		const inode *k = &d->kids[i];
		if (k->failed)
			continue;
		if ((rc = ingest__kid_path(path, base, k)))
			break;
		const char *p = (const char *)path->ptr;
		if (k->n.type == STRATA_NODE_DIR) {
			rc = k->kept ? repo__metar_copy(prev, p, path->len,
							true, NULL, w)
				     : meta_walk(g, w, prev, k, path);
			continue;
		}
		if (k->n.type != STRATA_NODE_FILE)
			continue;
		const char *subj = repo__subject_map_find(&g->subjects, p);
		if (!k->src) { /* unchanged: the previous version's record,
				  as the catalog shares its attributes */
			rc = repo__metar_copy(prev, p, path->len, false, NULL,
					      w);
			continue;
		}
		uint8_t *attrs = NULL;
		if (k->src && k->meta.len &&
		    (rc = repo__spool_read(&g->spool, &k->meta, &attrs)))
			break;
		if (attrs || subj)
			rc = repo__metaw_add(w, p, path->len, subj, attrs,
					     attrs ? k->meta.len : 0);
		strata_free(attrs);
	}
	path->len = base;
	return rc;
}

static int write_meta(ingest *g, strata_pack_writer *pw, repo_metaw *w)
{
	strata_snapshot s;
	repo_metar prev;
	strata_buf path = STRATA_BUF_INIT;
	uint8_t id[32];
	uint32_t v;
	int rc;
	memset(&prev, 0, sizeof(prev));
	w->r = g->r;
	w->w = pw;
	rc = strata_catalog_find(g->r->cat, g->o->dataset, 0, id, &v);
	if (rc == STRATA_ENOTFOUND)
		rc = 0;
	else if (!rc && !(rc = repo__load_snapshot(g->r, id, &s))) {
		rc = repo__metar_load(g->r, &s, &prev);
		strata_snapshot_release(&s);
	}
	if (!rc)
		rc = meta_walk(g, w, &prev, &g->root, &path);
	if (!rc)
		rc = repo__metaw_flush(w);
	g->st->bytes_stored += w->stored;
	repo__metar_release(&prev);
	strata_buf_release(&path);
	return rc;
}

/* An unchanged version's metadata is the previous version's: every file
 * is carried under its path and none is added, so write_meta would copy
 * each record as it was. Its objects are named again instead of read and
 * written again (0.05-0.06 s of a 0.5 s unchanged re-ingest, cold). */
static void reuse_meta(ingest *g, repo_metaw *w)
{
	w->r = g->r;
	w->ids = g->prev_meta;
	w->n = w->cap = g->prev_nmeta;
	g->prev_meta = NULL;
	g->prev_nmeta = 0;
}

static void author(char *out, size_t n)
{
	char host[256] = "localhost";
	const char *user = getenv("USER");
	struct passwd *pw;
	if (!user && (pw = getpwuid(getuid())))
		user = pw->pw_name;
	gethostname(host, sizeof(host) - 1);
	snprintf(out, n, "%s@%s", user ? user : "unknown", host);
}

static int commit(ingest *g, const uint8_t root[32], const repo_metaw *mw)
{
	strata_repo *r = g->r;
	strata_snapshot s;
	strata_buf plain = STRATA_BUF_INIT, sealed = STRATA_BUF_INIT;
	uint8_t prev[32], sid[32];
	uint32_t latest = 0;
	char who[300], hex[65], name[80];
	int comp, rc;
	bool stored = false; /* the snapshot object is written */
	memset(&s, 0, sizeof(s));
	if ((rc = strata_catalog_begin(r->cat)))
		return rc;
	if ((rc = repo__sync(r)))
		goto fail;
	rc = strata_catalog_find(r->cat, g->o->dataset, 0, prev, &latest);
	if (rc && rc != STRATA_ENOTFOUND)
		goto fail;
	author(who, sizeof(who));
	s.dataset = (char *)g->o->dataset;
	s.version = latest + 1;
	s.layer = (char *)g->o->layer;
	s.klass = (char *)g->o->klass;
	s.message = (char *)g->o->message;
	s.author = who;
	s.time_ns = (int64_t)strata_now_ns();
	memcpy(s.root, root, 32);
	s.has_parent = latest > 0;
	if (latest)
		memcpy(s.parent, prev, 32);
	s.files = g->st->files;
	s.dirs = g->st->dirs;
	s.bytes = g->st->bytes_total;
	s.zone = r->zone;
	s.sources = g->sources;
	s.nsources = (uint32_t)g->o->nfrom;
	s.recipe = (char *)g->o->recipe;
	s.meta = mw->ids;
	s.nmeta = (uint32_t)mw->n;
	if ((rc = strata_snapshot_encode(&s, &plain)) ||
	    (rc = strata_codec_seal(r->codec, &sealed, plain.ptr, plain.len,
				    true, &comp)))
		goto fail;
	strata_sha256(sid, sealed.ptr, sealed.len);
	strata_hex(hex, sid, 32);
	snprintf(name, sizeof(name), "snapshots/%s", hex);
	/* The snapshot object is the commit point: from here the version
	 * exists, and a crash before COMMIT is repaired by repo__sync. */
	if ((rc = r->be->ops->put(r->be, name, sealed.ptr, sealed.len)))
		goto fail;
	stored = true;
	strata_cat_snap cs;
	memset(&cs, 0, sizeof(cs));
	memcpy(cs.id, sid, 32);
	cs.dataset = s.dataset;
	cs.version = s.version;
	cs.time_ns = s.time_ns;
	cs.message = s.message;
	snprintf(cs.layer, sizeof(cs.layer), "%s", s.layer);
	snprintf(cs.klass, sizeof(cs.klass), "%s", s.klass);
	cs.files = s.files;
	cs.bytes = s.bytes;
	cs.parent_version = latest;
	/* the version read is still the latest: its rows can be copied */
	bool copy = g->carry_all && latest && !memcmp(prev, g->prev_id, 32);
	import_ctx x = {r,
			0,
			s.layer,
			s.klass,
			STRATA_BUF_INIT,
			&g->spool,
			&g->subjects,
			latest ? prev : NULL,
			g->staged || copy,
			false};
	if (!(rc = strata_catalog_add_snapshot(r->cat, &cs, &x.row)) &&
	    !(rc = add_rows(&x, &g->root)) && x.staged &&
	    (rc = copy ? strata_catalog_copy_rows(r->cat, x.row, s.layer,
						  s.klass, prev, g->carry_files,
						  g->carry_bytes)
		       : strata_catalog_stage_commit(r->cat, x.row, s.layer,
						     s.klass,
						     latest ? prev : NULL))) {
		/* none was added: the files' rows one by one, as unstaged */
		ingest__warn(
		    g, WARN_NOTE,
		    "could not add the staged catalog rows in bulk (%s); "
		    "adding them one by one instead, nothing is lost",
		    strata_error_msg());
		x.staged = false;
		x.files_only = true;
		rc = add_rows(&x, &g->root);
	}
	for (size_t i = 0; !rc && i < g->o->nfrom; i++)
		rc = strata_catalog_add_source(r->cat, x.row, g->sources[i],
					       g->o->recipe);
	strata_buf_release(&x.path);
	strata_trace("rows", g->t0);
	if (rc || (rc = strata_catalog_commit(r->cat)))
		goto fail;
	g->st->version = s.version;
	memcpy(g->st->snapshot, hex, 65);
	goto out;
fail:
	strata_catalog_rollback(r->cat);
	if (stored) {
		/* The version exists: its snapshot names everything, and the
		 * catalog, which is derived from the store, takes it in the
		 * next time the repository is opened (repo__sync). Failing
		 * here would have the user ingest it again as a new version. */
		ingest__warn(g, WARN_NOTE,
			     "%s@v%u is stored (snapshot %.16s), but the "
			     "catalog in '%s' could not take it in: %s. Do not "
			     "ingest it again: once the catalog can be written "
			     "(free space there), the next strata command on "
			     "this repository adds the version to it",
			     s.dataset, s.version, hex,
			     r->be->ops->local_dir(r->be), strata_error_msg());
		g->st->version = s.version;
		memcpy(g->st->snapshot, hex, 65);
		rc = 0;
	}
out:
	strata_buf_release(&plain);
	strata_buf_release(&sealed);
	return rc;
}

static const char *base_name(const char *path, char *buf, size_t n)
{
	size_t len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	size_t start = len;
	while (start > 0 && path[start - 1] != '/')
		start--;
	snprintf(buf, n, "%.*s", (int)(len - start), path + start);
	if (!strcmp(buf, ".") || !strcmp(buf, "..") || !strcmp(buf, "/") ||
	    !buf[0]) {
		char real[PATH_MAX];
		if (realpath(path, real)) {
			const char *s = strrchr(real, '/');
			snprintf(buf, n, "%s", s && s[1] ? s + 1 : "root");
		}
	}
	return buf;
}

/* Seed the root with the previous version's entries (--update), or just
 * load them for the stat cache. */
static int load_previous(ingest *g, strata_tree *prev)
{
	strata_snapshot s;
	uint8_t id[32];
	uint32_t v;
	memset(prev, 0, sizeof(*prev));
	int rc = strata_catalog_find(g->r->cat, g->o->dataset, 0, id, &v);
	if (rc == STRATA_ENOTFOUND)
		return 0;
	if (rc || (rc = repo__load_snapshot(g->r, id, &s)))
		return rc;
	memcpy(g->prev_id, id, 32);
	g->prev_files = s.files;
	if (s.nmeta && !(g->prev_meta = strata_malloc((size_t)s.nmeta * 32))) {
		rc = strata_error_set(STRATA_ENOMEM, "out of memory");
	} else if (s.nmeta) {
		memcpy(g->prev_meta, s.meta, (size_t)s.nmeta * 32);
		g->prev_nmeta = s.nmeta;
	}
	if (!rc)
		rc = repo__load_tree(g->r, s.root, prev);
	strata_snapshot_release(&s);
	return rc;
}

static int seed_update(ingest *g, strata_tree *prev)
{
	for (size_t i = 0; i < prev->n; i++) {
		inode *k = add_kid(&g->root);
		if (!k)
			return strata_error_set(STRATA_ENOMEM, "out of memory");
		k->n = prev->nodes[i];
		memset(&prev->nodes[i], 0, sizeof(prev->nodes[i]));
		k->kept = true;
	}
	return 0;
}

static int add_roots(ingest *g, const char *const *paths, size_t n,
		     const strata_tree *prev)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		char name[NAME_MAX + 1];
		struct stat sb;
		base_name(paths[i], name, sizeof(name));
		size_t nl = strlen(name);
		lstat(paths[i], &sb);
		inode *k = NULL;
		strata_node replaced;
		const strata_node *cache = old_find(prev, name, nl);
		memset(&replaced, 0, sizeof(replaced));
		for (size_t j = 0; j < g->root.nkids; j++) {
			inode *o = &g->root.kids[j];
			if (!strata_name_cmp(o->n.name, o->n.name_len, name,
					     nl)) {
				if (!o->kept)
					return strata_error_set(
					    STRATA_EINVAL,
					    "two paths would both be stored as "
					    "'%s': ingest them from a common "
					    "parent directory instead",
					    name);
				replaced = o->n; /* --update replaces it */
				cache = &replaced;
				memset(o, 0, sizeof(*o));
				k = o;
			}
		}
		if (!k && !(k = add_kid(&g->root)))
			rc = strata_error_set(STRATA_ENOMEM, "out of memory");
		else if (!(k->n.name = strata_strdup(name)))
			rc = strata_error_set(STRATA_ENOMEM, "out of memory");
		if (!rc) {
			k->n.name_len = (uint16_t)nl;
			rc = visit(g, k, paths[i], &sb, cache);
		}
		strata_node_release(&replaced);
	}
	if (g->root.nkids > 1)
		qsort(g->root.kids, g->root.nkids, sizeof(*g->root.kids),
		      kid_cmp);
	return rc;
}

static void sort_kids(inode *d)
{
	if (d->nkids > 1)
		qsort(d->kids, d->nkids, sizeof(*d->kids), kid_cmp);
	for (size_t i = 0; i < d->nkids; i++)
		if (d->kids[i].n.type == STRATA_NODE_DIR)
			sort_kids(&d->kids[i]);
}

/* The tree of a repo_source's files: directories from their paths. */
static int add_virtual(ingest *g)
{
	const repo_source *vs = g->source;
	int64_t now = (int64_t)strata_now_ns();
	for (size_t i = 0; i < vs->n; i++) {
		const char *p = vs->path(vs->payload, i);
		inode *d = &g->root;
		for (;;) {
			while (*p == '/')
				p++;
			size_t nl = strcspn(p, "/");
			if (!nl || nl > 255)
				return strata_error_set(
				    STRATA_EINVAL, "bad path '%s'",
				    vs->path(vs->payload, i));
			bool last = !p[nl];
			inode *k = NULL;
			/* paths come in tree order: their directory, if
			 * any, is the last one added */
			if (!last && d->nkids &&
			    d->kids[d->nkids - 1].n.type == STRATA_NODE_DIR &&
			    !strata_name_cmp(d->kids[d->nkids - 1].n.name,
					     d->kids[d->nkids - 1].n.name_len,
					     p, nl))
				k = &d->kids[d->nkids - 1];
			for (size_t j = 0; !k && !last && j < d->nkids; j++)
				if (d->kids[j].n.type == STRATA_NODE_DIR &&
				    !strata_name_cmp(d->kids[j].n.name,
						     d->kids[j].n.name_len, p,
						     nl))
					k = &d->kids[j];
			if (!k) {
				if (!(k = add_kid(d)) ||
				    !(k->n.name = strata_strndup(p, nl)))
					return strata_error_set(
					    STRATA_ENOMEM, "out of memory");
				k->n.name_len = (uint16_t)nl;
				k->n.type =
				    last ? STRATA_NODE_FILE : STRATA_NODE_DIR;
				k->n.mode = 0755;
				k->n.mtime_ns = k->n.ctime_ns = now;
			}
			if (last) {
				k->virt = true;
				k->vi = i;
				k->n.size = vs->size(vs->payload, i);
				if (!(k->src = strata_strdup(
					  vs->path(vs->payload, i))))
					return strata_error_set(
					    STRATA_ENOMEM, "out of memory");
				break;
			}
			d = k;
			p += nl;
		}
	}
	sort_kids(&g->root);
	return 0;
}

/* After the workers: the subjects the producer found, and its say. */
static int source_done(ingest *g)
{
	const repo_source *vs = g->source;
	int rc = 0;
	for (size_t i = 0; !rc && i < vs->n; i++) {
		const char *id = vs->subject(vs->payload, i);
		if (id)
			rc = repo__subject_map_add(
			    &g->subjects, vs->path(vs->payload, i), id);
	}
	if (!rc)
		rc = repo__subject_map_sort(&g->subjects);
	return rc ? rc : vs->done(vs->payload);
}

static int check_opts(strata_repo *r, const char *const *paths, size_t n,
		      const strata_ingest_opts *o)
{
	(void)r;
	if (!o->dataset || !*o->dataset || strchr(o->dataset, '@') ||
	    strchr(o->dataset, ':') || strchr(o->dataset, '/'))
		return strata_error_set(STRATA_EINVAL,
					"bad dataset name '%s': use letters, "
					"digits, '-', '_' and '.'",
					o->dataset ? o->dataset : "");
	if (!repo__valid_layer(o->layer))
		return strata_error_set(
		    STRATA_EINVAL,
		    "unknown layer '%s': use raw, curated or "
		    "model-ready",
		    o->layer);
	if (!repo__valid_class(o->klass))
		return strata_error_set(STRATA_EINVAL,
					"unknown class '%s': use phi, limited, "
					"deid, aggregate or public",
					o->klass);
	if (!n && paths)
		return strata_error_set(STRATA_EINVAL,
					"nothing to ingest: name "
					"at least one path");
	for (size_t i = 0; i < n; i++) {
		struct stat sb;
		if (lstat(paths[i], &sb))
			return strata_error_set(strata_errno_code(errno),
						"cannot ingest '%s': %s",
						paths[i], strerror(errno));
	}
	return 0;
}

/* --from: every source must be a version of this repository. */
static int resolve_sources(ingest *g)
{
	if (!g->o->nfrom)
		return 0;
	if (!(g->sources = strata_calloc(g->o->nfrom, 32)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	for (size_t i = 0; i < g->o->nfrom; i++) {
		strata_snapshot s;
		int rc =
		    repo__open_spec(g->r, g->o->from[i], &s, g->sources[i]);
		if (rc)
			return strata_error_prefix(
			    rc, "source '%s': ", g->o->from[i]);
		strata_snapshot_release(&s);
	}
	return 0;
}

/* The gate: reading each source, then writing the new version. */
static int ingest_gate(strata_repo *r, const strata_ingest_opts *o)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < o->nfrom; i++) {
		rc = repo__gate_read(r, "derive", o->from[i], NULL);
		repo__audit_done(r, rc, 0);
	}
	if (rc)
		return rc;
	repo_access a;
	memset(&a, 0, sizeof(a));
	a.action = o->nfrom ? STRATA_ACT_DERIVE : STRATA_ACT_WRITE;
	a.verb = "ingest";
	a.dataset = o->dataset;
	a.layer = o->layer;
	a.klass = o->klass;
	return repo__gate(r, &a);
}

/* Paths from the file system, or (paths NULL) a repo_source. */
static int run(strata_repo *r, const char *const *paths, size_t n,
	       const repo_source *source, const strata_ingest_opts *o,
	       strata_ingest_stats *st)
{
	ingest g;
	strata_tree prev = {0};
	tree_ctx tc;
	repo_metaw mw;
	uint8_t root[32];
	double t0 = strata_mono();
	int rc;
	memset(st, 0, sizeof(*st));
	memset(&g, 0, sizeof(g));
	memset(&tc, 0, sizeof(tc));
	memset(&mw, 0, sizeof(mw));
	if ((rc = check_opts(r, paths, n, o)) || (rc = ingest_gate(r, o)))
		return rc;
	if (o->subjects &&
	    (rc = repo__subject_map_load(&g.subjects, o->subjects))) {
		repo__audit_done(r, rc, 0);
		return rc;
	}
	strata_formats_init(); /* touches the environment: before threads */
	g.r = r;
	g.o = o;
	g.st = st;
	g.root.n.type = STRATA_NODE_DIR;
	g.spool.fd = -1;
	g.t0 = t0;
	g.source = source;
	g.no_extract = getenv("STRATA_NO_EXTRACT") != NULL;
	struct stat rsb;
	if (!stat(r->be->location, &rsb)) {
		g.repo_dev = rsb.st_dev;
		g.repo_ino = rsb.st_ino;
	}
	pthread_mutex_init(&g.lock, NULL);
	strata_cond_init_mono(&g.done);
	pthread_mutex_init(&g.qlock, NULL);
	pthread_cond_init(&g.qcond, NULL);
	pthread_mutex_init(&g.ahead_lock, NULL);
	pthread_cond_init(&g.ahead_cond, NULL);
	uint32_t first_pack = (uint32_t)r->ix.npacks;
	if ((rc = resolve_sources(&g)) ||
	    (rc = repo__spool_open(&g.spool, r->be->ops->local_dir(r->be))))
		goto out;
	if ((rc = load_previous(&g, &prev))) {
		strata_error_prefix(
		    rc, "reading the previous version of '%s': ", o->dataset);
		goto out;
	}
	if (o->update && (rc = seed_update(&g, &prev)))
		goto out;
	if ((rc = source ? add_virtual(&g) : add_roots(&g, paths, n, &prev)) ||
	    (rc = collect_jobs(&g, &g.root)))
		goto out;
	/* an unchanged version needs no rows staged: they are copied */
	g.carry_all = !source && !o->update && !g.njobs && prev.n &&
		      all_carried(&g.root, &g.carry_files, &g.carry_bytes) &&
		      g.carry_files && g.carry_files == g.prev_files;
	strata_trace("walk", t0);
	if ((rc = ingest__run_workers(&g)))
		goto out;
	strata_trace("read", t0);
	if (g.fatal) {
		rc = strata_error_set(g.fatal, "%s", g.fatal_msg);
		goto out;
	}
	if (source && (rc = source_done(&g)))
		goto out;
	tc.g = &g;
	tc.pack.data.limit =
	    (size_t)r->pack_size + STRATA_BLOB_MAX + (1u << 20);
	tc.enc.limit = STRATA_BLOB_MAX;
	for (size_t i = 0; !rc && i < g.root.nkids; i++) {
		inode *k = &g.root.kids[i];
		if (k->kept && !k->failed) {
			if (k->n.type == STRATA_NODE_DIR) {
				st->dirs++;
				rc = count_kept(&g, k->n.subtree);
			}
		}
	}
	uint64_t stored = 0;
	if (g.carry_all)
		reuse_meta(&g, &mw);
	if (rc || (rc = build_tree(&tc, &g.root, root)) ||
	    (!g.carry_all && (rc = write_meta(&g, &tc.pack, &mw))) ||
	    (rc = repo__flush_pack(r, &tc.pack, r->codec, &stored)))
		goto out;
	st->bytes_stored += stored;
	strata_trace("trees", t0);
	if ((rc = repo__write_index(r, first_pack)))
		goto out;
	strata_trace("index", t0);
	if ((rc = commit(&g, root, &mw)))
		goto out;
	strata_trace("commit", t0);
	if (st->errors)
		rc = STRATA_EPARTIAL;
out:
	if (rc && rc != STRATA_EPARTIAL && r->ix.npacks > first_pack) {
		/* keep what was stored findable, so a retry dedups against it
		 */
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", strata_error_msg());
		repo__write_index(r, first_pack);
		strata_error_set(rc, "%s", msg);
	}
	st->seconds = strata_mono() - t0;
	strata_pack_writer_release(&tc.pack);
	strata_buf_release(&tc.enc);
	strata_tree_release(&prev);
	strata_catalog_stage_end(r->cat);
	inode_release(&g.root);
	strata_free(g.jobs);
	strata_free(g.sources);
	strata_free(g.prev_meta);
	repo__spool_close(&g.spool);
	repo__subject_map_release(&g.subjects);
	repo__metaw_release(&mw);
	repo__audit_done(r, rc, st->bytes_total);
	pthread_mutex_destroy(&g.lock);
	pthread_cond_destroy(&g.done);
	pthread_mutex_destroy(&g.qlock);
	pthread_cond_destroy(&g.qcond);
	pthread_mutex_destroy(&g.ahead_lock);
	pthread_cond_destroy(&g.ahead_cond);
	return rc;
}

int strata_repo_ingest(strata_repo *r, const char *const *paths, size_t n,
		       const strata_ingest_opts *o, strata_ingest_stats *st)
{
	return run(r, paths, n, NULL, o, st);
}

int repo__ingest_source(strata_repo *r, const repo_source *src,
			const strata_ingest_opts *o, strata_ingest_stats *st)
{
	return run(r, NULL, 0, src, o, st);
}
