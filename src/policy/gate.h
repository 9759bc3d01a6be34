/*
 * gate.h - the one policy gate. Every command that reads, writes, derives
 * or moves data asks strata_gate_check(); there is no second path. The
 * checks run in a fixed order and the first that fails decides, naming
 * its rule and what would allow the request:
 *
 *   1. role     the actor has a role, and it grants the action on every
 *               class of data the request touches
 *   2. zone     data that moves: the destination zone allows each class;
 *               data that is written: this repository's zone allows it
 *   3. consent  when the dataset carries DUO consent, or data leaves the
 *               zone: the stated purpose matches it (duo.h)
 *   4. withdrawn no subject whose consent was withdrawn is touched,
 *               directly or through lineage
 *   5. policy   the guardrail rules of the repository's policy file
 */
#ifndef STRATA_POLICY_GATE_H
#define STRATA_POLICY_GATE_H

#include "policy/duo.h"
#include "policy/guardrail.h"
#include "policy/roles.h"

typedef struct strata_gate_req {
	const char *actor;
	const strata_role *role; /* NULL: the actor has no role here */
	int action;		 /* enum strata_action */
	const char *verb;	 /* the command, for messages ("restore") */
	const char *object;	 /* "ct@v3", "ct@v3:a/b.dcm", or NULL */
	unsigned classes;	 /* classes of the data touched (mask) */
	/* zone check: the zone that receives data (this repository's for a
	 * write, the remote's for a move), or NULL when nothing lands */
	const char *zone;
	unsigned zone_allows;
	/* consent */
	bool consent_needed;	  /* data leaves the zone: consent required */
	const char *consent_text; /* the dataset's codes, or NULL */
	const strata_duo *consent;
	const char *purpose_text; /* as the user stated it, or NULL */
	const strata_duo_purpose *purpose;
	const strata_duo_context *duo_ctx;
	/* withdrawn: a subject of the object whose consent is withdrawn */
	const char *withdrawn_subject; /* pseudonym, or NULL */
	const char *withdrawn_via;     /* "ct@v1" when through lineage */
	/* guardrails: NULL when the repository has no policy file */
	const strata_guardrails *guard;
	const strata_guard_ctx *guard_ctx;
} strata_gate_req;

typedef struct strata_gate_decision {
	bool allow;
	char rule[32];	 /* "role", "zone", "consent", "withdrawn", "policy" */
	char why[1024];	 /* the reason, with what would allow it */
	char notes[512]; /* on allow: consent obligations, if any */
} strata_gate_decision;

/* Returns 0 (allowed), STRATA_EDENIED (d says why), or an error from a
 * guardrail callback. d is always filled. */
int strata_gate_check(const strata_gate_req *q, strata_gate_decision *d);

#endif
