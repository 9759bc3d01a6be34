/*
 * test_catalog.c - unit tests for the SQLite catalog (src/catalog/catalog.c):
 * snapshots, files, version lookups and listings, that names, paths and
 * messages never reach the database files in plaintext, and that another
 * key is refused.
 */
#include <sqlite3.h>

#include "unit.h"

#include "catalog/catalog.h"

#define DS1 "ZEBRAFISH-COHORT-7731"
#define DS2 "alpha-study-0815"
#define PATH1 "patients/JOHN-DOE-44812/scan-0001.dcm"
#define MSG1 "re-identified by KLINIKUM-NORD request 5512"

typedef struct fixture {
	char *dir;
	char db[PATH_MAX];
	uint8_t key[32], mac[32];
	strata_catalog *c;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->dir = unit_tmpdir();
	snprintf(f->db, sizeof(f->db), "%s/catalog.db", f->dir);
	unit_fill(f->key, 32, 1);
	unit_fill(f->mac, 32, 2);
	if (strata_catalog_open(&f->c, f->db, f->key, f->mac))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	strata_catalog_close(f->c);
	unit_rmtree(f->dir);
	free(f);
	return 0;
}

static strata_cat_snap snap(const char *ds, uint32_t v, uint32_t parent,
			    const char *msg)
{
	strata_cat_snap s;
	memset(&s, 0, sizeof(s));
	unit_fill(s.id, 32, (uint64_t)v * 1000 + strlen(ds));
	s.dataset = (char *)ds;
	s.version = v;
	s.time_ns = 1700000000000000000LL + v;
	s.message = (char *)msg;
	snprintf(s.layer, sizeof(s.layer), "%s", v % 2 ? "raw" : "curated");
	snprintf(s.klass, sizeof(s.klass), "%s", "phi");
	s.files = 10 * v;
	s.bytes = 1000 * v;
	s.parent_version = parent;
	return s;
}

/* DS1 v1..v3 with files, DS2 v1; all in one transaction. */
static void populate(fixture *f)
{
	int64_t row;
	uint8_t sha[32];
	unit_fill(sha, 32, 3);
	assert_int_equal(strata_catalog_begin(f->c), 0);
	for (uint32_t v = 1; v <= 3; v++) {
		strata_cat_snap s = snap(DS1, v, v - 1, v == 2 ? MSG1 : NULL);
		assert_int_equal(strata_catalog_add_snapshot(f->c, &s, &row),
				 0);
		for (int i = 0; i < 5; i++) {
			char p[128];
			snprintf(p, sizeof(p), "%s.%d", PATH1, i);
			assert_int_equal(strata_catalog_add_file(
					     f->c, row, p, strlen(p), 4096, sha,
					     "raw", "phi", 0, NULL),
					 0);
		}
	}
	strata_cat_snap s = snap(DS2, 1, 0, "first import");
	assert_int_equal(strata_catalog_add_snapshot(f->c, &s, &row), 0);
	assert_int_equal(strata_catalog_commit(f->c), 0);
}

