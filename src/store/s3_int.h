/*
 * s3_int.h - internals of the S3 backend shared between backend_s3.c and
 * s3_xml.c: a small scanner for the few flat XML documents S3 answers with
 * (errors, ListObjectsV2, multipart uploads) and the SigV4 URI encoding.
 * Exposed here so the unit tests can feed them hostile input.
 */
#ifndef STRATA_S3_INT_H
#define STRATA_S3_INT_H

#include "common/common.h"

/*
 * s3__xml_next - find the next element <tag>...</tag> in xml[*pos, len).
 * On success *val and *vlen point at its raw content (entities not decoded;
 * empty for <tag/>) and *pos moves past the closing tag. Returns 0, or
 * STRATA_ENOTFOUND when there is no further complete element. Elements
 * are matched by name only: S3's documents do not nest an element in one
 * of the same name.
 */
int s3__xml_next(const char *xml, size_t len, size_t *pos, const char *tag,
		 const char **val, size_t *vlen);

/*
 * s3__xml_text - the decoded text of the first <tag> in xml[0, len) as a
 * NUL-terminated string in `out` (of `outsz` bytes). Returns 0,
 * STRATA_ENOTFOUND, or STRATA_ECORRUPT for a bad entity or a value that
 * does not fit.
 */
int s3__xml_text(const char *xml, size_t len, const char *tag, char *out,
		 size_t outsz);

/* Decode the five XML entities and numeric references of v[0, vlen) into
 * `out` (NUL-terminated); STRATA_ECORRUPT if malformed or too long. */
int s3__xml_unescape(char *out, size_t outsz, const char *v, size_t vlen);

/* Append `s` URI-encoded the SigV4 way (unreserved A-Z a-z 0-9 - . _ ~
 * kept, everything else %XX upper-case); '/' kept when keep_slash. */
int s3__uri_encode(strata_buf *b, const char *s, bool keep_slash);

#endif
