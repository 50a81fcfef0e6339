/*
 * qgemm_avx2.c - AVX2 and AVX-VNNI tiles of the int8 linear layer (see qgemm.h)
 *
 * One panel (16 columns, two ymm of 8 int32 sums) against MR <= 5 rows (AVX2) or 6 (AVX-VNNI).
 * AVX2: vpmaddwd on the weights widened to int16 in the tile and the rows quantised to int16
 * (exact: pair sums <= 2*127*127).  AVX-VNNI: vpdpbusd on x+128 (u8, stored so by the caller),
 * the offset taken back with wsum.  Also the rows' quantisation in AVX2 (all three forms).
 */
#include <math.h>
#include <string.h>

#include "kernels/qgemm.h"
#include "kernels/tiles.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

/* the epilogue must round as the scalar kernel does: no fused multiply-adds */
#pragma GCC optimize("fp-contract=off")

/*
 * the shared epilogue of MR rows (a constant): ((float) acc * sx) * scale + bias (+ 0 without one,
 * as the scalar kernel), stored; a partial panel through a buffer
 */
__attribute__((target("avx2,fma"), always_inline))
static inline void
q8_store_avx2(float *out, int ldo, __m256i acc[][2], const float *sx, const float *scale,
			  const float *bias, int MR, int cols)
{
	float		buf[16] = {0};
	__m256		c0 = _mm256_loadu_ps(scale), c1 = _mm256_loadu_ps(scale + 8), b0, b1;

	if (bias && cols == 16)
		b0 = _mm256_loadu_ps(bias), b1 = _mm256_loadu_ps(bias + 8);
	else
	{
		if (bias)
			memcpy(buf, bias, sizeof(float) * cols);
		b0 = _mm256_loadu_ps(buf), b1 = _mm256_loadu_ps(buf + 8);
	}
#pragma GCC unroll 6
	for (int r = 0; r < MR; r++)
	{
		__m256		s = _mm256_set1_ps(sx[r]);
		__m256		r0 = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[r][0]), s), c0), b0),
					r1 = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[r][1]), s), c1), b1);

		if (cols == 16)
		{
			_mm256_storeu_ps(out + (size_t) r * ldo, r0);
			_mm256_storeu_ps(out + (size_t) r * ldo + 8, r1);
		}
		else
		{
			_mm256_storeu_ps(buf, r0);
			_mm256_storeu_ps(buf + 8, r1);
			memcpy(out + (size_t) r * ldo, buf, sizeof(float) * cols);
		}
	}
}

/* acc += v (int32): asm, as GCC 12 otherwise adds into a new register and copies it back, which
 * spilled accumulators to the stack */
#define Q8_ADDD(acc, v) __asm__("vpaddd %1, %0, %0" : "+x"(acc) : "x"(v))

/* a weight group's 32 bytes (8 columns, bytes k0 k1 k2 k3 each) as int16 lanes: e = k0 k2, d = k1 k3 */
#define Q8_WIDEN_E(v) _mm256_srai_epi16(_mm256_slli_epi16(v, 8), 8)
#define Q8_WIDEN_D(v) _mm256_srai_epi16(v, 8)

/*
 * AVX2 tile of MR <= 5 rows (a constant at each call), products through vpmaddwd on int16: a
 * weight group's 32-bit lane (one column, bytes k0 k1 k2 k3) as two int16 lanes gives k0, k2 sign
 * extended by a shift left and an arithmetic shift right, and k1, k3 by the right shift alone; the
 * rows come as int16 in the order x0 x2 x1 x3 of each four, so two 32-bit broadcasts multiply them.
 * On Zen 4 vpabsb, vpsignb and the shifts take the same two pipes as the multiplies: vpmaddubsw
 * needed 6.5 of them per row and group of four channels, this 4 + 1.2 (the shifts, shared by the
 * five rows).  (Shifting each panel once per row block into a buffer gained 0-3 %: the loads of
 * the weights and broadcasts bound it then.)  Ten accumulators, four int16 weight vectors, one
 * broadcast and one product fill the 16 ymm registers (GCC keeps them there; 4 rows measured 3-4 %
 * slower at 200 rows, the same at 16-64).
 */
