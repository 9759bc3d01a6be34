/*
 * query.c - extracted metadata in the catalog, and the query language of
 * 'strata find': `key op value` terms joined by and/or/not and
 * parentheses, ops = != < <= > >= ~ (glob). A query is parsed into SQL
 * with bound parameters (never pasted), each term a lookup in the
 * (key, value) indexes of the attrs table.
 */
#include <math.h>
#include <pthread.h>

#include "catalog/catalog_int.h"

/* Identifying values (HIPAA identifiers, linkable UIDs, sample names):
 * sealed in the catalog, comparable for equality only. */
static const char *const sealed_keys[] = {
    "dicom.PatientName",
    "dicom.PatientID",
    "dicom.OtherPatientIDs",
    "dicom.PatientBirthDate",
    "dicom.PatientAddress",
    "dicom.PatientTelephoneNumbers",
    "dicom.AccessionNumber",
    "dicom.StudyID",
    "dicom.StudyInstanceUID",
    "dicom.SeriesInstanceUID",
    "dicom.SOPInstanceUID",
    "dicom.FrameOfReferenceUID",
    "dicom.MediaStorageSOPInstanceUID",
    "dicom.StudyDate",
    "dicom.SeriesDate",
    "dicom.AcquisitionDate",
    "dicom.ContentDate",
    "dicom.StudyTime",
    "dicom.SeriesTime",
    "dicom.InstitutionName",
    "dicom.InstitutionAddress",
    "dicom.ReferringPhysicianName",
    "dicom.PerformingPhysicianName",
    "dicom.OperatorsName",
    "dicom.StationName",
    "dicom.DeviceSerialNumber",
    "seq.samples",
    "vcf.sample_names",
    "seq.run",
    "seq.flowcell",
    "seq.instrument",
    "subject.id",
};

#define NKEYS(a) (sizeof(a) / sizeof(*(a)))

/* Both key lists, sorted once for bsearch: asked for every attribute of
 * every file an ingest adds. */
static const char *sealed_sorted[NKEYS(sealed_keys)];
static const char *instance_sorted[16];
static pthread_once_t keys_once = PTHREAD_ONCE_INIT;

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void sort_keys(void);

static bool listed(const char *key, const char **sorted, size_t n)
{
	pthread_once(&keys_once, sort_keys);
	return bsearch(&key, sorted, n, sizeof(*sorted), key_cmp) != NULL;
}

bool strata_catalog_key_sealed(const char *key)
{
	return listed(key, sealed_sorted, NKEYS(sealed_sorted));
}

static void attr_mac(strata_catalog *c, uint8_t out[32], const char *key,
		     const char *s)
{
	char small[512];
	size_t kl = strlen(key), sl = strlen(s);
	if (kl + 1 + sl <= sizeof(small)) { /* most values: no allocation */
		memcpy(small, key, kl + 1);
		memcpy(small + kl + 1, s, sl);
		catalog__mac(c, out, "attr", small, kl + 1 + sl);
		return;
	}
	strata_buf b = STRATA_BUF_INIT;
	if (strata_buf_puts(&b, key) || strata_buf_put_u8(&b, 0) ||
	    strata_buf_puts(&b, s))
		abort(); /* a few hundred bytes */
	catalog__mac(c, out, "attr", b.ptr, b.len);
	strata_buf_release(&b);
}

