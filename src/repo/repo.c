/*
 * repo.c - creating and opening repositories: the config object, key
 * objects, loading the chunk index, keeping the catalog in step with the
 * snapshot objects, and the loaders every command shares.
 */
#include "repo/repo_int.h"

#define CONFIG_MAGIC "strata-repository"
#define MAX_SMALL_OBJECT (64u << 20)

bool repo__valid_layer(const char *s)
{
	return !strcmp(s, "raw") || !strcmp(s, "curated") ||
	       !strcmp(s, "model-ready");
}

bool repo__valid_class(const char *s)
{
	return !strcmp(s, "phi") || !strcmp(s, "limited") ||
	       !strcmp(s, "deid") || !strcmp(s, "aggregate") ||
	       !strcmp(s, "public");
}

static int config_encode(strata_buf *b, const strata_repo *r)
{
	return strata_buf_printf(
	    b,
	    CONFIG_MAGIC " %d\nid %s\nzone %s\n"
			 "chunk-min %u\nchunk-avg %u\nchunk-max %u\n"
			 "pack-size %u\nzstd-level %d\n",
	    STRATA_FORMAT_VERSION, r->id, r->zone, r->chunk_min, r->chunk_avg,
	    r->chunk_max, r->pack_size, r->zstd_level);
}

static int config_u32(const char *v, uint32_t *out)
{
	uint64_t x;
	if (strata_parse_u64(v, &x) || x > UINT32_MAX)
		return STRATA_EINVAL;
	*out = (uint32_t)x;
	return 0;
}

static int config_parse(strata_repo *r, char *text)
{
	char *save = NULL;
	int version = 0;
	for (char *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		uint32_t u = 0;
		if (!sp)
			goto bad;
		*sp = 0;
		const char *k = line, *v = sp + 1;
		if (!strcmp(k, CONFIG_MAGIC)) {
			if (config_u32(v, &u))
				goto bad;
			version = (int)u;
		} else if (!strcmp(k, "id")) {
			if (strlen(v) != 32)
				goto bad;
			memcpy(r->id, v, 33);
		} else if (!strcmp(k, "zone")) {
			strata_free(r->zone);
			if (!(r->zone = strata_strdup(v)))
				return strata_error_set(STRATA_ENOMEM,
							"out of memory");
		} else if (!strcmp(k, "chunk-min")) {
			if (config_u32(v, &r->chunk_min))
				goto bad;
		} else if (!strcmp(k, "chunk-avg")) {
			if (config_u32(v, &r->chunk_avg))
				goto bad;
		} else if (!strcmp(k, "chunk-max")) {
			if (config_u32(v, &r->chunk_max))
				goto bad;
		} else if (!strcmp(k, "pack-size")) {
			if (config_u32(v, &r->pack_size))
				goto bad;
		} else if (!strcmp(k, "zstd-level")) {
			bool neg = *v == '-';
			if (config_u32(v + neg, &u) || u > 22)
				goto bad;
			r->zstd_level = neg ? -(int)u : (int)u;
		} /* unknown keys: written by a newer minor version; ignore */
	}
	if (version != STRATA_FORMAT_VERSION)
		return strata_error_set(STRATA_ECORRUPT,
					"repository format version %d is not "
					"supported (this strata reads %d)",
					version, STRATA_FORMAT_VERSION);
	if (!r->id[0] || !r->zone || r->pack_size < (1u << 20) ||
	    r->pack_size > (1u << 30))
		goto bad;
	return 0;
bad:
	return strata_error_set(STRATA_ECORRUPT,
				"repository config is damaged");
}