__attribute__((target("avx2,fma"), always_inline))
static inline void
q8_tile_avx2(float *out, int ldo, const int16_t *xq, int ldq, const float *sx,
			 const TfmQ8Weight *w, int o0, const float *bias, int MR, int cols)
{
	const int8_t *panel = w->q + (size_t) (o0 / 16) * (w->Cp / 4) * 64;
	__m256i		acc[TFM_Q8_AVX2_MR][2];

#pragma GCC unroll 5
	for (int r = 0; r < MR; r++)
		acc[r][0] = acc[r][1] = _mm256_setzero_si256();
	for (int k4 = 0; k4 < w->Cp / 4; k4++)
	{
		__m256i		v0 = _mm256_load_si256((const __m256i *) (panel + (size_t) k4 * 64)),
					v1 = _mm256_load_si256((const __m256i *) (panel + (size_t) k4 * 64 + 32)),
					e0 = Q8_WIDEN_E(v0), d0 = Q8_WIDEN_D(v0), e1 = Q8_WIDEN_E(v1), d1 = Q8_WIDEN_D(v1);

#pragma GCC unroll 5
		for (int r = 0; r < MR; r++)
		{
			int32_t		x02, x13;
			__m256i		be, bd;

			memcpy(&x02, xq + (size_t) r * ldq + 4 * k4, 4);
			memcpy(&x13, xq + (size_t) r * ldq + 4 * k4 + 2, 4);
			/* one broadcast at a time, so that five rows fit the registers */
			be = _mm256_set1_epi32(x02);
			Q8_ADDD(acc[r][0], _mm256_madd_epi16(e0, be));
			Q8_ADDD(acc[r][1], _mm256_madd_epi16(e1, be));
			bd = _mm256_set1_epi32(x13);
			Q8_ADDD(acc[r][0], _mm256_madd_epi16(d0, bd));
			Q8_ADDD(acc[r][1], _mm256_madd_epi16(d1, bd));
		}
	}
	q8_store_avx2(out, ldo, acc, sx, w->scale + o0, bias ? bias + o0 : NULL, MR, cols);
}

/* AVX2 rows */
__attribute__((target("avx2,fma")))
void
tfm_q8_rows_avx2(float *out, int ldo, const void *xq, int ldq, const float *sx,
				 const TfmQ8Weight *w, int o0, const float *bias, int MR, int cols)
{
#define TILE(mr) q8_tile_avx2(out, ldo, xq, ldq, sx, w, o0, bias, mr, cols)
	TFM_TILE_ROWS5(MR, TILE);
#undef TILE
}

/* 8 floats times inv, rounded to nearest even (cvtps2dq, as q8_quantize's round_int) */
__attribute__((target("avx2,fma"), always_inline))
static inline __m256i
q8_round8_avx2(const float *r, __m256 inv)
{
	return _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(r), inv));
}

/*
 * 32 floats quantised (times inv, rounded, clamped to [-127,127]) into d in a form: 32 bytes, or
 * 32 int16 in the order x0 x2 x1 x3 of each four.  Saturating packs keep the order of values, so
 * clamping after them is clamping before.
 */
__attribute__((target("avx2,fma"), always_inline))
static inline void
q8_quantize32_avx2(void *d, const float *r, __m256 inv, int form)
{
	__m256i		v0 = q8_round8_avx2(r, inv), v1 = q8_round8_avx2(r + 8, inv),
				v2 = q8_round8_avx2(r + 16, inv), v3 = q8_round8_avx2(r + 24, inv);

	if (form == TFM_Q8_ROWS_S16)
	{
		__m256i		order = _mm256_setr_epi32(0, 2, 1, 3, 4, 6, 5, 7),
					lo = _mm256_set1_epi16(-127), hi = _mm256_set1_epi16(127);
		/* packs interleaves 4-value groups of its two inputs per lane: vpermq puts them back */
		__m256i		a = _mm256_packs_epi32(_mm256_permutevar8x32_epi32(v0, order),
										   _mm256_permutevar8x32_epi32(v1, order)),
					b = _mm256_packs_epi32(_mm256_permutevar8x32_epi32(v2, order),
										   _mm256_permutevar8x32_epi32(v3, order));

		a = _mm256_min_epi16(_mm256_max_epi16(_mm256_permute4x64_epi64(a, 0xd8), lo), hi);
		b = _mm256_min_epi16(_mm256_max_epi16(_mm256_permute4x64_epi64(b, 0xd8), lo), hi);
		_mm256_storeu_si256((__m256i *) d, a);
		_mm256_storeu_si256((__m256i *) d + 1, b);
	}
	else
	{
		/* packs of packs leave 4-byte groups in the order 0 2 4 6 1 3 5 7 */
		__m256i		b = _mm256_packs_epi16(_mm256_packs_epi32(v0, v1), _mm256_packs_epi32(v2, v3));

		b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
		b = _mm256_max_epi8(b, _mm256_set1_epi8(-127));
		if (form == TFM_Q8_ROWS_U8)
			b = _mm256_xor_si256(b, _mm256_set1_epi8((char) 0x80));
		_mm256_storeu_si256((__m256i *) d, b);
	}
}

