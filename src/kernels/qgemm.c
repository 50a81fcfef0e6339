/*
 * qgemm.c - int8 linear layers: quantisation, scalar kernel, dispatch (see qgemm.h)
 */
#include <math.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/qgemm.h"

/* round up to a multiple of m */
static size_t
round_up(size_t n, size_t m)
{
	return (n + m - 1) / m * m;
}

/* bytes of a quantised weight */
size_t
tfm_q8_bytes(int C, int OC)
{
	size_t		Cp = round_up(C, 4), OCp = round_up(OC, 16);

	return round_up(sizeof(TfmQ8Weight), 64) + round_up(OCp * 4, 64) * 2 + OCp * Cp;
}

/* point w at the arrays of a quantised weight laid out in mem (tfm_q8_bytes; the struct's own bytes unused) */
TfmQ8Weight *
tfm_q8_bind(TfmQ8Weight *w, const void *mem, int C, int OC)
{
	int			Cp = (int) round_up(C, 4), OCp = (int) round_up(OC, 16);
	const char *p = (const char *) mem + round_up(sizeof(TfmQ8Weight), 64);

	w->C = C;
	w->OC = OC;
	w->Cp = Cp;
	w->OCp = OCp;
	w->scale = (const float *) p;
	w->wsum = (const int32_t *) (p + round_up((size_t) OCp * 4, 64));
	w->q = (const int8_t *) (p + 2 * round_up((size_t) OCp * 4, 64));
	return w;
}

/* quantise a weight given in fp32 panels (element (o,k) at panel o/16, row k, column o%16) */
TfmQ8Weight *
tfm_q8_from_panels(void *mem, const float *packed, int C, int OC)
{
	TfmQ8Weight *w = tfm_q8_bind(mem, mem, C, OC);
	int			Cp = w->Cp, OCp = w->OCp;
	float	   *scale = (float *) w->scale;
	int32_t    *wsum = (int32_t *) w->wsum;
	int8_t	   *q = (int8_t *) w->q;

	memset(q, 0, (size_t) OCp * Cp);
	for (int o = 0; o < OCp; o++)
	{
		const float *col = packed + (size_t) (o / 16) * 16 * C + o % 16;
		float		amax = 0.0f;
		int32_t		sum = 0;

		for (int k = 0; o < OC && k < C; k++)
			amax = fmaxf(amax, fabsf(col[(size_t) k * 16]));
		scale[o] = amax / 127.0f;
		for (int k = 0; o < OC && amax > 0.0f && k < C; k++)
		{
			long		v = lrintf(col[(size_t) k * 16] / scale[o]);

			v = v > 127 ? 127 : v < -127 ? -127 : v;
			q[((size_t) (o / 16) * (Cp / 4) + k / 4) * 64 + (o % 16) * 4 + k % 4] = (int8_t) v;
			sum += (int32_t) v;
		}
		wsum[o] = 128 * sum;
	}
	return w;
}

/* v (|v| <= 2^22) rounded to the nearest integer, ties to even, without a libm call (lrintf is one) */
static inline int
round_int(float v)
{
	const float m = 12582912.0f;	/* 1.5 * 2^23: adding it leaves the integer part in the mantissa */

	/* (no -ffast-math: the compiler may not fold the two additions) */
	return (int) ((v + m) - m);
}

static void q8_quantize(void *xq, float *sx, const float *x, int N, int C, int Cp, int form, int simd);

/* quantise rows: xq (N, Cp) in [-127,127], sx (N) their scales (the scalar reference) */
void
tfm_q8_quantize_rows(int8_t *xq, float *sx, const float *x, int N, int C, int Cp)
{
	q8_quantize(xq, sx, x, N, C, Cp, TFM_Q8_ROWS_S8, 0);
}

/*
 * quantise rows in a form (TFM_Q8_ROWS_*; S16 only with simd, from the AVX2 tile's variant); simd:
 * through the AVX-512 or AVX2 code where the CPU level allows (the same values; the scalar variant
 * does without)
 */
static void
q8_quantize(void *xq, float *sx, const float *x, int N, int C, int Cp, int form, int simd)
{
	uint8_t		flip = form == TFM_Q8_ROWS_U8 ? 0x80 : 0;

	if (simd && form == TFM_Q8_ROWS_U8 && TfmCpuHas(TFM_FEAT_AVX512))
	{
		tfm_q8_quantize_avx512(xq, sx, x, N, C, Cp);
		return;
	}
	if (simd && TfmCpuHas(TFM_FEAT_AVX2))
	{
		tfm_q8_quantize_avx2(xq, sx, x, N, C, Cp, form);
		return;
	}

	for (int n = 0; n < N; n++)
	{
		const float *r = x + (size_t) n * C;
		int8_t	   *d = (int8_t *) xq + (size_t) n * Cp;
		float		amax = 0.0f, inv;

		for (int k = 0; k < C; k++)
		{
			float		a = fabsf(r[k]);

			amax = a > amax ? a : amax;
		}
		sx[n] = amax / 127.0f;
		inv = amax > 0.0f ? 127.0f / amax : 0.0f;
		for (int k = 0; k < C; k++)
		{
			int			v = round_int(r[k] * inv);

			d[k] = (int8_t) ((uint8_t) (v > 127 ? 127 : v < -127 ? -127 : v) ^ flip);
		}
		memset(d + C, flip, Cp - C);
	}
}

