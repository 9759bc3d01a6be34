/*
 * backend.c - choose the backend for a repository location: an "s3://"
 * URL goes to the S3 backend, anything else is a local directory.
 */
#include "common/common.h"
#include "strata/backend.h"

int strata_backend_open(strata_backend **out, const char *location, int create)
{
	if (!strncmp(location, "s3://", 5))
		return strata_backend_s3_open(out, location, create);
	return strata_backend_local_open(out, location, create);
}

int64_t strata_backend_changed(const char *location, const char *prefix)
{
	if (!strncmp(location, "s3://", 5))
		return INT64_MAX; /* a LIST request: not cheap */
	return strata_backend_local_changed(location, prefix);
}
