/*
 * test_audit.c - unit tests for the audit log (src/audit): round trips,
 * dense seqs across commits, reopenings and concurrent processes, tamper
 * detection naming the right record, filters, FHIR output, hostile bytes
 * in strings and in the files, and rollback of a failed commit.
 */
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "unit.h"

#include "audit/audit_int.h"

static const uint8_t SEED[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static const char ORIGIN[] = "repo-1234";
#define T0 INT64_C(1700000000000000000)

static void pk_of(const uint8_t seed[32], uint8_t pk[32])
{
	uint8_t sk[64];
	strata_audit_keypair(seed, pk, sk);
}

static char *subdir(const char *base, const char *name)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", base, name);
	char *r = strdup(p);
	assert_non_null(r);
	return r;
}

/* A record with deterministic content: seq i, time T0 + i seconds. */
static void rec_init(strata_audit_rec *r, unsigned i, const char **subj)
{
	static char detail[64];
	memset(r, 0, sizeof(*r));
	snprintf(detail, sizeof(detail), "record number %u", i);
	r->time_ns = T0 + (int64_t)i * 1000000000;
	r->actor = i % 2 ? "alice" : "bob";
	r->role = "analyst";
	r->action = i % 3 == 0 ? "read" : i % 3 == 1 ? "ingest" : "export";
	r->object = "ct@v3:series1/a.dcm";
	subj[0] = i % 2 ? "psn-A" : "psn-B";
	subj[1] = "psn-C";
	r->subjects = subj;
	r->nsubjects = i % 4 == 0 ? 0 : i % 4 == 1 ? 1 : 2;
	r->purpose = "HRESCH";
	r->decision = "allow";
	r->outcome = "ok";
	r->bytes = i * 100u;
	r->detail = detail;
}

/* `ncommits` commits of `per` records, numbered from 1. */
static void build(const char *dir, const uint8_t seed[32], unsigned ncommits,
		  unsigned per, const char *altered)
{
	strata_audit *a;
	const char *subj[2];
	unsigned i = 1;
	assert_int_equal(strata_audit_open(&a, dir, ORIGIN, seed), 0);
	for (unsigned c = 0; c < ncommits; c++) {
		for (unsigned k = 0; k < per; k++, i++) {
			strata_audit_rec r;
			rec_init(&r, i, subj);
			if (altered && i == 15)
				r.detail = altered;
			assert_int_equal(strata_audit_append(a, &r), 0);
		}
		assert_int_equal(strata_audit_commit(a), 0);
	}
	strata_audit_close(a);
}

static int verify(const char *dir, strata_audit_report *rep)
{
	uint8_t pk[32];
	pk_of(SEED, pk);
	return strata_audit_verify(dir, ORIGIN, pk, rep);
}

static void expect_bad(const char *dir, uint64_t first, const char *what)
{
	strata_audit_report rep;
	int rc = verify(dir, &rep);
	if (rc != STRATA_ECORRUPT || rep.first_bad != first ||
	    !strstr(rep.what, what))
		fail_msg("verify: rc %d, first_bad %" PRIu64 ", what '%s'; "
			 "wanted first_bad %" PRIu64 " and '%s'",
			 rc, rep.first_bad, rep.what, first, what);
	assert_non_null(strstr(strata_error_msg(), what));
}

/* ---- file surgery ---- */

typedef struct flines {
	char *data;
	size_t len;
	size_t n;
	size_t off[256]; /* start of each line */
} flines;

static void fl_load(flines *f, const char *path)
{
	memset(f, 0, sizeof(*f));
	f->data = (char *)unit_slurp(path, &f->len);
	assert_non_null(f->data);
	for (size_t i = 0; i < f->len; i++)
		if (i == 0 || f->data[i - 1] == '\n') {
			assert_true(f->n < 256);
			f->off[f->n++] = i;
		}
}

static size_t fl_end(const flines *f, size_t i)
{
	return i + 1 < f->n ? f->off[i + 1] : f->len;
}

/* Write the lines in `order` (indices; -1 ends) to path. */
static void fl_write(const flines *f, const char *path, const int *order)
{
	FILE *o = fopen(path, "wb");
	assert_non_null(o);
	for (; *order >= 0; order++) {
		size_t i = (size_t)*order;
		fwrite(f->data + f->off[i], 1, fl_end(f, i) - f->off[i], o);
	}
	fclose(o);
}

static void write_bytes(const char *path, const void *p, size_t n)
{
	FILE *o = fopen(path, "wb");
	assert_non_null(o);
	assert_int_equal(fwrite(p, 1, n, o), n);
	fclose(o);
}

