/*
 * deid_tables.c - lookups over the generated tables (Table E.1-1 rules,
 * PS3.6 VRs) and the three short lists strata adds as policy, each
 * documented in docs/deid.md: the safe private attributes kept by Retain
 * Safe Private, technical text attributes the VR sweep keeps, and the UI
 * attributes that name classes or syntaxes rather than instances.
 */
#include "common/common.h"
#include "deid/deid_int.h"

const deid__rule *deid__rule_find(uint32_t tag)
{
	size_t lo = 0, hi = deid__nrules;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (deid__rules[mid].tag == tag)
			return &deid__rules[mid];
		if (deid__rules[mid].tag < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = 0; i < deid__nwild_rules; i++)
		if ((tag & deid__wild_rules[i].mask) == deid__wild_rules[i].tag)
			return &deid__wild_rules[i];
	return NULL;
}

const char *deid__vr_find(uint32_t tag)
{
	uint16_t g = (uint16_t)(tag >> 16), e = (uint16_t)tag;
	size_t lo = 0, hi = deid__nvrs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t t =
		    (uint32_t)deid__vrs[mid].glo << 16 | deid__vrs[mid].elo;
		if (t == tag)
			return deid__vrs[mid].vr;
		if (t < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = 0; i < deid__nvr_ranges; i++) {
		const deid__vrent *v = &deid__vr_ranges[i];
		if (g >= v->glo && g <= v->ghi &&
		    (g - v->glo) % v->gstep == 0 && e >= v->elo && e <= v->ehi)
			return v->vr;
	}
	return "";
}

/*
 * Safe private attributes: a subset of PS3.15 Table E.3.10-1 (which the
 * vendored TSV does not carry) - the acquisition parameters that
 * diffusion and mosaic conversion (dcm2niix, nibabel) read. Numbers and
 * codes only; no private sequence, no free text.
 */
static const struct {
	const char *creator;
	uint16_t group;
	uint8_t elem; /* low byte of the element, the block byte is free */
} safe_private[] = {
    {"SIEMENS MR HEADER", 0x0019, 0x0a}, /* NumberOfImagesInMosaic */
    {"SIEMENS MR HEADER", 0x0019, 0x0b}, /* SliceMeasurementDuration */
    {"SIEMENS MR HEADER", 0x0019, 0x0c}, /* B_value */
    {"SIEMENS MR HEADER", 0x0019, 0x0d}, /* DiffusionDirectionality */
    {"SIEMENS MR HEADER", 0x0019, 0x0e}, /* DiffusionGradientDirection */
    {"SIEMENS MR HEADER", 0x0019, 0x27}, /* B_matrix */
    {"SIEMENS MR HEADER", 0x0019, 0x28}, /* BandwidthPerPixelPhaseEncode */
    {"SIEMENS MR HEADER", 0x0019, 0x29}, /* MosaicRefAcqTimes */
    {"GEMS_PARM_01", 0x0043, 0x39},	 /* slop_int_6..9 (b-value) */
    {"GEMS_ACQU_01", 0x0019, 0xbb},	 /* user data (diffusion) */
    {"GEMS_ACQU_01", 0x0019, 0xbc},
    {"GEMS_ACQU_01", 0x0019, 0xbd},
    {"Philips Imaging DD 001", 0x2001, 0x03},	 /* Diffusion B-Factor */
    {"Philips Imaging DD 001", 0x2001, 0x04},	 /* Diffusion Direction */
    {"Philips MR Imaging DD 001", 0x2005, 0xb0}, /* Diffusion Direction RL */
    {"Philips MR Imaging DD 001", 0x2005, 0xb1}, /* Diffusion Direction AP */
    {"Philips MR Imaging DD 001", 0x2005, 0xb2}, /* Diffusion Direction FH */
};

bool deid__safe_private(const char *creator, uint16_t group, uint8_t elem)
{
	for (size_t i = 0; i < sizeof(safe_private) / sizeof(safe_private[0]);
	     i++)
		if (safe_private[i].group == group &&
		    safe_private[i].elem == elem &&
		    !strcmp(safe_private[i].creator, creator))
			return true;
	return false;
}

bool deid__safe_creator(const char *creator)
{
	for (size_t i = 0; i < sizeof(safe_private) / sizeof(safe_private[0]);
	     i++)
		if (!strcmp(safe_private[i].creator, creator))
			return true;
	return false;
}

/* Text attributes outside Table E.1-1 that name equipment settings or
 * coded concepts, kept by the VR sweep. */
static const uint32_t technical_text[] = {
    0x00080070, /* Manufacturer */
    0x00080100, /* Code Value */
    0x00080102, /* Coding Scheme Designator */
    0x00080103, /* Coding Scheme Version */
    0x00080104, /* Code Meaning */
    0x00080119, /* Long Code Value */
    0x00080120, /* URN Code Value */
    0x00180024, /* Sequence Name */
    0x00181210, /* Convolution Kernel */
    0x00181250, /* Receive Coil Name */
    0x00181251, /* Transmit Coil Name */
    0x00189005, /* Pulse Sequence Name */
    0x00281054, /* Rescale Type */
    0x00281055, /* Window Center & Width Explanation */
    0x00283003, /* LUT Explanation */
    0x00409210, /* LUT Label */
};

bool deid__technical_text(uint32_t tag)
{
	for (size_t i = 0; i < sizeof(technical_text) / sizeof(uint32_t); i++)
		if (technical_text[i] == tag)
			return true;
	return false;
}

static const uint32_t structural_uid[] = {
    0x00020002, /* Media Storage SOP Class UID */
    0x00020010, /* Transfer Syntax UID */
    0x00041510, /* Referenced SOP Class UID in File */
    0x00041512, /* Referenced Transfer Syntax UID in File */
    0x00080016, /* SOP Class UID */
    0x0008001a, /* Related General SOP Class UID */
    0x0008001b, /* Original Specialized SOP Class UID */
    0x00080062, /* SOP Classes in Study */
    0x0008010c, /* Coding Scheme UID */
    0x00080117, /* Context UID */
    0x00081150, /* Referenced SOP Class UID */
    0x0008115a, /* SOP Classes Supported */
    0x00083001, /* Referenced Related General SOP Class UID */
    0x00089123, /* Creator-Version UID */
    0x04000510, /* Encrypted Content Transfer Syntax UID */
};

bool deid__structural_uid(uint32_t tag)
{
	for (size_t i = 0; i < sizeof(structural_uid) / sizeof(uint32_t); i++)
		if (structural_uid[i] == tag)
			return true;
	return false;
}
