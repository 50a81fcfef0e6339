/*
 * cpu.c - CPU feature detection and the level cap (see cpu.h)
 */
#include <stdio.h>
#include <string.h>

#include "kernels/cpu.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <cpuid.h>
#define TFM_X86 1
#endif

/* detected features, -1 until read */
static int	cpu_detected = -1;
/* features the level allows (all until capped) */
static int	cpu_allowed = ~0;

/* features each level allows */
static const int level_mask[TFM_LEVEL_COUNT] = {
	0,
	TFM_FEAT_AVX2 | TFM_FEAT_F16C | TFM_FEAT_AVXVNNI,
	TFM_FEAT_AVX2 | TFM_FEAT_F16C | TFM_FEAT_AVXVNNI | TFM_FEAT_AVX512,
	TFM_FEAT_AVX2 | TFM_FEAT_F16C | TFM_FEAT_AVXVNNI | TFM_FEAT_AVX512 | TFM_FEAT_VNNI512,
	TFM_FEAT_AVX2 | TFM_FEAT_F16C | TFM_FEAT_AVXVNNI | TFM_FEAT_AVX512 | TFM_FEAT_VNNI512 |
	TFM_FEAT_BF16_512,
};

static const char *const level_names[TFM_LEVEL_COUNT] = {
	"scalar", "avx2", "avx512", "avx512vnni", "avx512bf16"
};

#ifdef TFM_X86
/* XCR0: the register state the OS saves (XGETBV 0; OSXSAVE checked by the caller) */
static unsigned long long
xgetbv0(void)
{
	unsigned int lo,
				hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((unsigned long long) hi << 32) | lo;
}

/* read the features with CPUID and XGETBV */
static int
cpu_detect(void)
{
	unsigned int a, b, c, d;
	unsigned int c1, b7 = 0, c7 = 0, a71 = 0;
	unsigned long long xcr0;
	int			f = 0;

	if (!__get_cpuid(1, &a, &b, &c1, &d))
		return 0;
	/* AVX needs OSXSAVE and the OS saving XMM and YMM state */
	if (!(c1 & bit_OSXSAVE) || !(c1 & bit_AVX))
		return 0;
	xcr0 = xgetbv0();
	if ((xcr0 & 0x6) != 0x6)
		return 0;
	if (__get_cpuid_max(0, NULL) >= 7)
	{
		__cpuid_count(7, 0, a, b7, c7, d);
		if (a >= 1)
			__cpuid_count(7, 1, a71, b, c, d);
	}
	if ((b7 & bit_AVX2) && (c1 & bit_FMA))
		f |= TFM_FEAT_AVX2;
	if (c1 & bit_F16C)
		f |= TFM_FEAT_F16C;
	if ((f & TFM_FEAT_AVX2) && (a71 & (1u << 4)))
		f |= TFM_FEAT_AVXVNNI;
	/* AVX-512 also needs opmask, ZMM_Hi256 and Hi16_ZMM state (XCR0 bits 5-7) */
	if ((f & TFM_FEAT_AVX2) && (xcr0 & 0xe0) == 0xe0 &&
		(b7 & bit_AVX512F) && (b7 & bit_AVX512BW) && (b7 & bit_AVX512VL) && (b7 & bit_AVX512DQ))
	{
		f |= TFM_FEAT_AVX512;
		if (c7 & (1u << 11))
			f |= TFM_FEAT_VNNI512;
		if (a71 & (1u << 5))
			f |= TFM_FEAT_BF16_512;
	}
	return f;
}
#else
static int
cpu_detect(void)
{
	return 0;
}
#endif

/* features the CPU and OS support (CPUID + XGETBV, read once) */
int
TfmCpuDetected(void)
{
	int			f = __atomic_load_n(&cpu_detected, __ATOMIC_RELAXED);

	if (f < 0)
	{
		/* threads racing here compute the same value */
		f = cpu_detect();
		__atomic_store_n(&cpu_detected, f, __ATOMIC_RELAXED);
	}
	return f;
}

/* cap the kernels at a level (TFM_LEVEL_AUTO: everything detected) */
void
TfmCpuSetLevel(int level)
{
	cpu_allowed = (level < 0 || level >= TFM_LEVEL_COUNT) ? ~0 : level_mask[level];
}

/* features the kernels may use now */
int
TfmCpuActive(void)
{
	return TfmCpuDetected() & cpu_allowed;
}

/* highest level whose features are all active */
int
TfmCpuEffectiveLevel(void)
{
	return TfmCpuLevelOf(TfmCpuActive());
}

/* highest level whose features are all in the set act */
int
TfmCpuLevelOf(int act)
{
	int			best = TFM_LEVEL_SCALAR;

	for (int l = TFM_LEVEL_AVX2; l < TFM_LEVEL_COUNT; l++)
	{
		int			need = level_mask[l] & ~TFM_FEAT_AVXVNNI;	/* AVX-VNNI is optional */

		if ((act & need) == need)
			best = l;
	}
	return best;
}

/* name of a level */
const char *
TfmCpuLevelName(int level)
{
	return level >= 0 && level < TFM_LEVEL_COUNT ? level_names[level] : "auto";
}

/* the detected features as space-separated names */
void
TfmCpuFlags(char *buf, int n)
{
	static const struct
	{
		int			bit;
		const char *name;
	}			names[] = {
		{TFM_FEAT_AVX2, "avx2+fma"}, {TFM_FEAT_F16C, "f16c"}, {TFM_FEAT_AVXVNNI, "avx_vnni"},
		{TFM_FEAT_AVX512, "avx512f/bw/vl/dq"}, {TFM_FEAT_VNNI512, "avx512_vnni"},
		{TFM_FEAT_BF16_512, "avx512_bf16"},
	};
	int			f = TfmCpuDetected();
	int			len = 0;

	if (n <= 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if ((f & names[i].bit) && len < n)
			len += snprintf(buf + len, n - len, "%s%s", len ? " " : "", names[i].name);
	if (len == 0)
		snprintf(buf, n, "none");
}
