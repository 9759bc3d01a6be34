/*
 * error.c - thread-local error messages: a failing function records what
 * went wrong, naming the subject, and returns a code in one line.
 */
#include "common/common.h"

static _Thread_local char msg[1024];

int strata_error_set(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return code;
}

int strata_error_prefix(int code, const char *fmt, ...)
{
	char old[sizeof(msg)], pre[512];
	va_list ap;
	memcpy(old, msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	size_t n = strlen(pre);
	if (n >= sizeof(msg))
		n = sizeof(msg) - 1;
	memcpy(msg, pre, n);
	snprintf(msg + n, sizeof(msg) - n, "%s", old);
	return code;
}

const char *strata_error_msg(void)
{
	return msg[0] ? msg : "unknown error";
}

const char *strata_error_name(int code)
{
	static const char *const names[] = {
	    "OK",     "ENOMEM",	  "EIO",     "EINVAL", "ENOTFOUND",
	    "EEXIST", "ECORRUPT", "EDENIED", "EBUSY",  "EAUTH",
	    "ENOSPC", "ECHANGED", "EPARTIAL"};
	int i = -code;
	if (i < 0 || (size_t)i >= sizeof(names) / sizeof(names[0]))
		return "EUNKNOWN";
	return names[i];
}

/* Map an errno value to a strata code; ENOSPC and EDQUOT are kept apart
 * because the user can act on them. */
int strata_errno_code(int e)
{
	switch (e) {
	case ENOSPC:
	case EDQUOT:
		return STRATA_ENOSPC;
	case ENOENT:
		return STRATA_ENOTFOUND;
	case EEXIST:
		return STRATA_EEXIST;
	case EACCES:
	case EPERM:
		return STRATA_EDENIED;
	case ENOMEM:
		return STRATA_ENOMEM;
	default:
		return STRATA_EIO;
	}
}
