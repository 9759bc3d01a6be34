/*
 * stage.c - the rows of an ingest's new files, prepared while the files
 * are read and added in bulk when the version commits. Sealing, MACs and
 * grouping happen on the staging thread, into a private temporary
 * database attached as "stage" (on disk, so a million files cost no
 * memory); the version's transaction then copies them with five
 * INSERT ... SELECT statements instead of a few statements per file.
 */
#include "catalog/catalog_int.h"

struct catalog_stage {
	sqlite3_stmt *file, *attr, *group, *gattr;
	int64_t seq;
	bool in_tx;
	strata_buf path_enc, sha_enc, val_enc;
	strata_buf last; /* the previous file's shared attributes */
	bool *inst;	 /* strata_catalog_key_instance of each attribute */
	size_t capinst;
	uint8_t lastmac[32];
};

static const char stage_schema[] =
    "CREATE TABLE stage.files(seq INTEGER PRIMARY KEY, path_mac BLOB, "
    " path_enc BLOB, size INTEGER, sha256_enc BLOB, gmac BLOB, "
    " carried INTEGER);"
    "CREATE TABLE stage.attrs(seq INTEGER, key TEXT, v, enc BLOB);"
    "CREATE TABLE stage.groups(mac BLOB PRIMARY KEY) WITHOUT ROWID;"
    "CREATE TABLE stage.gattrs(mac BLOB, key TEXT, v, enc BLOB);";

void catalog__stage_free(strata_catalog *c)
{
	struct catalog_stage *s = c->stage;
	if (!s)
		return;
	sqlite3_finalize(s->file);
	sqlite3_finalize(s->attr);
	sqlite3_finalize(s->group);
	sqlite3_finalize(s->gattr);
	strata_buf_release(&s->path_enc);
	strata_buf_release(&s->sha_enc);
	strata_buf_release(&s->val_enc);
	strata_buf_release(&s->last);
	strata_free(s->inst);
	strata_free(s);
	c->stage = NULL;
}

static int prepare(strata_catalog *c, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(c->db, sql, -1, st, NULL) != SQLITE_OK)
		return catalog__db_err(c, "staging catalog rows");
	return 0;
}

int strata_catalog_stage_begin(strata_catalog *c)
{
	struct catalog_stage *s;
	int rc;
	if (c->stage)
		return strata_error_set(STRATA_EINVAL,
					"catalog rows are already staged");
	if (!(s = strata_calloc(1, sizeof(*s))))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	c->stage = s;
	/* '' is a private temporary file, deleted when detached */
	if ((rc = catalog__exec(c, "ATTACH DATABASE '' AS stage")))
		goto fail_attach;
	if ((rc = catalog__exec(c, "PRAGMA stage.journal_mode=OFF")) ||
	    (rc = catalog__exec(c, "PRAGMA stage.synchronous=OFF")) ||
	    (rc = catalog__exec(c, "PRAGMA stage.cache_size=-16384")) ||
	    (rc = catalog__exec(c, stage_schema)) ||
	    (rc = prepare(c, "INSERT INTO stage.files VALUES(?,?,?,?,?,?,?)",
			  &s->file)) ||
	    (rc = prepare(c, "INSERT INTO stage.attrs VALUES(?,?,?,?)",
			  &s->attr)) ||
	    (rc = prepare(c, "INSERT OR IGNORE INTO stage.groups VALUES(?)",
			  &s->group)) ||
	    (rc = prepare(c, "INSERT INTO stage.gattrs VALUES(?,?,?,?)",
			  &s->gattr)) ||
	    (rc = catalog__exec(c, "BEGIN")))
		goto fail;
	s->in_tx = true;
	return 0;
fail:
	catalog__stage_free(c);
	sqlite3_exec(c->db, "DETACH DATABASE stage", NULL, NULL, NULL);
	return rc;
fail_attach:
	catalog__stage_free(c);
	return rc;
}

