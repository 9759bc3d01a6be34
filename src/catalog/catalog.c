/*
 * catalog.c - SQLite catalog with sealed sensitive values. Every text that
 * could identify a patient or a study (dataset names, paths, messages,
 * file checksums) is stored as nonce | AES-256-GCM ciphertext | tag, with
 * the column name as associated data so values cannot be swapped between
 * columns; lookups by name go through an HMAC column.
 */
#include <sqlite3.h>

#include "catalog/catalog_int.h"

#define SCHEMA_VERSION 1

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB);"
    "CREATE TABLE IF NOT EXISTS datasets("
    " id INTEGER PRIMARY KEY, name_mac BLOB UNIQUE NOT NULL,"
    " name_enc BLOB NOT NULL, created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS snapshots("
    " id INTEGER PRIMARY KEY, dataset_id INTEGER NOT NULL REFERENCES datasets,"
    " version INTEGER NOT NULL, object_id BLOB UNIQUE NOT NULL,"
    " time INTEGER NOT NULL, layer TEXT NOT NULL, class TEXT NOT NULL,"
    " message_enc BLOB, files INTEGER NOT NULL, bytes INTEGER NOT NULL,"
    " parent_version INTEGER, UNIQUE(dataset_id, version));"
    "CREATE TABLE IF NOT EXISTS files("
    " snapshot_id INTEGER NOT NULL REFERENCES snapshots, path_mac BLOB NOT "
    "NULL,"
    " path_enc BLOB NOT NULL, size INTEGER NOT NULL, sha256_enc BLOB NOT NULL,"
    " layer TEXT NOT NULL, class TEXT NOT NULL, meta INTEGER,"
    " grp INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS files_by_snapshot ON files(snapshot_id, "
    "path_mac);"
    /* meta: the file row whose attributes this file has. A file carried
     * unchanged into a new version points at its earlier self, so a
     * version adds no attribute rows for what did not change. */
    "CREATE INDEX IF NOT EXISTS files_by_meta ON files(meta);"
    /* grp: the shared part of a file's attributes (all but the
     * per-instance keys, query.c), stored once under the negative id of
     * a `groups` row however many files have it: the files of a DICOM
     * series add a handful of rows each instead of ~50. */
    "CREATE INDEX IF NOT EXISTS files_by_grp ON files(grp);"
    "CREATE TABLE IF NOT EXISTS groups("
    " id INTEGER PRIMARY KEY, mac BLOB UNIQUE NOT NULL);"
    "CREATE TRIGGER IF NOT EXISTS files_own_meta AFTER INSERT ON files"
    " WHEN NEW.meta IS NULL BEGIN"
    " UPDATE files SET meta = NEW.rowid WHERE rowid = NEW.rowid; END;"
    /* extracted metadata: v holds a number (REAL), a text (TEXT) or,
     * for identifying values, an HMAC (BLOB) while enc holds the sealed
     * value (SECURITY.md). SQLite orders numbers < texts < blobs, so one
     * (key, v) index answers every kind of comparison. */
    /* clustered on (key, v): the table is its own value index, one
     * b-tree fewer to update per attribute than a rowid table */
    "CREATE TABLE IF NOT EXISTS attrs("
    " key TEXT NOT NULL, v NOT NULL, file_id INTEGER NOT NULL, enc BLOB,"
    " PRIMARY KEY (key, v, file_id)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS attrs_by_file_key ON attrs(file_id, key, v);"
    "CREATE TABLE IF NOT EXISTS lineage("
    " child INTEGER NOT NULL REFERENCES snapshots, parent_object BLOB NOT NULL,"
    " recipe_enc BLOB);"
    "CREATE INDEX IF NOT EXISTS lineage_by_child ON lineage(child);"
    "CREATE INDEX IF NOT EXISTS lineage_by_parent ON lineage(parent_object);";

int catalog__db_err(strata_catalog *c, const char *what)
{
	int e = sqlite3_errcode(c->db);
	int code = e == SQLITE_FULL			       ? STRATA_ENOSPC
		   : e == SQLITE_BUSY || e == SQLITE_LOCKED    ? STRATA_EBUSY
		   : e == SQLITE_CORRUPT || e == SQLITE_NOTADB ? STRATA_ECORRUPT
							       : STRATA_EIO;
	if (code == STRATA_ENOSPC)
		return strata_error_set(code,
					"catalog: no space left on device "
					"while %s: free space and retry",
					what);
	if (code == STRATA_EBUSY)
		return strata_error_set(code,
					"catalog is locked by another strata "
					"process (%s): retry when it finishes",
					what);
	return strata_error_set(code, "catalog: %s: %s", what,
				sqlite3_errmsg(c->db));
}

