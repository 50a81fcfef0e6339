/*
 * test_qgemm.c - unit tests of the int8 linear layer (src/kernels/qgemm.c)
 *
 * Every variant the CPU has (scalar, AVX2, AVX-VNNI, AVX512-VNNI) must give
 * bit-identical outputs to the scalar kernel (integer sums, same float
 * epilogue); variants the CPU lacks are printed as skipped.  The scalar
 * kernel is checked against fp32 products within the error int8 allows,
 * and quantisation itself against its bound (half a step).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels/cpu.h"
#include "kernels/ops.h"
#include "kernels/qgemm.h"
#include "ops_ref.h"

/* one shape: variants against scalar (exact), scalar against fp32 (int8 tolerance) */
static void
test_shape(int N, int C, int OC, int with_bias, int *ran)
{
	float	   *x = malloc(sizeof(float) * N * C), *wt = malloc(sizeof(float) * OC * C),
			   *bias = malloc(sizeof(float) * OC),
			   *packed = aligned_alloc(64, sizeof(float) * ((matmul_packed_floats(C, OC) + 15) / 16 * 16)),
			   *ref = malloc(sizeof(float) * N * OC + 4), *out = malloc(sizeof(float) * N * OC + 4),
			   *f32 = malloc(sizeof(float) * N * OC);
	void	   *mem = aligned_alloc(64, (tfm_q8_bytes(C, OC) + 63) / 64 * 64);
	TfmQ8Weight *w;
	char		name[160];
	double		err = 0, mag = 0, qerr = 0;

	for (int i = 0; i < N * C; i++)
		x[i] = frand(-1, 1) * (i % 97 == 0 ? 8 : 1);	/* a few outliers, as real activations have */
	for (int i = 0; i < OC * C; i++)
		wt[i] = frand(-0.1f, 0.1f);
	for (int i = 0; i < OC; i++)
		bias[i] = frand(-1, 1);
	matmul_pack(packed, wt, C, OC);
	w = tfm_q8_from_panels(mem, packed, C, OC);
	/* every weight within half a quantisation step of scale * q */
	for (int o = 0; o < OC; o++)
		for (int k = 0; k < C; k++)
		{
			int8_t		q = w->q[((size_t) (o / 16) * (w->Cp / 4) + k / 4) * 64 + (o % 16) * 4 + k % 4];

			qerr = fmax(qerr, fabs(wt[(size_t) o * C + k] - w->scale[o] * q) / w->scale[o]);
		}
	snprintf(name, sizeof(name), "q8 weights N=%d C=%d OC=%d: within half a step (%.3f)", N, C, OC, qerr);
	check(qerr <= 0.5001, name);

	ref[N * OC] = 12345.0f;
	tfm_q8_linear_variant(ref, x, w, with_bias ? bias : NULL, N, TFM_Q8_SCALAR);
	matmul_forward_ref(f32, x, wt, with_bias ? bias : NULL, N, C, OC);
	/* each output within the rounding bound: sum_k |x| sw/2 + (|w| + sw/2) sx/2 (+ float slack) */
	for (int n = 0; n < N; n++)
	{
		float		sx = 0;

		for (int k = 0; k < C; k++)
			sx = fmaxf(sx, fabsf(x[(size_t) n * C + k]));
		sx /= 127.0f;
		for (int o = 0; o < OC; o++)
		{
			double		bound = 0, sw = w->scale[o];

			for (int k = 0; k < C; k++)
				bound += fabs(x[(size_t) n * C + k]) * sw / 2 + (fabs(wt[(size_t) o * C + k]) + sw / 2) * sx / 2;
			err = fmax(err, fabs(ref[(size_t) n * OC + o] - f32[(size_t) n * OC + o]) / (bound + 1e-4));
			mag = fmax(mag, bound);
		}
	}
	snprintf(name, sizeof(name), "q8 scalar N=%d C=%d OC=%d bias=%d vs fp32: error %.2f of the rounding bound (<= %.3f)",
			 N, C, OC, with_bias, err, mag);
	check(err <= 1.0 && ref[N * OC] == 12345.0f, name);
	for (int v = 1; v < TFM_Q8_VARIANTS; v++)
	{
		out[N * OC] = 12345.0f;
		if (!tfm_q8_linear_variant(out, x, w, with_bias ? bias : NULL, N, v))
			continue;
		ran[v] = 1;
		snprintf(name, sizeof(name), "q8 %s N=%d C=%d OC=%d bias=%d == scalar (bit-identical)",
				 tfm_q8_variant_name(v), N, C, OC, with_bias);
		check(memcmp(out, ref, sizeof(float) * N * OC) == 0 && out[N * OC] == 12345.0f, name);
	}
	/* the layout read in place (a cache file's copy, its struct bytes zeroed) through tfm_q8_bind */
	{
		size_t		bytes = tfm_q8_bytes(C, OC);
		char	   *file = aligned_alloc(64, (bytes + 63) / 64 * 64);
		TfmQ8Weight bound;

		memcpy(file, mem, bytes);
		memset(file, 0, sizeof(TfmQ8Weight));
		tfm_q8_bind(&bound, file, C, OC);
		tfm_q8_linear(out, x, &bound, with_bias ? bias : NULL, N);
		tfm_q8_linear(f32, x, w, with_bias ? bias : NULL, N);
		snprintf(name, sizeof(name), "q8 N=%d C=%d OC=%d level %s: a bound copy of the layout == the made one == scalar (bit-identical)",
				 N, C, OC, TfmCpuLevelName(TfmCpuEffectiveLevel()));
		check(memcmp(out, f32, sizeof(float) * N * OC) == 0 && memcmp(out, ref, sizeof(float) * N * OC) == 0 &&
			  bound.Cp == w->Cp && bound.OCp == w->OCp, name);
		free(file);
	}
	free(x), free(wt), free(bias), free(packed), free(ref), free(out), free(f32), free(mem);
}

