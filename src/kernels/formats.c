/*
 * formats.c - number formats (binary16, bfloat16 -> float) and the panel
 * layout of packed weights (see ops.h)
 */
#include <math.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/ops.h"
#include "kernels/opsint.h"

/* ---------------------------------------------------------------------- */
/* number formats                                                          */
/* ---------------------------------------------------------------------- */

/* convert one IEEE binary16 value */
static float
half_to_float(uint16_t h)
{
	uint32_t	sign = (uint32_t) (h & 0x8000) << 16;
	uint32_t	exp = (h >> 10) & 0x1f;
	uint32_t	man = h & 0x3ff;
	uint32_t	bits;
	float		f;

	if (exp == 0x1f)			/* inf or nan: keep the payload */
		bits = sign | 0x7f800000 | (man << 13);
	else if (exp != 0)			/* normal: rebias 15 -> 127 */
		bits = sign | ((exp + 112) << 23) | (man << 13);
	else if (man == 0)			/* signed zero */
		bits = sign;
	else
	{
		/* subnormal man * 2^-24 becomes a normal float: shift to 1.x */
		int			e = -1;

		do
		{
			e++;
			man <<= 1;
		} while ((man & 0x400) == 0);
		bits = sign | ((uint32_t) (112 - e) << 23) | ((man & 0x3ff) << 13);
	}
	memcpy(&f, &bits, sizeof(f));
	return f;
}

#ifdef TFM_X86
/* binary16 -> float eight at a time with the F16C instruction */
__attribute__((target("avx,f16c")))
static size_t
half_to_float_f16c(float *dst, const uint16_t *src, size_t n)
{
	size_t		i = 0;

	for (; i + 8 <= n; i += 8)
	{
		__m128i		h = _mm_loadu_si128((const __m128i *) (src + i));

		_mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
	}
	return i;
}
#endif

/* IEEE binary16 -> float, F16C when the CPU has it */
void
TfmHalfToFloat(float *dst, const uint16_t *src, size_t n)
{
	size_t		i = 0;

#ifdef TFM_X86
	if (have_f16c())
		i = half_to_float_f16c(dst, src, n);
#endif
	for (; i < n; i++)
		dst[i] = half_to_float(src[i]);
}

/* bfloat16 -> float: bf16 is the top half of a float */
void
TfmBf16ToFloat(float *dst, const uint16_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		uint32_t	bits = (uint32_t) src[i] << 16;

		memcpy(dst + i, &bits, sizeof(float));
	}
}

/* floats of the packed form of a (OC,C) weight: whole panels */
size_t
matmul_packed_floats(int C, int OC)
{
	return (size_t) (OC + TFM_PANEL - 1) / TFM_PANEL * TFM_PANEL * C;
}

/* panels of a weight (OC,C) whose element (o,i) is w[o * so + i * si]; zeros past OC */
void
tfm_pack_strided(float *dst, const float *w, size_t so, size_t si, int C, int OC)
{
	for (int o0 = 0; o0 < OC; o0 += TFM_PANEL)
		for (int i = 0; i < C; i++)
			for (int j = 0; j < TFM_PANEL; j++)
				*dst++ = o0 + j < OC ? w[(size_t) (o0 + j) * so + (size_t) i * si] : 0.0f;
}

/* weight (OC,C) into panels of TFM_PANEL columns, (C,TFM_PANEL) each; zeros past OC */
void
matmul_pack(float *dst, const float *weight, int C, int OC)
{
	tfm_pack_strided(dst, weight, C, 1, C, OC);
}

/* weight (OC,C) back from panels */
void
matmul_unpack(float *weight, const float *packed, int C, int OC)
{
	for (int o0 = 0; o0 < OC; o0 += TFM_PANEL)
		for (int i = 0; i < C; i++, packed += TFM_PANEL)
			for (int j = 0; j < TFM_PANEL && o0 + j < OC; j++)
				weight[(size_t) (o0 + j) * C + i] = packed[j];
}
