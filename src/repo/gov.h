/*
 * gov.h - the repository's governance state and its gate. The state
 * (users, custom roles, the zone's classes, consent, withdrawals, the
 * policy file) is a sequence of small encrypted event objects "gov/..."
 * in the store, replayed at open: append-only, so two writers never
 * overwrite each other, and the store stays the only truth.
 */
#ifndef STRATA_REPO_GOV_H
#define STRATA_REPO_GOV_H

#include "audit/audit.h"
#include "policy/gate.h"

typedef struct gov_user {
	char *name, *role, *purpose;
} gov_user;

typedef struct gov_consent {
	char *target; /* dataset name, or a subject pseudonym "sub-..." */
	char *codes;  /* canonical DUO text */
	strata_duo *duo;
	int64_t time_ns;
	char *by;
} gov_consent;

typedef struct gov_withdrawal {
	char *subject;
	int64_t time_ns;
	char *by;
} gov_withdrawal;

typedef struct repo_gov {
	gov_user *users;
	size_t nusers, cap_users;
	strata_role *roles; /* custom ones */
	size_t nroles, cap_roles;
	unsigned zone_allows;
	gov_consent *consents;
	size_t nconsents, cap_consents;
	gov_withdrawal *withdrawn;
	size_t nwithdrawn, cap_withdrawn;
	struct repo_hybrid *hy; /* remotes, replicas, egress (push.c) */
	char *policy_text;	/* NULL: no policy file */
	strata_guardrails *guard;
	int policy_rc; /* a malformed policy stops every operation */
	char policy_err[512];
	/* who is asking, for what */
	char actor[128];
	const strata_role *role; /* NULL: no role */
	char *purpose_text;
	strata_duo_purpose *purpose;
	bool gate_off; /* only in the bench's STRATA_BENCH_NO_GATE build */
	strata_audit *audit;
	strata_aead *audit_aead; /* seals names in records */
	char audit_dir[4096];
	/* the record of the operation under way (repo__gate fills it) */
	struct {
		bool open;
		char *action, *object, *decision, *reasons, *detail;
		char **subjects;
		size_t nsubjects;
	} pend;
} repo_gov;

#endif