int catalog__exec(strata_catalog *c, const char *sql)
{
	if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return catalog__db_err(c, sql);
	return 0;
}

/* Seal a value: nonce | ciphertext | tag, AAD = column name. */
int catalog__seal(strata_catalog *c, strata_buf *out, const char *col,
		  const void *p, size_t n)
{
	int rc;
	strata_buf_reset(out);
	if ((rc = strata_buf_reserve(out, n + 28)))
		return rc;
	uint64_t ctr = ++c->nonce_ctr;
	memcpy(out->ptr, c->nonce_base, 12);
	for (int i = 0; i < 8; i++)
		out->ptr[4 + i] ^= (uint8_t)(ctr >> (8 * i));
	if ((rc = strata_aead_seal(c->aead, out->ptr + 12, out->ptr, col,
				   strlen(col), p, n)))
		return rc;
	out->len = n + 28;
	return 0;
}

int catalog__unseal(strata_catalog *c, char **out, size_t *outlen,
		    const char *col, const void *blob, int n)
{
	if (!blob || n < 28)
		return strata_error_set(
		    STRATA_ECORRUPT,
		    "catalog value '%s' is damaged (%d bytes); "
		    "move local/catalog.db aside to rebuild it",
		    col, n);
	size_t len = (size_t)n - 28;
	char *p = strata_malloc(len + 1);
	if (!p)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	if (strata_aead_open(c->aead, (uint8_t *)p, blob, col, strlen(col),
			     (const uint8_t *)blob + 12, len)) {
		strata_free(p);
		return strata_error_set(
		    STRATA_EAUTH,
		    "catalog value '%s' does not decrypt with "
		    "this repository's key",
		    col);
	}
	p[len] = 0;
	*out = p;
	if (outlen)
		*outlen = len;
	return 0;
}

void catalog__mac(strata_catalog *c, uint8_t out[32], const char *col,
		  const void *p, size_t n)
{
	uint8_t small[512];
	size_t cl = strlen(col);
	if (cl + 1 + n <= sizeof(small)) { /* most values: no allocation */
		memcpy(small, col, cl + 1);
		memcpy(small + cl + 1, p, n);
		strata_hmac_calc(c->hmac, out, small, cl + 1 + n);
		return;
	}
	strata_buf b = STRATA_BUF_INIT;
	if (strata_buf_puts(&b, col) || strata_buf_put_u8(&b, 0) ||
	    strata_buf_put(&b, p, n))
		abort();
	strata_hmac_calc(c->hmac, out, b.ptr, b.len);
	strata_buf_release(&b);
}