int strata_repo_init(const char *path, const strata_repo_config *cfg,
		     const strata_auth *auth)
{
	strata_repo r;
	strata_buf b = STRATA_BUF_INIT;
	strata_repo_config def = {0};
	strata_backend *be = NULL;
	uint8_t rid[16], kid[8];
	char name[64], hex[33];
	int rc;
	if (!cfg)
		cfg = &def;
	if (!auth->password && !auth->keyfile)
		return strata_error_set(
		    STRATA_EAUTH, "no password: set STRATA_PASSWORD, or use "
				  "--password-file or --key-file");
	memset(&r, 0, sizeof(r));
	r.chunk_min = cfg->chunk_min ? cfg->chunk_min : 256u << 10;
	r.chunk_avg = cfg->chunk_avg ? cfg->chunk_avg : 1u << 20;
	r.chunk_max = cfg->chunk_max ? cfg->chunk_max : 4u << 20;
	r.pack_size = cfg->pack_size ? cfg->pack_size : 16u << 20;
	r.zstd_level = cfg->zstd_level ? cfg->zstd_level : STRATA_ZSTD_DEFAULT;
	if (r.zstd_level < STRATA_ZSTD_MIN || r.zstd_level > STRATA_ZSTD_MAX)
		return strata_error_set(
		    STRATA_EINVAL,
		    "zstd level %d is not supported: choose one in %d..%d",
		    r.zstd_level, STRATA_ZSTD_MIN, STRATA_ZSTD_MAX);
	r.zone = (char *)(cfg->zone ? cfg->zone : "onprem");
	strata_random(rid, sizeof(rid));
	strata_hex(r.id, rid, sizeof(rid));
	strata_random(r.keys.master, sizeof(r.keys.master));
	strata_keys_derive(&r.keys);
	if ((rc = strata_chunker_init(&r.chunker, r.keys.gear_key, r.chunk_min,
				      r.chunk_avg, r.chunk_max)))
		goto out;
	strata_kdf_params kdf = {cfg->kdf_t ? cfg->kdf_t : 3,
				 cfg->kdf_mem_kib ? cfg->kdf_mem_kib : 65536};
	/* everything that can be refused is checked before the directory
	 * is created, so a failed init leaves nothing behind */
	if ((rc = strata_keys_wrap(
		 &b, &r.keys, auth->password, auth->password_len,
		 auth->password ? NULL : auth->keyfile, &kdf)))
		goto out;
	if ((rc = strata_backend_open(&be, path, 1)))
		goto out;
	strata_random(kid, sizeof(kid));
	strata_hex(hex, kid, sizeof(kid));
	snprintf(name, sizeof(name), "keys/%s", hex);
	if ((rc = be->ops->put(be, name, b.ptr, b.len)))
		goto out;
	if (auth->password && auth->keyfile) {
		/* a second key object, so either secret opens the repository */
		if ((rc = strata_keys_wrap(&b, &r.keys, NULL, 0, auth->keyfile,
					   &kdf)))
			goto out;
		strata_random(kid, sizeof(kid));
		strata_hex(hex, kid, sizeof(kid));
		snprintf(name, sizeof(name), "keys/%s", hex);
		if ((rc = be->ops->put(be, name, b.ptr, b.len)))
			goto out;
	}
	strata_buf_reset(&b);
	/* config last: its presence marks a complete repository */
	if ((rc = config_encode(&b, &r)) ||
	    (rc = be->ops->put(be, "config", b.ptr, b.len)))
		goto out;
	r.be = be;
	if (!(rc = strata_codec_new(&r.codec, &r.keys, r.zstd_level)))
		rc = repo__gov_init(&r, cfg->allow);
out:
	repo__gov_release(&r);
	strata_codec_free(r.codec);
	strata_wipe(&r.keys, sizeof(r.keys));
	strata_buf_release(&b);
	strata_backend_close(be);
	return rc;
}

typedef struct key_try {
	strata_repo *r;
	const strata_auth *auth;
	int rc;
	int tried;
} key_try;

static int try_key(const char *name, uint64_t size, void *payload)
{
	key_try *k = payload;
	uint8_t *obj = NULL;
	size_t len;
	(void)size;
	int rc = k->r->be->ops->get(k->r->be, name, 4096, &obj, &len);
	if (rc)
		return 0;
	k->tried++;
	rc = strata_keys_unwrap(&k->r->keys, obj, len, k->auth->password,
				k->auth->password_len, k->auth->keyfile);
	strata_free(obj);
	if (rc == 0) {
		k->rc = 0;
		return 1; /* stop */
	}
	if (k->rc == STRATA_EAUTH || k->rc == STRATA_ENOTFOUND)
		k->rc = rc;
	return 0;
}