int catalog__bind_value(strata_catalog *c, sqlite3_stmt *st, int iv,
			strata_buf *enc, const char *key, int type,
			const char *s, double n)
{
	char num[64];
	if (type != 1) { /* numbers are sealed as their text form */
		snprintf(num, sizeof(num), "%.17g", n);
		s = num;
	}
	if (strata_catalog_key_sealed(key)) {
		uint8_t mac[32];
		int rc;
		attr_mac(c, mac, key, s);
		strata_buf_reset(enc);
		if ((rc = catalog__seal(c, enc, "attr", s, strlen(s))))
			return rc;
		sqlite3_bind_blob(st, iv, mac, 32, SQLITE_TRANSIENT);
		sqlite3_bind_blob(st, iv + 1, enc->ptr, (int)enc->len,
				  SQLITE_STATIC);
		return 0;
	}
	if (type == 1)
		sqlite3_bind_text(st, iv, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_double(st, iv, n);
	sqlite3_bind_null(st, iv + 1);
	return 0;
}

int strata_catalog_add_attr(strata_catalog *c, int64_t file_row,
			    const char *key, int type, const char *s, double n)
{
	sqlite3_stmt *st = c->ins_attr;
	strata_buf enc = STRATA_BUF_INIT;
	int rc;
	if (!st && sqlite3_prepare_v2(
		       c->db,
		       "INSERT OR REPLACE INTO attrs(file_id, key, v, enc) "
		       "VALUES(?,?,?,?)",
		       -1, &c->ins_attr, NULL) != SQLITE_OK)
		return catalog__db_err(c, "adding metadata");
	st = c->ins_attr;
	sqlite3_bind_int64(st, 1, file_row);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	if (!(rc = catalog__bind_value(c, st, 3, &enc, key, type, s, n)) &&
	    sqlite3_step(st) != SQLITE_DONE)
		rc = catalog__db_err(c, "adding metadata");
	sqlite3_reset(st);
	strata_buf_release(&enc);
	return rc;
}

/* Keys whose value differs from one file of a DICOM series to the next
 * (the position, number and time of each image): kept with the file
 * itself (files.meta). Every other key goes to the file's shared group
 * (files.grp), dates too, as a series is mostly acquired on one day. The
 * list changes only how much is shared, never what a query finds: each
 * key lives on one side, and the query compiler asks this same list. */
static const char *const instance_keys[] = {
    "dicom.SOPInstanceUID",	 "dicom.MediaStorageSOPInstanceUID",
    "dicom.InstanceNumber",	 "dicom.InstanceCreationTime",
    "dicom.ContentTime",	 "dicom.AcquisitionTime",
    "dicom.AcquisitionDateTime", "dicom.ImagePositionPatient",
    "dicom.SliceLocation",	 "dicom.TriggerTime",
    "dicom.PixelDataOffset",
};

static void sort_keys(void)
{
	_Static_assert(NKEYS(instance_keys) <= NKEYS(instance_sorted),
		       "instance_sorted too small");
	memcpy(sealed_sorted, sealed_keys, sizeof(sealed_keys));
	memcpy(instance_sorted, instance_keys, sizeof(instance_keys));
	qsort(sealed_sorted, NKEYS(sealed_keys), sizeof(char *), key_cmp);
	qsort(instance_sorted, NKEYS(instance_keys), sizeof(char *), key_cmp);
}

bool strata_catalog_key_instance(const char *key)
{
	return !strncmp(key, "dicom.", 6) &&
	       listed(key, instance_sorted, NKEYS(instance_keys));
}

/* The files column naming the row that holds `key`'s attributes. */
static const char *owner(const char *key)
{
	return strata_catalog_key_instance(key) ? "meta" : "grp";
}

int catalog__group_mac(strata_catalog *c, const strata_cat_attr *a, size_t n,
		       const bool *inst, strata_buf *b, uint8_t mac[32])
{
	/* key NUL type value: a text and its NUL, or a number's 8 bytes */
	int rc = 0;
	strata_buf_reset(b);
	for (size_t i = 0; !rc && i < n; i++) {
		if (inst ? inst[i] : strata_catalog_key_instance(a[i].key))
			continue;
		if ((rc = strata_buf_puts(b, a[i].key)) ||
		    (rc = strata_buf_put_u8(b, 0)) ||
		    (rc = strata_buf_put_u8(b, (uint8_t)a[i].type)))
			break;
		if (a[i].type == 1)
			rc = strata_buf_put(b, a[i].s, strlen(a[i].s) + 1);
		else
			rc = strata_buf_put(b, &a[i].n, sizeof(a[i].n));
	}
	if (!rc && b->len)
		catalog__mac(c, mac, "group", b->ptr, b->len);
	return rc;
}

/* The group id (negative) holding exactly the attributes a[0..n) not in
 * instance_keys, created on first sight. Groups are found by an HMAC of
 * their content, so the catalog holds no plain digest of sealed values. */
static int find_group(strata_catalog *c, const strata_cat_attr *a, size_t n,
		      int64_t *gid)
{
	strata_buf b = STRATA_BUF_INIT;
	uint8_t mac[32];
	int rc = catalog__group_mac(c, a, n, NULL, &b, mac);
	*gid = 0;
	if (rc || !b.len)
		goto out;
	if ((!c->find_grp &&
	     sqlite3_prepare_v2(c->db, "SELECT id FROM groups WHERE mac = ?",
				-1, &c->find_grp, NULL) != SQLITE_OK) ||
	    (!c->ins_grp &&
	     sqlite3_prepare_v2(c->db, "INSERT INTO groups(mac) VALUES(?)", -1,
				&c->ins_grp, NULL) != SQLITE_OK)) {
		rc = catalog__db_err(c, "adding metadata");
		goto out;
	}
	sqlite3_bind_blob(c->find_grp, 1, mac, 32, SQLITE_STATIC);
	if (sqlite3_step(c->find_grp) == SQLITE_ROW)
		*gid = -sqlite3_column_int64(c->find_grp, 0);
	sqlite3_reset(c->find_grp);
	if (*gid)
		goto out;
	sqlite3_bind_blob(c->ins_grp, 1, mac, 32, SQLITE_STATIC);
	if (sqlite3_step(c->ins_grp) != SQLITE_DONE)
		rc = catalog__db_err(c, "adding metadata");
	sqlite3_reset(c->ins_grp);
	if (rc)
		goto out;
	*gid = -sqlite3_last_insert_rowid(c->db);
	for (size_t i = 0; !rc && i < n; i++)
		if (!strata_catalog_key_instance(a[i].key))
			rc = strata_catalog_add_attr(c, *gid, a[i].key,
						     a[i].type, a[i].s, a[i].n);
out:
	strata_buf_release(&b);
	return rc;
}

int strata_catalog_add_attrs(strata_catalog *c, int64_t file_row,
			     const strata_cat_attr *a, size_t n)
{
	int64_t gid;
	int rc = find_group(c, a, n, &gid);
	for (size_t i = 0; !rc && i < n; i++)
		if (strata_catalog_key_instance(a[i].key))
			rc = strata_catalog_add_attr(c, file_row, a[i].key,
						     a[i].type, a[i].s, a[i].n);
	if (rc || !gid)
		return rc;
	if (!c->set_grp &&
	    sqlite3_prepare_v2(c->db,
			       "UPDATE files SET grp = ? WHERE rowid = ?", -1,
			       &c->set_grp, NULL) != SQLITE_OK)
		return catalog__db_err(c, "adding metadata");
	sqlite3_bind_int64(c->set_grp, 1, gid);
	sqlite3_bind_int64(c->set_grp, 2, file_row);
	if (sqlite3_step(c->set_grp) != SQLITE_DONE)
		rc = catalog__db_err(c, "adding metadata");
	sqlite3_reset(c->set_grp);
	return rc;
}

int strata_catalog_add_source(strata_catalog *c, int64_t child,
			      const uint8_t parent[32], const char *recipe)
{
	sqlite3_stmt *st;
	strata_buf enc = STRATA_BUF_INIT;
	int rc = 0;
	if (recipe &&
	    (rc = catalog__seal(c, &enc, "recipe", recipe, strlen(recipe))))
		return rc;
	if (sqlite3_prepare_v2(c->db, "INSERT INTO lineage VALUES(?,?,?)", -1,
			       &st, NULL) != SQLITE_OK) {
		strata_buf_release(&enc);
		return catalog__db_err(c, "adding lineage");
	}
	sqlite3_bind_int64(st, 1, child);
	sqlite3_bind_blob(st, 2, parent, 32, SQLITE_STATIC);
	if (recipe)
		sqlite3_bind_blob(st, 3, enc.ptr, (int)enc.len, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = catalog__db_err(c, "adding lineage");
	sqlite3_finalize(st);
	strata_buf_release(&enc);
	return rc;
}

/* ---- the query language ---- */

enum tok { T_END, T_WORD, T_OP, T_LP, T_RP, T_AND, T_OR, T_NOT };

typedef struct bindv {
	int kind; /* 1 text, 2 real, 3 blob32, 4 int */
	char *s;
	double d;
	uint8_t b[32];
	int64_t i;
} bindv;

typedef struct qp {
	strata_catalog *c;
	const char *src, *p;
	enum tok tok;
	char word[1024];
	bool quoted;
	strata_buf sql;
	bindv *binds;
	size_t nbinds, capbinds;
	int depth;
	/* A query that is only `term and term and ...` (pure_and) is run in
	 * two parts. Its terms on shared keys (files.grp) are intersected at
	 * the level of groups, a few rows per DICOM series (gsql). Its terms
	 * on per-instance keys (files.meta) are probed per file (EXISTS on
	 * the (file_id, key, v) index), except the one that drives, if that
	 * is more selective than the groups. */
	bool pure_and, merge;
	int nterms, driver; /* DRIVER_NONE, DRIVER_GROUPS or a term */
	int ngroups;
	strata_buf gsql;
	struct {
		size_t sql0, sql1;
	} terms[16];
} qp;

enum { DRIVER_NONE = -2, DRIVER_GROUPS = -1 };

static int qerr(qp *q, const char *what)
{
	return strata_error_set(STRATA_EINVAL, "query '%s': %s at position %zu",
				q->src, what, (size_t)(q->p - q->src));
}

static int next(qp *q)
{
	const char *p = q->p;
	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	q->quoted = false;
	q->word[0] = 0;
	q->p = p;
	if (!*p) {
		q->tok = T_END;
		return 0;
	}
	if (*p == '(' || *p == ')') {
		q->tok = *p == '(' ? T_LP : T_RP;
		q->p = p + 1;
		return 0;
	}
	static const char *const ops[] = {"!=", "<=", ">=", "=", "<", ">", "~"};
	for (size_t i = 0; i < sizeof(ops) / sizeof(*ops); i++) {
		size_t n = strlen(ops[i]);
		if (!strncmp(p, ops[i], n)) {
			memcpy(q->word, ops[i], n + 1);
			q->tok = T_OP;
			q->p = p + n;
			return 0;
		}
	}
	size_t n = 0;
	if (*p == '\'' || *p == '"') {
		char quote = *p++;
		while (*p && *p != quote) {
			if (*p == '\\' && p[1])
				p++;
			if (n + 1 >= sizeof(q->word))
				return qerr(q, "value too long");
			q->word[n++] = *p++;
		}
		if (*p != quote)
			return qerr(q, "unterminated quote");
		q->word[n] = 0;
		q->p = p + 1;
		q->tok = T_WORD;
		q->quoted = true;
		return 0;
	}
	while (*p && !strchr(" \t\n()=!<>~'\"", *p)) {
		if (n + 1 >= sizeof(q->word))
			return qerr(q, "word too long");
		q->word[n++] = *p++;
	}
	if (!n)
		return qerr(q, "unexpected character");
	q->word[n] = 0;
	q->p = p;
	q->tok = !strcasecmp(q->word, "and")   ? T_AND
		 : !strcasecmp(q->word, "or")  ? T_OR
		 : !strcasecmp(q->word, "not") ? T_NOT
					       : T_WORD;
	return 0;
}

static int bind_add(qp *q, bindv v)
{
	int rc =
	    strata_grow(&q->binds, &q->capbinds, q->nbinds, sizeof(*q->binds));
	if (rc) {
		strata_free(v.s);
		return rc;
	}
	q->binds[q->nbinds++] = v;
	/* numbered: a term's text may be moved or reused elsewhere */
	return strata_buf_printf(&q->sql, "?%zu", q->nbinds);
}

static int bind_text(qp *q, const char *s)
{
	bindv v = {1, strata_strdup(s), 0, {0}, 0};
	if (!v.s)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	return bind_add(q, v);
}

static int bind_real(qp *q, double d)
{
	bindv v = {2, NULL, d, {0}, 0};
	return bind_add(q, v);
}

static bool numeric(const char *s, double *out)
{
	char *end;
	if (!*s)
		return false;
	errno = 0;
	*out = strtod(s, &end);
	return !*end && !errno && isfinite(*out);
}

static const char *sql_op(const char *op)
{
	return !strcmp(op, "=") ? "=" : op; /* = != < <= > >= are SQL's */
}

/* Terms on the files row itself. */
static int file_term(qp *q, const char *key, const char *op, const char *val)
{
	double d;
	int rc;
	if (!strcmp(key, "size") || !strcmp(key, "version")) {
		if (!numeric(val, &d) || !strcmp(op, "~"))
			return qerr(q, "size and version compare with numbers");
		if ((rc = strata_buf_printf(&q->sql, "%s %s ",
					    !strcmp(key, "size") ? "f.size"
								 : "s.version",
					    sql_op(op))))
			return rc;
		return bind_real(q, d);
	}
	if (!strcmp(key, "layer") || !strcmp(key, "class")) {
		if ((rc = strata_buf_printf(&q->sql, "f.%s %s ", key,
					    !strcmp(op, "~") ? "GLOB"
							     : sql_op(op))))
			return rc;
		return bind_text(q, val);
	}
	/* dataset and path are sealed: equality through their HMAC */
	if (strcmp(op, "=") && strcmp(op, "!="))
		return qerr(q, "dataset and path are encrypted in the catalog: "
			       "use = or !=");
	bindv v = {3, NULL, 0, {0}, 0};
	catalog__mac(q->c, v.b, !strcmp(key, "dataset") ? "dataset" : "path",
		     val, strlen(val));
	if ((rc = strata_buf_printf(
		 &q->sql, "%s %s ",
		 !strcmp(key, "dataset") ? "d.name_mac" : "f.path_mac", op)))
		return rc;
	return bind_add(q, v);
}

/* One `key op value`: a semi-join on the attrs indexes. */
static int term(qp *q)
{
	char key[1024], op[4];
	int rc;
	double d;
	if (q->tok != T_WORD || q->quoted)
		return qerr(q, "expected a key such as dicom.Modality");
	snprintf(key, sizeof(key), "%s", q->word);
	if ((rc = next(q)))
		return rc;
	if (q->tok != T_OP)
		return qerr(q, "expected one of = != < <= > >= ~");
	memcpy(op, q->word, 3);
	op[3] = 0;
	if ((rc = next(q)))
		return rc;
	if (q->tok != T_WORD && !(q->tok >= T_AND && !q->quoted))
		return qerr(q, "expected a value");
	char *val = q->word;
	if (!strcmp(key, "size") || !strcmp(key, "version") ||
	    !strcmp(key, "layer") || !strcmp(key, "class") ||
	    !strcmp(key, "dataset") || !strcmp(key, "path")) {
		q->pure_and = false;
		rc = file_term(q, key, op, val);
		return rc ? rc : next(q);
	}
	bool neg = !strcmp(op, "!=");
	if (neg)
		q->pure_and = false;
	/* each key lives on one side: the file's own row or its group */
	const char *col = owner(key);
	bool shared = *col == 'g';
	int no = shared && q->merge ? -1 : q->nterms++;
	bool probe = no >= 0 && q->driver != DRIVER_NONE && no != q->driver;
	size_t start = q->sql.len;
	if (no < 0)
		rc = 0; /* the condition alone, moved to gsql below */
	else if (probe)
		rc = strata_buf_printf(&q->sql,
				       "EXISTS (SELECT 1 FROM attrs a2 INDEXED "
				       "BY attrs_by_file_key WHERE a2.file_id "
				       "= f.%s AND ",
				       col);
	else
		rc = strata_buf_printf(&q->sql,
				       "f.%s %sIN (SELECT file_id FROM attrs "
				       "WHERE ",
				       col, neg ? "NOT " : "");
	if (rc)
		return rc;
	if (no >= 0 && no < 16)
		q->terms[no].sql0 = q->sql.len;
	if ((rc = strata_buf_puts(&q->sql, "key = ")) ||
	    (rc = bind_text(q, key)))
		return rc;
	if (strata_catalog_key_sealed(key)) {
		if (strcmp(op, "=") && !neg)
			return qerr(q, "this key is encrypted in the catalog: "
				       "use = or !=");
		bindv v = {3, NULL, 0, {0}, 0};
		attr_mac(q->c, v.b, key, val);
		if ((rc = strata_buf_puts(&q->sql, " AND v = ")) ||
		    (rc = bind_add(q, v)))
			return rc;
	} else if (!strcmp(op, "~")) {
		/* text values only: '' is the least text, x'' the least blob */
		if ((rc = strata_buf_puts(&q->sql,
					  " AND v >= '' AND v < x'' AND "
					  "v GLOB ")) ||
		    (rc = bind_text(q, val)))
			return rc;
	} else if (numeric(val, &d) && !q->quoted) {
		if (!strcmp(op, "=") || neg) { /* "007" may be stored as text */
			if ((rc = strata_buf_puts(&q->sql, " AND v IN (")) ||
			    (rc = bind_real(q, d)) ||
			    (rc = strata_buf_puts(&q->sql, ", ")) ||
			    (rc = bind_text(q, val)) ||
			    (rc = strata_buf_puts(&q->sql, ")")))
				return rc;
		} else if ((rc = strata_buf_printf(&q->sql, " AND v %s ",
						   sql_op(op))) ||
			   (rc = bind_real(q, d)) ||
			   /* numbers only: every text sorts after them */
			   (rc = strata_buf_puts(&q->sql, " AND v < ''"))) {
			return rc;
		}
	} else {
		if ((rc = strata_buf_printf(&q->sql, " AND v >= '' AND v %s ",
					    neg ? "=" : sql_op(op))) ||
		    (rc = bind_text(q, val)) ||
		    (rc = strata_buf_puts(&q->sql, " AND v < x''")))
			return rc;
	}
	if (no < 0) { /* into the intersection of groups; TRUE here */
		if ((rc = strata_buf_puts(&q->gsql,
					  q->ngroups++ ? " INTERSECT " : "")) ||
		    (rc = strata_buf_puts(&q->gsql, "SELECT file_id FROM "
						    "attrs WHERE ")) ||
		    (rc = strata_buf_put(&q->gsql, q->sql.ptr + start,
					 q->sql.len - start)))
			return rc;
		q->sql.len = start;
		if ((rc = strata_buf_puts(&q->sql, "1")))
			return rc;
		return next(q);
	}
	if (no < 16)
		q->terms[no].sql1 = q->sql.len;
	if ((rc = strata_buf_puts(&q->sql, ")")))
		return rc;
	return next(q);
}

static int expr(qp *q);

static int factor(qp *q)
{
	int rc;
	if (++q->depth > 64)
		return qerr(q, "nested too deeply");
	if (q->tok == T_NOT || q->tok == T_LP)
		q->pure_and = false;
	if (q->tok == T_NOT) {
		if ((rc = strata_buf_puts(&q->sql, "NOT (")) ||
		    (rc = next(q)) || (rc = factor(q)) ||
		    (rc = strata_buf_puts(&q->sql, ")")))
			return rc;
	} else if (q->tok == T_LP) {
		if ((rc = strata_buf_puts(&q->sql, "(")) || (rc = next(q)) ||
		    (rc = expr(q)))
			return rc;
		if (q->tok != T_RP)
			return qerr(q, "expected ')'");
		if ((rc = strata_buf_puts(&q->sql, ")")) || (rc = next(q)))
			return rc;
	} else {
		rc = term(q);
	}
	q->depth--;
	return rc;
}

static int conjunction(qp *q)
{
	int rc = factor(q);
	while (!rc && q->tok == T_AND) {
		if (!(rc = strata_buf_puts(&q->sql, " AND ")) &&
		    !(rc = next(q)))
			rc = factor(q);
	}
	return rc;
}

static int expr(qp *q)
{
	int rc = conjunction(q);
	while (!rc && q->tok == T_OR) {
		q->pure_and = false;
		if (!(rc = strata_buf_puts(&q->sql, " OR ")) && !(rc = next(q)))
			rc = conjunction(q);
	}
	return rc;
}

static void qp_release(qp *q)
{
	for (size_t i = 0; i < q->nbinds; i++)
		strata_free(q->binds[i].s);
	strata_free(q->binds);
	strata_buf_release(&q->sql);
	strata_buf_release(&q->gsql);
}

static void bind_all(sqlite3_stmt *st, const qp *q, int first)
{
	for (size_t i = 0; i < q->nbinds; i++) {
		const bindv *v = &q->binds[i];
		int k = first + (int)i;
		if (v->kind == 1)
			sqlite3_bind_text(st, k, v->s, -1, SQLITE_STATIC);
		else if (v->kind == 2)
			sqlite3_bind_double(st, k, v->d);
		else
			sqlite3_bind_blob(st, k, v->b, 32, SQLITE_STATIC);
	}
}

/* STRATA_EXPLAIN=1: the SQL and SQLite's plan for it, on stderr. */
static int explain(strata_catalog *c, const qp *q)
{
	sqlite3_stmt *st;
	strata_buf b = STRATA_BUF_INIT;
	int rc = strata_buf_puts(&b, "EXPLAIN QUERY PLAN ");
	if (!rc)
		rc = strata_buf_put(&b, q->sql.ptr, q->sql.len);
	if (!rc)
		rc = strata_buf_cstr(&b);
	if (rc)
		return rc;
	fprintf(stderr, "sql: %s\nplan:\n", (char *)q->sql.ptr);
	if (sqlite3_prepare_v2(c->db, (char *)b.ptr, -1, &st, NULL) ==
	    SQLITE_OK) {
		bind_all(st, q, 1);
		while (sqlite3_step(st) == SQLITE_ROW)
			fprintf(stderr, "  %d %d %s\n",
				sqlite3_column_int(st, 0),
				sqlite3_column_int(st, 1),
				(const char *)sqlite3_column_text(st, 3));
		sqlite3_finalize(st);
	}
	strata_buf_release(&b);
	return 0;
}

/* The whole statement for `query` into q (which is reset first). merge:
 * the query is pure_and, its shared-key terms go to q->gsql. */
static int build(qp *q, strata_catalog *c, const char *query,
		 const char *dataset, bool all_versions, bool merge, int driver)
{
	int rc;
	qp_release(q);
	memset(q, 0, sizeof(*q));
	q->c = c;
	q->src = q->p = query;
	q->pure_and = true;
	q->merge = merge;
	q->driver = driver;
	if ((rc = strata_buf_puts(
		 &q->sql,
		 "SELECT d.name_enc, s.version, f.path_enc, f.size, f.rowid"
		 " FROM files f JOIN snapshots s ON s.id = f.snapshot_id"
		 " JOIN datasets d ON d.id = s.dataset_id WHERE ")))
		return rc;
	if (!all_versions &&
	    (rc = strata_buf_puts(&q->sql,
				  "s.version = (SELECT max(version) FROM "
				  "snapshots WHERE dataset_id = s.dataset_id)"
				  " AND ")))
		return rc;
	if (dataset) {
		bindv v = {3, NULL, 0, {0}, 0};
		catalog__mac(c, v.b, "dataset", dataset, strlen(dataset));
		if ((rc = strata_buf_puts(&q->sql, "d.name_mac = ")) ||
		    (rc = bind_add(q, v)) ||
		    (rc = strata_buf_puts(&q->sql, " AND ")))
			return rc;
	}
	if ((rc = strata_buf_puts(&q->sql, "(")) || (rc = next(q)))
		return rc;
	if (q->tok == T_END)
		return qerr(q, "empty query");
	if ((rc = expr(q)))
		return rc;
	if (q->tok != T_END)
		return qerr(q, "unexpected word");
	if ((rc = strata_buf_puts(&q->sql, ")")))
		return rc;
	if (q->ngroups &&
	    ((rc = strata_buf_printf(&q->sql, " AND %sf.grp IN (",
				     driver >= 0 ? "+" : "")) ||
	     (rc = strata_buf_put(&q->sql, q->gsql.ptr, q->gsql.len)) ||
	     (rc = strata_buf_puts(&q->sql, ")"))))
		return rc;
	if ((rc = strata_buf_puts(&q->sql,
				  " ORDER BY s.dataset_id, s.version")) ||
	    (rc = strata_buf_cstr(&q->sql)))
		return rc;
	return 0;
}

/* How many files a part of a pure_and query matches, counting no
 * further than a cap: the intersection of groups (DRIVER_GROUPS), or the
 * attribute rows of instance term `i`. */
static int64_t estimate(strata_catalog *c, const qp *q, int i)
{
	sqlite3_stmt *st;
	strata_buf b = STRATA_BUF_INIT;
	int64_t n = INT64_MAX;
	int rc = i == DRIVER_GROUPS
		     ? strata_buf_puts(&b, "SELECT count(*) FROM (SELECT 1 "
					   "FROM files WHERE grp IN (") ||
			   strata_buf_put(&b, q->gsql.ptr, q->gsql.len) ||
			   strata_buf_puts(&b, ")")
		     : strata_buf_puts(&b, "SELECT count(*) FROM (SELECT 1 "
					   "FROM attrs WHERE ") ||
			   strata_buf_put(&b, q->sql.ptr + q->terms[i].sql0,
					  q->terms[i].sql1 - q->terms[i].sql0);
	if (rc || strata_buf_puts(&b, " LIMIT 20000)") || strata_buf_cstr(&b))
		goto out;
	if (sqlite3_prepare_v2(c->db, (char *)b.ptr, -1, &st, NULL) !=
	    SQLITE_OK)
		goto out;
	bind_all(st, q, 1); /* numbered: those it does not name are unused */
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
out:
	strata_buf_release(&b);
	return n;
}

int strata_catalog_query(strata_catalog *c, const char *query,
			 const char *dataset, bool all_versions,
			 strata_cat_hit_cb cb, void *payload)
{
	qp q;
	sqlite3_stmt *st = NULL;
	memset(&q, 0, sizeof(q));
	int rc = build(&q, c, query, dataset, all_versions, false, DRIVER_NONE);
	if (rc)
		goto out;
	if (q.pure_and &&
	    !(rc = build(&q, c, query, dataset, all_versions, true,
			 DRIVER_NONE)) &&
	    q.nterms <= 16 && q.nterms + (q.ngroups > 0) >= 2) {
		int best = DRIVER_GROUPS;
		int64_t least =
		    q.ngroups ? estimate(c, &q, DRIVER_GROUPS) : INT64_MAX;
		for (int i = 0; i < q.nterms; i++) {
			int64_t n = estimate(c, &q, i);
			if (n < least) {
				least = n;
				best = i;
			}
		}
		rc = build(&q, c, query, dataset, all_versions, true, best);
	}
	if (rc)
		goto out;
	if (getenv("STRATA_EXPLAIN") && (rc = explain(c, &q)))
		goto out;
	if (sqlite3_prepare_v2(c->db, (char *)q.sql.ptr, -1, &st, NULL) !=
	    SQLITE_OK) {
		rc = catalog__db_err(c, "compiling a query");
		goto out;
	}
	bind_all(st, &q, 1);
	while (!rc && sqlite3_step(st) == SQLITE_ROW) {
		char *ds = NULL, *path = NULL;
		size_t plen = 0;
		strata_cat_hit h;
		rc = catalog__unseal(c, &ds, NULL, "dataset",
				     sqlite3_column_blob(st, 0),
				     sqlite3_column_bytes(st, 0));
		if (!rc)
			rc = catalog__unseal(c, &path, &plen, "path",
					     sqlite3_column_blob(st, 2),
					     sqlite3_column_bytes(st, 2));
		if (!rc) {
			h.dataset = ds;
			h.version = (uint32_t)sqlite3_column_int64(st, 1);
			h.path = path;
			h.path_len = plen;
			h.size = (uint64_t)sqlite3_column_int64(st, 3);
			h.file_row = sqlite3_column_int64(st, 4);
			rc = cb(&h, payload);
		}
		strata_free(ds);
		strata_free(path);
	}
out:
	sqlite3_finalize(st);
	qp_release(&q);
	return rc;
}

int strata_catalog_file_attrs(strata_catalog *c, int64_t file_row,
			      strata_cat_attr_cb cb, void *payload)
{
	sqlite3_stmt *st;
	int rc = 0;
	if (sqlite3_prepare_v2(
		c->db,
		"SELECT key, v, v, enc FROM attrs WHERE file_id IN "
		"((SELECT meta FROM files WHERE rowid = ?1),"
		" (SELECT grp FROM files WHERE rowid = ?1))"
		" ORDER BY key",
		-1, &st, NULL) != SQLITE_OK)
		return catalog__db_err(c, "reading metadata");
	sqlite3_bind_int64(st, 1, file_row);
	while (!rc && sqlite3_step(st) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
			char *v = NULL;
			rc = catalog__unseal(c, &v, NULL, "attr",
					     sqlite3_column_blob(st, 3),
					     sqlite3_column_bytes(st, 3));
			if (!rc)
				rc = cb(key, 1, v, 0, payload);
			strata_free(v);
		} else if (sqlite3_column_type(st, 1) == SQLITE_TEXT) {
			rc =
			    cb(key, 1, (const char *)sqlite3_column_text(st, 1),
			       0, payload);
		} else {
			double n = sqlite3_column_double(st, 2);
			rc = cb(key, n == floor(n) && fabs(n) < 9e15 ? 2 : 3,
				NULL, n, payload);
		}
	}
	sqlite3_finalize(st);
	return rc;
}

static int snap_row(strata_catalog *c, const uint8_t id[32], int64_t *row)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(c->db,
			       "SELECT id FROM snapshots WHERE object_id=?", -1,
			       &st, NULL) != SQLITE_OK)
		return catalog__db_err(c, "finding a snapshot");
	sqlite3_bind_blob(st, 1, id, 32, SQLITE_STATIC);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		*row = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return r == SQLITE_ROW
		   ? 0
		   : strata_error_set(STRATA_ENOTFOUND,
				      "snapshot not in the catalog");
}

