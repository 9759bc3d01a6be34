/*
 * tiff.c - TIFF, BigTIFF, Aperio SVS and OME-TIFF reader through libtiff.
 * Walks the image directories (capped) to find the pyramid levels, and
 * reads the vendor metadata kept in ImageDescription: Aperio key = value
 * pairs and the OME-XML <Pixels> element. I/O goes through our own client
 * procedures with a byte budget; libtiff messages land in our error string.
 */
#include <math.h>
#include <tiffio.h>

#include "common/common.h"
#include "strata/formats.h"

#define MAX_DIRS 1024  /* directories walked */
#define MAX_LEVELS 64  /* pyramid levels listed in wsi.level_dims */
#define MAX_SUBIFDS 32 /* SubIFDs of directory 0 followed */
#define MAX_ALLOC ((tmsize_t)64 << 20)	/* one libtiff allocation */
#define IO_BUDGET ((uint64_t)256 << 20) /* bytes libtiff may read in all */

/* Per-call state: the client handle and where libtiff's messages go. */
typedef struct tctx {
	int fd;
	uint64_t nread;
	char err[200];
} tctx;

static tmsize_t io_read(thandle_t h, void *buf, tmsize_t n)
{
	tctx *c = h;
	if (n < 0 || (uint64_t)n > IO_BUDGET - c->nread)
		return -1;
	tmsize_t done = 0;
	while (done < n) {
		ssize_t k = read(c->fd, (char *)buf + done, (size_t)(n - done));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		done += k;
	}
	c->nread += (uint64_t)done;
	return done;
}

static tmsize_t io_write(thandle_t h, void *buf, tmsize_t n)
{
	(void)h, (void)buf, (void)n;
	return -1;
}

static toff_t io_seek(thandle_t h, toff_t off, int whence)
{
	tctx *c = h;
	if (off > (toff_t)INT64_MAX)
		return (toff_t)-1;
	off_t r = lseek(c->fd, (off_t)off, whence);
	return r < 0 ? (toff_t)-1 : (toff_t)r;
}

static int io_close(thandle_t h)
{
	(void)h;
	return 0;
}

static toff_t io_size(thandle_t h)
{
	tctx *c = h;
	struct stat st;
	return fstat(c->fd, &st) ? 0 : (toff_t)st.st_size;
}

static int io_map(thandle_t h, void **base, toff_t *size)
{
	(void)h, (void)base, (void)size;
	return 0;
}

static void io_unmap(thandle_t h, void *base, toff_t size)
{
	(void)h, (void)base, (void)size;
}

__attribute__((format(printf, 4, 0))) static int
on_error(TIFF *tif, void *ud, const char *module, const char *fmt, va_list ap)
{
	tctx *c = ud;
	(void)tif, (void)module;
	if (!c->err[0])
		vsnprintf(c->err, sizeof(c->err), fmt, ap);
	return 1; /* handled: nothing reaches libtiff's global handler */
}

__attribute__((format(printf, 4, 0))) static int
on_warning(TIFF *tif, void *ud, const char *module, const char *fmt, va_list ap)
{
	(void)tif, (void)ud, (void)module, (void)fmt, (void)ap;
	return 1;
}

/* Errors reported without a TIFF handle still go to the global handlers:
 * silence those once for the process. */
static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;
static void quiet_libtiff(void)
{
	TIFFSetErrorHandler(NULL);
	TIFFSetWarningHandler(NULL);
}

/* One image directory, as far as the level rule needs it. */
typedef struct dir {
	uint32_t w, h, tw, th, subfile;
	uint16_t comp, spp, bps;
	bool tiled;
	const char *desc; /* borrowed from libtiff until the next directory */
} dir;

