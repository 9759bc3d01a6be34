/*
 * gate.c - the policy gate: role, zone, consent, withdrawal, guardrails,
 * in that order; the first check that fails decides.
 */
#include "policy/gate.h"
#include "common/common.h"

static int deny(strata_gate_decision *d, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int deny(strata_gate_decision *d, const char *rule, const char *fmt, ...)
{
	va_list ap;
	d->allow = false;
	snprintf(d->rule, sizeof(d->rule), "%s", rule);
	va_start(ap, fmt);
	vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
	return STRATA_EDENIED;
}

static const char *obj(const strata_gate_req *q)
{
	return q->object ? q->object : "the repository";
}

static int check_role(const strata_gate_req *q, strata_gate_decision *d)
{
	if (!q->role)
		return deny(
		    d, "role",
		    "user '%s' has no role in this repository: an admin "
		    "can grant one with 'strata user add %s --role ROLE'",
		    q->actor, q->actor);
	for (int c = 0; c < STRATA_NCLASSES; c++) {
		if (!(q->classes & (1u << c)) ||
		    strata_role_allows(q->role, q->action, c))
			continue;
		return deny(d, "role",
			    "role '%s' of user '%s' may not %s class '%s' data "
			    "(%s %s): ask an admin for a role that grants "
			    "'%s:%s'",
			    q->role->name, q->actor,
			    strata_action_name(q->action), strata_class_name(c),
			    q->verb, obj(q), strata_action_name(q->action),
			    strata_class_name(c));
	}
	return 0;
}

static int check_zone(const strata_gate_req *q, strata_gate_decision *d)
{
	if (!q->zone)
		return 0;
	unsigned bad = q->classes & ~q->zone_allows;
	if (!bad)
		return 0;
	char cl[96], al[96];
	strata_classes_format(bad, cl, sizeof(cl), ",");
	strata_classes_format(q->zone_allows, al, sizeof(al), ",");
	return deny(d, "zone",
		    "zone '%s' may not hold class '%s' data (%s %s; the zone "
		    "allows: %s): de-identify the data first, or change the "
		    "zone with 'strata zone set'",
		    q->zone, cl, q->verb, obj(q), al);
}

static int check_consent(const strata_gate_req *q, strata_gate_decision *d)
{
	char why[512];
	if (!q->consent && !q->consent_needed)
		return 0; /* nothing recorded, nothing leaves */
	if (!q->consent)
		return deny(d, "consent",
			    "%s of %s needs consent: none is recorded for it; "
			    "a steward can record it with 'strata consent set'",
			    q->verb, obj(q));
	if (!q->purpose)
		return deny(d, "consent",
			    "%s carries consent '%s': state the purpose of "
			    "this %s with --purpose (e.g. --purpose HMB)",
			    obj(q), q->consent_text ? q->consent_text : "?",
			    q->verb);
	if (strata_duo_match(q->consent, q->purpose, q->duo_ctx, why,
			     sizeof(why)))
		return deny(d, "consent", "%s of %s: %s", q->verb, obj(q), why);
	snprintf(d->notes, sizeof(d->notes), "%s", why);
	return 0;
}

static int check_withdrawn(const strata_gate_req *q, strata_gate_decision *d)
{
	if (!q->withdrawn_subject)
		return 0;
	if (q->withdrawn_via)
		return deny(d, "withdrawn",
			    "subject '%s' withdrew consent, and %s derives "
			    "from their data in '%s': nothing of it may be "
			    "read or exported (see 'strata impact %s')",
			    q->withdrawn_subject, obj(q), q->withdrawn_via,
			    q->withdrawn_subject);
	return deny(d, "withdrawn",
		    "subject '%s' withdrew consent: their data in %s may not "
		    "be read or exported (see 'strata impact %s')",
		    q->withdrawn_subject, obj(q), q->withdrawn_subject);
}

int strata_gate_check(const strata_gate_req *q, strata_gate_decision *d)
{
	int rc;
	memset(d, 0, sizeof(*d));
	if ((rc = check_role(q, d)) || (rc = check_zone(q, d)) ||
	    (rc = check_consent(q, d)) || (rc = check_withdrawn(q, d)))
		return rc;
	if (q->guard && q->guard_ctx) {
		rc = strata_guardrails_check(q->guard, q->guard_ctx, d->why,
					     sizeof(d->why));
		if (rc == STRATA_EDENIED) {
			d->allow = false;
			snprintf(d->rule, sizeof(d->rule), "policy");
		}
		if (rc)
			return rc;
		d->why[0] = 0;
	}
	d->allow = true;
	return 0;
}