static int unlock(strata_repo *r, const strata_auth *auth)
{
	key_try k = {r, auth, STRATA_ENOTFOUND, 0};
	if (!auth->password && !auth->keyfile)
		return strata_error_set(
		    STRATA_EAUTH,
		    "repository '%s' is encrypted: set "
		    "STRATA_PASSWORD, or use --password-file "
		    "or --key-file",
		    r->be->location);
	int rc = r->be->ops->list(r->be, "keys/", try_key, &k);
	if (rc < 0)
		return rc;
	if (!k.tried)
		return strata_error_set(STRATA_ECORRUPT,
					"repository '%s' has no key objects",
					r->be->location);
	if (k.rc == STRATA_EAUTH)
		return strata_error_set(STRATA_EAUTH,
					"wrong password or key file for "
					"repository '%s'",
					r->be->location);
	return k.rc;
}

static int load_index_obj(const char *name, uint64_t size, void *payload)
{
	strata_repo *r = payload;
	uint8_t *obj = NULL;
	size_t len;
	strata_buf plain = STRATA_BUF_INIT;
	(void)size;
	int rc = r->be->ops->get(r->be, name, MAX_SMALL_OBJECT * 4, &obj, &len);
	if (rc)
		return rc;
	plain.limit = MAX_SMALL_OBJECT * 4;
	if ((rc = strata_codec_open(r->codec, &plain, obj, len,
				    MAX_SMALL_OBJECT * 4)) ||
	    (rc = strata_index_decode(&r->ix, plain.ptr, plain.len))) {
		/* One damaged index must not lock everyone out: note it for
		 * check, and carry on without it. */
		strata_error_prefix(rc, "index '%s': ", name);
		if (rc != STRATA_ENOMEM) {
			strata_warn("%s; run 'strata check'",
				    strata_error_msg());
			char **v = strata_realloc(
			    r->bad_indexes, (r->nbad_indexes + 1) * sizeof(*v));
			if (v) {
				r->bad_indexes = v;
				v[r->nbad_indexes] =
				    strata_strdup(strata_error_msg());
				if (v[r->nbad_indexes])
					r->nbad_indexes++;
			}
			rc = 0;
		}
	}
	strata_free(obj);
	strata_buf_release(&plain);
	return rc;
}

#define CATALOG_WARM_MAX (256u << 20)

static void *warm_run(void *arg)
{
	char *path = arg;
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && !fstat(fd, &st) && S_ISREG(st.st_mode) &&
	    st.st_size <= CATALOG_WARM_MAX)
		posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
	if (fd >= 0)
		close(fd);
	strata_free(path);
	return NULL;
}

/* The catalog's pages, asked of the disk while the key is derived
 * (Argon2id: 0.1-0.2 s of one core): the kernel reads the file in large
 * requests where SQLite would fault its pages in one 4 KiB read at a
 * time (an unchanged re-ingest of the bench corpus copies its catalog
 * rows in 0.06-0.11 s instead of 0.15-0.17 s). On a thread of its own:
 * the request itself takes tens of milliseconds. A catalog over
 * CATALOG_WARM_MAX is left to SQLite, as most commands read little of
 * it. */
static void warm_catalog(strata_repo *r)
{
	char buf[PATH_MAX];
	pthread_attr_t at;
	pthread_t th;
	snprintf(buf, sizeof(buf), "%s/catalog.db",
		 r->be->ops->local_dir(r->be));
	char *path = strata_strdup(buf);
	if (!path || pthread_attr_init(&at)) {
		strata_free(path);
		return;
	}
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &at, warm_run, path))
		strata_free(path);
	pthread_attr_destroy(&at);
}

static int open_catalog(strata_repo *r)
{
	char path[PATH_MAX];
	const char *dir = r->be->ops->local_dir(r->be);
	snprintf(path, sizeof(path), "%s/catalog.db", dir);
	int rc = strata_catalog_open(&r->cat, path, r->keys.catalog_key,
				     r->keys.catalog_mac);
	if (rc == STRATA_EAUTH || rc == STRATA_ECORRUPT) {
		/* made under another key, or damaged: the store is the truth */
		char aside[PATH_MAX + 32];
		snprintf(aside, sizeof(aside), "%s.bad-%" PRIu64, path,
			 strata_now_ns());
		strata_warn("catalog '%s' is unusable (%s); rebuilding it from "
			    "the store (old copy kept as '%s')",
			    path, strata_error_msg(), aside);
		rename(path, aside);
		char wal[PATH_MAX + 8];
		snprintf(wal, sizeof(wal), "%s-wal", path);
		unlink(wal);
		snprintf(wal, sizeof(wal), "%s-shm", path);
		unlink(wal);
		rc = strata_catalog_open(&r->cat, path, r->keys.catalog_key,
					 r->keys.catalog_mac);
	}
	return rc;
}