static void read_dir(TIFF *tif, dir *d)
{
	memset(d, 0, sizeof(*d));
	TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &d->w);
	TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &d->h);
	TIFFGetFieldDefaulted(tif, TIFFTAG_SUBFILETYPE, &d->subfile);
	TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &d->comp);
	TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &d->spp);
	TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &d->bps);
	d->tiled = TIFFIsTiled(tif) != 0;
	if (d->tiled) {
		TIFFGetField(tif, TIFFTAG_TILEWIDTH, &d->tw);
		TIFFGetField(tif, TIFFTAG_TILELENGTH, &d->th);
	}
	char *s = NULL;
	if (TIFFGetField(tif, TIFFTAG_IMAGEDESCRIPTION, &s) && s)
		d->desc = s;
}

static const char *comp_name(uint16_t c, char *tmp, size_t n)
{
	static const struct {
		uint16_t code;
		const char *name;
	} t[] = {{1, "none"},
		 {2, "ccitt-rle"},
		 {3, "ccitt-fax3"},
		 {4, "ccitt-fax4"},
		 {5, "lzw"},
		 {6, "ojpeg"},
		 {7, "jpeg"},
		 {8, "deflate"},
		 {32946, "deflate"},
		 {32773, "packbits"},
		 {33003, "jpeg2000-aperio-ycbcr"},
		 {33005, "jpeg2000-aperio-rgb"},
		 {34712, "jpeg2000"},
		 {34887, "lerc"},
		 {34925, "lzma"},
		 {50000, "zstd"},
		 {50001, "webp"},
		 {50002, "jpegxl"}};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].code == c)
			return t[i].name;
	snprintf(tmp, n, "other-%u", (unsigned)c);
	return tmp;
}

/* ---- ImageDescription: Aperio "key = value|..." ---- */

/* Locale-independent decimal ("20", "0.4990", "-1.5e3"); false if none. */
static bool parse_real(const char *p, const char *end, double *out)
{
	uint64_t m = 0;
	int digits = 0, scale = 0, ex = 0;
	bool neg = p < end && *p == '-', any = false;
	if (p < end && (*p == '-' || *p == '+'))
		p++;
	for (bool frac = false; p < end; p++) {
		if (*p == '.' && !frac) {
			frac = true;
			continue;
		}
		if (*p < '0' || *p > '9')
			break;
		any = true;
		if (digits < 18) {
			m = m * 10 + (uint64_t)(*p - '0');
			digits += m > 0;
			scale -= frac;
		} else {
			scale += !frac;
		}
	}
	if (!any)
		return false;
	if (p < end && (*p == 'e' || *p == 'E')) {
		bool eneg = ++p < end && *p == '-';
		if (p < end && (*p == '-' || *p == '+'))
			p++;
		for (; p < end && *p >= '0' && *p <= '9' && ex < 1000; p++)
			ex = ex * 10 + (*p - '0');
		scale += eneg ? -ex : ex;
	}
	double v = (double)m;
	for (; scale > 0 && v < 1e300; scale--)
		v *= 10;
	double div = 1;
	for (; scale < 0 && div < 1e300; scale++)
		div *= 10;
	v = scale > 0 ? HUGE_VAL : scale < 0 ? 0 : v / div;
	*out = neg ? -v : v;
	return isfinite(v);
}