/*
 * rows quantised as q8_quantize does, the same values and scales (the same float operations; NaNs
 * skipped by the maximum as there), 32 channels per step, stored in a form (TFM_Q8_ROWS_*: v + 128
 * as unsigned bytes for vpdpbusd, int16 for the AVX2 tile)
 */
__attribute__((target("avx2,fma")))
void
tfm_q8_quantize_avx2(void *xq, float *sx, const float *x, int N, int C, int Cp, int form)
{
	const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
	size_t		size = form == TFM_Q8_ROWS_S16 ? 2 : 1;

	for (int n = 0; n < N; n++)
	{
		const float *r = x + (size_t) n * C;
		char	   *d = (char *) xq + (size_t) n * Cp * size;
		__m256		m = _mm256_setzero_ps();
		__m128		h;
		float		amax, inv, tail[32];
		int16_t		buf[32];
		__m256		vinv;
		int			k;

		/* max(|r|, m): m where |r| is a NaN, as the scalar a > amax ? a : amax */
		for (k = 0; k + 8 <= C; k += 8)
			m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(r + k), absmask), m);
		h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
		h = _mm_max_ps(h, _mm_movehl_ps(h, h));
		h = _mm_max_ss(h, _mm_movehdup_ps(h));
		amax = _mm_cvtss_f32(h);
		for (; k < C; k++)
		{
			float		a = fabsf(r[k]);

			amax = a > amax ? a : amax;
		}
		sx[n] = amax / 127.0f;
		inv = amax > 0.0f ? 127.0f / amax : 0.0f;
		vinv = _mm256_set1_ps(inv);
		for (k = 0; k + 32 <= C; k += 32)
			q8_quantize32_avx2(d + k * size, r + k, vinv, form);
		/* the last C % 32 through a buffer, zeros after them to Cp (C % 4 of them quantised zeros) */
		memset(tail, 0, sizeof(tail));
		memcpy(tail, r + k, sizeof(float) * (C - k));
		q8_quantize32_avx2(buf, tail, vinv, form);
		memcpy(d + k * size, buf, (Cp - k) * size);
	}
}

/* AVX-VNNI tile of MR rows */
__attribute__((target("avx2,fma,avxvnni"), always_inline))
static inline void
q8_tile_avxvnni(float *out, int ldo, const int8_t *xq, int ldq, const float *sx,
				const TfmQ8Weight *w, int o0, const float *bias, int MR, int cols)
{
	const int8_t *panel = w->q + (size_t) (o0 / 16) * (w->Cp / 4) * 64;
	__m256i		acc[TFM_Q8_AVXVNNI_MR][2];
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
	{
		acc[r][0] = _mm256_sub_epi32(acc[r][0], ws0);
		acc[r][1] = _mm256_sub_epi32(acc[r][1], ws1);
	}
	q8_store_avx2(out, ldo, acc, sx, w->scale + o0, bias ? bias + o0 : NULL, MR, cols);
}

/* AVX-VNNI rows */
__attribute__((target("avx2,fma,avxvnni")))
void
tfm_q8_rows_avxvnni(float *out, int ldo, const void *xq, int ldq, const float *sx,
					const TfmQ8Weight *w, int o0, const float *bias, int MR, int cols)
{
#define TILE(mr) q8_tile_avxvnni(out, ldo, xq, ldq, sx, w, o0, bias, mr, cols)
	TFM_TILE_ROWS6(MR, TILE);
#undef TILE
}
#else
/* not reached: callers check TfmCpuHas */
void
tfm_q8_quantize_avx2(void *xq, float *sx, const float *x, int N, int C, int Cp, int form)
{
}

void
tfm_q8_rows_avx2(float *out, int ldo, const void *xq, int ldq, const float *sx,
				 const TfmQ8Weight *w, int o0, const float *bias, int MR, int cols)
{
}

void
tfm_q8_rows_avxvnni(float *out, int ldo, const void *xq, int ldq, const float *sx,
					const TfmQ8Weight *w, int o0, const float *bias, int MR, int cols)
{
}
#endif
