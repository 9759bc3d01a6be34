/*
 * json.c - a streaming JSON writer for --json output. Strings are escaped;
 * bytes that are not valid UTF-8 (file names may hold any bytes) are
 * written as \u00XX escapes of the raw byte so the output stays valid.
 */
#include "common/common.h"

void strata_json_init(strata_json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->first[0] = true;
}

static void sep(strata_json *j)
{
	if (j->key_pending) {
		j->key_pending = false;
		return;
	}
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
}

static void open_(strata_json *j, char c)
{
	sep(j);
	fputc(c, j->f);
	assert(j->depth < 31);
	j->first[++j->depth] = true;
}

void strata_json_obj_begin(strata_json *j)
{
	open_(j, '{');
}
void strata_json_obj_end(strata_json *j)
{
	j->depth--;
	fputc('}', j->f);
}
void strata_json_arr_begin(strata_json *j)
{
	open_(j, '[');
}
void strata_json_arr_end(strata_json *j)
{
	j->depth--;
	fputc(']', j->f);
}

size_t strata_utf8_len(const uint8_t *p, size_t n)
{
	size_t len;
	uint32_t cp;
	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0)
		len = 2, cp = p[0] & 0x1f;
	else if ((p[0] & 0xf0) == 0xe0)
		len = 3, cp = p[0] & 0x0f;
	else if ((p[0] & 0xf8) == 0xf0)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void strata_json_strn(strata_json *j, const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;
	sep(j);
	fputc('"', j->f);
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];
		size_t l;
		if (c == '"' || c == '\\') {
			fputc('\\', j->f);
			fputc(c, j->f);
			i++;
		} else if (c == '\n') {
			fputs("\\n", j->f);
			i++;
		} else if (c == '\t') {
			fputs("\\t", j->f);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(j->f, "\\u%04x", c);
			i++;
		} else if ((l = strata_utf8_len(p + i, n - i)) == 0) {
			fprintf(j->f, "\\u%04x", c);
			i++;
		} else {
			fwrite(p + i, 1, l, j->f);
			i += l;
		}
	}
	fputc('"', j->f);
}

void strata_json_str(strata_json *j, const char *s)
{
	if (!s)
		strata_json_null(j);
	else
		strata_json_strn(j, s, strlen(s));
}

void strata_json_key(strata_json *j, const char *k)
{
	strata_json_str(j, k);
	fputc(':', j->f);
	j->key_pending = true;
}

void strata_json_u64(strata_json *j, uint64_t v)
{
	sep(j);
	fprintf(j->f, "%" PRIu64, v);
}

void strata_json_i64(strata_json *j, int64_t v)
{
	sep(j);
	fprintf(j->f, "%" PRId64, v);
}

void strata_json_dbl(strata_json *j, double v)
{
	sep(j);
	fprintf(j->f, "%.6g", v);
}

void strata_json_bool(strata_json *j, bool v)
{
	sep(j);
	fputs(v ? "true" : "false", j->f);
}

void strata_json_null(strata_json *j)
{
	sep(j);
	fputs("null", j->f);
}

void strata_json_end(strata_json *j)
{
	fputc('\n', j->f);
	fflush(j->f);
}
