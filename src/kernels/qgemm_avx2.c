/*
 * qgemm_avx2.c - AVX2 and AVX-VNNI tiles of the int8 linear layer (see qgemm.h)
 *
 * One panel (16 columns, two ymm of 8 int32 sums) against MR <= 4 rows (AVX2) or 6 (AVX-VNNI).
 * AVX2: x*w as |w| (u8) times x with w's sign (s8) through vpmaddubsw,
 * whose pair sums (<= 2*127*127) cannot saturate, then vpmaddwd by ones.
 * AVX-VNNI: vpdpbusd on x+128 (u8, stored so by the caller), the offset taken back with wsum.
 */
#include <math.h>
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

/* acc += v (int32): asm, as GCC 12 otherwise adds into a new register and copies it back, which
 * spilled accumulators to the stack */
#define Q8_ADDD(acc, v) __asm__("vpaddd %1, %0, %0" : "+x"(acc) : "x"(v))

/*
 * AVX2 tile of MR <= 4 rows (a constant at each call): x*w as |w| (u8, once per group of four
 * channels for all rows) times x with w's sign (s8) through vpmaddubsw, then vpmaddwd by ones.
 * Eight accumulators, |w0|, |w1|, ones and the row's broadcast fit the 16 ymm registers (six rows
 * spilled ten accumulators to the stack); the weights' signs are read from memory by vpsignb.
 */
__attribute__((target("avx2,fma"), always_inline))
static inline void
q8_tile_avx2(float *out, int ldo, const int8_t *xq, int ldq, const float *sx,
			 const TfmQ8Weight *w, int o0, const float *bias, int MR, int cols)
{
	const int8_t *panel = w->q + (size_t) (o0 / 16) * (w->Cp / 4) * 64;
	__m256i		acc[TFM_Q8_AVX2_MR][2];
	__m256i		ones = _mm256_set1_epi16(1);

#pragma GCC unroll 4
	for (int r = 0; r < MR; r++)
		acc[r][0] = acc[r][1] = _mm256_setzero_si256();
	for (int k4 = 0; k4 < w->Cp / 4; k4++)
	{
		const __m256i *wp = (const __m256i *) (panel + (size_t) k4 * 64);
		__m256i		a0 = _mm256_abs_epi8(_mm256_load_si256(wp)),
					a1 = _mm256_abs_epi8(_mm256_load_si256(wp + 1));

#pragma GCC unroll 4
		for (int r = 0; r < MR; r++)
		{
			int32_t		x4;
			__m256i		xb;

			memcpy(&x4, xq + (size_t) r * ldq + 4 * k4, 4);
			xb = _mm256_set1_epi32(x4);
			Q8_ADDD(acc[r][0], _mm256_madd_epi16(
				_mm256_maddubs_epi16(a0, _mm256_sign_epi8(xb, _mm256_load_si256(wp))), ones));
			Q8_ADDD(acc[r][1], _mm256_madd_epi16(
				_mm256_maddubs_epi16(a1, _mm256_sign_epi8(xb, _mm256_load_si256(wp + 1))), ones));
		}
	}
#pragma GCC unroll 4
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
	TFM_TILE_ROWS4(MR, TILE);
#undef TILE
}

/* 32 floats times inv, rounded to nearest even (cvtps2dq, as q8_quantize's round_int), clamped to [-127,127], ^ flip */
__attribute__((target("avx2,fma"), always_inline))
static inline __m256i
q8_quantize32_avx2(const float *r, __m256 inv, __m256i flip)
{
	__m256i		v0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(r), inv)),
				v1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(r + 8), inv)),
				v2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(r + 16), inv)),
				v3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(r + 24), inv));
	/* saturating packs keep the order of values (so clamping after them is clamping before), in 4-byte groups per lane */
	__m256i		b = _mm256_packs_epi16(_mm256_packs_epi32(v0, v1), _mm256_packs_epi32(v2, v3));

	b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
	return _mm256_xor_si256(_mm256_max_epi8(b, _mm256_set1_epi8(-127)), flip);
}

/*
 * rows quantised as q8_quantize does, bit for bit (the same float operations; NaNs skipped by the
 * maximum as there), 32 channels per step; offset: stored as v + 128 (v ^ 0x80) for vpdpbusd
 */
__attribute__((target("avx2,fma")))
void
tfm_q8_quantize_avx2(int8_t *xq, float *sx, const float *x, int N, int C, int Cp, int offset)
{
	const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
	__m256i		flip = _mm256_set1_epi8(offset ? (char) 0x80 : 0);

	for (int n = 0; n < N; n++)
	{
		const float *r = x + (size_t) n * C;
		int8_t	   *d = xq + (size_t) n * Cp;
		__m256		m = _mm256_setzero_ps();
		__m128		h;
		float		amax, inv, tail[32];
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
			_mm256_storeu_si256((__m256i *) (d + k), q8_quantize32_avx2(r + k, vinv, flip));
		if (k < C)
		{
			int8_t		b[32];

			memset(tail, 0, sizeof(tail));
			memcpy(tail, r + k, sizeof(float) * (C - k));
			_mm256_storeu_si256((__m256i *) b, q8_quantize32_avx2(tail, vinv, flip));
			memcpy(d + k, b, C - k);
		}
		memset(d + C, offset ? 0x80 : 0, Cp - C);
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
tfm_q8_quantize_avx2(int8_t *xq, float *sx, const float *x, int N, int C, int Cp, int offset)
{
}

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
