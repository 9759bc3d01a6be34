/*
 * roles.h - data classes, actions and roles: who may do what with which
 * class of data. A role is a set of grants, one class set per action.
 * Pure logic, no storage: the repository keeps users and custom roles and
 * hands them to the gate (gate.h).
 */
#ifndef STRATA_POLICY_ROLES_H
#define STRATA_POLICY_ROLES_H

#include <stdbool.h>
#include <stddef.h>

/* Data classes, from most to least sensitive. */
enum strata_class {
	STRATA_CLASS_PHI,
	STRATA_CLASS_LIMITED,
	STRATA_CLASS_DEID,
	STRATA_CLASS_AGGREGATE,
	STRATA_CLASS_PUBLIC,
	STRATA_NCLASSES
};
#define STRATA_CLASSES_ALL ((1u << STRATA_NCLASSES) - 1)

/* Actions the gate decides. */
enum strata_action {
	STRATA_ACT_READ,       /* ls, cat, restore, show, find, diff */
	STRATA_ACT_WRITE,      /* ingest a new version */
	STRATA_ACT_DERIVE,     /* ingest --from, deid: a derived version */
	STRATA_ACT_EXPORT,     /* push to another zone */
	STRATA_ACT_CONSENT,    /* consent set / withdraw */
	STRATA_ACT_AUDIT,      /* read the audit log */
	STRATA_ACT_REIDENTIFY, /* read the identifier <-> pseudonym table */
	STRATA_ACT_MANAGE,     /* users, roles, zone, policy */
	STRATA_NACTIONS
};

/* -1 if unknown. */
int strata_class_parse(const char *s);
const char *strata_class_name(int c);
int strata_action_parse(const char *s);
const char *strata_action_name(int a);

/* "phi,deid" or "all" -> bit mask. STRATA_EINVAL naming a bad class. */
int strata_classes_parse(const char *list, unsigned *mask);
/* "phi,limited" (joined by sep) into buf ("none" for 0, "all" for every class).
 */
void strata_classes_format(unsigned mask, char *buf, size_t n, const char *sep);

typedef struct strata_role {
	char name[64];
	unsigned grants[STRATA_NACTIONS]; /* class mask per action */
	bool builtin;
} strata_role;

/* The built-in roles: admin, steward, researcher, clinician, service. */
size_t strata_role_builtin_count(void);
const strata_role *strata_role_builtin_at(size_t i);
const strata_role *strata_role_builtin(const char *name);
/* Role names: [a-z0-9_-]{1,63}. */
bool strata_role_name_ok(const char *name);
/* Grants "ACTION:CLASS+CLASS,..." ("read:deid+public,write:all") into
 * r->grants (replacing them). STRATA_EINVAL naming the bad part. */
int strata_role_parse_grants(strata_role *r, const char *spec);
/* The inverse, canonical ("read:deid+public,write:all"). */
void strata_role_format_grants(const strata_role *r, char *buf, size_t n);
bool strata_role_allows(const strata_role *r, int action, int klass);

#endif
