/*
 * qgemm_avx2.c - AVX2 and AVX-VNNI tiles of the int8 linear layer (see qgemm.h)
 *
 * One panel (16 columns, two ymm of 8 int32 sums) against MR <= 6 rows.
 * AVX2: x*w as |x| (u8) times w with x's sign (s8) through vpmaddubsw,
 * whose pair sums (<= 2*127*127) cannot saturate, then vpmaddwd by ones.
 * AVX-VNNI: vpdpbusd on x+128 (u8, stored so by the caller), the offset taken back with wsum.
 */
#include <string.h>

#include "kernels/qgemm.h"
#include "kernels/tiles.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

/* the epilogue must round as the scalar kernel does: no fused multiply-adds */
#pragma GCC optimize("fp-contract=off")

/* the shared epilogue: ((float) acc * sx) * scale + bias, stored (a partial panel through a buffer) */
__attribute__((target("avx2,fma"), always_inline))
static inline void
q8_store_avx2(float *out, __m256i a0, __m256i a1, float sx, const float *scale,
			  const float *bias, int cols)
{
	float		buf[16];
	__m256		s = _mm256_set1_ps(sx);
	__m256		r0 = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(a0), s), _mm256_loadu_ps(scale)),
				r1 = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(a1), s), _mm256_loadu_ps(scale + 8));

	if (bias)
	{
		float		b[16] = {0};

		memcpy(b, bias, sizeof(float) * cols);
		r0 = _mm256_add_ps(r0, _mm256_loadu_ps(b));
		r1 = _mm256_add_ps(r1, _mm256_loadu_ps(b + 8));
	}
	else
	{
		r0 = _mm256_add_ps(r0, _mm256_setzero_ps());
		r1 = _mm256_add_ps(r1, _mm256_setzero_ps());
	}
	if (cols == 16)
	{
		_mm256_storeu_ps(out, r0);
		_mm256_storeu_ps(out + 8, r1);
		return;
	}
	_mm256_storeu_ps(buf, r0);
	_mm256_storeu_ps(buf + 8, r1);
	memcpy(out, buf, sizeof(float) * cols);
}

/* AVX2 tile of MR rows (a constant at each call) */
__attribute__((target("avx2,fma"), always_inline))
static inline void
q8_tile_avx2(float *out, int ldo, const int8_t *xq, int ldq, const float *sx,
			 const TfmQ8Weight *w, int o0, const float *bias, int MR, int cols)
{
	const int8_t *panel = w->q + (size_t) (o0 / 16) * (w->Cp / 4) * 64;
	__m256i		acc[6][2];
	__m256i		ones = _mm256_set1_epi16(1);

#pragma GCC unroll 6
	for (int r = 0; r < MR; r++)
		acc[r][0] = acc[r][1] = _mm256_setzero_si256();
	for (int k4 = 0; k4 < w->Cp / 4; k4++)
	{
		__m256i		w0 = _mm256_load_si256((const __m256i *) (panel + (size_t) k4 * 64)),
					w1 = _mm256_load_si256((const __m256i *) (panel + (size_t) k4 * 64 + 32));

#pragma GCC unroll 6
		for (int r = 0; r < MR; r++)
		{
			int32_t		x4;
			__m256i		xb, ax;

			memcpy(&x4, xq + (size_t) r * ldq + 4 * k4, 4);
			xb = _mm256_set1_epi32(x4);
			ax = _mm256_abs_epi8(xb);
			acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(
				_mm256_maddubs_epi16(ax, _mm256_sign_epi8(w0, xb)), ones));
			acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(
				_mm256_maddubs_epi16(ax, _mm256_sign_epi8(w1, xb)), ones));
		}
	}
#pragma GCC unroll 6
	for (int r = 0; r < MR; r++)
		q8_store_avx2(out + (size_t) r * ldo, acc[r][0], acc[r][1], sx[r], w->scale + o0,
					  bias ? bias + o0 : NULL, cols);
}

/* AVX2 rows */
__attribute__((target("avx2,fma")))
void
tfm_q8_rows_avx2(float *out, int ldo, const int8_t *xq, int ldq, const float *sx,
				 const TfmQ8Weight *w, int o0, const float *bias, int MR, int cols)
{
#define TILE(mr) q8_tile_avx2(out, ldo, xq, ldq, sx, w, o0, bias, mr, cols)
	TFM_TILE_ROWS6(MR, TILE);
#undef TILE
}

/* AVX-VNNI tile of MR rows */
__attribute__((target("avx2,fma,avxvnni"), always_inline))
static inline void
q8_tile_avxvnni(float *out, int ldo, const int8_t *xq, int ldq, const float *sx,
				const TfmQ8Weight *w, int o0, const float *bias, int MR, int cols)
{
	const int8_t *panel = w->q + (size_t) (o0 / 16) * (w->Cp / 4) * 64;
	__m256i		acc[6][2];
	__m256i		ws0 = _mm256_loadu_si256((const __m256i *) (w->wsum + o0)),
				ws1 = _mm256_loadu_si256((const __m256i *) (w->wsum + o0 + 8));

#pragma GCC unroll 6
	for (int r = 0; r < MR; r++)
		acc[r][0] = acc[r][1] = _mm256_setzero_si256();
	for (int k4 = 0; k4 < w->Cp / 4; k4++)
	{
		__m256i		w0 = _mm256_load_si256((const __m256i *) (panel + (size_t) k4 * 64)),
					w1 = _mm256_load_si256((const __m256i *) (panel + (size_t) k4 * 64 + 32));

#pragma GCC unroll 6
		for (int r = 0; r < MR; r++)
		{
			int32_t		x4;
			__m256i		xb;

			memcpy(&x4, xq + (size_t) r * ldq + 4 * k4, 4);
			xb = _mm256_set1_epi32(x4);
			/* asm: GCC 12 copies accumulators around the intrinsic (see qgemm_avx512.c) */
			__asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(acc[r][0]) : "x"(xb), "x"(w0));
			__asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(acc[r][1]) : "x"(xb), "x"(w1));
		}
	}
#pragma GCC unroll 6
	for (int r = 0; r < MR; r++)
		q8_store_avx2(out + (size_t) r * ldo, _mm256_sub_epi32(acc[r][0], ws0),
					  _mm256_sub_epi32(acc[r][1], ws1), sx[r], w->scale + o0,
					  bias ? bias + o0 : NULL, cols);
}

/* AVX-VNNI rows */
__attribute__((target("avx2,fma,avxvnni")))
void
tfm_q8_rows_avxvnni(float *out, int ldo, const int8_t *xq, int ldq, const float *sx,
					const TfmQ8Weight *w, int o0, const float *bias, int MR, int cols)
{
#define TILE(mr) q8_tile_avxvnni(out, ldo, xq, ldq, sx, w, o0, bias, mr, cols)
	TFM_TILE_ROWS6(MR, TILE);
#undef TILE
}
#else
/* not reached: callers check TfmCpuHas */
void
tfm_q8_rows_avx2(float *out, int ldo, const int8_t *xq, int ldq, const float *sx,
				 const TfmQ8Weight *w, int o0, const float *bias, int MR, int cols)
{
}

void
tfm_q8_rows_avxvnni(float *out, int ldo, const int8_t *xq, int ldq, const float *sx,
					const TfmQ8Weight *w, int o0, const float *bias, int MR, int cols)
{
}
#endif