int strata_repo_open(strata_repo **out, const char *path,
		     const strata_auth *auth)
{
	uint8_t *cfg = NULL;
	size_t cfglen;
	int rc;
	double t0 = strata_mono();
	strata_repo *r = strata_calloc(1, sizeof(*r));
	if (!r)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	if ((rc = strata_index_init(&r->ix)))
		goto fail;
	if ((rc = strata_backend_open(&r->be, path, 0)))
		goto fail;
	warm_catalog(r);
	rc = r->be->ops->get(r->be, "config", 65536, &cfg, &cfglen);
	if (rc == STRATA_ENOTFOUND)
		rc = strata_error_set(
		    STRATA_ENOTFOUND,
		    "'%s' is not a strata repository (no config): "
		    "create one with 'strata init %s'",
		    path, path);
	if (rc)
		goto fail;
	char *text = strata_strndup((char *)cfg, cfglen);
	strata_free(cfg);
	if (!text) {
		rc = strata_error_set(STRATA_ENOMEM, "out of memory");
		goto fail;
	}
	rc = config_parse(r, text);
	strata_free(text);
	if (rc || (rc = unlock(r, auth)))
		goto fail;
	strata_trace("unlock", t0);
	if ((rc = strata_chunker_init(&r->chunker, r->keys.gear_key,
				      r->chunk_min, r->chunk_avg,
				      r->chunk_max)) ||
	    (rc = strata_codec_new(&r->codec, &r->keys, r->zstd_level)) ||
	    (rc = strata_hmac_new(&r->hmac, r->keys.id_key, 32)))
		goto fail;
	if ((rc = r->be->ops->list(r->be, "index/", load_index_obj, r)))
		goto fail;
	strata_trace("indexes", t0);
	if ((rc = open_catalog(r)))
		goto fail;
	if ((rc = strata_catalog_begin(r->cat)))
		goto fail;
	if ((rc = repo__sync(r))) {
		strata_catalog_rollback(r->cat);
		goto fail;
	}
	if ((rc = strata_catalog_commit(r->cat)))
		goto fail;
	strata_trace("catalog", t0);
	if ((rc = repo__gov_load(r)))
		goto fail;
	strata_trace("opened", t0);
	*out = r;
	return 0;
fail:
	strata_repo_close(r);
	return rc;
}

void strata_repo_close(strata_repo *r)
{
	if (!r)
		return;
	repo__gov_release(r);
	strata_catalog_close(r->cat);
	strata_codec_free(r->codec);
	strata_hmac_free(r->hmac);
	strata_index_release(&r->ix);
	strata_backend_close(r->be);
	strata_free(r->zone);
	for (size_t i = 0; i < r->nbad_indexes; i++)
		strata_free(r->bad_indexes[i]);
	strata_free(r->bad_indexes);
	strata_wipe(&r->keys, sizeof(r->keys));
	strata_free(r);
}

const char *strata_repo_zone(const strata_repo *r)
{
	return r->zone;
}

const char *strata_repo_id(const strata_repo *r)
{
	return r->id;
}

/* Where blob `id` is. */
static int blob_where(strata_repo *r, const uint8_t id[32],
		      strata_index_ent *ent)
{
	pthread_mutex_lock(&r->ix.lock);
	const strata_index_ent *e = strata_index_find(&r->ix, id);
	if (e)
		*ent = *e;
	pthread_mutex_unlock(&r->ix.lock);
	if (e && ent->pack < r->ix.npacks)
		return 0;
	char hex[65];
	strata_hex(hex, id, 32);
	return strata_error_set(STRATA_ECORRUPT,
				"blob %.16s is missing from the index", hex);
}

/* The sealed blob `id` (at ent) decoded into out; with h, checked to hash
 * to its id. */