static int check_key(strata_catalog *c)
{
	sqlite3_stmt *st;
	int rc = 0;
	static const char probe[] = "strata catalog key check";
	if (sqlite3_prepare_v2(c->db,
			       "SELECT value FROM meta WHERE key='keycheck'",
			       -1, &st, NULL) != SQLITE_OK)
		return catalog__db_err(c, "reading meta");
	if (sqlite3_step(st) == SQLITE_ROW) {
		char *v = NULL;
		rc = catalog__unseal(c, &v, NULL, "keycheck",
				     sqlite3_column_blob(st, 0),
				     sqlite3_column_bytes(st, 0));
		if (!rc && strcmp(v, probe))
			rc = strata_error_set(STRATA_EAUTH,
					      "catalog key check failed");
		strata_free(v);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	strata_buf b = STRATA_BUF_INIT;
	if ((rc = catalog__seal(c, &b, "keycheck", probe, strlen(probe))))
		goto out;
	if (sqlite3_prepare_v2(c->db, "INSERT INTO meta VALUES('keycheck', ?)",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = catalog__db_err(c, "writing meta");
		goto out;
	}
	sqlite3_bind_blob(st, 1, b.ptr, (int)b.len, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = catalog__db_err(c, "writing meta");
	sqlite3_finalize(st);
out:
	strata_buf_release(&b);
	return rc;
}

/* A catalog from before files.meta and files.grp: rebuilt from the store
 * (the caller moves it aside on ECORRUPT), which holds everything it
 * held. */
static int older_schema(strata_catalog *c)
{
	sqlite3_stmt *st;
	bool has_files = false;
	if (sqlite3_prepare_v2(c->db,
			       "SELECT 1 FROM sqlite_master WHERE type = "
			       "'table' AND name = 'files'",
			       -1, &st, NULL) != SQLITE_OK)
		return catalog__db_err(c, "reading the schema");
	has_files = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	if (!has_files)
		return 0;
	if (sqlite3_prepare_v2(c->db, "SELECT meta, grp FROM files LIMIT 0", -1,
			       &st, NULL) != SQLITE_OK)
		return strata_error_set(STRATA_ECORRUPT,
					"the catalog was made by an older "
					"strata");
	sqlite3_finalize(st);
	return 0;
}

int strata_catalog_open(strata_catalog **out, const char *path,
			const uint8_t key[32], const uint8_t mac[32])
{
	int rc;
	strata_catalog *c = strata_calloc(1, sizeof(*c));
	if (!c)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	memcpy(c->mac, mac, 32);
	strata_random(c->nonce_base, sizeof(c->nonce_base));
	if ((rc = strata_aead_new(&c->aead, key)) ||
	    (rc = strata_hmac_new(&c->hmac, mac, 32)))
		goto fail;
	if (sqlite3_open_v2(path, &c->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK) {
		rc = strata_error_set(
		    STRATA_EIO, "cannot open catalog '%s': %s", path,
		    c->db ? sqlite3_errmsg(c->db) : "no memory");
		goto fail;
	}
	sqlite3_busy_timeout(c->db, 60000);
	if ((rc = catalog__exec(c, "PRAGMA journal_mode=WAL")) ||
	    (rc = catalog__exec(c, "PRAGMA synchronous=NORMAL")) ||
	    (rc = catalog__exec(c, "PRAGMA cache_size=-65536")) ||
	    (rc = catalog__exec(c, "PRAGMA foreign_keys=ON")) ||
	    (rc = catalog__exec(c, "BEGIN IMMEDIATE")))
		goto fail;
	if ((rc = older_schema(c)) || (rc = catalog__exec(c, schema)) ||
	    (rc = check_key(c))) {
		catalog__exec(c, "ROLLBACK");
		goto fail;
	}
	if ((rc = catalog__exec(c, "COMMIT")))
		goto fail;
	*out = c;
	return 0;
fail:
	strata_catalog_close(c);
	return rc;
}

void strata_catalog_close(strata_catalog *c)
{
	if (!c)
		return;
	sqlite3_finalize(c->ins_file);
	sqlite3_finalize(c->ins_file_like);
	sqlite3_finalize(c->find_grp);
	sqlite3_finalize(c->ins_grp);
	sqlite3_finalize(c->set_grp);
	sqlite3_finalize(c->find_like);
	sqlite3_finalize(c->ins_attr);
	catalog__stage_free(c);
	sqlite3_close(c->db);
	strata_aead_free(c->aead);
	strata_hmac_free(c->hmac);
	strata_wipe(c->mac, 32);
	strata_free(c);
}

int strata_catalog_begin(strata_catalog *c)
{
	return catalog__exec(c, "BEGIN IMMEDIATE");
}

int strata_catalog_commit(strata_catalog *c)
{
	return catalog__exec(c, "COMMIT");
}

void strata_catalog_rollback(strata_catalog *c)
{
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	c->like_snap_ok = false; /* its row may have gone with it */
}

int strata_catalog_has_snapshot(strata_catalog *c, const uint8_t id[32])
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(c->db,
			       "SELECT 1 FROM snapshots WHERE object_id=?", -1,
			       &st, NULL) != SQLITE_OK)
		return catalog__db_err(c, "looking up a snapshot");
	sqlite3_bind_blob(st, 1, id, 32, SQLITE_STATIC);
	int r = sqlite3_step(st);
	sqlite3_finalize(st);
	if (r == SQLITE_ROW)
		return 1;
	return r == SQLITE_DONE ? 0
				: catalog__db_err(c, "looking up a snapshot");
}

static int dataset_row(strata_catalog *c, const char *name, bool create,
		       int64_t *row)
{
	uint8_t m[32];
	sqlite3_stmt *st;
	int rc = 0;
	catalog__mac(c, m, "dataset", name, strlen(name));
	if (sqlite3_prepare_v2(c->db,
			       "SELECT id FROM datasets WHERE name_mac=?", -1,
			       &st, NULL) != SQLITE_OK)
		return catalog__db_err(c, "looking up a dataset");
	sqlite3_bind_blob(st, 1, m, 32, SQLITE_STATIC);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		*row = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (r == SQLITE_ROW)
		return 0;
	if (r != SQLITE_DONE)
		return catalog__db_err(c, "looking up a dataset");
	if (!create)
		return strata_error_set(STRATA_ENOTFOUND, "no dataset '%s'",
					name);
	strata_buf b = STRATA_BUF_INIT;
	if ((rc = catalog__seal(c, &b, "dataset", name, strlen(name))))
		goto out;
	if (sqlite3_prepare_v2(
		c->db,
		"INSERT INTO datasets(name_mac, name_enc, created) "
		"VALUES(?,?,?)",
		-1, &st, NULL) != SQLITE_OK) {
		rc = catalog__db_err(c, "adding a dataset");
		goto out;
	}
	sqlite3_bind_blob(st, 1, m, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, b.ptr, (int)b.len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)strata_now_ns());
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = catalog__db_err(c, "adding a dataset");
	else
		*row = sqlite3_last_insert_rowid(c->db);
	sqlite3_finalize(st);
out:
	strata_buf_release(&b);
	return rc;
}

int strata_catalog_find(strata_catalog *c, const char *dataset,
			uint32_t version, uint8_t id_out[32],
			uint32_t *version_out)
{
	int64_t ds;
	sqlite3_stmt *st;
	int rc = dataset_row(c, dataset, false, &ds);
	if (rc)
		return rc;
	const char *sql =
	    version ? "SELECT object_id, version FROM snapshots "
		      "WHERE dataset_id=? AND version=?"
		    : "SELECT object_id, version FROM snapshots "
		      "WHERE dataset_id=? ORDER BY version DESC LIMIT 1";
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return catalog__db_err(c, "looking up a version");
	sqlite3_bind_int64(st, 1, ds);
	if (version)
		sqlite3_bind_int64(st, 2, version);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) {
		memcpy(id_out, sqlite3_column_blob(st, 0), 32);
		*version_out = (uint32_t)sqlite3_column_int64(st, 1);
	} else if (r == SQLITE_ROW || r == SQLITE_DONE) {
		rc = version
			 ? strata_error_set(STRATA_ENOTFOUND,
					    "dataset '%s' has no version %u",
					    dataset, version)
			 : strata_error_set(STRATA_ENOTFOUND,
					    "dataset '%s' has no versions",
					    dataset);
	} else {
		rc = catalog__db_err(c, "looking up a version");
	}
	sqlite3_finalize(st);
	return rc;
}