int strata_catalog_file_row(strata_catalog *c, const uint8_t snap_id[32],
			    const char *path, int64_t *row)
{
	sqlite3_stmt *st;
	int64_t sr;
	uint8_t m[32];
	int rc = snap_row(c, snap_id, &sr);
	if (rc)
		return rc;
	catalog__mac(c, m, "path", path, strlen(path));
	if (sqlite3_prepare_v2(
		c->db,
		"SELECT rowid FROM files WHERE snapshot_id = ? AND"
		" path_mac = ?",
		-1, &st, NULL) != SQLITE_OK)
		return catalog__db_err(c, "finding a file");
	sqlite3_bind_int64(st, 1, sr);
	sqlite3_bind_blob(st, 2, m, 32, SQLITE_STATIC);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		*row = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return r == SQLITE_ROW
		   ? 0
		   : strata_error_set(STRATA_ENOTFOUND,
				      "no file '%s' in that version", path);
}

int strata_catalog_summary(strata_catalog *c, const uint8_t snap_id[32],
			   const char *key, strata_cat_attr_cb cb,
			   void *payload)
{
	sqlite3_stmt *st;
	int64_t sr;
	int rc = snap_row(c, snap_id, &sr);
	if (rc)
		return rc;
	/* sealed keys are summarised by the number of distinct values */
	char sql[512];
	snprintf(sql, sizeof(sql),
		 strata_catalog_key_sealed(key)
		     ? "SELECT 'distinct', count(DISTINCT a.v) FROM attrs a "
		       "JOIN files f ON f.%s = a.file_id WHERE "
		       "f.snapshot_id = ? AND a.key = ?"
		     : "SELECT a.v, count(*) FROM attrs a JOIN files f ON "
		       "f.%s = a.file_id WHERE f.snapshot_id = ? AND "
		       "a.key = ? GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 50",
		 owner(key));
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return catalog__db_err(c, "summarising");
	sqlite3_bind_int64(st, 1, sr);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	while (!rc && sqlite3_step(st) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		rc = cb(v ? v : "", 2, v, (double)sqlite3_column_int64(st, 1),
			payload);
	}
	sqlite3_finalize(st);
	return rc;
}