static void test_find(void **state)
{
	fixture *f = *state;
	uint8_t id[32];
	uint32_t v = 0;
	populate(f);
	strata_cat_snap want = snap(DS1, 3, 2, NULL);
	assert_int_equal(strata_catalog_find(f->c, DS1, 0, id, &v), 0);
	assert_int_equal(v, 3);
	assert_memory_equal(id, want.id, 32);
	want = snap(DS1, 2, 1, NULL);
	assert_int_equal(strata_catalog_find(f->c, DS1, 2, id, &v), 0);
	assert_int_equal(v, 2);
	assert_memory_equal(id, want.id, 32);
	assert_int_equal(strata_catalog_find(f->c, DS1, 4, id, &v),
			 STRATA_ENOTFOUND);
	assert_int_equal(strata_catalog_find(f->c, "no-such", 0, id, &v),
			 STRATA_ENOTFOUND);
	/* lookups are exact: case and prefixes matter */
	assert_int_equal(
	    strata_catalog_find(f->c, "zebrafish-cohort-7731", 0, id, &v),
	    STRATA_ENOTFOUND);
	assert_int_equal(strata_catalog_find(f->c, "ZEBRAFISH", 0, id, &v),
			 STRATA_ENOTFOUND);
	want = snap(DS2, 1, 0, NULL);
	assert_int_equal(strata_catalog_find(f->c, DS2, 0, id, &v), 0);
	assert_int_equal(v, 1);
	assert_memory_equal(id, want.id, 32);

	assert_int_equal(strata_catalog_has_snapshot(f->c, want.id), 1);
	uint8_t absent[32];
	unit_fill(absent, 32, 12345);
	assert_int_equal(strata_catalog_has_snapshot(f->c, absent), 0);
	uint64_t n = 0;
	assert_int_equal(strata_catalog_snapshot_count(f->c, &n), 0);
	assert_int_equal(n, 4);

	/* a version number is taken once per dataset */
	int64_t row;
	strata_cat_snap dup = snap(DS1, 2, 1, NULL);
	dup.id[0] ^= 1;
	assert_int_equal(strata_catalog_begin(f->c), 0);
	assert_int_equal(strata_catalog_add_snapshot(f->c, &dup, &row),
			 STRATA_EEXIST);
	strata_catalog_rollback(f->c);
	assert_int_equal(strata_catalog_snapshot_count(f->c, &n), 0);
	assert_int_equal(n, 4);
}

typedef struct seen {
	char names[8][64];
	strata_cat_dataset d[8];
	strata_cat_snap s[8];
	char msgs[8][128];
	size_t n;
} seen;

static int on_dataset(const strata_cat_dataset *d, void *payload)
{
	seen *s = payload;
	assert_true(s->n < 8);
	s->d[s->n] = *d;
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", d->name);
	s->d[s->n].name = s->names[s->n];
	s->n++;
	return 0;
}

static int on_snap(const strata_cat_snap *sn, void *payload)
{
	seen *s = payload;
	assert_true(s->n < 8);
	s->s[s->n] = *sn;
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", sn->dataset);
	snprintf(s->msgs[s->n], sizeof(s->msgs[0]), "%s",
		 sn->message ? sn->message : "(null)");
	s->n++;
	return 0;
}

static int stop_first(const strata_cat_dataset *d, void *payload)
{
	(void)d;
	(*(int *)payload)++;
	return 7;
}

static void test_listing(void **state)
{
	fixture *f = *state;
	seen s;
	memset(&s, 0, sizeof(s));
	assert_int_equal(strata_catalog_datasets(f->c, on_dataset, &s), 0);
	assert_int_equal(s.n, 0);
	populate(f);

	memset(&s, 0, sizeof(s));
	assert_int_equal(strata_catalog_datasets(f->c, on_dataset, &s), 0);
	assert_int_equal(s.n, 2);
	/* sorted by name, byte order */
	assert_string_equal(s.names[0], DS1);
	assert_int_equal(s.d[0].versions, 3);
	assert_int_equal(s.d[0].latest, 3);
	assert_string_equal(s.d[0].layer, "raw");
	assert_string_equal(s.d[0].klass, "phi");
	assert_string_equal(s.names[1], DS2);
	assert_int_equal(s.d[1].versions, 1);
	assert_int_equal(s.d[1].latest, 1);

	int calls = 0;
	assert_int_equal(strata_catalog_datasets(f->c, stop_first, &calls), 7);
	assert_int_equal(calls, 1);

	memset(&s, 0, sizeof(s));
	assert_int_equal(strata_catalog_log(f->c, DS1, on_snap, &s), 0);
	assert_int_equal(s.n, 3);
	for (uint32_t i = 0; i < 3; i++) {
		strata_cat_snap want = snap(DS1, i + 1, i, NULL);
		assert_string_equal(s.names[i], DS1);
		assert_int_equal(s.s[i].version, i + 1);
		assert_memory_equal(s.s[i].id, want.id, 32);
		assert_true(s.s[i].time_ns == want.time_ns);
		assert_string_equal(s.s[i].layer, want.layer);
		assert_string_equal(s.s[i].klass, "phi");
		assert_int_equal(s.s[i].files, want.files);
		assert_int_equal(s.s[i].bytes, want.bytes);
		assert_int_equal(s.s[i].parent_version, i);
	}
	assert_string_equal(s.msgs[0], "(null)");
	assert_string_equal(s.msgs[1], MSG1);
	assert_int_equal(strata_catalog_log(f->c, "no-such", on_snap, &s),
			 STRATA_ENOTFOUND);

	memset(&s, 0, sizeof(s));
	assert_int_equal(strata_catalog_all(f->c, on_snap, &s), 0);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.names[3], DS2);
	assert_string_equal(s.msgs[3], "first import");
}