/* Inserts one attribute through st: (id, key, v, enc). */
static int put_attr(strata_catalog *c, sqlite3_stmt *st, const void *id,
		    int idlen, int64_t seq, const strata_cat_attr *a)
{
	struct catalog_stage *s = c->stage;
	int rc;
	if (id)
		sqlite3_bind_blob(st, 1, id, idlen, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_text(st, 2, a->key, -1, SQLITE_STATIC);
	if (!(rc = catalog__bind_value(c, st, 3, &s->val_enc, a->key, a->type,
				       a->s, a->n)) &&
	    sqlite3_step(st) != SQLITE_DONE)
		rc = catalog__db_err(c, "staging catalog rows");
	sqlite3_reset(st);
	return rc;
}

/* The file's group: staged with its attributes the first time it is
 * seen. *has: false if the file has no shared attributes. */
static int stage_group(strata_catalog *c, const strata_cat_attr *a, size_t n,
		       bool *has, uint8_t mac[32])
{
	struct catalog_stage *s = c->stage;
	strata_buf b = STRATA_BUF_INIT;
	int rc = 0;
	*has = false;
	/* consecutive files of a series share everything: no MAC, no
	 * lookup when the shared attributes are the previous file's */
	if ((rc = catalog__group_mac(c, a, n, s->inst, &b, mac)) || !b.len)
		goto out;
	*has = true;
	if (b.len == s->last.len && !memcmp(b.ptr, s->last.ptr, b.len)) {
		memcpy(mac, s->lastmac, 32);
		goto out;
	}
	sqlite3_bind_blob(s->group, 1, mac, 32, SQLITE_STATIC);
	if (sqlite3_step(s->group) != SQLITE_DONE)
		rc = catalog__db_err(c, "staging catalog rows");
	sqlite3_reset(s->group);
	bool fresh = !rc && sqlite3_changes(c->db) > 0;
	for (size_t i = 0; fresh && !rc && i < n; i++)
		if (!s->inst[i])
			rc = put_attr(c, s->gattr, mac, 32, 0, &a[i]);
	if (!rc) {
		strata_buf_reset(&s->last);
		rc = strata_buf_put(&s->last, b.ptr, b.len);
		memcpy(s->lastmac, mac, 32);
	}
	if (rc)
		s->last.len = 0;
out:
	strata_buf_release(&b);
	return rc;
}

static int stage_row(strata_catalog *c, const char *path, size_t pathlen,
		     uint64_t size, const uint8_t sha256[32],
		     const strata_cat_attr *a, size_t n, bool carried)
{
	struct catalog_stage *s = c->stage;
	uint8_t pmac[32], gmac[32];
	bool has;
	int rc;
	if (!s || !s->in_tx)
		return strata_error_set(STRATA_EINVAL,
					"no catalog staging is open");
	if (strata_grow(&s->inst, &s->capinst, n ? n - 1 : 0, sizeof(*s->inst)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		s->inst[i] = strata_catalog_key_instance(a[i].key);
	strata_buf_reset(&s->path_enc);
	strata_buf_reset(&s->sha_enc);
	catalog__mac(c, pmac, "path", path, pathlen);
	if ((rc = catalog__seal(c, &s->path_enc, "path", path, pathlen)) ||
	    (rc = catalog__seal(c, &s->sha_enc, "sha256", sha256, 32)) ||
	    (rc = stage_group(c, a, n, &has, gmac)))
		return rc;
	int64_t seq = ++s->seq;
	sqlite3_stmt *st = s->file;
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_blob(st, 2, pmac, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, s->path_enc.ptr, (int)s->path_enc.len,
			  SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)size);
	sqlite3_bind_blob(st, 5, s->sha_enc.ptr, (int)s->sha_enc.len,
			  SQLITE_STATIC);
	if (has)
		sqlite3_bind_blob(st, 6, gmac, 32, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
	sqlite3_bind_int(st, 7, carried);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = catalog__db_err(c, "staging catalog rows");
	sqlite3_reset(st);
	for (size_t i = 0; !rc && i < n; i++)
		if (s->inst[i])
			rc = put_attr(c, s->attr, NULL, 0, seq, &a[i]);
	return rc;
}

int strata_catalog_stage_file(strata_catalog *c, const char *path,
			      size_t pathlen, uint64_t size,
			      const uint8_t sha256[32],
			      const strata_cat_attr *a, size_t n)
{
	return stage_row(c, path, pathlen, size, sha256, a, n, false);
}

int strata_catalog_stage_carried(strata_catalog *c, const char *path,
				 size_t pathlen, uint64_t size,
				 const uint8_t sha256[32])
{
	return stage_row(c, path, pathlen, size, sha256, NULL, 0, true);
}

int strata_catalog_stage_done(strata_catalog *c)
{
	struct catalog_stage *s = c->stage;
	if (!s || !s->in_tx)
		return strata_error_set(STRATA_EINVAL,
					"no catalog staging is open");
	s->in_tx = false;
	return catalog__exec(c, "COMMIT");
}

static int64_t max_of(strata_catalog *c, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Runs sql with ?1..?5 bound to a, b, the texts x, y and e (unused ones
 * are left NULL). */
static int run_bulk(strata_catalog *c, const char *sql, int64_t a, int64_t b,
		    const char *x, const char *y, int64_t e)
{
	sqlite3_stmt *st;
	int rc = 0;
	if ((rc = prepare(c, sql, &st)))
		return rc;
	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, b);
	sqlite3_bind_text(st, 3, x, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, y, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, e);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = catalog__db_err(c, "adding the staged catalog rows");
	sqlite3_finalize(st);
	return rc;
}

/* Rows of carried files whose path is in the previous version with
 * another size: the catalog does not match the store. (CROSS JOIN: the
 * staged rows drive, each a lookup in files_by_snapshot; the other way
 * round is a scan of the stage per row.) */
static int carried_mismatch(strata_catalog *c, int64_t prev)
{
	sqlite3_stmt *st;
	int64_t n = 0;
	int rc;
	if ((rc = prepare(
		 c,
		 "SELECT count(*) FROM stage.files s CROSS JOIN files p "
		 "ON p.snapshot_id = ?1 AND p.path_mac = s.path_mac "
		 "WHERE s.carried AND p.size != s.size",
		 &st)))
		return rc;
	sqlite3_bind_int64(st, 1, prev);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (n)
		return strata_error_set(
		    STRATA_ECORRUPT,
		    "the catalog does not match the store (%lld unchanged "
		    "files have another size in the previous version): "
		    "nothing was added; move local/catalog.db aside to "
		    "rebuild it",
		    (long long)n);
	return 0;
}

/* The row of snapshot object `id` in *row, or 0 if it has none. */
static int snapshot_row(strata_catalog *c, const uint8_t id[32], int64_t *row)
{
	sqlite3_stmt *st;
	int rc =
	    prepare(c, "SELECT id FROM snapshots WHERE object_id = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, id, 32, SQLITE_STATIC);
	*row = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return 0;
}

static int bulk_add(strata_catalog *c, int64_t snap_row, const char *layer,
		    const char *klass, const uint8_t prev_snap[32])
{
	int rc;
	/* groups new to the catalog get ids above g0, and their rows */
	int64_t g0 = max_of(c, "SELECT coalesce(max(id), 0) FROM groups");
	int64_t base = max_of(c, "SELECT coalesce(max(rowid), 0) FROM files");
	int64_t prev = 0; /* its row, where carried files find theirs */
	if (prev_snap && (rc = snapshot_row(c, prev_snap, &prev)))
		return rc;
	if (g0 < 0 || base < 0)
		return catalog__db_err(c, "adding the staged catalog rows");
	if (prev && (rc = carried_mismatch(c, prev)))
		return rc;
	/* in the order staged: sorting by (key, v) first costs more than
	 * it saves the attrs b-tree */
	if ((rc = run_bulk(c,
			   "INSERT OR IGNORE INTO groups(mac) "
			   "SELECT mac FROM stage.groups",
			   0, 0, NULL, NULL, 0)) ||
	    (rc = run_bulk(c,
			   "INSERT OR REPLACE INTO attrs(key, v, file_id, enc) "
			   "SELECT a.key, a.v, -g.id, a.enc "
			   "FROM stage.gattrs a JOIN groups g ON g.mac = a.mac "
			   "WHERE g.id > ?1",
			   g0, 0, NULL, NULL, 0)) ||
	    /* a carried file shares its earlier row's sealed values and
	     * attributes (as strata_catalog_add_file's `like`) */
	    (rc = run_bulk(c,
			   "INSERT INTO files(rowid, snapshot_id, path_mac, "
			   "path_enc, size, sha256_enc, layer, class, meta, "
			   "grp) SELECT ?1 + s.seq, ?2, p.path_mac, "
			   "p.path_enc, p.size, p.sha256_enc, ?3, ?4, p.meta, "
			   "p.grp FROM stage.files s CROSS JOIN files p "
			   "ON p.rowid = (SELECT rowid FROM files WHERE "
			   "snapshot_id = ?5 AND path_mac = s.path_mac "
			   "LIMIT 1) WHERE s.carried ORDER BY s.seq",
			   base, snap_row, layer, klass, prev)) ||
	    /* the others, and carried files the catalog has no row for */
	    (rc = run_bulk(c,
			   "INSERT INTO files(rowid, snapshot_id, path_mac, "
			   "path_enc, size, sha256_enc, layer, class, meta, "
			   "grp) SELECT ?1 + s.seq, ?2, s.path_mac, "
			   "s.path_enc, s.size, s.sha256_enc, ?3, ?4, "
			   "?1 + s.seq, coalesce(-g.id, 0) "
			   "FROM stage.files s LEFT JOIN groups g "
			   "ON g.mac = s.gmac WHERE NOT EXISTS (SELECT 1 "
			   "FROM files f WHERE f.rowid = ?1 + s.seq) "
			   "ORDER BY s.seq",
			   base, snap_row, layer, klass, 0)) ||
	    (rc = run_bulk(c,
			   "INSERT OR REPLACE INTO attrs(key, v, file_id, enc) "
			   "SELECT key, v, ?1 + seq, enc FROM stage.attrs",
			   base, 0, NULL, NULL, 0)))
		return rc;
	return 0;
}

int strata_catalog_stage_commit(strata_catalog *c, int64_t snap_row,
				const char *layer, const char *klass,
				const uint8_t prev_snap[32])
{
	struct catalog_stage *s = c->stage;
	int rc;
	if (!s || s->in_tx)
		return strata_error_set(STRATA_EINVAL,
					"catalog staging is not done");
	if (!s->seq)
		return 0;
	/* all or nothing, so that the caller can add the rows itself */
	if ((rc = catalog__exec(c, "SAVEPOINT stage_commit")))
		return rc;
	rc = bulk_add(c, snap_row, layer, klass, prev_snap);
	if (rc)
		sqlite3_exec(c->db, "ROLLBACK TO stage_commit", NULL, NULL,
			     NULL);
	sqlite3_exec(c->db, "RELEASE stage_commit", NULL, NULL, NULL);
	return rc;
}

static int copy_rows(strata_catalog *c, int64_t snap_row, const char *layer,
		     const char *klass, const uint8_t prev_snap[32],
		     uint64_t files, uint64_t bytes)
{
	sqlite3_stmt *st;
	int64_t prev = 0, n = -1, sum = -1;
	int rc = snapshot_row(c, prev_snap, &prev);
	if (rc)
		return rc;
	/* as a carried file's row in bulk_add: its earlier self's values
	 * and attributes (meta, grp), in the earlier order */
	if (prev &&
	    (rc = run_bulk(c,
			   "INSERT INTO files(snapshot_id, path_mac, path_enc, "
			   "size, sha256_enc, layer, class, meta, grp) SELECT "
			   "?2, path_mac, path_enc, size, sha256_enc, ?3, ?4, "
			   "meta, grp FROM files WHERE snapshot_id = ?5 "
			   "ORDER BY rowid",
			   0, snap_row, layer, klass, prev)))
		return rc;
	/* checked on the new rows, while they are in the cache */
	if (prev && !(rc = prepare(c,
				   "SELECT count(*), coalesce(sum(size), 0) "
				   "FROM files WHERE snapshot_id = ?",
				   &st))) {
		sqlite3_bind_int64(st, 1, snap_row);
		if (sqlite3_step(st) == SQLITE_ROW) {
			n = sqlite3_column_int64(st, 0);
			sum = sqlite3_column_int64(st, 1);
		}
		sqlite3_finalize(st);
	}
	if (rc)
		return rc;
	if (!prev)
		return strata_error_set(STRATA_ECORRUPT,
					"the catalog has no row for the "
					"previous version");
	if (n != (int64_t)files || sum != (int64_t)bytes)
		return strata_error_set(
		    STRATA_ECORRUPT,
		    "the catalog does not match the store (the previous "
		    "version has %lld rows of %lld bytes, the store %llu "
		    "files of %llu bytes); move local/catalog.db aside to "
		    "rebuild it",
		    (long long)n, (long long)sum, (unsigned long long)files,
		    (unsigned long long)bytes);
	return 0;
}

int strata_catalog_copy_rows(strata_catalog *c, int64_t snap_row,
			     const char *layer, const char *klass,
			     const uint8_t prev_snap[32], uint64_t files,
			     uint64_t bytes)
{
	int rc;
	if ((rc = catalog__exec(c, "SAVEPOINT copy_rows")))
		return rc;
	rc = copy_rows(c, snap_row, layer, klass, prev_snap, files, bytes);
	if (rc)
		sqlite3_exec(c->db, "ROLLBACK TO copy_rows", NULL, NULL, NULL);
	sqlite3_exec(c->db, "RELEASE copy_rows", NULL, NULL, NULL);
	return rc;
}

void strata_catalog_stage_end(strata_catalog *c)
{
	struct catalog_stage *s = c->stage;
	if (!s)
		return;
	if (s->in_tx)
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	catalog__stage_free(c);
	sqlite3_exec(c->db, "DETACH DATABASE stage", NULL, NULL, NULL);
}