int strata_catalog_edges(strata_catalog *c, const uint8_t snap_id[32],
			 bool down, strata_cat_edge_cb cb, void *payload)
{
	sqlite3_stmt *st;
	int rc = 0;
	const char *sql =
	    down ? "SELECT s.object_id, l.recipe_enc FROM lineage l JOIN "
		   "snapshots s ON s.id = l.child WHERE l.parent_object = ?"
		 : "SELECT l.parent_object, l.recipe_enc FROM lineage l JOIN "
		   "snapshots s ON s.id = l.child WHERE s.object_id = ?";
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return catalog__db_err(c, "reading lineage");
	sqlite3_bind_blob(st, 1, snap_id, 32, SQLITE_STATIC);
	while (!rc && sqlite3_step(st) == SQLITE_ROW) {
		char *recipe = NULL;
		if (sqlite3_column_bytes(st, 0) != 32)
			continue;
		uint8_t other[32];
		memcpy(other, sqlite3_column_blob(st, 0), 32);
		if (sqlite3_column_type(st, 1) != SQLITE_NULL)
			rc = catalog__unseal(c, &recipe, NULL, "recipe",
					     sqlite3_column_blob(st, 1),
					     sqlite3_column_bytes(st, 1));
		if (!rc)
			rc = cb(other, recipe, payload);
		strata_free(recipe);
	}
	sqlite3_finalize(st);
	return rc;
}