static int open_blob(strata_repo *r, strata_codec *c, strata_hmac *h,
		     const uint8_t id[32], const strata_index_ent *ent,
		     const uint8_t *sealed, strata_buf *out)
{
	char hex[65], name[128];
	uint8_t check[32];
	int rc = strata_codec_open(c, out, sealed, ent->length, ent->raw_len);
	if (!rc && h)
		strata_blob_id(h, check, out->ptr, out->len);
	if (!rc && !(h && memcmp(check, id, 32)) && out->len == ent->raw_len)
		return 0;
	strata_hex(hex, id, 32);
	strata_pack_name(name, sizeof(name), r->ix.packs[ent->pack]);
	if (rc)
		return strata_error_prefix(rc, "blob %.16s in pack '%s': ", hex,
					   name);
	return strata_error_set(STRATA_ECORRUPT,
				"blob %.16s in pack '%s' does not match "
				"its id",
				hex, name);
}

static int load_blob(strata_repo *r, strata_codec *c, strata_hmac *h,
		     const uint8_t id[32], strata_buf *out)
{
	strata_index_ent ent;
	char name[128];
	int rc = blob_where(r, id, &ent);
	if (rc)
		return rc;
	uint8_t *buf = strata_malloc(ent.length);
	if (!buf)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	strata_pack_name(name, sizeof(name), r->ix.packs[ent.pack]);
	rc = r->be->ops->get_range(r->be, name, ent.offset, ent.length, buf);
	if (!rc)
		rc = open_blob(r, c, h, id, &ent, buf, out);
	strata_free(buf);
	return rc;
}

int repo__load_blob(strata_repo *r, strata_codec *c, strata_hmac *h,
		    const uint8_t id[32], strata_buf *out)
{
	return load_blob(r, c, h, id, out);
}

#define RUN_MAX (16u << 20) /* bytes one request of load_blobs may read */

int repo__load_blobs(strata_repo *r, strata_codec *c, strata_hmac *h,
		     const uint8_t (*ids)[32], uint32_t n,
		     const repo_blob_sink *sink)
{
	strata_index_ent *ents = strata_calloc(n ? n : 1, sizeof(*ents));
	uint8_t *buf = NULL;
	size_t cap = 0;
	int rc = ents ? 0 : strata_error_set(STRATA_ENOMEM, "out of memory");
	for (uint32_t i = 0; !rc && i < n; i++)
		rc = blob_where(r, ids[i], &ents[i]);
	for (uint32_t a = 0, b; !rc && a < n; a = b) {
		/* a run: blobs back to back in one pack, read at once */
		uint64_t len = ents[a].length;
		for (b = a + 1; b < n && ents[b].pack == ents[a].pack &&
				ents[b].offset == ents[a].offset + len &&
				len + ents[b].length <= RUN_MAX;
		     b++)
			len += ents[b].length;
		if (len > cap) {
			strata_free(buf);
			cap = (size_t)len;
			if (!(buf = strata_malloc(cap))) {
				rc = strata_error_set(STRATA_ENOMEM,
						      "out of memory");
				break;
			}
		}
		char name[128];
		strata_pack_name(name, sizeof(name), r->ix.packs[ents[a].pack]);
		rc = r->be->ops->get_range(r->be, name, ents[a].offset,
					   (size_t)len, buf);
		for (uint32_t i = a, at = 0; !rc && i < b; i++) {
			strata_buf *out = sink->into(sink->payload, i);
			if (!(rc = open_blob(r, c, h, ids[i], &ents[i],
					     buf + at, out)))
				rc = sink->done(sink->payload, i, out);
			at += ents[i].length;
		}
	}
	strata_free(buf);
	strata_free(ents);
	return rc;
}

int repo__load_tree(strata_repo *r, const uint8_t id[32], strata_tree *t)
{
	strata_buf b = STRATA_BUF_INIT;
	b.limit = STRATA_BLOB_MAX;
	int rc = repo__load_blob(r, r->codec, r->hmac, id, &b);
	if (!rc)
		rc = strata_tree_decode(t, b.ptr, b.len);
	strata_buf_release(&b);
	return rc;
}