static const char *trim(const char *p, const char **end)
{
	while (p < *end &&
	       (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	while (*end > p && ((*end)[-1] == ' ' || (*end)[-1] == '\t' ||
			    (*end)[-1] == '\r' || (*end)[-1] == '\n'))
		(*end)--;
	return p;
}

static int aperio_field(strata_attrs *out, const char *k, const char *kend,
			const char *v, const char *vend)
{
	static const struct {
		const char *name, *key;
	} t[] = {{"AppMag", "wsi.magnification"}, {"MPP", "wsi.mpp"}};
	k = trim(k, &kend);
	v = trim(v, &vend);
	double d;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if ((size_t)(kend - k) == strlen(t[i].name) &&
		    !memcmp(k, t[i].name, (size_t)(kend - k)) &&
		    parse_real(v, vend, &d) && d > 0)
			return strata_attrs_set_real(out, t[i].key, d);
	return 0;
}

static int aperio_desc(strata_attrs *out, const char *s)
{
	int rc = 0;
	const char *p = strchr(s, '|');
	while (p && !rc) {
		const char *f = p + 1, *next = strchr(f, '|');
		const char *end = next ? next : f + strlen(f);
		const char *eq = memchr(f, '=', (size_t)(end - f));
		if (eq)
			rc = aperio_field(out, f, eq, eq + 1, end);
		p = next;
	}
	return rc;
}

/* Aperio names label and macro images on the second description line. */
static bool aperio_extra(const char *desc)
{
	const char *nl = desc ? strchr(desc, '\n') : NULL;
	return nl &&
	       (!strncmp(nl + 1, "label", 5) || !strncmp(nl + 1, "macro", 5));
}

/* ---- ImageDescription: OME-XML, just the first <Pixels> element ---- */

typedef struct xtag {
	const char *name, *nend; /* local name, without a namespace prefix */
	const char *attrs, *end; /* attribute text, up to the closing '>' */
	bool close;		 /* </name> */
} xtag;

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The next element tag at or after p; false at the end. */
static bool next_tag(const char *p, const char *end, xtag *t, const char **np)
{
	while ((p = memchr(p, '<', (size_t)(end - p)))) {
		const char *q = ++p;
		if (end - q >= 3 && !memcmp(q, "!--", 3)) {
			const char *c = memmem(q, (size_t)(end - q), "-->", 3);
			if (!c)
				return false;
			p = c + 3;
			continue;
		}
		t->close = q < end && *q == '/';
		q += t->close;
		t->name = q;
		while (q < end && !is_space(*q) && *q != '>' && *q != '/' &&
		       *q != '<') {
			if (*q == ':')
				t->name = q + 1;
			q++;
		}
		t->nend = q;
		const char *gt = memchr(q, '>', (size_t)(end - q));
		if (!gt)
			return false;
		t->attrs = q;
		t->end = gt;
		*np = gt + 1;
		if (t->nend > t->name)
			return true;
		p = gt + 1;
	}
	return false;
}

static bool tag_is(const xtag *t, const char *name)
{
	size_t n = strlen(name);
	return (size_t)(t->nend - t->name) == n && !memcmp(t->name, name, n);
}

/* The raw value of attribute `name` in the tag, or NULL. */
static const char *xattr(const xtag *t, const char *name, const char **vend)
{
	size_t n = strlen(name);
	const char *p = t->attrs;
	while (p < t->end) {
		while (p < t->end && is_space(*p))
			p++;
		const char *k = p;
		while (p < t->end && *p != '=' && !is_space(*p))
			p++;
		const char *kend = p;
		while (p < t->end && (is_space(*p) || *p == '='))
			p++;
		if (p >= t->end || (*p != '"' && *p != '\''))
			return NULL;
		const char *v = p + 1, *e = memchr(v, *p, (size_t)(t->end - v));
		if (!e)
			return NULL;
		if ((size_t)(kend - k) == n && !memcmp(k, name, n)) {
			*vend = e;
			return v;
		}
		p = e + 1;
	}
	return NULL;
}

/* Append the XML-unescaped value to b (the five named entities). */
static int put_unescaped(strata_buf *b, const char *v, const char *e)
{
	static const struct {
		const char *ent;
		char c;
	} t[] = {{"&amp;", '&'},
		 {"&lt;", '<'},
		 {"&gt;", '>'},
		 {"&quot;", '"'},
		 {"&apos;", '\''}};
	int rc = 0;
	while (v < e && !rc) {
		size_t i = 0, n = 0;
		for (; *v == '&' && i < sizeof(t) / sizeof(t[0]); i++) {
			n = strlen(t[i].ent);
			if ((size_t)(e - v) >= n && !memcmp(v, t[i].ent, n))
				break;
		}
		if (*v == '&' && i < sizeof(t) / sizeof(t[0])) {
			rc = strata_buf_put_u8(b, (uint8_t)t[i].c);
			v += n;
		} else {
			rc = strata_buf_put_u8(b, (uint8_t)*v++);
		}
	}
	return rc;
}

/* Set a string attribute from an attribute value; one that is not valid
 * UTF-8 is dropped. */
static int set_xstr(strata_attrs *out, const char *key, const char *v,
		    const char *e)
{
	strata_buf b = STRATA_BUF_INIT;
	b.limit = 4096;
	int rc = put_unescaped(&b, v, e);
	if (!rc && b.len)
		rc = strata_attrs_set_str(out, key, (const char *)b.ptr, b.len);
	strata_buf_release(&b);
	return rc == STRATA_EINVAL ? 0 : rc;
}

static int ome_pixels(strata_attrs *out, const xtag *t)
{
	static const struct {
		const char *attr, *key;
		char type; /* i: INT, r: REAL, s: string */
	} f[] = {{"SizeX", "ome.size_x", 'i'},
		 {"SizeY", "ome.size_y", 'i'},
		 {"SizeZ", "ome.size_z", 'i'},
		 {"SizeC", "ome.size_c", 'i'},
		 {"SizeT", "ome.size_t", 'i'},
		 {"DimensionOrder", "ome.dimension_order", 's'},
		 {"Type", "ome.pixel_type", 's'},
		 {"PhysicalSizeX", "ome.physical_size_x", 'r'},
		 {"PhysicalSizeY", "ome.physical_size_y", 'r'},
		 {"PhysicalSizeZ", "ome.physical_size_z", 'r'}};
	int rc = 0;
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]) && !rc; i++) {
		const char *e, *v = xattr(t, f[i].attr, &e);
		double d;
		if (!v)
			continue;
		if (f[i].type == 's')
			rc = set_xstr(out, f[i].key, v, e);
		else if (parse_real(v, e, &d) && f[i].type == 'r')
			rc = strata_attrs_set_real(out, f[i].key, d);
		else if (f[i].type == 'i' && parse_real(v, e, &d) && d >= 0 &&
			 d < 9e18 && d == (double)(int64_t)d)
			rc = strata_attrs_set_int(out, f[i].key, (int64_t)d);
	}
	return rc;
}

