/*
 * chunker.c - FastCDC content-defined chunking (Xia et al., USENIX ATC
 * 2016) with normalised chunking: a stricter mask before the average size
 * and a looser one after it pull chunk sizes towards the average. The gear
 * table is derived from a repository key, so cut points do not reveal
 * content to someone who only sees chunk sizes.
 */
#include "store/store.h"

static int log2u(uint32_t v)
{
	int b = 0;
	while (v >>= 1)
		b++;
	return b;
}

/* A mask with `bits` ones spread over the top of the word: the top bits of
 * the gear hash depend on the last 64 input bytes. */
static uint64_t mask_bits(int bits)
{
	if (bits < 1)
		bits = 1;
	if (bits > 48)
		bits = 48;
	return (~0ULL) << (64 - bits);
}

int strata_chunker_init(strata_chunker *c, const uint8_t gear_key[32],
			uint32_t min, uint32_t avg, uint32_t max)
{
	if (min < 64 || min > avg || avg > max || max > (8u << 20))
		return strata_error_set(
		    STRATA_EINVAL,
		    "chunk bounds %u/%u/%u are invalid "
		    "(need 64 <= min <= avg <= max <= 8 MiB)",
		    min, avg, max);
	for (uint32_t i = 0; i < 256; i++) {
		uint8_t h[32], in[4];
		uint64_t v = 0;
		strata_le32(in, i);
		strata_hmac_once(h, gear_key, 32, in, 4);
		for (int j = 7; j >= 0; j--)
			v = v << 8 | h[j];
		c->gear[i] = v;
	}
	c->min = min;
	c->avg = avg;
	c->max = max;
	int bits = log2u(avg);
	c->mask_s = mask_bits(bits + 2);
	c->mask_l = mask_bits(bits - 2);
	return 0;
}

size_t strata_chunker_next(const strata_chunker *c, const uint8_t *p, size_t n,
			   bool eof)
{
	if (n <= c->min)
		return eof ? n : 0;
	size_t end = n < c->max ? n : c->max;
	size_t normal = c->avg < end ? c->avg : end;
	uint64_t fp = 0;
	size_t i = c->min;
	for (; i < normal; i++) {
		fp = (fp << 1) + c->gear[p[i]];
		if (!(fp & c->mask_s))
			return i + 1;
	}
	for (; i < end; i++) {
		fp = (fp << 1) + c->gear[p[i]];
		if (!(fp & c->mask_l))
			return i + 1;
	}
	if (end == c->max)
		return end;
	return eof ? n : 0;
}