int strata_catalog_add_snapshot(strata_catalog *c, const strata_cat_snap *s,
				int64_t *row)
{
	int64_t ds;
	sqlite3_stmt *st;
	strata_buf b = STRATA_BUF_INIT;
	int rc = dataset_row(c, s->dataset, true, &ds);
	if (rc)
		return rc;
	if (s->message && (rc = catalog__seal(c, &b, "message", s->message,
					      strlen(s->message))))
		goto out;
	if (sqlite3_prepare_v2(
		c->db,
		"INSERT INTO snapshots(dataset_id, version, object_id,"
		" time, layer, class, message_enc, files, bytes,"
		" parent_version) VALUES(?,?,?,?,?,?,?,?,?,?)",
		-1, &st, NULL) != SQLITE_OK) {
		rc = catalog__db_err(c, "adding a snapshot");
		goto out;
	}
	sqlite3_bind_int64(st, 1, ds);
	sqlite3_bind_int64(st, 2, s->version);
	sqlite3_bind_blob(st, 3, s->id, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, s->time_ns);
	sqlite3_bind_text(st, 5, s->layer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, s->klass, -1, SQLITE_STATIC);
	if (s->message)
		sqlite3_bind_blob(st, 7, b.ptr, (int)b.len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, (int64_t)s->files);
	sqlite3_bind_int64(st, 9, (int64_t)s->bytes);
	if (s->parent_version)
		sqlite3_bind_int64(st, 10, s->parent_version);
	if (sqlite3_step(st) != SQLITE_DONE) {
		if (sqlite3_errcode(c->db) == SQLITE_CONSTRAINT)
			rc = strata_error_set(
			    STRATA_EEXIST,
			    "dataset '%s' already has version %u", s->dataset,
			    s->version);
		else
			rc = catalog__db_err(c, "adding a snapshot");
	} else {
		*row = sqlite3_last_insert_rowid(c->db);
	}
	sqlite3_finalize(st);
out:
	strata_buf_release(&b);
	return rc;
}

