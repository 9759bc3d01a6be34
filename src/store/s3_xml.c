/*
 * s3_xml.c - just enough XML for S3: find an element by name in a flat
 * response and decode its text. S3's answers (Error, ListBucketResult,
 * InitiateMultipartUploadResult) are shallow and attribute-free below the
 * root, so a scanner is enough and avoids a parser dependency. The input
 * is untrusted: every read is bounded by `len`.
 */
#include "store/s3_int.h"

/* Find `needle` (n bytes) in h[from, len); the offset or len if absent. */
static size_t find(const char *h, size_t len, size_t from, const char *needle,
		   size_t n)
{
	for (size_t i = from; i + n <= len; i++)
		if (h[i] == needle[0] && !memcmp(h + i, needle, n))
			return i;
	return len;
}

int s3__xml_next(const char *xml, size_t len, size_t *pos, const char *tag,
		 const char **val, size_t *vlen)
{
	size_t tl = strlen(tag), i = *pos;
	char close[80];
	if (tl + 4 > sizeof(close))
		return STRATA_EINVAL;
	while ((i = find(xml, len, i, "<", 1)) < len) {
		size_t after = i + 1 + tl;
		if (after >= len)
			return STRATA_ENOTFOUND;
		if (memcmp(xml + i + 1, tag, tl) ||
		    (xml[after] != '>' && xml[after] != ' ' &&
		     xml[after] != '/' && xml[after] != '\t' &&
		     xml[after] != '\n' && xml[after] != '\r')) {
			i++;
			continue;
		}
		size_t gt = find(xml, len, after, ">", 1);
		if (gt == len)
			return STRATA_ENOTFOUND;
		if (xml[gt - 1] == '/') { /* <tag/> */
			*val = xml + gt + 1;
			*vlen = 0;
			*pos = gt + 1;
			return 0;
		}
		snprintf(close, sizeof(close), "</%s>", tag);
		size_t end = find(xml, len, gt + 1, close, tl + 3);
		if (end == len)
			return STRATA_ENOTFOUND;
		*val = xml + gt + 1;
		*vlen = end - (gt + 1);
		*pos = end + tl + 3;
		return 0;
	}
	return STRATA_ENOTFOUND;
}

/* Append code point `cp` as UTF-8; -1 if it is not a valid XML char. */
static int utf8(char *out, size_t outsz, size_t *o, unsigned long cp)
{
	uint8_t b[4];
	size_t n;
	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	if (cp < 0x80) {
		b[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (uint8_t)(0xc0 | (cp >> 6));
		b[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (uint8_t)(0xe0 | (cp >> 12));
		b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (uint8_t)(0xf0 | (cp >> 18));
		b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (*o + n >= outsz)
		return -1;
	memcpy(out + *o, b, n);
	*o += n;
	return 0;
}

/* Decode one entity starting at v[i] == '&'; returns its length or 0. */
static size_t entity(char *out, size_t outsz, size_t *o, const char *v,
		     size_t vlen, size_t i)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {{"amp;", '&'},
		     {"lt;", '<'},
		     {"gt;", '>'},
		     {"quot;", '"'},
		     {"apos;", '\''}};
	for (size_t k = 0; k < sizeof(named) / sizeof(named[0]); k++) {
		size_t n = strlen(named[k].name);
		if (i + 1 + n <= vlen && !memcmp(v + i + 1, named[k].name, n)) {
			if (*o + 1 >= outsz)
				return 0;
			out[(*o)++] = named[k].c;
			return n + 1;
		}
	}
	if (i + 2 >= vlen || v[i + 1] != '#')
		return 0;
	bool hex = v[i + 2] == 'x';
	size_t j = i + 2 + hex, start = j;
	unsigned long cp = 0;
	for (; j < vlen && j - start < 8 && v[j] != ';'; j++) {
		int d;
		char c = v[j];
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (hex && c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (hex && c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return 0;
		cp = cp * (hex ? 16 : 10) + (unsigned long)d;
	}
	if (j == start || j >= vlen || v[j] != ';')
		return 0;
	return utf8(out, outsz, o, cp) ? 0 : j + 1 - i;
}

int s3__xml_unescape(char *out, size_t outsz, const char *v, size_t vlen)
{
	size_t o = 0;
	if (!outsz)
		return STRATA_ECORRUPT;
	for (size_t i = 0; i < vlen;) {
		if (v[i] == '&') {
			size_t n = entity(out, outsz, &o, v, vlen, i);
			if (!n)
				return STRATA_ECORRUPT;
			i += n;
			continue;
		}
		if (v[i] == 0 || o + 1 >= outsz)
			return STRATA_ECORRUPT;
		out[o++] = v[i++];
	}
	out[o] = 0;
	return 0;
}

int s3__xml_text(const char *xml, size_t len, const char *tag, char *out,
		 size_t outsz)
{
	const char *v;
	size_t vlen, pos = 0;
	int rc = s3__xml_next(xml, len, &pos, tag, &v, &vlen);
	return rc ? rc : s3__xml_unescape(out, outsz, v, vlen);
}

int s3__uri_encode(strata_buf *b, const char *s, bool keep_slash)
{
	static const char hexd[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int rc;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~' || (keep_slash && c == '/'))
			rc = strata_buf_put_u8(b, c);
		else
			rc = strata_buf_put(
			    b, (char[3]){'%', hexd[c >> 4], hexd[c & 15]}, 3);
		if (rc)
			return rc;
	}
	return 0;
}