int repo__load_snapshot(strata_repo *r, const uint8_t id[32],
			strata_snapshot *s)
{
	char hex[65], name[80];
	uint8_t *obj = NULL, check[32];
	size_t len;
	strata_buf plain = STRATA_BUF_INIT;
	strata_hex(hex, id, 32);
	snprintf(name, sizeof(name), "snapshots/%s", hex);
	int rc = r->be->ops->get(r->be, name, MAX_SMALL_OBJECT, &obj, &len);
	if (rc)
		return rc;
	strata_sha256(check, obj, len);
	if (memcmp(check, id, 32))
		rc = strata_error_set(STRATA_ECORRUPT,
				      "snapshot '%s' does not match its name",
				      name);
	else if ((rc = strata_codec_open(r->codec, &plain, obj, len, 0)) ||
		 (rc = strata_snapshot_decode(s, plain.ptr, plain.len)))
		strata_error_prefix(rc, "snapshot '%s': ", name);
	strata_free(obj);
	strata_buf_release(&plain);
	return rc;
}

/* ---- catalog import: one row per file, found by walking the trees ---- */

int64_t repo__carried_meta(import_ctx *ic)
{
	int64_t meta = 0;
	if (!ic->prev_snap || strata_buf_cstr(&ic->path) ||
	    strata_catalog_file_like(ic->r->cat, ic->prev_snap,
				     (char *)ic->path.ptr, &meta))
		return 0;
	return meta;
}

int repo__walk_tree(strata_repo *r, const uint8_t id[32], strata_buf *path,
		    repo_walk_cb cb, void *payload)
{
	strata_tree t;
	int rc = repo__load_tree(r, id, &t);
	if (rc)
		return rc;
	size_t base = path->len;
	for (size_t i = 0; !rc && i < t.n; i++) {
		strata_node *n = &t.nodes[i];
		path->len = base;
		if ((base && (rc = strata_buf_put_u8(path, '/'))) ||
		    (rc = strata_buf_put(path, n->name, n->name_len)) ||
		    (rc = strata_buf_cstr(path)) || (rc = cb(path, n, payload)))
			break;
		if (n->type == STRATA_NODE_DIR)
			rc = repo__walk_tree(r, n->subtree, path, cb, payload);
	}
	path->len = base;
	strata_tree_release(&t);
	return rc;
}

static int import_node(strata_buf *path, strata_node *n, void *payload)
{
	import_ctx *ic = payload;
	if (n->type != STRATA_NODE_FILE)
		return 0;
	return strata_catalog_add_file(ic->r->cat, ic->row, (char *)path->ptr,
				       path->len, n->size, n->sha256, ic->layer,
				       ic->klass, repo__carried_meta(ic), NULL);
}

int repo__import_tree(import_ctx *ic, const uint8_t id[32])
{
	return repo__walk_tree(ic->r, id, &ic->path, import_node, ic);
}

int repo__import(strata_repo *r, const uint8_t id[32], const strata_snapshot *s)
{
	strata_cat_snap cs;
	uint8_t pid[32];
	memset(&cs, 0, sizeof(cs));
	memcpy(cs.id, id, 32);
	cs.dataset = s->dataset;
	cs.version = s->version;
	cs.time_ns = s->time_ns;
	cs.message = s->message;
	snprintf(cs.layer, sizeof(cs.layer), "%s", s->layer);
	snprintf(cs.klass, sizeof(cs.klass), "%s", s->klass);
	cs.files = s->files;
	cs.bytes = s->bytes;
	if (s->version > 1 &&
	    strata_catalog_find(r->cat, s->dataset, s->version - 1, pid,
				&cs.parent_version))
		cs.parent_version = 0;
	import_ctx ic = {r,    0,    s->layer, s->klass, STRATA_BUF_INIT,
			 NULL, NULL, NULL,     false,	 false};
	int rc = strata_catalog_add_snapshot(r->cat, &cs, &ic.row);
	if (!rc)
		rc = repo__import_tree(&ic, s->root);
	if (!rc && (rc = repo__import_meta(r, id, s)) && rc != STRATA_ENOMEM &&
	    rc != STRATA_ENOSPC && rc != STRATA_EBUSY) {
		/* damaged metadata must not hide the version: it is listed
		 * without it, and 'check' names what is damaged */
		strata_warn("%s@v%u: metadata not imported: %s", s->dataset,
			    s->version, strata_error_msg());
		rc = 0;
	}
	for (uint32_t i = 0; !rc && i < s->nsources; i++)
		rc = strata_catalog_add_source(r->cat, ic.row, s->sources[i],
					       s->recipe);
	strata_buf_release(&ic.path);
	return rc;
}

