/*
 * bgemm_avx512.c - AVX-512F and AVX512-BF16 tiles of the bf16 linear layer (see bgemm.h)
 *
 * Two panels (32 columns, a zmm each) against MR <= 12 rows.  AVX512-BF16:
 * vdpbf16ps adds both channels of a pair in one instruction.  AVX-512F:
 * the pair widened to fp32 (shift, mask) and two FMAs, as the AVX2 tile.
 */
#include "kernels/bgemm.h"
#include "kernels/tiles.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <string.h>
#include <immintrin.h>

/* one tile; DP: vdpbf16ps (else widen + FMA); MR, NP and DP constants at each call */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"), always_inline))
static inline void
b16_tile_avx512(float *out, int ldo, const void *xa, int ldb, const TfmB16Weight *w,
				int o0, const float *bias, int MR, int NP, int DP, int cols)
{
	const uint16_t *panel = w->w + (size_t) (o0 / 16) * (w->Cp / 2) * 32;
	size_t		pstride = (size_t) (w->Cp / 2) * 32;
	const uint16_t *xb = xa;	/* DP: bf16 pairs */
	const float *xf = xa;		/* else: floats */
	__m512		acc[12][2];
	__m512i		hi = _mm512_set1_epi32((int) 0xffff0000u);
	__mmask16	m[2];

	m[0] = (__mmask16) (cols >= 16 ? 0xffff : (1u << cols) - 1);
	m[1] = (__mmask16) (cols >= 32 ? 0xffff : cols <= 16 ? 0 : (1u << (cols - 16)) - 1);
#pragma GCC unroll 2
	for (int p = 0; p < NP; p++)
	{
		__m512		b = bias ? _mm512_maskz_loadu_ps(m[p], bias + o0 + 16 * p) : _mm512_setzero_ps();

#pragma GCC unroll 12
		for (int r = 0; r < MR; r++)
			acc[r][p] = b;
	}
	for (int k2 = 0; k2 < w->Cp / 2; k2++)
	{
		__m512i		g[2];

#pragma GCC unroll 2
		for (int p = 0; p < NP; p++)
			g[p] = _mm512_load_si512((const void *) (panel + p * pstride + (size_t) k2 * 32));
		if (DP)
		{
#pragma GCC unroll 12
			for (int r = 0; r < MR; r++)
			{
				int32_t		pair;
				__m512i		xv;

				memcpy(&pair, xb + (size_t) r * ldb + 2 * k2, 4);
				xv = _mm512_set1_epi32(pair);
#pragma GCC unroll 2
				for (int p = 0; p < NP; p++)
					acc[r][p] = _mm512_dpbf16_ps(acc[r][p], (__m512bh) xv, (__m512bh) g[p]);
			}
		}
		else
		{
			__m512		e[2], d[2];

#pragma GCC unroll 2
			for (int p = 0; p < NP; p++)
			{
				e[p] = _mm512_castsi512_ps(_mm512_slli_epi32(g[p], 16));
				d[p] = _mm512_castsi512_ps(_mm512_and_si512(g[p], hi));
			}
#pragma GCC unroll 12
			for (int r = 0; r < MR; r++)
			{
				float		xe = xf[(size_t) r * ldb + 2 * k2],
							xd = xf[(size_t) r * ldb + 2 * k2 + 1];

#pragma GCC unroll 2
				for (int p = 0; p < NP; p++)
					acc[r][p] = _mm512_fmadd_ps(_mm512_set1_ps(xd), d[p],
												_mm512_fmadd_ps(_mm512_set1_ps(xe), e[p], acc[r][p]));
			}
		}
	}
#pragma GCC unroll 12
	for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
		for (int p = 0; p < NP; p++)
			_mm512_mask_storeu_ps(out + (size_t) r * ldo + 16 * p, m[p], acc[r][p]);
}

/* rows to bf16 as b16_round_rows does (nearest even, nan kept), 16 values per step */
__attribute__((target("avx512f,avx512bw,avx512vl")))
void
tfm_b16_round_avx512(uint16_t *xb, const float *x, int N, int C, int Cp)
{
	for (int n = 0; n < N; n++)
	{
		const float *r = x + (size_t) n * C;
		uint16_t   *d = xb + (size_t) n * Cp;

		for (int k = 0; k < C; k += 16)
		{
			__mmask16	mk = (__mmask16) (C - k >= 16 ? 0xffff : (1u << (C - k)) - 1);
			__m512i		u = _mm512_castps_si512(_mm512_maskz_loadu_ps(mk, r + k));
			__m512i		rnd = _mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)),
											   _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1)));
			__mmask16	nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
												  _mm512_set1_epi32(0x7f800000));
			__m512i		h = _mm512_mask_or_epi32(_mm512_srli_epi32(rnd, 16), nan,
												 _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));

			_mm256_mask_storeu_epi16(d + k, mk, _mm512_cvtepi32_epi16(h));
		}
		for (int k = C; k < Cp; k++)
			d[k] = 0;
	}
}

#define TILE_BF16(mr, np) b16_tile_avx512(out, ldo, xa, ldb, w, o0, bias, mr, np, 1, cols)
#define TILE_WIDEN(mr, np) b16_tile_avx512(out, ldo, xa, ldb, w, o0, bias, mr, np, 0, cols)

/* AVX512-BF16 rows (vdpbf16ps) */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
void
tfm_b16_rows_avx512bf16(float *out, int ldo, const void *xa, int ldb, const TfmB16Weight *w,
						int o0, const float *bias, int MR, int cols)
{
	TFM_TILE_ROWS12_PANELS(MR, cols, TILE_BF16);
}

/* AVX-512F rows (widen + FMA; the bf16 target is only for the shared tile's declaration) */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
void
tfm_b16_rows_avx512(float *out, int ldo, const void *xa, int ldb, const TfmB16Weight *w,
					int o0, const float *bias, int MR, int cols)
{
	TFM_TILE_ROWS12_PANELS(MR, cols, TILE_WIDEN);
}
#else
/* not reached: callers check TfmCpuHas */
void
tfm_b16_round_avx512(uint16_t *xb, const float *x, int N, int C, int Cp)
{
}

void
tfm_b16_rows_avx512bf16(float *out, int ldo, const void *xa, int ldb, const TfmB16Weight *w,
						int o0, const float *bias, int MR, int cols)
{
}

void
tfm_b16_rows_avx512(float *out, int ldo, const void *xa, int ldb, const TfmB16Weight *w,
					int o0, const float *bias, int MR, int cols)
{
}
#endif