/* A file unchanged from row `like`: its sealed path and hash, and the
 * owners of its attributes (meta, grp), copied from there. */
static int add_like(strata_catalog *c, int64_t snap_row, uint64_t size,
		    const char *layer, const char *klass, int64_t like,
		    int64_t *row)
{
	int rc = 0;
	if (!c->ins_file_like &&
	    sqlite3_prepare_v2(
		c->db,
		"INSERT INTO files(snapshot_id, path_mac, path_enc, size, "
		"sha256_enc, layer, class, meta, grp) "
		"SELECT ?1, path_mac, path_enc, size, sha256_enc, ?2, ?3, "
		"meta, grp FROM files WHERE rowid = ?4 AND size = ?5",
		-1, &c->ins_file_like, NULL) != SQLITE_OK)
		return catalog__db_err(c, "adding a file");
	sqlite3_stmt *st = c->ins_file_like;
	sqlite3_bind_int64(st, 1, snap_row);
	sqlite3_bind_text(st, 2, layer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, klass, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, like);
	sqlite3_bind_int64(st, 5, (int64_t)size);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = catalog__db_err(c, "adding a file");
	else if (!sqlite3_changes(c->db))
		rc = strata_error_set(STRATA_ECORRUPT,
				      "the catalog does not match the store "
				      "(no file row %lld of %" PRIu64
				      " bytes to share attributes with): "
				      "nothing was added; move "
				      "local/catalog.db aside to rebuild it",
				      (long long)like, size);
	else if (row)
		*row = sqlite3_last_insert_rowid(c->db);
	sqlite3_reset(st);
	return rc;
}

int strata_catalog_add_file(strata_catalog *c, int64_t snap_row,
			    const char *path, size_t pathlen, uint64_t size,
			    const uint8_t sha256[32], const char *layer,
			    const char *klass, int64_t like, int64_t *row)
{
	uint8_t m[32];
	strata_buf pe = STRATA_BUF_INIT, he = STRATA_BUF_INIT;
	int rc;
	if (like)
		return add_like(c, snap_row, size, layer, klass, like, row);
	if (!c->ins_file &&
	    sqlite3_prepare_v2(c->db,
			       "INSERT INTO files(snapshot_id, path_mac, "
			       "path_enc, size, sha256_enc, layer, class) "
			       "VALUES(?,?,?,?,?,?,?)",
			       -1, &c->ins_file, NULL) != SQLITE_OK)
		return catalog__db_err(c, "adding a file");
	catalog__mac(c, m, "path", path, pathlen);
	if ((rc = catalog__seal(c, &pe, "path", path, pathlen)) ||
	    (rc = catalog__seal(c, &he, "sha256", sha256, 32)))
		goto out;
	sqlite3_stmt *st = c->ins_file;
	sqlite3_bind_int64(st, 1, snap_row);
	sqlite3_bind_blob(st, 2, m, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, pe.ptr, (int)pe.len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)size);
	sqlite3_bind_blob(st, 5, he.ptr, (int)he.len, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, layer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, klass, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = catalog__db_err(c, "adding a file");
	else if (row)
		*row = sqlite3_last_insert_rowid(c->db);
	sqlite3_reset(st);
out:
	strata_buf_release(&pe);
	strata_buf_release(&he);
	return rc;
}

static void copy_word(char *dst, size_t n, const unsigned char *s)
{
	snprintf(dst, n, "%s", s ? (const char *)s : "");
}

