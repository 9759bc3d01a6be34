/*
 * strata.h - the common part of the public API: error codes, the
 * thread-local error message, and the library version. Every other public
 * header includes this one.
 */
#ifndef STRATA_STRATA_H
#define STRATA_STRATA_H

#include <stddef.h>
#include <stdint.h>

#define STRATA_VERSION "0.1.0"

/*
 * Error codes. A fallible function returns 0 or one of these (negative).
 * The values are stable: append, never renumber.
 */
enum strata_err {
	STRATA_OK = 0,
	STRATA_ENOMEM = -1, /* allocation failed */
	STRATA_EIO = -2,    /* I/O error from the OS or a backend */
	STRATA_EINVAL = -3, /* bad argument or malformed user input */
	STRATA_ENOTFOUND =
	    -4,		    /* named object, dataset, version or path absent */
	STRATA_EEXIST = -5, /* object already exists */
	STRATA_ECORRUPT = -6,  /* stored data fails its checks */
	STRATA_EDENIED = -7,   /* refused by policy or permissions */
	STRATA_EBUSY = -8,     /* locked by another process */
	STRATA_EAUTH = -9,     /* wrong password or key */
	STRATA_ENOSPC = -10,   /* no space left on the device */
	STRATA_ECHANGED = -11, /* a file changed while it was read */
	STRATA_EPARTIAL = -12  /* finished, but some items failed */
};

/*
 * strata_error_set - record a formatted message for the calling thread
 * and return `code`, so that failing is one line.
 */
int strata_error_set(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * strata_error_prefix - prepend context ("ingest 'x': ") to the current
 * message and return `code`.
 */
int strata_error_prefix(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * strata_error_msg - the calling thread's last message. Borrowed: valid
 * until the next strata call on this thread.
 */
const char *strata_error_msg(void);

/* strata_error_name - a short stable name for a code ("ECORRUPT"). */
const char *strata_error_name(int code);

#endif