/* the AVX2 quantiser == the scalar one, values and scales, in each form of rows; ties at half steps */
static void
test_quantize_avx2(int C)
{
	int			N = 3, Cp = (C + 3) / 4 * 4;
	float	   *x = malloc(sizeof(float) * N * C), sa[3], sb[3];
	int8_t	   *a = malloc(N * Cp);
	int16_t    *b = malloc(sizeof(int16_t) * N * Cp);
	char		name[120];

	for (int k = 0; k < C; k++)
	{
		x[k] = frand(-1, 1) * (k % 97 == 5 ? 8 : 1);
		x[C + k] = k == 0 ? -127.0f : ((k % 255) - 127) / 2.0f;	/* amax 127: r * inv = r, half steps */
		x[2 * C + k] = 0.0f;	/* amax 0 */
	}
	tfm_q8_quantize_rows(a, sa, x, N, C, Cp);
	for (int form = TFM_Q8_ROWS_S8; form <= TFM_Q8_ROWS_S16; form++)
	{
		int			same = 1;

		memset(b, 0x55, sizeof(int16_t) * N * Cp);
		tfm_q8_quantize_avx2(b, sb, x, N, C, Cp, form);
		for (int i = 0; i < N * Cp; i++)
		{
			/* S16: channel i at i - i % 4 + {0, 2, 1, 3}[i % 4] */
			int			v = form == TFM_Q8_ROWS_S16 ? b[i - i % 4 + "\0\2\1\3"[i % 4]] :
				form == TFM_Q8_ROWS_U8 ? ((uint8_t *) b)[i] - 128 : ((int8_t *) b)[i];

			same &= v == a[i];
		}
		snprintf(name, sizeof(name), "q8 quantise avx2 C=%d form %d == scalar (values and scales)", C, form);
		check(same && memcmp(sa, sb, sizeof(sa)) == 0, name);
	}
	free(x), free(a), free(b);
}

int
main(void)
{
	int			ran[TFM_Q8_VARIANTS] = {1};
	char		flags[200];

	TfmCpuFlags(flags, sizeof(flags));
	printf("# CPU features: %s\n", flags);
	/* at each level below the CPU's (tfm_q8_linear's choice and the quantisation it takes) and at its own */
	for (int level = TFM_LEVEL_SCALAR; level <= TFM_LEVEL_AVX2 + 1; level++)
	{
		TfmCpuSetLevel(level <= TFM_LEVEL_AVX2 ? level : TFM_LEVEL_AUTO);
		printf("# level %s\n", TfmCpuLevelName(TfmCpuEffectiveLevel()));
		for (int n = 1; n <= 25; n++)	/* every tile split of <= 5, <= 6 and <= 12 rows */
			test_shape(n, 40, n % 2 ? 48 : 40, n % 3 != 0, ran);
		test_shape(13, 384, 1536, 1, ran);
		test_shape(13, 1536, 384, 1, ran);
		test_shape(3, 6, 1, 1, ran);	/* C not a multiple of 4, one column */
		test_shape(300, 384, 17, 0, ran);	/* several row blocks (170 int16 rows of 384, 240 int8) */
		test_shape(7, 20000, 5, 1, ran);	/* blocks of 3 int16 or 6 int8 rows */
	}
	if (TfmCpuHas(TFM_FEAT_AVX2))
		for (int c = 1; c <= 70; c += c < 40 ? 1 : 29)
			test_quantize_avx2(c);
	printf("# quantise avx2: %s\n", TfmCpuHas(TFM_FEAT_AVX2) ? "ran" : "skipped (CPU lacks it)");
	for (int v = 0; v < TFM_Q8_VARIANTS; v++)
		printf("# variant %s: %s\n", tfm_q8_variant_name(v), ran[v] ? "ran" : "skipped (CPU lacks it)");
	return check_report();
}