typedef struct fixture {
	char *root, *dir, *seg, *ck;
} fixture;

/* 30 records in 3 commits of 10: checkpoints sign 10, 20 and 30. */
static fixture fx_new(void)
{
	fixture x;
	x.root = unit_tmpdir();
	x.dir = subdir(x.root, "audit");
	x.seg = subdir(x.dir, "log-000001.jsonl");
	x.ck = subdir(x.dir, "checkpoints");
	build(x.dir, SEED, 3, 10, NULL);
	strata_audit_report rep;
	assert_int_equal(verify(x.dir, &rep), 0);
	assert_int_equal(rep.records, 30);
	assert_int_equal(rep.checkpoints, 3);
	return x;
}

static void fx_free(fixture *x)
{
	free(x->dir);
	free(x->seg);
	free(x->ck);
	unit_rmtree(x->root);
}

/* ---- round trips ---- */

typedef struct collect {
	size_t n;
	uint64_t seq[4096];
	char first_detail[256];
	char first_actor[256];
	char subj0[256];
	size_t nsubj;
} collect;

static int collect_cb(const strata_audit_rec *r, void *payload)
{
	collect *c = payload;
	if (c->n == 0) {
		snprintf(c->first_detail, sizeof(c->first_detail), "%s",
			 r->detail ? r->detail : "(null)");
		snprintf(c->first_actor, sizeof(c->first_actor), "%s",
			 r->actor);
		snprintf(c->subj0, sizeof(c->subj0), "%s",
			 r->nsubjects ? r->subjects[0] : "");
		c->nsubj = r->nsubjects;
		assert_non_null(r->hash);
		assert_int_equal(strlen(r->hash), 64);
	}
	if (c->n < 4096)
		c->seq[c->n] = r->seq;
	c->n++;
	return 0;
}

static void test_roundtrip(void **state)
{
	(void)state;
	char *root = unit_tmpdir(), *dir = subdir(root, "a/b/audit");
	strata_audit *a;
	const char *subj[] = {"psn-1", "psn-2"};
	strata_audit_rec r = {.actor = "alice",
			      .role = "steward",
			      .action = "read",
			      .object = "ct@v3",
			      .subjects = subj,
			      .nsubjects = 2,
			      .decision = "allow",
			      .outcome = "ok",
			      .bytes = 42};
	assert_int_equal(strata_audit_open(&a, dir, ORIGIN, SEED), 0);
	struct stat st;
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	for (int i = 0; i < 3; i++)
		assert_int_equal(strata_audit_append(a, &r), 0);
	assert_int_equal(strata_audit_pending(a), 3);
	/* nothing is written before commit */
	collect c = {0};
	assert_int_equal(strata_audit_scan(dir, NULL, collect_cb, &c), 0);
	assert_int_equal(c.n, 0);
	assert_int_equal(strata_audit_commit(a), 0);
	assert_int_equal(strata_audit_pending(a), 0);
	assert_int_equal(strata_audit_commit(a), 0); /* empty: no-op */
	strata_audit_close(a);

	assert_int_equal(strata_audit_scan(dir, NULL, collect_cb, &c), 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.seq[0], 1);
	assert_int_equal(c.seq[2], 3);
	assert_string_equal(c.first_actor, "alice");
	assert_string_equal(c.first_detail, "(null)");
	assert_string_equal(c.subj0, "psn-1");
	assert_int_equal(c.nsubj, 2);

	strata_audit_report rep;
	assert_int_equal(verify(dir, &rep), 0);
	assert_int_equal(rep.records, 3);
	assert_int_equal(rep.checkpoints, 1);
	assert_int_equal(rep.first_bad, 0);
	assert_int_equal(rep.unsigned_records, 0);
	assert_int_equal(rep.head_seq, 3);
	assert_int_equal(strlen(rep.head_hash), 64);
	assert_string_equal(rep.what, "");

	/* the wrong key or origin fails at the first checkpoint */
	uint8_t pk[32], other[32] = {9};
	pk_of(other, pk);
	assert_int_equal(strata_audit_verify(dir, ORIGIN, pk, &rep),
			 STRATA_ECORRUPT);
	assert_non_null(strstr(rep.what, "checkpoint 1 has a bad signature"));
	pk_of(SEED, pk);
	assert_int_equal(strata_audit_verify(dir, "repo-other", pk, &rep),
			 STRATA_ECORRUPT);

	/* a missing directory is not an empty log */
	assert_int_equal(
	    strata_audit_scan("/nonexistent/x", NULL, collect_cb, &c),
	    STRATA_ENOTFOUND);
	free(dir);
	unit_rmtree(root);
}