/* scalar tile: int32 sums, then the shared float epilogue */
static void
q8_rows_scalar(float *out, int ldo, const void *xq, int ldq, const float *sx,
			   const TfmQ8Weight *w, int o0, const float *bias, int MR, int cols)
{
	const int8_t *xb = xq;

	for (int r = 0; r < MR; r++)
		for (int j = 0; j < cols; j++)
		{
			int			o = o0 + j;
			const int8_t *panel = w->q + (size_t) (o / 16) * (w->Cp / 4) * 64 + (o % 16) * 4;
			int32_t		acc = 0;

			for (int k = 0; k < w->Cp; k++)
				acc += (int32_t) xb[(size_t) r * ldq + k] * panel[(size_t) (k / 4) * 64 + k % 4];
			out[(size_t) r * ldo + j] = (float) acc * sx[r] * w->scale[o] + (bias ? bias[o] : 0.0f);
		}
}

/* quantised rows per block: their copy (at most Q8_BUF bytes, int8 or int16) stays in L1/L2 while every panel passes */
#define Q8_BUF (2 * TFM_Q8_MAX_C)
#define Q8_MAXROWS 240

typedef void (*q8_tile_fn) (float *, int, const void *, int, const float *, const TfmQ8Weight *,
							int, const float *, int, int);

/* out = x . w^T + bias with the given tile function reading rows in a form (TFM_Q8_ROWS_*), rows in blocks, tiles split evenly */
static void
q8_linear_with(float *out, const float *x, const TfmQ8Weight *w, const float *bias, int N,
			   q8_tile_fn tile, int maxmr, int step, int form)
{
	int8_t		xq[Q8_BUF] __attribute__((aligned(64)));
	float		sx[Q8_MAXROWS];
	size_t		rowbytes = (size_t) w->Cp * (form == TFM_Q8_ROWS_S16 ? 2 : 1);
	int			block = (int) (Q8_BUF / rowbytes);

	if (block > Q8_MAXROWS)
		block = Q8_MAXROWS;
	for (int n0 = 0; n0 < N; n0 += block)
	{
		int			nb = N - n0 < block ? N - n0 : block;
		int			tiles = (nb + maxmr - 1) / maxmr;

		q8_quantize(xq, sx, x + (size_t) n0 * w->C, nb, w->C, w->Cp, form, tile != q8_rows_scalar);
		for (int o = 0; o < w->OC; o += step)
		{
			int			cols = w->OC - o < step ? w->OC - o : step;
			int			n = 0;

			for (int t = 0; t < tiles; t++)
			{
				int			mr = (nb - n) / (tiles - t);

				tile(out + (size_t) (n0 + n) * w->OC + o, w->OC, xq + n * rowbytes, w->Cp,
					 sx + n, w, o, bias, mr, cols);
				n += mr;
			}
		}
	}
}

/* features each variant needs (TFM_Q8_*) */
static const int q8_needs[TFM_Q8_VARIANTS] = {
	0, TFM_FEAT_AVX2, TFM_FEAT_AVX2 | TFM_FEAT_AVXVNNI, TFM_FEAT_AVX512 | TFM_FEAT_VNNI512
};

/* name of a variant */
const char *
tfm_q8_variant_name(int variant)
{
	static const char *const names[TFM_Q8_VARIANTS] = {"scalar", "avx2", "avxvnni", "avx512vnni"};

	return variant >= 0 && variant < TFM_Q8_VARIANTS ? names[variant] : "?";
}

/* the variant tfm_q8_linear runs at the current CPU level */
int
tfm_q8_best_variant(void)
{
	return TfmCpuBestVariant(q8_needs, TFM_Q8_VARIANTS);
}

/* out (N,OC) = x (N,C) . w^T + bias through one variant; false (nothing done) if the CPU level lacks it */
int
tfm_q8_linear_variant(float *out, const float *x, const TfmQ8Weight *w, const float *bias, int N,
					  int variant)
{
	if (variant < 0 || variant >= TFM_Q8_VARIANTS || !TfmCpuHas(q8_needs[variant]))
		return 0;
	switch (variant)
	{
		case TFM_Q8_AVX512VNNI:
			q8_linear_with(out, x, w, bias, N, tfm_q8_rows_avx512vnni, TFM_Q8_AVX512_MR, 32, TFM_Q8_ROWS_U8);
			break;
		case TFM_Q8_AVXVNNI:
			q8_linear_with(out, x, w, bias, N, tfm_q8_rows_avxvnni, TFM_Q8_AVXVNNI_MR, 16, TFM_Q8_ROWS_U8);
			break;
		case TFM_Q8_AVX2:
			q8_linear_with(out, x, w, bias, N, tfm_q8_rows_avx2, TFM_Q8_AVX2_MR, 16, TFM_Q8_ROWS_S16);
			break;
		default:
			q8_linear_with(out, x, w, bias, N, q8_rows_scalar, 1, 16, TFM_Q8_ROWS_S8);
			break;
	}
	return 1;
}

/* out (N,OC) = x (N,C) . w^T + bias, the best variant the CPU level allows */
void
tfm_q8_linear(float *out, const float *x, const TfmQ8Weight *w, const float *bias, int N)
{
	int			v = tfm_q8_best_variant();

	/* up to 8 rows AVX-VNNI's 6x16 tiles beat the 8x32 zmm ones (Zen 5: 62 vs 51 GOP/s at 1 row,
	 * 224 vs 206 at 8; 234 vs 332 at 16); the results are the same bits */
	if (v == TFM_Q8_AVX512VNNI && N <= 8 && TfmCpuHas(q8_needs[TFM_Q8_AVXVNNI]))
		v = TFM_Q8_AVXVNNI;
	tfm_q8_linear_variant(out, x, w, bias, N, v);
}