/* Channel names of the <Pixels> element, comma-joined. */
static int ome_channels(strata_attrs *out, const char *p, const char *end)
{
	strata_buf b = STRATA_BUF_INIT;
	b.limit = 4096;
	xtag t;
	int rc = 0, n = 0;
	while (!rc && n < MAX_LEVELS && next_tag(p, end, &t, &p)) {
		if (tag_is(&t, "Pixels"))
			break; /* </Pixels>, or a nested one in broken XML */
		const char *e, *v;
		if (t.close || !tag_is(&t, "Channel") ||
		    !(v = xattr(&t, "Name", &e)))
			continue;
		if (n++)
			rc = strata_buf_put_u8(&b, ',');
		if (!rc)
			rc = put_unescaped(&b, v, e);
	}
	if (!rc && b.len)
		rc = strata_attrs_set_str(out, "ome.channels",
					  (const char *)b.ptr, b.len);
	strata_buf_release(&b);
	return rc == STRATA_EINVAL ? 0 : rc;
}

static int ome_desc(strata_attrs *out, const char *s)
{
	const char *p = s, *end = s + strlen(s);
	xtag t;
	while (next_tag(p, end, &t, &p)) {
		if (t.close || !tag_is(&t, "Pixels"))
			continue;
		int rc = ome_pixels(out, &t);
		return rc ? rc : ome_channels(out, p, end);
	}
	return 0;
}

/* OME-XML: the root element (after the prolog and comments) is OME, with
 * or without a namespace prefix. */