/* Look for a needle in a file, if the file exists. */
static bool file_has(const char *path, const char *needle)
{
	size_t len = 0;
	uint8_t *p = unit_slurp(path, &len);
	if (!p)
		return false;
	bool hit = memmem(p, len, needle, strlen(needle)) != NULL;
	free(p);
	return hit;
}

static void no_plaintext(const fixture *f)
{
	static const char *const needles[] = {
	    DS1,	 "ZEBRAFISH", DS2,	 PATH1, "JOHN-DOE-44812",
	    "scan-0001", MSG1,	      "KLINIKUM"};
	const char *suffix[] = {"", "-wal", "-journal"};
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		char path[PATH_MAX + 16];
		snprintf(path, sizeof(path), "%s%s", f->db, suffix[i]);
		for (size_t j = 0; j < sizeof(needles) / sizeof(needles[0]);
		     j++)
			if (file_has(path, needles[j]))
				fail_msg("'%s' holds '%s' in plaintext", path,
					 needles[j]);
	}
}

static void test_no_plaintext(void **state)
{
	fixture *f = *state;
	size_t len = 0;
	populate(f);
	/* while open, the new pages are in the WAL */
	char wal[PATH_MAX + 8];
	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	uint8_t *p = unit_slurp(wal, &len);
	assert_non_null(p);
	assert_true(len > 0);
	free(p);
	/* the test can see plaintext: layer and class are stored in clear */
	assert_true(file_has(wal, "curated") || file_has(f->db, "curated"));
	no_plaintext(f);
	strata_catalog_close(f->c);
	f->c = NULL;
	no_plaintext(f);
}

static void test_other_key(void **state)
{
	fixture *f = *state;
	uint8_t id[32], key2[32];
	uint32_t v;
	populate(f);
	strata_catalog_close(f->c);
	f->c = NULL;

	memcpy(key2, f->key, 32);
	key2[0] ^= 1;
	strata_catalog *c2 = NULL;
	assert_int_equal(strata_catalog_open(&c2, f->db, key2, f->mac),
			 STRATA_EAUTH);
	assert_null(c2);

	/* the right key still opens it, with the data intact */
	assert_int_equal(strata_catalog_open(&f->c, f->db, f->key, f->mac), 0);
	assert_int_equal(strata_catalog_find(f->c, DS1, 0, id, &v), 0);
	assert_int_equal(v, 3);
	/* and a second handle with another key is refused while it is open */
	assert_int_equal(strata_catalog_open(&c2, f->db, key2, f->mac),
			 STRATA_EAUTH);
	assert_null(c2);
}

static int count_snap(const strata_cat_snap *s, void *payload)
{
	(void)s;
	(*(int *)payload)++;
	return 0;
}

static int count_ds(const strata_cat_dataset *d, void *payload)
{
	(void)d;
	(*(int *)payload)++;
	return 0;
}

