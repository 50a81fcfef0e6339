/*
 * qgemm_avx512.c - AVX512-VNNI tile of the int8 linear layer (see qgemm.h)
 *
 * Two panels (32 columns, two zmm of 16 int32 sums) against MR <= 12
 * rows: vpdpbusd on x+128 (u8, stored so by the caller) and the weights (s8), the offset taken back
 * with wsum; the float epilogue as the scalar kernel's, masked stores.
 */
#include <string.h>

#include "kernels/qgemm.h"
#include "kernels/tiles.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

/* the epilogue must round as the scalar kernel does: no fused multiply-adds */
#pragma GCC optimize("fp-contract=off")

/*
 * acc += x (u8) . w (s8) by groups of four: vpdpbusd in asm, as GCC 12 copies every accumulator
 * in and out of a temporary around the intrinsic (2 extra moves per instruction, half the speed)
 */
#define DPBUSD(acc, x, w) __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(x), "v"(w))

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"), always_inline))
static inline void
q8_tile_avx512(float *out, int ldo, const int8_t *xq, int ldq, const float *sx,
			   const TfmQ8Weight *w, int o0, const float *bias, int MR, int NP, int cols)
{
	const int8_t *panel = w->q + (size_t) (o0 / 16) * (w->Cp / 4) * 64;
	size_t		pstride = (size_t) (w->Cp / 4) * 64;
	__m512i		acc[12][2];
	__mmask16	m[2];

	m[0] = (__mmask16) (cols >= 16 ? 0xffff : (1u << cols) - 1);
	m[1] = (__mmask16) (cols >= 32 ? 0xffff : cols <= 16 ? 0 : (1u << (cols - 16)) - 1);
#pragma GCC unroll 12
	for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
		for (int p = 0; p < NP; p++)
			acc[r][p] = _mm512_setzero_si512();
	for (int k4 = 0; k4 < w->Cp / 4; k4++)
	{
		__m512i		wv[2];

#pragma GCC unroll 2
		for (int p = 0; p < NP; p++)
			wv[p] = _mm512_load_si512((const void *) (panel + p * pstride + (size_t) k4 * 64));
#pragma GCC unroll 12
		for (int r = 0; r < MR; r++)
		{
			int32_t		x4;
			__m512i		xb;

			memcpy(&x4, xq + (size_t) r * ldq + 4 * k4, 4);
			xb = _mm512_set1_epi32(x4);
#pragma GCC unroll 2
			for (int p = 0; p < NP; p++)
				DPBUSD(acc[r][p], xb, wv[p]);
		}
	}
#pragma GCC unroll 2
	for (int p = 0; p < NP; p++)
	{
		__m512i		ws = _mm512_loadu_si512((const void *) (w->wsum + o0 + 16 * p));
		__m512		sc = _mm512_loadu_ps(w->scale + o0 + 16 * p);
		__m512		b = bias ? _mm512_maskz_loadu_ps(m[p], bias + o0 + 16 * p) : _mm512_setzero_ps();

#pragma GCC unroll 12
		for (int r = 0; r < MR; r++)
		{
			__m512		v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][p], ws));

			v = _mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(v, _mm512_set1_ps(sx[r])), sc), b);
			_mm512_mask_storeu_ps(out + (size_t) r * ldo + 16 * p, m[p], v);
		}
	}
}

/*
 * rows quantised as q8_quantize does (same float ops, cvtps2dq rounds to nearest even like its
 * round_int), stored as v + 128 for vpdpbusd: bit-identical bytes, 16 channels per instruction
 */
__attribute__((target("avx512f,avx512bw,avx512vl")))
void
tfm_q8_quantize_avx512(int8_t *xq, float *sx, const float *x, int N, int C, int Cp)
{

	for (int n = 0; n < N; n++)
	{
		const float *r = x + (size_t) n * C;
		int8_t	   *d = xq + (size_t) n * Cp;
		__m512		m = _mm512_setzero_ps();
		float		amax, inv;
		__m512		vinv;
		int			k;

		for (k = 0; k + 16 <= C; k += 16)
			m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(r + k)));
		if (k < C)
			m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_maskz_loadu_ps((__mmask16) ((1u << (C - k)) - 1), r + k)));
		amax = _mm512_reduce_max_ps(m);
		sx[n] = amax / 127.0f;
		inv = amax > 0.0f ? 127.0f / amax : 0.0f;
		vinv = _mm512_set1_ps(inv);
		for (k = 0; k < C; k += 16)
		{
			__mmask16	mk = (__mmask16) (C - k >= 16 ? 0xffff : (1u << (C - k)) - 1);
			__m512i		v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(mk, r + k), vinv));

			v = _mm512_max_epi32(_mm512_min_epi32(v, _mm512_set1_epi32(127)), _mm512_set1_epi32(-127));
			v = _mm512_add_epi32(v, _mm512_set1_epi32(128));
			_mm_mask_storeu_epi8(d + k, mk, _mm512_cvtepi32_epi8(v));
		}
		memset(d + C, 0x80, Cp - C);
	}
}

#define TILE(mr, np) q8_tile_avx512(out, ldo, xq, ldq, sx, w, o0, bias, mr, np, cols)

/* MR rows against one or two panels */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
void
tfm_q8_rows_avx512vnni(float *out, int ldo, const void *xq, int ldq, const float *sx,
					   const TfmQ8Weight *w, int o0, const float *bias, int MR, int cols)
{
	TFM_TILE_ROWS12_PANELS(MR, cols, TILE);
}
#else
/* not reached: callers check TfmCpuHas */
void
tfm_q8_quantize_avx512(int8_t *xq, float *sx, const float *x, int N, int C, int Cp)
{
}

void
tfm_q8_rows_avx512vnni(float *out, int ldo, const void *xq, int ldq, const float *sx,
					   const TfmQ8Weight *w, int o0, const float *bias, int MR, int cols)
{
}
#endif