static bool is_ome(const char *s)
{
	const char *p = s, *end = s + strlen(s);
	xtag t;
	while (is_space(*p))
		p++;
	if (*p != '<')
		return false;
	for (int i = 0; i < 8 && next_tag(p, end, &t, &p); i++)
		if (t.name[0] != '?' && t.name[0] != '!')
			return tag_is(&t, "OME");
	return false;
}

static const char *vendor_of(const char *desc)
{
	if (desc && !strncmp(desc, "Aperio", 6))
		return "aperio";
	if (desc && is_ome(desc))
		return "ome";
	return "generic-tiff";
}

/* ---- the directory walk ---- */

typedef struct walk {
	dir l0;
	int ndirs, nlevels;
	uint32_t lw[MAX_LEVELS], lh[MAX_LEVELS];
} walk;

/* Level rule: directory 0, then each later tiled directory strictly
 * smaller than the last level, not a mask and not an Aperio label or
 * macro. Thumbnails (Aperio: striped) and same-size planes (OME: one
 * directory per Z/C/T plane) are not levels. */
static void add_level(walk *w, const dir *d, bool aperio)
{
	if (w->nlevels) {
		uint32_t pw = w->lw[w->nlevels - 1], ph = w->lh[w->nlevels - 1];
		if (!d->tiled || (d->subfile & FILETYPE_MASK) ||
		    (aperio && aperio_extra(d->desc)) || d->w > pw ||
		    d->h > ph || (d->w == pw && d->h == ph) || !d->w || !d->h)
			return;
	}
	if (w->nlevels < MAX_LEVELS) {
		w->lw[w->nlevels] = d->w;
		w->lh[w->nlevels] = d->h;
		w->nlevels++;
	}
}

static int publish_l0(strata_attrs *out, TIFF *tif, const walk *w)
{
	char tmp[24];
	const dir *d = &w->l0;
	const char *c = comp_name(d->comp, tmp, sizeof(tmp));
	int rc = strata_attrs_set_int(out, "wsi.width", d->w);
	if (!rc)
		rc = strata_attrs_set_int(out, "wsi.height", d->h);
	if (!rc && d->tiled)
		rc = strata_attrs_set_int(out, "wsi.tile_width", d->tw);
	if (!rc && d->tiled)
		rc = strata_attrs_set_int(out, "wsi.tile_height", d->th);
	if (!rc)
		rc = strata_attrs_set_str(out, "wsi.compression", c, strlen(c));
	if (!rc)
		rc = strata_attrs_set_int(out, "wsi.samples_per_pixel", d->spp);
	if (!rc)
		rc = strata_attrs_set_int(out, "wsi.bits_per_sample", d->bps);
	if (!rc)
		rc = strata_attrs_set_int(out, "wsi.bigtiff",
					  TIFFIsBigTIFF(tif) != 0);
	return rc;
}

static int publish_levels(strata_attrs *out, const walk *w)
{
	char s[MAX_LEVELS * 24]; /* "4294967295x4294967295," each */
	size_t o = 0;
	for (int i = 0; i < w->nlevels; i++)
		o += (size_t)snprintf(s + o, sizeof(s) - o, "%s%ux%u",
				      i ? "," : "", (unsigned)w->lw[i],
				      (unsigned)w->lh[i]);
	int rc = strata_attrs_set_int(out, "wsi.levels", w->nlevels);
	if (!rc)
		rc = strata_attrs_set_str(out, "wsi.level_dims", s, o);
	if (!rc)
		rc = strata_attrs_set_int(out, "wsi.directories", w->ndirs);
	return rc;
}

/* Directory 0's description, read while it is current. */
static int read_desc0(strata_attrs *out, const dir *d, const char **vendor)
{
	*vendor = vendor_of(d->desc);
	int rc =
	    strata_attrs_set_str(out, "wsi.vendor", *vendor, strlen(*vendor));
	if (!rc && !strcmp(*vendor, "aperio"))
		rc = aperio_desc(out, d->desc);
	if (!rc && !strcmp(*vendor, "ome"))
		rc = ome_desc(out, d->desc);
	return rc;
}

