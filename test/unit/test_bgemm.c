/*
 * test_bgemm.c - unit tests of the bf16 linear layer (src/kernels/bgemm.c)
 *
 * Every variant the CPU has (scalar, AVX2, AVX-512F, AVX512-BF16) against
 * the scalar kernel (double sums of the same bf16 products): within
 * 2e-5 of the sum of |products| per output (float sums in other orders;
 * vdpbf16ps rounds pairs); variants the CPU lacks are printed as skipped.
 * The scalar kernel against fp32 products: within bf16's rounding bound
 * (2^-8 relative per operand), and the rounding itself (nearest even).
 * Widening back to fp32 panels (tfm_b16_to_panels): exact.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels/bgemm.h"
#include "kernels/cpu.h"
#include "kernels/ops.h"
#include "ops_ref.h"

/* bf16 bits -> float */
static float
widen(uint16_t h)
{
	uint32_t	u = (uint32_t) h << 16;
	float		f;

	memcpy(&f, &u, 4);
	return f;
}

/* one shape: variants against scalar, scalar against fp32 */
static void
test_shape(int N, int C, int OC, int with_bias, int *ran)
{
	float	   *x = malloc(sizeof(float) * N * C), *wt = malloc(sizeof(float) * OC * C),
			   *bias = malloc(sizeof(float) * OC),
			   *packed = aligned_alloc(64, sizeof(float) * ((matmul_packed_floats(C, OC) + 15) / 16 * 16)),
			   *ref = malloc(sizeof(float) * N * OC + 4), *out = malloc(sizeof(float) * N * OC + 4),
			   *f32 = malloc(sizeof(float) * N * OC);
	double	   *absum = malloc(sizeof(double) * N * OC);
	void	   *mem = aligned_alloc(64, (tfm_b16_bytes(C, OC) + 63) / 64 * 64);
	TfmB16Weight *w;
	char		name[160];
	double		err = 0;

	for (int i = 0; i < N * C; i++)
		x[i] = frand(-1, 1);
	for (int i = 0; i < OC * C; i++)
		wt[i] = frand(-0.1f, 0.1f);
	for (int i = 0; i < OC; i++)
		bias[i] = frand(-1, 1);
	matmul_pack(packed, wt, C, OC);
	w = tfm_b16_from_panels(mem, packed, C, OC);
	for (int n = 0; n < N; n++)
		for (int o = 0; o < OC; o++)
		{
			double		s = 0;

			for (int k = 0; k < C; k++)
				s += fabs(x[(size_t) n * C + k] * wt[(size_t) o * C + k]);
			absum[(size_t) n * OC + o] = s;
		}
	ref[N * OC] = 12345.0f;
	tfm_b16_linear_variant(ref, x, w, with_bias ? bias : NULL, N, TFM_B16_SCALAR);
	matmul_forward_ref(f32, x, wt, with_bias ? bias : NULL, N, C, OC);
	for (int i = 0; i < N * OC; i++)
		err = fmax(err, fabs(ref[i] - f32[i]) / (absum[i] * (2.0 / 256) + 1e-6));
	snprintf(name, sizeof(name), "bf16 scalar N=%d C=%d OC=%d bias=%d vs fp32: error %.2f of the rounding bound",
			 N, C, OC, with_bias, err);
	check(err <= 1.0 && ref[N * OC] == 12345.0f, name);
	for (int v = 1; v < TFM_B16_VARIANTS; v++)
	{
		out[N * OC] = 12345.0f;
		if (!tfm_b16_linear_variant(out, x, w, with_bias ? bias : NULL, N, v))
			continue;
		ran[v] = 1;
		err = 0;
		for (int i = 0; i < N * OC; i++)
			err = fmax(err, fabs(out[i] - ref[i]) / (absum[i] * 2e-5 + 1e-6));
		snprintf(name, sizeof(name), "bf16 %s N=%d C=%d OC=%d bias=%d vs scalar: %.2f of the tolerance",
				 tfm_b16_variant_name(v), N, C, OC, with_bias, err);
		check(err <= 1.0 && out[N * OC] == 12345.0f, name);
	}
	/* the layout read in place (a cache file's copy, its struct bytes zeroed) through tfm_b16_bind */
	{
		size_t		bytes = tfm_b16_bytes(C, OC);
		char	   *file = aligned_alloc(64, (bytes + 63) / 64 * 64);
		TfmB16Weight bound;

		memcpy(file, mem, bytes);
		memset(file, 0, sizeof(TfmB16Weight));
		tfm_b16_bind(&bound, file, C, OC);
		tfm_b16_linear(out, x, &bound, with_bias ? bias : NULL, N);
		tfm_b16_linear(f32, x, w, with_bias ? bias : NULL, N);
		snprintf(name, sizeof(name), "bf16 N=%d C=%d OC=%d: a bound copy of the layout == the made one (bit-identical)", N, C, OC);
		check(memcmp(out, f32, sizeof(float) * N * OC) == 0 && bound.Cp == w->Cp && bound.OCp == w->OCp, name);
		free(file);
	}
	/* widened back to fp32 panels: the panels of the weight rounded to bf16, bit for bit (zeros past OC) */
	{
		size_t		n = matmul_packed_floats(C, OC);
		float	   *wide = malloc(sizeof(float) * n), *rounded = malloc(sizeof(float) * OC * C),
				   *want = malloc(sizeof(float) * n);

		for (int i = 0; i < OC * C; i++)
			rounded[i] = widen(tfm_f32_to_bf16(wt[i]));
		matmul_pack(want, rounded, C, OC);
		tfm_b16_to_panels(wide, w);
		snprintf(name, sizeof(name), "bf16 C=%d OC=%d widened to fp32 panels == the bf16-rounded weight packed (bit-identical)", C, OC);
		check(memcmp(wide, want, sizeof(float) * n) == 0, name);
		free(wide), free(rounded), free(want);
	}
	free(x), free(wt), free(bias), free(packed), free(ref), free(out), free(f32), free(absum), free(mem);
}