static void test_dense_reopen(void **state)
{
	(void)state;
	char *root = unit_tmpdir(), *dir = subdir(root, "audit");
	const char *subj[2];
	unsigned i = 1;
	for (unsigned round = 0; round < 6; round++) {
		strata_audit *a;
		assert_int_equal(strata_audit_open(&a, dir, ORIGIN, SEED), 0);
		strata_audit_set_segment_size(a, 2000); /* rotate often */
		for (unsigned c = 0; c < 3; c++) {
			for (unsigned k = 0; k <= round; k++, i++) {
				strata_audit_rec r;
				rec_init(&r, i, subj);
				assert_int_equal(strata_audit_append(a, &r), 0);
			}
			assert_int_equal(strata_audit_commit(a), 0);
		}
		/* uncommitted records are dropped on close */
		strata_audit_rec r;
		rec_init(&r, 999, subj);
		assert_int_equal(strata_audit_append(a, &r), 0);
		strata_audit_close(a);
	}
	unsigned total = i - 1;
	collect c = {0};
	assert_int_equal(strata_audit_scan(dir, NULL, collect_cb, &c), 0);
	assert_int_equal(c.n, total);
	for (size_t k = 0; k < c.n; k++)
		assert_int_equal(c.seq[k], k + 1);
	uint32_t *segs;
	size_t nseg;
	assert_int_equal(audit__segments(dir, &segs, &nseg), 0);
	assert_true(nseg > 3);
	for (size_t k = 0; k < nseg; k++)
		assert_int_equal(segs[k], k + 1);
	strata_free(segs);
	strata_audit_report rep;
	assert_int_equal(verify(dir, &rep), 0);
	assert_int_equal(rep.records, total);
	assert_int_equal(rep.checkpoints, 18);

	/* deleting a whole middle segment is caught */
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/log-000002.jsonl", dir);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(verify(dir, &rep), STRATA_ECORRUPT);
	assert_non_null(strstr(rep.what, "missing"));
	free(dir);
	unit_rmtree(root);
}

