/*
 * roles.c - classes, actions and the built-in roles.
 */
#include "policy/roles.h"
#include "common/common.h"

static const char *const class_names[STRATA_NCLASSES] = {
    "phi", "limited", "deid", "aggregate", "public"};

static const char *const action_names[STRATA_NACTIONS] = {
    "read",    "write", "derive",     "export",
    "consent", "audit", "reidentify", "manage"};

int strata_class_parse(const char *s)
{
	for (int i = 0; s && i < STRATA_NCLASSES; i++)
		if (!strcmp(s, class_names[i]))
			return i;
	return -1;
}

const char *strata_class_name(int c)
{
	return c >= 0 && c < STRATA_NCLASSES ? class_names[c] : "?";
}

int strata_action_parse(const char *s)
{
	for (int i = 0; s && i < STRATA_NACTIONS; i++)
		if (!strcmp(s, action_names[i]))
			return i;
	return -1;
}

const char *strata_action_name(int a)
{
	return a >= 0 && a < STRATA_NACTIONS ? action_names[a] : "?";
}

/* Split `list` at any of `seps`, calling fn on each non-empty item. */
static int each_item(const char *list, const char *seps,
		     int (*fn)(const char *item, size_t n, void *payload),
		     void *payload)
{
	const char *p = list;
	while (*p) {
		size_t n = strcspn(p, seps);
		int rc = n ? fn(p, n, payload) : 0;
		if (rc)
			return rc;
		p += n;
		if (*p)
			p++;
	}
	return 0;
}

static int class_item(const char *item, size_t n, void *payload)
{
	unsigned *mask = payload;
	char name[32];
	if (n >= sizeof(name))
		n = sizeof(name) - 1;
	memcpy(name, item, n);
	name[n] = 0;
	if (!strcmp(name, "all")) {
		*mask = STRATA_CLASSES_ALL;
		return 0;
	}
	int c = strata_class_parse(name);
	if (c < 0)
		return strata_error_set(STRATA_EINVAL,
					"unknown data class '%s' (expected "
					"phi, limited, deid, aggregate, public "
					"or all)",
					name);
	*mask |= 1u << c;
	return 0;
}

int strata_classes_parse(const char *list, unsigned *mask)
{
	*mask = 0;
	return each_item(list, ",+ ", class_item, mask);
}

void strata_classes_format(unsigned mask, char *buf, size_t n, const char *sep)
{
	size_t len = 0;
	buf[0] = 0;
	if (mask == STRATA_CLASSES_ALL) {
		snprintf(buf, n, "all");
		return;
	}
	for (int c = 0; c < STRATA_NCLASSES; c++) {
		if (!(mask & (1u << c)))
			continue;
		int w = snprintf(buf + len, n - len, "%s%s", len ? sep : "",
				 class_names[c]);
		if (w < 0 || (size_t)w >= n - len)
			return;
		len += (size_t)w;
	}
	if (!len)
		snprintf(buf, n, "none");
}

#define ALL STRATA_CLASSES_ALL
#define C(x) (1u << STRATA_CLASS_##x)
#define NONPHI (C(DEID) | C(AGGREGATE) | C(PUBLIC))

/* Indexed by enum strata_action: read, write, derive, export, consent,
 * audit, reidentify, manage. */
static const strata_role builtin[] = {
    {"admin", {ALL, ALL, ALL, ALL, ALL, ALL, ALL, ALL}, true},
    /* stewards govern the data, but do not manage users and policy */
    {"steward", {ALL, ALL, ALL, ALL, ALL, ALL, ALL, 0}, true},
    /* researchers never see identified data */
    {"researcher", {NONPHI, NONPHI, NONPHI, NONPHI, 0, 0, 0, 0}, true},
    /* clinicians read identified data for care, and move none of it */
    {"clinician", {ALL, 0, 0, 0, 0, 0, 0, 0}, true},
    /* pipelines: ingest anything, derive and export de-identified data */
    {"service", {NONPHI, ALL, NONPHI, NONPHI, 0, 0, 0, 0}, true},
};

size_t strata_role_builtin_count(void)
{
	return sizeof(builtin) / sizeof(*builtin);
}

const strata_role *strata_role_builtin_at(size_t i)
{
	return i < strata_role_builtin_count() ? &builtin[i] : NULL;
}

const strata_role *strata_role_builtin(const char *name)
{
	for (size_t i = 0; i < strata_role_builtin_count(); i++)
		if (!strcmp(builtin[i].name, name))
			return &builtin[i];
	return NULL;
}

bool strata_role_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		      (name[i] >= '0' && name[i] <= '9') || name[i] == '-' ||
		      name[i] == '_'))
			return false;
	return true;
}

static int grant_item(const char *item, size_t n, void *payload)
{
	strata_role *r = payload;
	char buf[256], *colon;
	if (n >= sizeof(buf))
		return strata_error_set(STRATA_EINVAL, "grant too long");
	memcpy(buf, item, n);
	buf[n] = 0;
	if (!(colon = strchr(buf, ':')))
		return strata_error_set(STRATA_EINVAL,
					"grant '%s' is not ACTION:CLASSES "
					"(e.g. 'read:deid+public')",
					buf);
	*colon = 0;
	int a = strata_action_parse(buf);
	if (a < 0)
		return strata_error_set(
		    STRATA_EINVAL,
		    "unknown action '%s' in a grant "
		    "(expected read, write, derive, export, "
		    "consent, audit, reidentify or manage)",
		    buf);
	unsigned mask;
	int rc = strata_classes_parse(colon + 1, &mask);
	if (rc)
		return rc;
	r->grants[a] |= mask;
	return 0;
}

int strata_role_parse_grants(strata_role *r, const char *spec)
{
	memset(r->grants, 0, sizeof(r->grants));
	return each_item(spec, ", ", grant_item, r);
}

void strata_role_format_grants(const strata_role *r, char *buf, size_t n)
{
	size_t len = 0;
	buf[0] = 0;
	for (int a = 0; a < STRATA_NACTIONS; a++) {
		char cl[64];
		if (!r->grants[a])
			continue;
		strata_classes_format(r->grants[a], cl, sizeof(cl), "+");
		int w = snprintf(buf + len, n - len, "%s%s:%s", len ? "," : "",
				 action_names[a], cl);
		if (w < 0 || (size_t)w >= n - len)
			return;
		len += (size_t)w;
	}
}

bool strata_role_allows(const strata_role *r, int action, int klass)
{
	if (!r || action < 0 || action >= STRATA_NACTIONS || klass < 0 ||
	    klass >= STRATA_NCLASSES)
		return false;
	return (r->grants[action] >> klass) & 1u;
}