/* Run one statement on the catalog file behind the library's back. */
static void tamper(const fixture *f, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_true(sqlite3_changes(db) > 0);
	sqlite3_close(db);
}

/* A damaged sealed value is an error, never an empty string. */
static void test_damaged_values(void **state)
{
	fixture *f = *state;
	static const char *const damage[] = {
	    /* one flipped byte, then a value cut below nonce + tag */
	    "UPDATE datasets SET name_enc = "
	    " substr(name_enc, 1, 20) || x'00' || substr(name_enc, 22)"
	    " WHERE id = 1",
	    "UPDATE datasets SET name_enc = substr(name_enc, 1, 27)"
	    " WHERE id = 1",
	    "UPDATE datasets SET name_enc = x'' WHERE id = 1",
	    "UPDATE snapshots SET message_enc = substr(message_enc, 1, 10)"
	    " WHERE message_enc IS NOT NULL"};
	char missed[64] = "";
	for (size_t i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
		int n = 0;
		populate(f);
		strata_catalog_close(f->c);
		f->c = NULL;
		tamper(f, damage[i]);
		assert_int_equal(
		    strata_catalog_open(&f->c, f->db, f->key, f->mac), 0);
		int rc = strata_catalog_all(f->c, count_snap, &n);
		int rc2 = strata_catalog_datasets(f->c, count_ds, &n);
		if (rc == 0 && (i == 3 || rc2 == 0)) {
			size_t l = strlen(missed);
			snprintf(missed + l, sizeof(missed) - l, " %zu", i);
		}
		strata_catalog_close(f->c);
		f->c = NULL;
		unlink(f->db);
		assert_int_equal(
		    strata_catalog_open(&f->c, f->db, f->key, f->mac), 0);
	}
	if (*missed)
		fail_msg("damaged values read back as empty strings (cases%s)",
			 missed);
}

/* ---- shared attribute groups ---- */

static int count_hit(const strata_cat_hit *h, void *payload)
{
	(void)h;
	(*(int *)payload)++;
	return 0;
}

static int find_n(strata_catalog *c, const char *q)
{
	int n = 0;
	assert_int_equal(strata_catalog_query(c, q, NULL, false, count_hit, &n),
			 0);
	return n;
}

typedef struct attr_seen {
	int keys;
	bool sop, modality;
} attr_seen;

static int see_attr(const char *key, int type, const char *s, double n,
		    void *payload)
{
	attr_seen *x = payload;
	(void)type;
	(void)n;
	x->keys++;
	x->sop |=
	    !strcmp(key, "dicom.SOPInstanceUID") && s && !strcmp(s, "1.2.3.2");
	x->modality |= !strcmp(key, "dicom.Modality") && s && !strcmp(s, "MR");
	return 0;
}