typedef struct sync_ctx {
	strata_repo *r;
	int rc;
} sync_ctx;

static int sync_one(const char *name, uint64_t size, void *payload)
{
	sync_ctx *sc = payload;
	uint8_t id[32];
	strata_snapshot s;
	(void)size;
	const char *hex = name + strlen("snapshots/");
	if (strata_unhex(id, 32, hex))
		return 0; /* not ours */
	int have = strata_catalog_has_snapshot(sc->r->cat, id);
	if (have < 0)
		return have;
	if (have)
		return 0;
	int rc = repo__load_snapshot(sc->r, id, &s);
	if (rc) {
		strata_warn("%s (run 'strata check')", strata_error_msg());
		return 0;
	}
	rc = repo__import(sc->r, id, &s);
	if (rc == STRATA_EEXIST || rc == STRATA_ECORRUPT) {
		strata_warn("snapshot '%s' not imported: %s", name,
			    strata_error_msg());
		rc = 0;
	}
	strata_snapshot_release(&s);
	return rc;
}

int repo__sync(strata_repo *r)
{
	sync_ctx sc = {r, 0};
	return r->be->ops->list(r->be, "snapshots/", sync_one, &sc);
}

int repo__open_spec(strata_repo *r, const char *spec, strata_snapshot *s,
		    uint8_t id[32])
{
	char *name = NULL;
	uint32_t v = 0, got;
	int rc = strata_repo_resolve(r, spec, &name, &v);
	if (rc)
		return rc;
	rc = strata_catalog_find(r->cat, name, v, id, &got);
	strata_free(name);
	if (!rc)
		rc = repo__load_snapshot(r, id, s);
	return rc;
}

