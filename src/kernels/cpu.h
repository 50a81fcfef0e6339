/*
 * cpu.h - which SIMD kernels this process may run (run-time dispatch)
 *
 * The CPU's features are read once per process with CPUID, and AVX /
 * AVX-512 count only when the OS saves their register state (XGETBV).
 * A level (pg_tfm.cpu_features, or TfmOpsSetSimd in tests) can cap them
 * below what the CPU has; it never enables what the CPU lacks.  Kernels
 * are compiled with function-level target attributes, so the build runs on
 * any x86-64.  No postgres.h here.
 */
#ifndef TFM_CPU_H
#define TFM_CPU_H

/* features (bits) */
#define TFM_FEAT_AVX2		0x01	/* AVX2 + FMA (+ OS YMM state) */
#define TFM_FEAT_F16C		0x02	/* F16C (+ OS YMM state) */
#define TFM_FEAT_AVX512		0x04	/* AVX-512 F + BW + VL + DQ (+ OS ZMM/opmask state) */
#define TFM_FEAT_VNNI512	0x08	/* AVX512-VNNI (vpdpbusd) */
#define TFM_FEAT_BF16_512	0x10	/* AVX512-BF16 (vdpbf16ps) */
#define TFM_FEAT_AVXVNNI	0x20	/* AVX-VNNI (VEX vpdpbusd on ymm) */

/* levels a session may cap the kernels at, lowest first (TFM_LEVEL_AUTO: no cap) */
typedef enum TfmCpuLevel
{
	TFM_LEVEL_AUTO = -1,
	TFM_LEVEL_SCALAR = 0,
	TFM_LEVEL_AVX2,
	TFM_LEVEL_AVX512,
	TFM_LEVEL_AVX512VNNI,
	TFM_LEVEL_AVX512BF16,
	TFM_LEVEL_COUNT
} TfmCpuLevel;

/* features the CPU and OS support (CPUID + XGETBV, read once) */
int			TfmCpuDetected(void);
/* cap the kernels at a level (TFM_LEVEL_AUTO: everything detected); process-wide */
void		TfmCpuSetLevel(int level);
/* features the kernels may use now: detected and allowed by the level */
int			TfmCpuActive(void);
/* highest level whose features are all active */
int			TfmCpuEffectiveLevel(void);
/* highest level whose features are all in a set (TfmCpuLevelOf(TfmCpuDetected()): the CPU's best) */
int			TfmCpuLevelOf(int features);
/* name of a level ("scalar", "avx2", ...; "auto") */
const char *TfmCpuLevelName(int level);
/* the CPU's detected features as space-separated names into buf (size n) */
void		TfmCpuFlags(char *buf, int n);

/* nonzero when every feature in f may be used */
static inline int
TfmCpuHas(int f)
{
	return (TfmCpuActive() & f) == f;
}

/* the highest of n kernel variants whose features (needs[v]) are all active; 0 (scalar) if none */
static inline int
TfmCpuBestVariant(const int *needs, int n)
{
	for (int v = n - 1; v > 0; v--)
		if (TfmCpuHas(needs[v]))
			return v;
	return 0;
}

#endif