static int64_t count_rows(const fixture *f, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* Four images of one MR series and one CT image: the series' common
 * attributes are stored once, per-image ones per file, and queries mixing
 * both sides (and, or, not, !=) find exactly the right files, also for a
 * file carried into a second version. */
/* Four MR images and one CT image of one patient (test_groups, and the
 * same rows staged in test_stage): two attribute groups (MR 1 mm, CT
 * 5 mm) of 3 shared attributes each, and 2 per-image attributes for each
 * of the 5 files. */
static void check_two_groups(fixture *f)
{
	assert_int_equal(count_rows(f, "SELECT count(*) FROM groups"), 2);
	assert_int_equal(
	    count_rows(f, "SELECT count(*) FROM attrs WHERE file_id < 0"), 6);
	assert_int_equal(
	    count_rows(f, "SELECT count(*) FROM attrs WHERE file_id > 0"), 10);
}

static void test_groups(void **state)
{
	fixture *f = *state;
	int64_t snap_row, row, rows[5];
	uint8_t sha[32];
	unit_fill(sha, 32, 9);
	assert_int_equal(strata_catalog_begin(f->c), 0);
	strata_cat_snap s1 = snap(DS1, 1, 0, NULL);
	assert_int_equal(strata_catalog_add_snapshot(f->c, &s1, &snap_row), 0);
	for (int i = 0; i < 5; i++) {
		char p[32], sop[32];
		snprintf(p, sizeof(p), "img%d.dcm", i);
		snprintf(sop, sizeof(sop), "1.2.3.%d", i);
		bool ct = i == 4;
		strata_cat_attr a[] = {
		    {"dicom.Modality", 1, ct ? "CT" : "MR", 0},
		    {"dicom.PatientID", 1, "PAT-7", 0},
		    {"dicom.SliceThickness", 3, NULL, ct ? 5.0 : 1.0},
		    {"dicom.SOPInstanceUID", 1, sop, 0},
		    {"dicom.InstanceNumber", 2, NULL, (double)(i + 1)},
		};
		assert_int_equal(
		    strata_catalog_add_file(f->c, snap_row, p, strlen(p), 10,
					    sha, "raw", "phi", 0, &rows[i]),
		    0);
		assert_int_equal(strata_catalog_add_attrs(f->c, rows[i], a, 5),
				 0);
	}
	assert_int_equal(strata_catalog_commit(f->c), 0);
	check_two_groups(f);

	assert_int_equal(find_n(f->c, "dicom.Modality = MR"), 4);
	assert_int_equal(find_n(f->c, "dicom.PatientID = PAT-7"), 5);
	assert_int_equal(find_n(f->c, "dicom.InstanceNumber >= 2"), 4);
	assert_int_equal(
	    find_n(f->c, "dicom.Modality = MR and dicom.InstanceNumber >= 2"),
	    3);
	assert_int_equal(find_n(f->c, "dicom.Modality = MR and "
				      "dicom.SliceThickness <= 1 and "
				      "dicom.SOPInstanceUID = '1.2.3.2'"),
			 1);
	assert_int_equal(find_n(f->c, "dicom.Modality = CT and "
				      "dicom.SOPInstanceUID = '1.2.3.2'"),
			 0);
	assert_int_equal(
	    find_n(f->c, "dicom.Modality = CT or dicom.InstanceNumber = 1"), 2);
	assert_int_equal(
	    find_n(f->c,
		   "not dicom.Modality = MR and dicom.InstanceNumber > 0"),
	    1);
	assert_int_equal(find_n(f->c, "dicom.Modality != MR"), 1);

	/* show: both sides of one file */
	attr_seen x = {0, false, false};
	assert_int_equal(strata_catalog_file_attrs(f->c, rows[2], see_attr, &x),
			 0);
	assert_int_equal(x.keys, 5);
	assert_true(x.sop && x.modality);

	/* v2 carries img2 unchanged: it shares both of its rows */
	assert_int_equal(strata_catalog_begin(f->c), 0);
	strata_cat_snap s2 = snap(DS1, 2, 1, NULL);
	assert_int_equal(strata_catalog_add_snapshot(f->c, &s2, &snap_row), 0);
	assert_int_equal(
	    strata_catalog_file_like(f->c, s1.id, "img2.dcm", &row), 0);
	assert_int_equal(row, rows[2]);
	assert_int_equal(strata_catalog_add_file(f->c, snap_row, "img2.dcm", 8,
						 10, sha, "raw", "phi", row,
						 &row),
			 0);
	assert_int_equal(strata_catalog_commit(f->c), 0);
	assert_int_equal(find_n(f->c, "dicom.Modality = MR"), 1);
	assert_int_equal(find_n(f->c, "dicom.Modality = MR and "
				      "dicom.SOPInstanceUID = '1.2.3.2'"),
			 1);
	assert_int_equal(find_n(f->c, "dicom.SOPInstanceUID = '1.2.3.3'"), 0);
	assert_int_equal(strata_catalog_file_like(f->c, s1.id, "nope", &row),
			 STRATA_ENOTFOUND);
}

/* Five files of two series, as test_groups adds them, but staged. */
static void stage_series(fixture *f, const char *modality, int first, int n)
{
	uint8_t sha[32];
	unit_fill(sha, 32, 9);
	for (int i = first; i < first + n; i++) {
		char p[32], sop[32];
		snprintf(p, sizeof(p), "img%d.dcm", i);
		snprintf(sop, sizeof(sop), "1.2.3.%d", i);
		bool ct = i == 4;
		strata_cat_attr a[] = {
		    {"dicom.Modality", 1, ct ? "CT" : modality, 0},
		    {"dicom.PatientID", 1, "PAT-7", 0},
		    {"dicom.SliceThickness", 3, NULL, ct ? 5.0 : 1.0},
		    {"dicom.SOPInstanceUID", 1, sop, 0},
		    {"dicom.InstanceNumber", 2, NULL, (double)(i + 1)},
		};
		assert_int_equal(strata_catalog_stage_file(f->c, p, strlen(p),
							   10, sha, a, 5),
				 0);
	}
}

/* Version v of DS1, opened in a transaction: its snapshot row (and id,
 * if asked). */
static int64_t begin_version(fixture *f, uint32_t v, uint8_t id[32])
{
	int64_t row;
	strata_cat_snap sv = snap(DS1, v, v - 1, NULL);
	if (id)
		memcpy(id, sv.id, 32);
	assert_int_equal(strata_catalog_begin(f->c), 0);
	assert_int_equal(strata_catalog_add_snapshot(f->c, &sv, &row), 0);
	return row;
}

/* The staged rows into snap_row, then the version kept or rolled back. */
static void end_version(fixture *f, int64_t snap_row, bool keep,
			const uint8_t prev[32])
{
	assert_int_equal(
	    strata_catalog_stage_commit(f->c, snap_row, "raw", "phi", prev), 0);
	if (keep)
		assert_int_equal(strata_catalog_commit(f->c), 0);
	else
		strata_catalog_rollback(f->c);
	strata_catalog_stage_end(f->c);
}

static void test_stage(void **state)
{
	fixture *f = *state;
	int64_t snap_row, row;
	uint8_t sha[32];
	unit_fill(sha, 32, 9);
	/* staged rows are the rows test_groups adds one by one */
	assert_int_equal(strata_catalog_stage_begin(f->c), 0);
	assert_int_not_equal(strata_catalog_stage_begin(f->c), 0);
	stage_series(f, "MR", 0, 5);
	assert_int_equal(strata_catalog_stage_done(f->c), 0);
	uint8_t v1[32], v2[32];
	snap_row = begin_version(f, 1, v1);
	/* a carried file is added directly, before the staged ones */
	assert_int_equal(strata_catalog_add_file(f->c, snap_row, "notes.txt", 9,
						 4, sha, "raw", "phi", 0, &row),
			 0);
	end_version(f, snap_row, true, NULL);
	assert_int_equal(count_rows(f, "SELECT count(*) FROM files"), 6);
	assert_int_equal(
	    count_rows(f, "SELECT count(*) FROM files WHERE meta != rowid"), 0);
	assert_int_equal(
	    count_rows(f, "SELECT count(*) FROM files WHERE grp != 0"), 5);
	check_two_groups(f);
	assert_int_equal(find_n(f->c, "dicom.Modality = MR"), 4);
	assert_int_equal(find_n(f->c, "dicom.Modality = MR and "
				      "dicom.SliceThickness <= 1 and "
				      "dicom.SOPInstanceUID = '1.2.3.2'"),
			 1);
	assert_int_equal(
	    find_n(f->c, "dicom.Modality = CT or dicom.InstanceNumber = 1"), 2);

	/* v2: an MR file joins the existing group, a US file makes a new
	 * one; the existing group's rows are not added again */
	assert_int_equal(strata_catalog_stage_begin(f->c), 0);
	stage_series(f, "MR", 5, 1);
	stage_series(f, "US", 6, 1);
	/* img2 carried unchanged from v1 shares its row's attributes; a
	 * carried file v1's catalog has no row for gets a plain one */
	assert_int_equal(
	    strata_catalog_stage_carried(f->c, "img2.dcm", 8, 10, sha), 0);
	assert_int_equal(
	    strata_catalog_stage_carried(f->c, "lost.txt", 8, 3, sha), 0);
	assert_int_equal(strata_catalog_stage_done(f->c), 0);
	end_version(f, begin_version(f, 2, v2), true, v1);
	assert_int_equal(count_rows(f, "SELECT count(*) FROM groups"), 3);
	assert_int_equal(
	    count_rows(f, "SELECT count(*) FROM attrs WHERE file_id < 0"), 9);
	assert_int_equal(count_rows(f, "SELECT count(*) FROM files"), 10);
	assert_int_equal(
	    count_rows(f, "SELECT count(*) FROM attrs WHERE file_id > 0"), 14);
	assert_int_equal(find_n(f->c, "dicom.Modality = MR"), 2); /* v2 */
	assert_int_equal(find_n(f->c, "dicom.SOPInstanceUID = '1.2.3.2'"), 1);
	assert_int_equal(find_n(f->c, "dicom.Modality = US and "
				      "dicom.SOPInstanceUID = '1.2.3.6'"),
			 1);

	/* a version that fails leaves no staged row behind, and the next
	 * staging starts afresh */
	assert_int_equal(strata_catalog_stage_begin(f->c), 0);
	stage_series(f, "XA", 7, 2);
	assert_int_equal(strata_catalog_stage_done(f->c), 0);
	snap_row = begin_version(f, 3, NULL);
	end_version(f, snap_row, false, NULL);
	assert_int_equal(count_rows(f, "SELECT count(*) FROM files"), 10);
	assert_int_equal(find_n(f->c, "dicom.Modality = XA"), 0);
	assert_int_equal(strata_catalog_stage_begin(f->c), 0);
	assert_int_not_equal(
	    strata_catalog_stage_commit(f->c, snap_row, "raw", "phi", NULL), 0);
	strata_catalog_stage_end(f->c);
	strata_catalog_stage_end(f->c); /* twice: nothing to end */
	/* ended half way (the staging thread failed): nothing is left open,
	 * and a version is made without it */
	assert_int_equal(strata_catalog_stage_begin(f->c), 0);
	stage_series(f, "XA", 7, 2);
	strata_catalog_stage_end(f->c);
	begin_version(f, 3, NULL);
	assert_int_equal(strata_catalog_commit(f->c), 0);
	assert_int_equal(count_rows(f, "SELECT count(*) FROM files"), 10);
	/* a carried file whose earlier row has another size: the catalog
	 * does not match the store, and nothing is added */
	assert_int_equal(strata_catalog_stage_begin(f->c), 0);
	assert_int_equal(
	    strata_catalog_stage_carried(f->c, "img2.dcm", 8, 99, sha), 0);
	assert_int_equal(strata_catalog_stage_done(f->c), 0);
	snap_row = begin_version(f, 4, NULL);
	assert_int_equal(
	    strata_catalog_stage_commit(f->c, snap_row, "raw", "phi", v2),
	    STRATA_ECORRUPT);
	strata_catalog_rollback(f->c);
	strata_catalog_stage_end(f->c);
	assert_int_equal(count_rows(f, "SELECT count(*) FROM files"), 10);
}

static void test_bad_path(void **state)
{
	fixture *f = *state;
	strata_catalog *c2 = NULL;
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/missing/dir/catalog.db", f->dir);
	assert_int_not_equal(strata_catalog_open(&c2, path, f->key, f->mac), 0);
	assert_null(c2);
	strata_catalog_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_find, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_listing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_plaintext, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damaged_values, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_bad_path, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_groups, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stage, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