/* Reduced levels kept as SubIFDs of directory 0 (OME-TIFF 6 pyramids).
 * Leaves directory 0 current again; false if that fails. */
static bool walk_subifds(TIFF *tif, walk *w)
{
	uint16_t n = 0;
	toff_t *offs = NULL, copy[MAX_SUBIFDS];
	if (!TIFFGetField(tif, TIFFTAG_SUBIFD, &n, &offs) || !offs || !n)
		return true;
	n = n < MAX_SUBIFDS ? n : MAX_SUBIFDS;
	memcpy(copy, offs, n * sizeof(copy[0]));
	for (uint16_t i = 0; i < n && TIFFSetSubDirectory(tif, copy[i]); i++) {
		dir d;
		read_dir(tif, &d);
		add_level(w, &d, false);
	}
	return TIFFSetDirectory(tif, 0) != 0;
}

static int walk_dirs(strata_attrs *out, TIFF *tif, walk *w)
{
	const char *vendor = NULL;
	dir d;
	read_dir(tif, &d);
	w->l0 = d;
	w->l0.desc = NULL;
	int rc = read_desc0(out, &d, &vendor);
	bool aperio = !strcmp(vendor, "aperio");
	add_level(w, &d, aperio);
	w->ndirs = 1;
	if (rc || !walk_subifds(tif, w))
		return rc;
	/* a damaged later directory ends the walk; what came before stands */
	for (; w->ndirs < MAX_DIRS && TIFFReadDirectory(tif); w->ndirs++) {
		read_dir(tif, &d);
		add_level(w, &d, aperio);
	}
	return 0;
}

static int read_open(const char *path, strata_attrs *out, TIFF *tif)
{
	walk w;
	uint32_t width = 0, height = 0;
	TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &width);
	TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &height);
	if (!width || !height)
		return strata_error_set(STRATA_ECORRUPT,
					"'%s': tiff directory 0 has no image "
					"width or length",
					path);
	memset(&w, 0, sizeof(w));
	int rc = walk_dirs(out, tif, &w);
	if (!rc)
		rc = publish_l0(out, tif, &w);
	if (!rc)
		rc = publish_levels(out, &w);
	return rc;
}

int strata_tiff_read(const char *path, strata_attrs *out)
{
	tctx c;
	memset(&c, 0, sizeof(c));
	pthread_once(&quiet_once, quiet_libtiff);
	if ((c.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return strata_error_set(strata_errno_code(errno),
					"'%s': cannot open: %s", path,
					strerror(errno));
	TIFFOpenOptions *opt = TIFFOpenOptionsAlloc();
	if (!opt) {
		close(c.fd);
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	}
	TIFFOpenOptionsSetErrorHandlerExtR(opt, on_error, &c);
	TIFFOpenOptionsSetWarningHandlerExtR(opt, on_warning, &c);
	TIFFOpenOptionsSetMaxSingleMemAlloc(opt, MAX_ALLOC);
	/* m: no memory mapping; O: strip/tile offsets loaded on demand (we
	 * never ask for them, so a huge tile table costs nothing) */
	TIFF *tif =
	    TIFFClientOpenExt(path, "rmO", &c, io_read, io_write, io_seek,
			      io_close, io_size, io_map, io_unmap, opt);
	TIFFOpenOptionsFree(opt);
	int rc;
	if (!tif)
		rc = strata_error_set(STRATA_ECORRUPT,
				      "'%s': not a readable "
				      "tiff: %s",
				      path, c.err[0] ? c.err : "unknown error");
	else
		rc = read_open(path, out, tif);
	if (tif)
		TIFFClose(tif);
	close(c.fd);
	return rc;
}
