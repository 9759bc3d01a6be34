/*
 * audit.c - benchmark of the audit log (src/audit): append+commit
 * throughput in batches, verify of the whole log, and a filtered scan.
 * Usage: audit DIR [RECORDS [BATCH]]   (defaults 1000000, 1000)
 * Not a test: it prints figures and never fails on a time.
 */
#include "audit/audit.h"

static int count_cb(const strata_audit_rec *r, void *payload)
{
	(void)r;
	(*(uint64_t *)payload)++;
	return 0;
}

static uint64_t arg(int argc, char **argv, int i, uint64_t dflt)
{
	uint64_t v;
	if (argc <= i)
		return dflt;
	if (strata_parse_u64(argv[i], &v) || v == 0) {
		fprintf(stderr, "audit bench: bad number '%s'\n", argv[i]);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const uint8_t seed[32] = {42};
	uint8_t pk[32], sk[64];
	if (argc < 2) {
		fprintf(stderr, "usage: audit DIR [RECORDS [BATCH]]\n");
		return 2;
	}
	const char *dir = argv[1];
	uint64_t n = arg(argc, argv, 2, 1000000),
		 batch = arg(argc, argv, 3, 1000);
	strata_audit *a;
	if (strata_audit_open(&a, dir, "bench-repo", seed)) {
		fprintf(stderr, "audit bench: %s\n", strata_error_msg());
		return 1;
	}
	char object[64], subj[2][32], detail[64];
	const char *subjects[2] = {subj[0], subj[1]};
	double t0 = strata_mono(), tappend = 0;
	for (uint64_t i = 0; i < n; i++) {
		snprintf(object, sizeof(object),
			 "ct@v%" PRIu64 ":series1/img%05" PRIu64 ".dcm",
			 i / 5000, i % 100000);
		snprintf(subj[0], sizeof(subj[0]), "psn-%08" PRIu64, i % 7919);
		snprintf(subj[1], sizeof(subj[1]), "psn-%08" PRIu64,
			 i % 104729);
		snprintf(detail, sizeof(detail), "request %" PRIu64, i);
		strata_audit_rec r = {.actor = i % 3 ? "alice" : "bob",
				      .role = "analyst",
				      .action = i % 10 ? "read" : "export",
				      .object = object,
				      .subjects = subjects,
				      .nsubjects = 1 + i % 2,
				      .purpose = "HRESCH",
				      .decision = "allow",
				      .outcome = "ok",
				      .bytes = i * 37,
				      .detail = detail};
		double ta = strata_mono();
		int rc = strata_audit_append(a, &r);
		tappend += strata_mono() - ta;
		if (!rc && (i + 1) % batch == 0)
			rc = strata_audit_commit(a);
		if (rc) {
			fprintf(stderr, "audit bench: %s\n",
				strata_error_msg());
			return 1;
		}
	}
	if (strata_audit_commit(a)) {
		fprintf(stderr, "audit bench: %s\n", strata_error_msg());
		return 1;
	}
	double tw = strata_mono() - t0;
	strata_audit_close(a);
	printf("append+commit: %" PRIu64 " records in batches of %" PRIu64
	       ": %.2f s, %.0f records/s (append alone %.0f records/s, "
	       "%" PRIu64 " commits)\n",
	       n, batch, tw, (double)n / tw, (double)n / tappend,
	       (n + batch - 1) / batch);

	strata_audit_keypair(seed, pk, sk);
	strata_audit_report rep;
	t0 = strata_mono();
	int rc = strata_audit_verify(dir, "bench-repo", pk, &rep);
	double tv = strata_mono() - t0;
	printf("verify: %" PRIu64 " records, %" PRIu64 " checkpoints: %.2f s "
	       "(%.0f records/s)%s%s\n",
	       rep.records, rep.checkpoints, tv, (double)rep.records / tv,
	       rc ? ": " : ", intact", rc ? rep.what : "");

	uint64_t hits = 0;
	strata_audit_filter f = {.subject = "psn-00000042"};
	t0 = strata_mono();
	rc = strata_audit_scan(dir, &f, count_cb, &hits);
	printf("scan --subject: %" PRIu64 " matches in %.2f s\n", hits,
	       strata_mono() - t0);
	return rc ? 1 : 0;
}
