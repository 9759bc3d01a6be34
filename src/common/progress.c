/*
 * progress.c - warnings and the one-line progress display shown on a
 * terminal during long work (never when stderr is a file or -q is given).
 */
#include "common/common.h"

#include <sys/ioctl.h>

int strata_quiet;
static int line_shown; /* a progress line is on the terminal */

void strata_warn(const char *fmt, ...)
{
	va_list ap;
	if (__atomic_exchange_n(&line_shown, 0, __ATOMIC_RELAXED))
		fputs("\r\033[K", stderr);
	fputs("strata: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int strata_env_threads(const char *var, int max, int def)
{
	const char *v = getenv(var);
	uint64_t n;
	if (!v || !*v)
		return def;
	if (!strata_parse_u64(v, &n) && n >= 1 && n <= (uint64_t)max)
		return (int)n;
	strata_warn("%s is '%s': use 1 to %d; using the default", var, v, max);
	return def;
}

void strata_progress_init(strata_progress *p)
{
	struct winsize ws;
	memset(p, 0, sizeof(*p));
	p->enabled = !strata_quiet && isatty(2);
	p->start = strata_mono();
	p->width = 80;
	if (p->enabled && ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
		p->width = ws.ws_col;
}

bool strata_progress_due(strata_progress *p)
{
	if (!p->enabled)
		return false;
	double now = strata_mono();
	if (now - p->last < 0.2)
		return false;
	p->last = now;
	return true;
}

void strata_progress_show(strata_progress *p, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	if (!p->enabled)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if ((int)strlen(line) >= p->width)
		line[p->width - 1] = 0;
	fprintf(stderr, "\r\033[K%s", line);
	fflush(stderr);
	__atomic_store_n(&line_shown, 1, __ATOMIC_RELAXED);
}

void strata_progress_done(strata_progress *p)
{
	if (p->enabled &&
	    __atomic_exchange_n(&line_shown, 0, __ATOMIC_RELAXED)) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
}