int strata_catalog_snap_name(strata_catalog *c, const uint8_t snap_id[32],
			     char **dataset, uint32_t *version)
{
	sqlite3_stmt *st;
	int rc;
	if (sqlite3_prepare_v2(
		c->db,
		"SELECT d.name_enc, s.version FROM snapshots s JOIN"
		" datasets d ON d.id = s.dataset_id WHERE"
		" s.object_id = ?",
		-1, &st, NULL) != SQLITE_OK)
		return catalog__db_err(c, "finding a snapshot");
	sqlite3_bind_blob(st, 1, snap_id, 32, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*version = (uint32_t)sqlite3_column_int64(st, 1);
		rc = catalog__unseal(c, dataset, NULL, "dataset",
				     sqlite3_column_blob(st, 0),
				     sqlite3_column_bytes(st, 0));
	} else {
		rc = strata_error_set(
		    STRATA_ENOTFOUND,
		    "source snapshot is not in this repository");
	}
	sqlite3_finalize(st);
	return rc;
}

int strata_catalog_values(strata_catalog *c, const uint8_t snap_id[32],
			  int64_t file_row, const char *key,
			  strata_cat_attr_cb cb, void *payload)
{
	sqlite3_stmt *st;
	int64_t sr = 0;
	int rc = file_row ? 0 : snap_row(c, snap_id, &sr);
	if (rc)
		return rc;
	char sql[512];
	snprintf(sql, sizeof(sql),
		 file_row ? "SELECT DISTINCT v FROM attrs WHERE file_id = "
			    "(SELECT %s FROM files WHERE rowid = ?) AND "
			    "key = ? ORDER BY 1"
			  : "SELECT DISTINCT a.v FROM attrs a JOIN files f ON "
			    "f.%s = a.file_id WHERE f.snapshot_id = ? AND "
			    "a.key = ? ORDER BY 1",
		 owner(key));
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return catalog__db_err(c, "listing values");
	sqlite3_bind_int64(st, 1, file_row ? file_row : sr);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	while (!rc && sqlite3_step(st) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		rc = cb(key, 1, v ? v : "", 0, payload);
	}
	sqlite3_finalize(st);
	return rc;
}

int strata_catalog_file_like(strata_catalog *c, const uint8_t snap_id[32],
			     const char *path, int64_t *row)
{
	uint8_t m[32];
	int rc = 0;
	/* asked for every file an ingest carries: the snapshot's row and
	 * the statement are kept */
	if (!c->like_snap_ok || memcmp(c->like_snap, snap_id, 32)) {
		if ((rc = snap_row(c, snap_id, &c->like_snap_row)))
			return rc;
		memcpy(c->like_snap, snap_id, 32);
		c->like_snap_ok = true;
	}
	if (!c->find_like &&
	    sqlite3_prepare_v2(c->db,
			       "SELECT rowid FROM files WHERE snapshot_id = ? "
			       "AND path_mac = ?",
			       -1, &c->find_like, NULL) != SQLITE_OK)
		return catalog__db_err(c, "finding a file");
	catalog__mac(c, m, "path", path, strlen(path));
	sqlite3_stmt *st = c->find_like;
	sqlite3_bind_int64(st, 1, c->like_snap_row);
	sqlite3_bind_blob(st, 2, m, 32, SQLITE_STATIC);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		*row = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return r == SQLITE_ROW ? 0 : STRATA_ENOTFOUND;
}