/* Two processes commit concurrently: whole batches interleave. */
static void test_concurrent(void **state)
{
	(void)state;
	char *root = unit_tmpdir(), *dir = subdir(root, "audit");
	enum { NPROC = 3, NCOMMIT = 40, PER = 3 };
	pid_t pid[NPROC];
	for (int p = 0; p < NPROC; p++) {
		pid[p] = fork();
		assert_true(pid[p] >= 0);
		if (pid[p] > 0)
			continue;
		strata_audit *a;
		char actor[16];
		int bad = strata_audit_open(&a, dir, ORIGIN, SEED) != 0;
		snprintf(actor, sizeof(actor), "proc-%d", p);
		for (int c = 0; !bad && c < NCOMMIT; c++) {
			for (int k = 0; k < PER; k++) {
				strata_audit_rec r = {.actor = actor,
						      .action = "read",
						      .outcome = "ok"};
				bad |= strata_audit_append(a, &r) != 0;
			}
			bad |= strata_audit_commit(a) != 0;
		}
		strata_audit_close(a);
		_exit(bad);
	}
	for (int p = 0; p < NPROC; p++) {
		int st;
		assert_int_equal(waitpid(pid[p], &st, 0), pid[p]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	strata_audit_report rep;
	assert_int_equal(verify(dir, &rep), 0);
	assert_int_equal(rep.records, NPROC * NCOMMIT * PER);
	assert_int_equal(rep.checkpoints, NPROC * NCOMMIT);
	for (int p = 0; p < NPROC; p++) {
		char actor[16];
		snprintf(actor, sizeof(actor), "proc-%d", p);
		strata_audit_filter f = {.actor = actor};
		collect c = {0};
		assert_int_equal(strata_audit_scan(dir, &f, collect_cb, &c), 0);
		assert_int_equal(c.n, NCOMMIT * PER);
		/* a batch stays contiguous */
		for (size_t k = 0; k < c.n; k += PER)
			assert_int_equal(c.seq[k + PER - 1],
					 c.seq[k] + PER - 1);
	}
	free(dir);
	unit_rmtree(root);
}

/* ---- tampering ---- */

static void test_tamper_edit(void **state)
{
	(void)state;
	fixture x = fx_new();
	flines f;
	fl_load(&f, x.seg);
	char *d = strstr(f.data + f.off[11], "record number 12");
	assert_non_null(d);
	d[0] = 'R';
	write_bytes(x.seg, f.data, f.len);
	expect_bad(x.dir, 12, "record 12 was edited (hash does not match)");
	/* the writer refuses nothing here (the tail is intact) but verify
	 * keeps finding it */
	free(f.data);
	fx_free(&x);
}

static void test_tamper_delete(void **state)
{
	(void)state;
	fixture x = fx_new();
	flines f;
	fl_load(&f, x.seg);
	int order[31], k = 0;
	for (int i = 0; i < 30; i++)
		if (i != 16)
			order[k++] = i;
	order[k] = -1;
	fl_write(&f, x.seg, order);
	expect_bad(x.dir, 17, "record 17 is missing (16 is followed by 18)");
	free(f.data);
	fx_free(&x);
}

static void test_tamper_swap(void **state)
{
	(void)state;
	fixture x = fx_new();
	flines f;
	fl_load(&f, x.seg);
	int order[31];
	for (int i = 0; i < 30; i++)
		order[i] = i;
	order[4] = 5;
	order[5] = 4;
	order[30] = -1;
	fl_write(&f, x.seg, order);
	expect_bad(x.dir, 5, "records 5 and 6 are out of order");
	free(f.data);
	fx_free(&x);
}

static void test_tamper_truncate(void **state)
{
	(void)state;
	fixture x = fx_new();
	flines f;
	fl_load(&f, x.seg);
	/* to a line boundary: the last record is gone */
	write_bytes(x.seg, f.data, f.off[29]);
	expect_bad(x.dir, 30,
		   "log truncated: checkpoint 3 signs 30 records, the log "
		   "holds 29");
	/* the writer refuses to bury the evidence */
	strata_audit *a;
	strata_audit_rec r = {.actor = "eve", .action = "read"};
	assert_int_equal(strata_audit_open(&a, x.dir, ORIGIN, SEED), 0);
	assert_int_equal(strata_audit_append(a, &r), 0);
	assert_int_equal(strata_audit_commit(a), STRATA_ECORRUPT);
	assert_non_null(strstr(strata_error_msg(), "truncated"));
	/* mid-line */
	write_bytes(x.seg, f.data, f.off[29] + 40);
	expect_bad(x.dir, 30,
		   "log truncated: checkpoint 3 signs 30 records, the log "
		   "holds 29");
	assert_int_equal(strata_audit_commit(a), STRATA_ECORRUPT);
	strata_audit_close(a);
	/* much shorter: the first checkpoint not reached names the gap */
	write_bytes(x.seg, f.data, f.off[15]);
	expect_bad(x.dir, 16,
		   "log truncated: checkpoint 2 signs 20 records, the log "
		   "holds 15");
	/* and the whole log emptied */
	write_bytes(x.seg, f.data, 0);
	expect_bad(x.dir, 1, "checkpoint 1 signs 10 records, the log holds 0");
	free(f.data);
	fx_free(&x);
}

static void test_tamper_checkpoint(void **state)
{
	(void)state;
	fixture x = fx_new();
	flines f;
	fl_load(&f, x.ck);
	assert_int_equal(f.n, 3);
	/* a character in the middle of checkpoint 2's signature */
	char *sp = memchr(f.data + f.off[1], ' ', 40);
	assert_non_null(sp);
	sp = memchr(sp + 1, ' ', 80);
	assert_non_null(sp);
	sp[20] = sp[20] == 'A' ? 'B' : 'A';
	write_bytes(x.ck, f.data, f.len);
	expect_bad(x.dir, 11, "checkpoint 2 has a bad signature");
	/* a garbled checkpoint line */
	sp[20] = '!';
	write_bytes(x.ck, f.data, f.len);
	expect_bad(x.dir, 11, "checkpoint 2 is garbled");
	free(f.data);
	fx_free(&x);
}

/* An attacker without the key edits record 15 and re-chains the log. */
static void test_tamper_rechain(void **state)
{
	(void)state;
	fixture x = fx_new();
	char *forged = subdir(x.root, "forged");
	uint8_t evil[32] = {0xee};
	build(forged, evil, 3, 10, "nothing to see here");
	char *fseg = subdir(forged, "log-000001.jsonl");
	char *fck = subdir(forged, "checkpoints");
	size_t n = 0;
	uint8_t *p = unit_slurp(fseg, &n);
	write_bytes(x.seg, p, n);
	free(p);
	/* with the original checkpoints: 11..20 no longer match */
	expect_bad(x.dir, 11,
		   "checkpoint 2 does not match the log: records 11..20 were "
		   "rewritten");
	/* with checkpoints re-signed by another key (the first one still
	 * matches, so the attacker keeps it) */
	flines orig, fake;
	fl_load(&orig, x.ck);
	fl_load(&fake, fck);
	FILE *o = fopen(x.ck, "wb");
	assert_non_null(o);
	fwrite(orig.data, 1, orig.off[1], o);
	fwrite(fake.data + fake.off[1], 1, fake.len - fake.off[1], o);
	fclose(o);
	expect_bad(x.dir, 11, "checkpoint 2 has a bad signature");
	free(orig.data);
	free(fake.data);
	free(fseg);
	free(fck);
	free(forged);
	fx_free(&x);
}

static void test_tamper_garbled(void **state)
{
	(void)state;
	fixture x = fx_new();
	flines f;
	fl_load(&f, x.seg);
	/* line 7 replaced by junk of the same length */
	memset(f.data + f.off[6], 'x', fl_end(&f, 6) - f.off[6] - 1);
	write_bytes(x.seg, f.data, f.len);
	expect_bad(x.dir, 7, "record 7 is garbled");
	collect c = {0};
	assert_int_equal(strata_audit_scan(x.dir, NULL, collect_cb, &c),
			 STRATA_ECORRUPT);
	assert_int_equal(c.n, 6);
	free(f.data);
	fx_free(&x);
}

/* Random byte edits anywhere in the records: never a crash or overread
 * (ASan), always detected. */
static void test_hostile_bytes(void **state)
{
	(void)state;
	fixture x = fx_new();
	size_t n = 0;
	uint8_t *orig = unit_slurp(x.seg, &n);
	uint64_t s = 42;
	for (int round = 0; round < 300; round++) {
		uint8_t *p = unit_dup(orig, n);
		int edits = 1 + (int)(unit_rand(&s) % 3);
		for (int k = 0; k < edits; k++) {
			size_t at = unit_rand(&s) % n;
			uint8_t v = (uint8_t)unit_rand(&s);
			if (v == p[at])
				v ^= 1;
			p[at] = v;
		}
		write_bytes(x.seg, p, n);
		strata_audit_report rep;
		int rc = verify(x.dir, &rep);
		assert_int_equal(rc, STRATA_ECORRUPT);
		assert_true(rep.first_bad >= 1 && rep.first_bad <= 30);
		assert_true(rep.what[0] != 0);
		collect c = {0};
		(void)strata_audit_scan(x.dir, NULL, collect_cb, &c);
		free(p);
	}
	/* hostile checkpoint bytes: no crash, and never a false "intact"
	 * unless the edit hit bits base64 ignores */
	write_bytes(x.seg, orig, n);
	size_t cn = 0;
	uint8_t *ck = unit_slurp(x.ck, &cn);
	for (int round = 0; round < 200; round++) {
		uint8_t *p = unit_dup(ck, cn);
		size_t at = unit_rand(&s) % cn;
		p[at] = (uint8_t)(p[at] ^ (1 + unit_rand(&s) % 255));
		write_bytes(x.ck, p, cn);
		strata_audit_report rep;
		int rc = verify(x.dir, &rep);
		assert_true(rc == STRATA_ECORRUPT || rc == 0);
		free(p);
	}
	free(ck);
	free(orig);
	fx_free(&x);
}

/* ---- writer robustness ---- */

static void test_torn_tail(void **state)
{
	(void)state;
	fixture x = fx_new();
	/* a crash mid-append leaves a partial line and no checkpoint */
	FILE *o = fopen(x.seg, "ab");
	assert_non_null(o);
	fputs("{\"seq\":31,\"time\":17000", o);
	fclose(o);
	strata_audit_report rep;
	assert_int_equal(verify(x.dir, &rep), 0);
	assert_int_equal(rep.records, 30);
	assert_true(rep.torn_bytes > 0);
	/* the next commit cuts it and carries on */
	strata_audit *a;
	strata_audit_rec r = {.actor = "carol", .action = "restore"};
	assert_int_equal(strata_audit_open(&a, x.dir, ORIGIN, SEED), 0);
	assert_int_equal(strata_audit_append(a, &r), 0);
	assert_int_equal(strata_audit_commit(a), 0); /* warns */
	strata_audit_close(a);
	assert_int_equal(verify(x.dir, &rep), 0);
	assert_int_equal(rep.records, 31);
	assert_int_equal(rep.torn_bytes, 0);
	fx_free(&x);
}

/* Records after the last checkpoint (a crash between the two fsyncs)
 * verify, are reported, and get signed by the next commit. */
static void test_unsigned_tail(void **state)
{
	(void)state;
	fixture x = fx_new();
	flines f;
	fl_load(&f, x.ck);
	write_bytes(x.ck, f.data, f.off[2]);
	strata_audit_report rep;
	assert_int_equal(verify(x.dir, &rep), 0);
	assert_int_equal(rep.unsigned_records, 10);
	assert_int_equal(rep.head_seq, 20);
	strata_audit *a;
	strata_audit_rec r = {.actor = "carol", .action = "read"};
	assert_int_equal(strata_audit_open(&a, x.dir, ORIGIN, SEED), 0);
	assert_int_equal(strata_audit_append(a, &r), 0);
	assert_int_equal(strata_audit_commit(a), 0);
	strata_audit_close(a);
	assert_int_equal(verify(x.dir, &rep), 0);
	assert_int_equal(rep.unsigned_records, 0);
	assert_int_equal(rep.records, 31);
	free(f.data);
	fx_free(&x);
}

/* A commit that runs out of space leaves the log as it was. */
static void test_commit_failure(void **state)
{
	(void)state;
	fixture x = fx_new();
	struct stat st;
	assert_int_equal(stat(x.seg, &st), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		strata_audit *a;
		int bad = 0;
		static char big[100000];
		memset(big, 'z', sizeof(big) - 1);
		signal(SIGXFSZ, SIG_IGN);
		struct rlimit rl;
		getrlimit(RLIMIT_FSIZE, &rl);
		struct rlimit low = {(rlim_t)st.st_size + 150000, rl.rlim_max};
		bad |= strata_audit_open(&a, x.dir, ORIGIN, SEED) != 0;
		for (int i = 0; !bad && i < 20; i++) {
			strata_audit_rec r = {
			    .actor = "dave", .action = "export", .detail = big};
			bad |= strata_audit_append(a, &r) != 0;
		}
		bad |= setrlimit(RLIMIT_FSIZE, &low) != 0;
		bad |= strata_audit_commit(a) == 0;
		bad |= strata_audit_pending(a) != 20;
		bad |= setrlimit(RLIMIT_FSIZE, &rl) != 0;
		/* the log is intact between the attempts */
		strata_audit_report rep;
		uint8_t pk[32];
		pk_of(SEED, pk);
		bad |= strata_audit_verify(x.dir, ORIGIN, pk, &rep) != 0;
		bad |= rep.records != 30;
		bad |= strata_audit_commit(a) != 0;
		strata_audit_close(a);
		_exit(bad);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	strata_audit_report rep;
	assert_int_equal(verify(x.dir, &rep), 0);
	assert_int_equal(rep.records, 50);
	fx_free(&x);
}

static void test_append_checks(void **state)
{
	(void)state;
	char *root = unit_tmpdir();
	strata_audit *a;
	assert_int_equal(strata_audit_open(&a, root, ORIGIN, SEED), 0);
	strata_audit_rec r = {.actor = "x"};
	assert_int_equal(strata_audit_append(a, &r), STRATA_EINVAL);
	r.action = "read";
	const char *subj[] = {NULL};
	r.subjects = subj;
	r.nsubjects = 1;
	assert_int_equal(strata_audit_append(a, &r), STRATA_EINVAL);
	r.nsubjects = 0;
	char *big = malloc(STRATA_AUDIT_MAX_LINE);
	assert_non_null(big);
	memset(big, 'q', STRATA_AUDIT_MAX_LINE - 1);
	big[STRATA_AUDIT_MAX_LINE - 1] = 0;
	r.detail = big;
	assert_int_equal(strata_audit_append(a, &r), STRATA_EINVAL);
	assert_int_equal(strata_audit_pending(a), 0);
	r.detail = NULL;
	assert_int_equal(strata_audit_append(a, &r), 0);
	assert_int_equal(strata_audit_pending(a), 1);
	free(big);
	strata_audit_close(a);
	assert_int_equal(strata_audit_open(&a, root, "two\nlines", SEED),
			 STRATA_EINVAL);
	unit_rmtree(root);
}

/* ---- reading ---- */

static size_t count(const char *dir, const strata_audit_filter *f)
{
	collect c = {0};
	assert_int_equal(strata_audit_scan(dir, f, collect_cb, &c), 0);
	return c.n;
}

static int stop_cb(const strata_audit_rec *r, void *payload)
{
	(void)r;
	return ++*(int *)payload == 3 ? 77 : 0;
}

static void test_filter(void **state)
{
	(void)state;
	fixture x = fx_new();
	/* records 1..30: odd alice / even bob; i%3: 0 read, 1 ingest, 2
	 * export; subjects: i%4 == 1 psn-A|B, i%4 == 2,3 also psn-C */
	strata_audit_filter f = {.actor = "alice"};
	assert_int_equal(count(x.dir, &f), 15);
	f = (strata_audit_filter){.action_prefix = "read"};
	assert_int_equal(count(x.dir, &f), 10);
	f = (strata_audit_filter){.action_prefix = "rea"};
	assert_int_equal(count(x.dir, &f), 0);
	f = (strata_audit_filter){.subject = "psn-C"};
	assert_int_equal(count(x.dir, &f), 15); /* i%4 in {2,3} */
	f = (strata_audit_filter){.subject = "psn-A"};
	assert_int_equal(count(x.dir, &f), 15); /* odd and i%4 != 0 */
	f = (strata_audit_filter){.subject = "psn-B"};
	assert_int_equal(count(x.dir, &f), 8); /* even, i%4 == 2 */
	f = (strata_audit_filter){.since_ns = T0 + INT64_C(21000000000)};
	assert_int_equal(count(x.dir, &f), 10);
	f = (strata_audit_filter){.actor = "bob",
				  .action_prefix = "export",
				  .since_ns = T0 + INT64_C(10000000000)};
	assert_int_equal(count(x.dir, &f), 3); /* 14, 20, 26 */
	int calls = 0;
	assert_int_equal(strata_audit_scan(x.dir, NULL, stop_cb, &calls), 77);
	assert_int_equal(calls, 3);

	/* action prefix with dotted actions */
	strata_audit *a;
	strata_audit_rec r = {.actor = "x", .action = "read.meta"};
	assert_int_equal(strata_audit_open(&a, x.dir, ORIGIN, SEED), 0);
	assert_int_equal(strata_audit_append(a, &r), 0);
	r.action = "readme";
	assert_int_equal(strata_audit_append(a, &r), 0);
	assert_int_equal(strata_audit_commit(a), 0);
	strata_audit_close(a);
	f = (strata_audit_filter){.action_prefix = "read"};
	assert_int_equal(count(x.dir, &f), 11);
	fx_free(&x);
}

typedef struct strange {
	const char *want;
	int seen;
} strange;

static int strange_cb(const strata_audit_rec *r, void *payload)
{
	strange *s = payload;
	assert_string_equal(r->detail, s->want);
	assert_string_equal(r->actor, s->want);
	assert_int_equal(r->nsubjects, 1);
	assert_string_equal(r->subjects[0], s->want);
	assert_int_equal(r->time_ns, -5);
	s->seen++;
	return 0;
}

static void test_strange_strings(void **state)
{
	(void)state;
	char *root = unit_tmpdir();
	static const char weird[] =
	    "q\"uo\\te\nnew\tline\r\x01\x1f\x7f caf\xc3\xa9 \xf0\x9f\xa7\xac "
	    "\xff\xfe bad \xc3 trunc \xed\xa0\x80 surrogate \\u0041 end";
	const char *subj[] = {weird};
	strata_audit_rec r = {.actor = weird,
			      .action = "read",
			      .subjects = subj,
			      .nsubjects = 1,
			      .detail = weird,
			      .time_ns = -5};
	strata_audit *a;
	assert_int_equal(strata_audit_open(&a, root, ORIGIN, SEED), 0);
	assert_int_equal(strata_audit_append(a, &r), 0);
	assert_int_equal(strata_audit_commit(a), 0);
	strata_audit_close(a);
	strange s = {weird, 0};
	assert_int_equal(strata_audit_scan(root, NULL, strange_cb, &s), 0);
	assert_int_equal(s.seen, 1);
	strata_audit_report rep;
	assert_int_equal(verify(root, &rep), 0);
	/* the line is one line of valid UTF-8 */
	char p[PATH_MAX];
	size_t n = 0;
	snprintf(p, sizeof(p), "%s/log-000001.jsonl", root);
	uint8_t *d = unit_slurp(p, &n);
	assert_non_null(d);
	assert_true(memchr(d, '\n', n) == d + n - 1);
	assert_non_null(strstr((char *)d, "\\udcff\\udcfe"));
	assert_non_null(strstr((char *)d, "caf\xc3\xa9"));
	free(d);
	unit_rmtree(root);
}

static char *render(const strata_audit_rec *r, bool fhir)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);
	assert_non_null(f);
	strata_json j;
	strata_json_init(&j, f);
	if (fhir)
		strata_audit_fhir(&j, r, ORIGIN);
	else
		strata_audit_json(&j, r);
	strata_json_end(&j);
	fclose(f);
	return s;
}

static void test_fhir(void **state)
{
	(void)state;
	const char *subj[] = {"psn-7"};
	strata_audit_rec r = {.seq = 12,
			      .time_ns = T0 + 5000000,
			      .actor = "alice",
			      .role = "analyst",
			      .action = "export",
			      .object = "ct@v3",
			      .subjects = subj,
			      .nsubjects = 1,
			      .purpose = "HRESCH",
			      .decision = "allow",
			      .outcome = "ok",
			      .bytes = 1234};
	char *s = render(&r, true);
	static const char *const want[] = {
	    "\"resourceType\":\"AuditEvent\"",
	    "\"id\":\"12\"",
	    "\"code\":\"110106\",\"display\":\"Export\"",
	    "\"code\":{\"coding\":[{\"system\":\"urn:strata:audit:action\","
	    "\"code\":\"export\"}]}",
	    "\"action\":\"R\"",
	    "\"recorded\":\"2023-11-14T22:13:20.005000000Z\"",
	    "\"outcome\":{\"code\":{\"system\":\"http://terminology.hl7.org/"
	    "CodeSystem/audit-event-outcome\",\"code\":\"0\"",
	    "\"authorization\":[{\"coding\":[{\"system\":\"http://"
	    "terminology.hl7.org/CodeSystem/v3-ActReason\",\"code\":"
	    "\"HRESCH\"}],\"text\":\"HRESCH\"}]",
	    "\"patient\":{\"identifier\":{\"system\":\"urn:strata:pseudonym\","
	    "\"value\":\"psn-7\"}}",
	    "\"who\":{\"identifier\":{\"system\":\"urn:strata:actor\","
	    "\"value\":\"alice\"}}",
	    "\"observer\":{\"display\":\"repo-1234\"}",
	    "\"value\":\"ct@v3\"}},\"role\":{\"coding\":[{\"system\":\"http://"
	    "terminology.hl7.org/CodeSystem/object-role\",\"code\":\"4\"",
	    "\"code\":\"1\",\"display\":\"Patient\"",
	    "\"value\":1234,\"unit\":\"byte\"",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(s, want[i]))
			fail_msg("missing %s in %s", want[i], s);
	assert_null(strstr(s, "Security Alert"));
	free(s);

	r.action = "consent.set";
	r.decision = "deny";
	r.outcome = "denied";
	r.reasons = "consent withdrawn";
	r.purpose = "cancer research";
	r.nsubjects = 0;
	s = render(&r, true);
	assert_non_null(strstr(s, "\"action\":\"U\""));
	assert_non_null(strstr(s, "Security Alert"));
	assert_non_null(strstr(s, "\"code\":\"8\""));
	assert_non_null(
	    strstr(s, "\"detail\":[{\"text\":\"consent withdrawn\""));
	assert_non_null(strstr(s, "\"authorization\":[{\"text\":\"cancer "));
	assert_null(strstr(s, "\"patient\""));
	free(s);

	assert_int_equal(strata_audit_action_code("ingest"), 'C');
	assert_int_equal(strata_audit_action_code("read"), 'R');
	assert_int_equal(strata_audit_action_code("audit.read"), 'R');
	assert_int_equal(strata_audit_action_code("erase"), 'D');
	assert_int_equal(strata_audit_action_code("query"), 'E');
	assert_int_equal(strata_audit_action_code("readme"), 'E');

	s = render(&r, false);
	assert_non_null(strstr(s, "\"seq\":12,\"time\":\"2023-11-14T22:13:20"));
	assert_non_null(strstr(s, "\"action\":\"consent.set\""));
	assert_non_null(strstr(s, "\"subjects\":[]"));
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_dense_reopen),
	    cmocka_unit_test(test_concurrent),
	    cmocka_unit_test(test_tamper_edit),
	    cmocka_unit_test(test_tamper_delete),
	    cmocka_unit_test(test_tamper_swap),
	    cmocka_unit_test(test_tamper_truncate),
	    cmocka_unit_test(test_tamper_checkpoint),
	    cmocka_unit_test(test_tamper_rechain),
	    cmocka_unit_test(test_tamper_garbled),
	    cmocka_unit_test(test_hostile_bytes),
	    cmocka_unit_test(test_torn_tail),
	    cmocka_unit_test(test_unsigned_tail),
	    cmocka_unit_test(test_commit_failure),
	    cmocka_unit_test(test_append_checks),
	    cmocka_unit_test(test_filter),
	    cmocka_unit_test(test_strange_strings),
	    cmocka_unit_test(test_fhir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
