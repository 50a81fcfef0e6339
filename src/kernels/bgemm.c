/*
 * bgemm.c - bf16 linear layers: rounding, scalar kernel, dispatch (see bgemm.h)
 */
#include <math.h>
#include <string.h>

#include "kernels/bgemm.h"
#include "kernels/cpu.h"

/* round up to a multiple of m */
static size_t
round_up(size_t n, size_t m)
{
	return (n + m - 1) / m * m;
}

/* float -> bf16, round to nearest even (nan stays nan) */
uint16_t
tfm_f32_to_bf16(float f)
{
	uint32_t	u;

	memcpy(&u, &f, 4);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t) ((u >> 16) | 0x40);
	u += 0x7fffu + ((u >> 16) & 1);
	return (uint16_t) (u >> 16);
}

/* bf16 -> float */
static inline float
bf16_to_f32(uint16_t h)
{
	uint32_t	u = (uint32_t) h << 16;
	float		f;

	memcpy(&f, &u, 4);
	return f;
}

/* bytes of a bf16 weight */
size_t
tfm_b16_bytes(int C, int OC)
{
	return round_up(sizeof(TfmB16Weight), 64) + round_up(OC, 16) * round_up(C, 2) * 2;
}

/* point w at the panels of a bf16 weight laid out in mem (tfm_b16_bytes; the struct's own bytes unused) */
TfmB16Weight *
tfm_b16_bind(TfmB16Weight *w, const void *mem, int C, int OC)
{
	w->C = C;
	w->OC = OC;
	w->Cp = (int) round_up(C, 2);
	w->OCp = (int) round_up(OC, 16);
	w->w = (const uint16_t *) ((const char *) mem + round_up(sizeof(TfmB16Weight), 64));
	return w;
}

/* round a weight given in fp32 panels (element (o,k) at panel o/16, row k, column o%16) to bf16 */
TfmB16Weight *
tfm_b16_from_panels(void *mem, const float *packed, int C, int OC)
{
	TfmB16Weight *w = tfm_b16_bind(mem, mem, C, OC);
	int			Cp = w->Cp, OCp = w->OCp;
	uint16_t   *d = (uint16_t *) w->w;

	memset(d, 0, (size_t) OCp * Cp * 2);
	for (int o = 0; o < OC; o++)
		for (int k = 0; k < C; k++)
			d[((size_t) (o / 16) * (Cp / 2) + k / 2) * 32 + (o % 16) * 2 + k % 2] =
				tfm_f32_to_bf16(packed[(size_t) (o / 16) * 16 * C + (size_t) k * 16 + o % 16]);
	return w;
}

/* a bf16 weight widened (exactly) to fp32 panels at dst (matmul_packed_floats(C, OC)): tfm_b16_from_panels' inverse */
void
tfm_b16_to_panels(float *dst, const TfmB16Weight *w)
{
	for (int p = 0; p < w->OCp / 16; p++)
		for (int k = 0; k < w->C; k++)
		{
			const uint16_t *s = w->w + ((size_t) p * (w->Cp / 2) + k / 2) * 32 + k % 2;
			float	   *d = dst + ((size_t) p * w->C + k) * 16;

			for (int j = 0; j < 16; j++)
				d[j] = bf16_to_f32(s[j * 2]);
		}
}

/* rows to bf16: xb (N, Cp), zeros past C */
static void
b16_round_rows(uint16_t *xb, const float *x, int N, int C, int Cp)
{
	if (TfmCpuHas(TFM_FEAT_AVX512))
	{
		tfm_b16_round_avx512(xb, x, N, C, Cp);
		return;
	}
	for (int n = 0; n < N; n++)
	{
		for (int k = 0; k < C; k++)
			xb[(size_t) n * Cp + k] = tfm_f32_to_bf16(x[(size_t) n * C + k]);
		for (int k = C; k < Cp; k++)
			xb[(size_t) n * Cp + k] = 0;
	}
}

/* scalar tile: double sums of the bf16 products (rows as bf16) */
static void
b16_rows_scalar(float *out, int ldo, const void *xa, int ldb, const TfmB16Weight *w,
				int o0, const float *bias, int MR, int cols)
{
	const uint16_t *xb = xa;

	for (int r = 0; r < MR; r++)
		for (int j = 0; j < cols; j++)
		{
			int			o = o0 + j;
			const uint16_t *panel = w->w + (size_t) (o / 16) * (w->Cp / 2) * 32 + (o % 16) * 2;
			double		acc = bias ? bias[o] : 0.0;

			for (int k = 0; k < w->Cp; k++)
				acc += (double) bf16_to_f32(xb[(size_t) r * ldb + k]) *
					bf16_to_f32(panel[(size_t) (k / 2) * 32 + k % 2]);
			out[(size_t) r * ldo + j] = (float) acc;
		}
}

/* bf16 rows per block: at most B16_BUF values, in L1/L2 while every panel passes */
#define B16_BUF TFM_B16_MAX_C
#define B16_MAXROWS 240