static int snaps(strata_catalog *c, const char *dataset, strata_cat_snap_cb cb,
		 void *payload)
{
	sqlite3_stmt *st;
	int64_t ds = 0;
	int rc = 0;
	if (dataset && (rc = dataset_row(c, dataset, false, &ds)))
		return rc;
	const char *sql =
	    "SELECT s.object_id, d.name_enc, s.version, s.time, s.message_enc,"
	    " s.layer, s.class, s.files, s.bytes, s.parent_version"
	    " FROM snapshots s JOIN datasets d ON d.id = s.dataset_id"
	    " WHERE ?1 = 0 OR s.dataset_id = ?1 ORDER BY d.id, s.version";
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return catalog__db_err(c, "listing snapshots");
	sqlite3_bind_int64(st, 1, ds);
	int r;
	while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
		strata_cat_snap s;
		memset(&s, 0, sizeof(s));
		if (sqlite3_column_bytes(st, 0) == 32)
			memcpy(s.id, sqlite3_column_blob(st, 0), 32);
		s.version = (uint32_t)sqlite3_column_int64(st, 2);
		s.time_ns = sqlite3_column_int64(st, 3);
		copy_word(s.layer, sizeof(s.layer), sqlite3_column_text(st, 5));
		copy_word(s.klass, sizeof(s.klass), sqlite3_column_text(st, 6));
		s.files = (uint64_t)sqlite3_column_int64(st, 7);
		s.bytes = (uint64_t)sqlite3_column_int64(st, 8);
		s.parent_version = (uint32_t)sqlite3_column_int64(st, 9);
		rc = catalog__unseal(c, &s.dataset, NULL, "dataset",
				     sqlite3_column_blob(st, 1),
				     sqlite3_column_bytes(st, 1));
		if (!rc && sqlite3_column_type(st, 4) != SQLITE_NULL)
			rc = catalog__unseal(c, &s.message, NULL, "message",
					     sqlite3_column_blob(st, 4),
					     sqlite3_column_bytes(st, 4));
		if (!rc)
			rc = cb(&s, payload);
		strata_free(s.dataset);
		strata_free(s.message);
	}
	sqlite3_finalize(st);
	return rc;
}

int strata_catalog_log(strata_catalog *c, const char *dataset,
		       strata_cat_snap_cb cb, void *payload)
{
	return snaps(c, dataset, cb, payload);
}

int strata_catalog_all(strata_catalog *c, strata_cat_snap_cb cb, void *payload)
{
	return snaps(c, NULL, cb, payload);
}

int strata_catalog_datasets(strata_catalog *c, strata_cat_dataset_cb cb,
			    void *payload)
{
	sqlite3_stmt *st;
	int rc = 0;
	const char *sql =
	    "SELECT d.name_enc, count(s.id), max(s.version),"
	    " (SELECT layer FROM snapshots WHERE dataset_id=d.id ORDER BY"
	    "  version DESC LIMIT 1),"
	    " (SELECT class FROM snapshots WHERE dataset_id=d.id ORDER BY"
	    "  version DESC LIMIT 1)"
	    " FROM datasets d JOIN snapshots s ON s.dataset_id = d.id"
	    " GROUP BY d.id";
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return catalog__db_err(c, "listing datasets");
	strata_cat_dataset *v = NULL;
	size_t n = 0;
	while (!rc && sqlite3_step(st) == SQLITE_ROW) {
		void *nv = strata_realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			rc = strata_error_set(STRATA_ENOMEM, "out of memory");
			break;
		}
		v = nv;
		strata_cat_dataset *d = &v[n];
		memset(d, 0, sizeof(*d));
		d->versions = (uint32_t)sqlite3_column_int64(st, 1);
		d->latest = (uint32_t)sqlite3_column_int64(st, 2);
		copy_word(d->layer, sizeof(d->layer),
			  sqlite3_column_text(st, 3));
		copy_word(d->klass, sizeof(d->klass),
			  sqlite3_column_text(st, 4));
		rc = catalog__unseal(c, &d->name, NULL, "dataset",
				     sqlite3_column_blob(st, 0),
				     sqlite3_column_bytes(st, 0));
		n++;
	}
	sqlite3_finalize(st);
	/* names are sealed, so sort after decrypting */
	for (size_t i = 1; !rc && i < n; i++)
		for (size_t j = i;
		     j > 0 && strcmp(v[j - 1].name, v[j].name) > 0; j--) {
			strata_cat_dataset t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	for (size_t i = 0; !rc && i < n; i++)
		rc = cb(&v[i], payload);
	for (size_t i = 0; i < n; i++)
		strata_free(v[i].name);
	strata_free(v);
	return rc;
}

int strata_catalog_snapshot_count(strata_catalog *c, uint64_t *n)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(c->db, "SELECT count(*) FROM snapshots", -1, &st,
			       NULL) != SQLITE_OK)
		return catalog__db_err(c, "counting snapshots");
	sqlite3_step(st);
	*n = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}