int strata_repo_resolve(strata_repo *r, const char *spec, char **dataset,
			uint32_t *version)
{
	(void)r;
	const char *at = strrchr(spec, '@');
	uint64_t v = 0;
	if (at) {
		if (at[1] != 'v' || strata_parse_u64(at + 2, &v) || v == 0 ||
		    v > UINT32_MAX)
			return strata_error_set(
			    STRATA_EINVAL,
			    "bad version in '%s': write NAME@vN, e.g. "
			    "'%.*s@v1'",
			    spec, at > spec ? (int)(at - spec) : 2,
			    at > spec ? spec : "ct");
	}
	size_t n = at ? (size_t)(at - spec) : strlen(spec);
	if (n == 0)
		return strata_error_set(STRATA_EINVAL,
					"empty dataset name in '%s'", spec);
	if (!(*dataset = strata_strndup(spec, n)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	*version = (uint32_t)v;
	return 0;
}

int repo__lookup(strata_repo *r, const uint8_t root[32], const char *path,
		 strata_node *out)
{
	const char *full = path;
	uint8_t cur[32];
	memcpy(cur, root, 32);
	while (*path == '/')
		path++;
	if (!*path) {
		memset(out, 0, sizeof(*out));
		out->type = STRATA_NODE_DIR;
		out->mode = 040755;
		memcpy(out->subtree, root, 32);
		return 0;
	}
	for (;;) {
		const char *slash = strchr(path, '/');
		size_t len = slash ? (size_t)(slash - path) : strlen(path);
		strata_tree t;
		int rc = repo__load_tree(r, cur, &t);
		if (rc)
			return rc;
		strata_node *hit = NULL;
		for (size_t i = 0; i < t.n; i++)
			if (!strata_name_cmp(t.nodes[i].name,
					     t.nodes[i].name_len, path, len))
				hit = &t.nodes[i];
		while (slash && *slash == '/')
			slash++;
		bool last = !slash || !*slash;
		if (!hit || (!last && hit->type != STRATA_NODE_DIR)) {
			strata_tree_release(&t);
			return strata_error_set(
			    STRATA_ENOTFOUND,
			    "no such path '%s' (no '%.*s' there)", full,
			    (int)len, path);
		}
		if (last) {
			*out = *hit;
			memset(hit, 0, sizeof(*hit)); /* ownership moved */
			strata_tree_release(&t);
			return 0;
		}
		memcpy(cur, hit->subtree, 32);
		strata_tree_release(&t);
		path = slash;
	}
}

int repo__claim(strata_repo *r, const uint8_t id[32])
{
	strata_pack_entry e;
	int rc;
	memcpy(e.id, id, 32);
	e.type = 0;
	e.offset = e.length = e.raw_len = 0;
	if (strata_index_find(&r->ix, id))
		return 0;
	if ((rc = strata_index_add(&r->ix, &e, INDEX_PENDING)))
		return rc;
	return 1;
}

int repo__flush_pack(strata_repo *r, strata_pack_writer *w, strata_codec *c,
		     uint64_t *stored)
{
	uint8_t pid[32];
	char name[128];
	int rc;
	if (!w->n)
		return 0;
	if ((rc = strata_pack_finish(w, c, pid)))
		return rc;
	strata_pack_name(name, sizeof(name), pid);
	if ((rc = r->be->ops->put(r->be, name, w->data.ptr, w->data.len)))
		return rc;
	if (stored)
		*stored += w->data.len;
	rc = repo__publish(r, pid, w->ents, w->n);
	strata_pack_writer_reset(w);
	return rc;
}

int repo__publish(strata_repo *r, const uint8_t pack_id[32],
		  const strata_pack_entry *ents, size_t n)
{
	uint32_t pn;
	pthread_mutex_lock(&r->ix.lock);
	int rc = strata_index_pack(&r->ix, pack_id, &pn);
	for (size_t i = 0; !rc && i < n; i++) {
		strata_index_ent *s =
		    (strata_index_ent *)strata_index_find(&r->ix, ents[i].id);
		if (!s || s->pack != INDEX_PENDING)
			continue; /* stored twice; the first copy wins */
		s->pack = pn;
		s->offset = ents[i].offset;
		s->length = ents[i].length;
		s->raw_len = ents[i].raw_len & 0x7fffffff;
		s->type = ents[i].type ? 1u : 0u;
	}
	pthread_mutex_unlock(&r->ix.lock);
	return rc;
}

int repo__store_blob(strata_repo *r, strata_pack_writer *w, strata_codec *c,
		     uint8_t type, const uint8_t id[32], const uint8_t *p,
		     size_t n, bool try_comp, uint64_t *stored)
{
	strata_buf sealed = STRATA_BUF_INIT;
	int comp, rc;
	sealed.limit = STRATA_BLOB_MAX + 65536;
	pthread_mutex_lock(&r->ix.lock);
	int claimed = repo__claim(r, id);
	pthread_mutex_unlock(&r->ix.lock);
	if (claimed <= 0)
		return claimed;
	if ((rc = strata_codec_seal(c, &sealed, p, n, try_comp, &comp)) ||
	    (rc = strata_pack_add(w, id, type, sealed.ptr, sealed.len,
				  (uint32_t)n)))
		goto out;
	if (w->data.len >= r->pack_size)
		rc = repo__flush_pack(r, w, c, stored);
out:
	strata_buf_release(&sealed);
	return rc;
}

int repo__write_index(strata_repo *r, uint32_t first_pack)
{
	strata_buf plain = STRATA_BUF_INIT, sealed = STRATA_BUF_INIT;
	uint8_t id[32];
	char hex[65], name[80];
	int comp, rc;
	if (first_pack >= r->ix.npacks)
		return 0;
	/* packs first: an index must never name a pack that could vanish */
	if ((rc = r->be->ops->sync(r->be)))
		return rc;
	plain.limit = sealed.limit = MAX_SMALL_OBJECT * 4;
	pthread_mutex_lock(&r->ix.lock);
	rc = strata_index_encode(&r->ix, first_pack, &plain);
	pthread_mutex_unlock(&r->ix.lock);
	if (rc || (rc = strata_codec_seal(r->codec, &sealed, plain.ptr,
					  plain.len, true, &comp)))
		goto out;
	strata_sha256(id, sealed.ptr, sealed.len);
	strata_hex(hex, id, 32);
	snprintf(name, sizeof(name), "index/%s", hex);
	rc = r->be->ops->put(r->be, name, sealed.ptr, sealed.len);
out:
	strata_buf_release(&plain);
	strata_buf_release(&sealed);
	return rc;
}
