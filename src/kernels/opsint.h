/*
 * opsint.h - what the kernel files of src/kernels/ share and nobody else
 * needs: the run-time SIMD checks, two AVX2 helpers, the packed-panel GEMM
 * and the sequence-length clamp (the reference kernels of test/ref use it too)
 */
#ifndef TFM_KERNELS_OPSINT_H
#define TFM_KERNELS_OPSINT_H

#include <stddef.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define TFM_X86 1
#include <immintrin.h>
#endif

#include "kernels/cpu.h"

#ifdef TFM_X86
/* CPU and level allow the AVX2+FMA paths */
static inline int
have_avx2(void)
{
	return TfmCpuHas(TFM_FEAT_AVX2);
}

/* CPU and level allow the F16C path */
static inline int
have_f16c(void)
{
	return TfmCpuHas(TFM_FEAT_F16C);
}

/* horizontal sum of eight floats */
__attribute__((target("avx2,fma")))
static inline float
hsum256(__m256 v)
{
	__m128		s = _mm_add_ps(_mm256_castps256_ps128(v),
							   _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* dot product of two float vectors of length C */
__attribute__((target("avx2,fma")))
static inline float
dot_avx2(const float *a, const float *b, int C)
{
	__m256		acc0 = _mm256_setzero_ps(),
				acc1 = _mm256_setzero_ps();
	float		s;
	int			i = 0;

	for (; i + 16 <= C; i += 16)
	{
		acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
		acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
	}
	for (; i + 8 <= C; i += 8)
		acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
	s = hsum256(_mm256_add_ps(acc0, acc1));
	for (; i < C; i++)
		s += a[i] * b[i];
	return s;
}
#endif

/* number of real tokens of a sequence, clamped to [0,T] */
static inline int
clamp_len(int len, int T)
{
	return len < 0 ? 0 : (len > T ? T : len);
}

/* panels of a weight (OC,C) whose element (o,i) is w[o * so + i * si]; zeros past OC */
void		tfm_pack_strided(float *dst, const float *w, size_t so, size_t si, int C, int OC);
/* out (N,OC) (rows ldo apart) = inp (N,C) (rows ldi apart) . weight^T + bias, weight in panels */
void		tfm_packed_gemm(float *out, int ldo, const float *inp, int ldi, const float *packed,
							const float *bias, int N, int C, int OC);

#endif							/* TFM_KERNELS_OPSINT_H */