typedef void (*b16_tile_fn) (float *, int, const void *, int, const TfmB16Weight *, int,
							 const float *, int, int);

/* rows rounded to bf16 and widened back to float (what the widening tiles broadcast from memory) */
static void
b16_widen_rows(float *xf, const float *x, int N, int C, int Cp)
{
	for (int n = 0; n < N; n++)
	{
		for (int k = 0; k < C; k++)
			xf[(size_t) n * Cp + k] = bf16_to_f32(tfm_f32_to_bf16(x[(size_t) n * C + k]));
		for (int k = C; k < Cp; k++)
			xf[(size_t) n * Cp + k] = 0.0f;
	}
}

/* out = bf16(x) . w^T + bias with the given tile function, rows in blocks, tiles split evenly;
 * widen: the tile reads the rows as floats */
static void
b16_linear_with(float *out, const float *x, const TfmB16Weight *w, const float *bias, int N,
				b16_tile_fn tile, int maxmr, int step, int widen)
{
	union
	{
		uint16_t	h[B16_BUF];
		float		f[B16_BUF / 2];
	}			buf __attribute__((aligned(64)));
	int			block = (widen ? B16_BUF / 2 : B16_BUF) / w->Cp;

	if (block > B16_MAXROWS)
		block = B16_MAXROWS;
	for (int n0 = 0; n0 < N; n0 += block)
	{
		int			nb = N - n0 < block ? N - n0 : block;
		int			tiles = (nb + maxmr - 1) / maxmr;

		if (widen)
			b16_widen_rows(buf.f, x + (size_t) n0 * w->C, nb, w->C, w->Cp);
		else
			b16_round_rows(buf.h, x + (size_t) n0 * w->C, nb, w->C, w->Cp);
		for (int o = 0; o < w->OC; o += step)
		{
			int			cols = w->OC - o < step ? w->OC - o : step;
			int			n = 0;

			for (int t = 0; t < tiles; t++)
			{
				int			mr = (nb - n) / (tiles - t);

				tile(out + (size_t) (n0 + n) * w->OC + o, w->OC,
					 widen ? (const void *) (buf.f + (size_t) n * w->Cp) : (const void *) (buf.h + (size_t) n * w->Cp),
					 w->Cp, w, o, bias, mr, cols);
				n += mr;
			}
		}
	}
}

/* features each variant needs (TFM_B16_*) */
static const int b16_needs[TFM_B16_VARIANTS] = {
	0, TFM_FEAT_AVX2, TFM_FEAT_AVX512, TFM_FEAT_AVX512 | TFM_FEAT_BF16_512
};

/* name of a variant */
const char *
tfm_b16_variant_name(int variant)
{
	static const char *const names[TFM_B16_VARIANTS] = {"scalar", "avx2", "avx512", "avx512bf16"};

	return variant >= 0 && variant < TFM_B16_VARIANTS ? names[variant] : "?";
}

/* the variant tfm_b16_linear runs at the current CPU level */
int
tfm_b16_best_variant(void)
{
	return TfmCpuBestVariant(b16_needs, TFM_B16_VARIANTS);
}

/* out (N,OC) = bf16(x) . w^T + bias through one variant; 0 (nothing done) if the CPU level lacks it */
int
tfm_b16_linear_variant(float *out, const float *x, const TfmB16Weight *w, const float *bias, int N,
					   int variant)
{
	if (variant < 0 || variant >= TFM_B16_VARIANTS || !TfmCpuHas(b16_needs[variant]))
		return 0;
	switch (variant)
	{
		case TFM_B16_AVX512BF16:
			b16_linear_with(out, x, w, bias, N, tfm_b16_rows_avx512bf16, TFM_B16_AVX512_MR, 32, 0);
			break;
		case TFM_B16_AVX512:
			b16_linear_with(out, x, w, bias, N, tfm_b16_rows_avx512, TFM_B16_AVX512_MR, 32, 1);
			break;
		case TFM_B16_AVX2:
			b16_linear_with(out, x, w, bias, N, tfm_b16_rows_avx2, TFM_B16_AVX2_MR, 16, 1);
			break;
		default:
			b16_linear_with(out, x, w, bias, N, b16_rows_scalar, 1, 16, 0);
			break;
	}
	return 1;
}

/* nonzero when N rows should rather use the fp32 weights (see bgemm.h) */
int
tfm_b16_prefers_fp32(int N)
{
	return N > TFM_B16_WIDEN_MAX_ROWS && !TfmCpuHas(b16_needs[TFM_B16_AVX512BF16]);
}

/* out (N,OC) = bf16(x) . w^T + bias, the best variant the CPU level allows */
void
tfm_b16_linear(float *out, const float *x, const TfmB16Weight *w, const float *bias, int N)
{
	tfm_b16_linear_variant(out, x, w, bias, N, tfm_b16_best_variant());
}