int
main(void)
{
	int			ran[TFM_B16_VARIANTS] = {1};
	char		flags[200];
	float		vals[] = {1.0f, 1.00390625f, 1.01171875f, -3.0e38f, 1e-40f};
	uint16_t	want[] = {0x3f80, 0x3f80, 0x3f82, 0xff62, 0x0001};
	int			ok = 1;

	TfmCpuFlags(flags, sizeof(flags));
	printf("# CPU features: %s\n", flags);
	/* round to nearest, ties to even: 1 + 2^-8 is a tie (down to 1), 1 + 3*2^-8 rounds up */
	for (int i = 0; i < 5; i++)
		ok &= tfm_f32_to_bf16(vals[i]) == want[i];
	check(ok && isnan(widen(tfm_f32_to_bf16(NAN))), "bf16 rounding: nearest even, nan stays nan");
	if (TfmCpuHas(TFM_FEAT_AVX512))
	{
		/* the AVX-512 rounding of rows gives tfm_f32_to_bf16's bits: ties, nan, inf, subnormals, a tail */
		float		v[37];
		uint16_t	got[40], same = 1;

		for (int i = 0; i < 37; i++)
			v[i] = frand(-3, 3) * (i % 5 == 0 ? 1e-39f : 1.0f);
		v[3] = NAN, v[4] = INFINITY, v[5] = -INFINITY, v[6] = 1.00390625f, v[7] = -0.0f;
		tfm_b16_round_avx512(got, v, 1, 37, 40);
		for (int i = 0; i < 37; i++)
			same &= got[i] == tfm_f32_to_bf16(v[i]);
		check(same && got[37] == 0 && got[38] == 0, "bf16 AVX-512 row rounding == tfm_f32_to_bf16 bit for bit");
	}
	else
		printf("# bf16 AVX-512 row rounding: skipped (CPU lacks it)\n");
	for (int n = 1; n <= 25; n++)
		test_shape(n, 40, n % 2 ? 48 : 40, n % 3 != 0, ran);
	test_shape(13, 384, 1536, 1, ran);
	test_shape(13, 1536, 384, 1, ran);
	test_shape(3, 7, 1, 1, ran);	/* C odd, one column */
	test_shape(300, 384, 17, 0, ran);	/* several row blocks */
	for (int v = 0; v < TFM_B16_VARIANTS; v++)
		printf("# variant %s: %s\n", tfm_b16_variant_name(v), ran[v] ? "ran" : "skipped (CPU lacks it)");
	return check_report();
}
