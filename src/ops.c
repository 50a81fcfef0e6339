/*
 * ops.c - compute kernels of pg_tfm (see ops.h)
 *
 * Forward kernels keep what their backward will need when the caller passes
 * a buffer for it (layernorm mean/rstd, attention probabilities).  Nothing
 * here allocates, reports errors or stops the process; SIMD paths are
 * compiled for a target with attributes and chosen at run time, so the
 * object runs on any x86-64.
 */
#include <math.h>
#include <string.h>

#include "blas.h"
#include "kernels/cpu.h"
#include "kernels/packed.h"
#include "ops.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define TFM_X86 1
#include <immintrin.h>
#endif

/* allow (all the CPU has) or forbid the SIMD paths: a level cap (kernels/cpu.h) */
void
TfmOpsSetSimd(int enabled)
{
	TfmCpuSetLevel(enabled ? TFM_LEVEL_AUTO : TFM_LEVEL_SCALAR);
}

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
#endif

/* ---------------------------------------------------------------------- */
/* number formats                                                          */
/* ---------------------------------------------------------------------- */

/* convert one IEEE binary16 value */
static float
half_to_float(uint16_t h)
{
	uint32_t	sign = (uint32_t) (h & 0x8000) << 16;
	uint32_t	exp = (h >> 10) & 0x1f;
	uint32_t	man = h & 0x3ff;
	uint32_t	bits;
	float		f;

	if (exp == 0x1f)			/* inf or nan: keep the payload */
		bits = sign | 0x7f800000 | (man << 13);
	else if (exp != 0)			/* normal: rebias 15 -> 127 */
		bits = sign | ((exp + 112) << 23) | (man << 13);
	else if (man == 0)			/* signed zero */
		bits = sign;
	else
	{
		/* subnormal man * 2^-24 becomes a normal float: shift to 1.x */
		int			e = -1;

		do
		{
			e++;
			man <<= 1;
		} while ((man & 0x400) == 0);
		bits = sign | ((uint32_t) (112 - e) << 23) | ((man & 0x3ff) << 13);
	}
	memcpy(&f, &bits, sizeof(f));
	return f;
}

#ifdef TFM_X86
/* binary16 -> float eight at a time with the F16C instruction */
__attribute__((target("avx,f16c")))
static size_t
half_to_float_f16c(float *dst, const uint16_t *src, size_t n)
{
	size_t		i = 0;

	for (; i + 8 <= n; i += 8)
	{
		__m128i		h = _mm_loadu_si128((const __m128i *) (src + i));

		_mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
	}
	return i;
}
#endif

/* IEEE binary16 -> float, F16C when the CPU has it */
void
TfmHalfToFloat(float *dst, const uint16_t *src, size_t n)
{
	size_t		i = 0;

#ifdef TFM_X86
	if (have_f16c())
		i = half_to_float_f16c(dst, src, n);
#endif
	for (; i < n; i++)
		dst[i] = half_to_float(src[i]);
}

/* bfloat16 -> float: bf16 is the top half of a float */
void
TfmBf16ToFloat(float *dst, const uint16_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		uint32_t	bits = (uint32_t) src[i] << 16;

		memcpy(dst + i, &bits, sizeof(float));
	}
}

#ifdef TFM_X86
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
#endif

/* ---------------------------------------------------------------------- */
/* matmul                                                                  */
/* ---------------------------------------------------------------------- */

#ifdef TFM_X86
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

/*
 * One tile of the small-N matmul: OT output columns (weight rows) by NR
 * input rows, dot products over C (a multiple of 8). Every weight load
 * feeds NR FMAs and every input load OT FMAs, so with OT 3 and NR 4 the
 * core issues 7 loads per 12 FMAs and runs at the FMA port's rate instead
 * of the load ports'. OT and NR are constants at every call site, so the
 * loops unroll into registers (12 accumulators + 4 operands = 16 ymm).
 */
__attribute__((target("avx2,fma"), always_inline))
static inline void
matmul_tile_avx2(float *out, const float *x, const float *w, const float *bias,
				 int C, int OC, int OT, int NR)
{
	__m256		acc[3][4];

#pragma GCC unroll 3
	for (int t = 0; t < OT; t++)
#pragma GCC unroll 4
		for (int r = 0; r < NR; r++)
			acc[t][r] = _mm256_setzero_ps();
	for (int i = 0; i < C; i += 8)
	{
		__m256		wv[3];

	#pragma GCC unroll 3
	for (int t = 0; t < OT; t++)
			wv[t] = _mm256_loadu_ps(w + (size_t) t * C + i);
#pragma GCC unroll 4
		for (int r = 0; r < NR; r++)
		{
			__m256		xv = _mm256_loadu_ps(x + (size_t) r * C + i);

		#pragma GCC unroll 3
	for (int t = 0; t < OT; t++)
				acc[t][r] = _mm256_fmadd_ps(xv, wv[t], acc[t][r]);
		}
	}
#pragma GCC unroll 3
	for (int t = 0; t < OT; t++)
#pragma GCC unroll 4
		for (int r = 0; r < NR; r++)
			out[(size_t) r * OC + t] = (bias ? bias[t] : 0.0f) + hsum256(acc[t][r]);
}

/* OT weight rows (in L1) against all N input rows, four rows per tile */
__attribute__((target("avx2,fma"), always_inline))
static inline void
matmul_cols_avx2(float *out, const float *inp, const float *w, const float *bias,
				 int N, int C, int OC, int OT)
{
	int			n = 0;

	for (; n + 4 <= N; n += 4)
		matmul_tile_avx2(out + (size_t) n * OC, inp + (size_t) n * C, w, bias, C, OC, OT, 4);
	switch (N - n)
	{
		case 3:
			matmul_tile_avx2(out + (size_t) n * OC, inp + (size_t) n * C, w, bias, C, OC, OT, 3);
			break;
		case 2:
			matmul_tile_avx2(out + (size_t) n * OC, inp + (size_t) n * C, w, bias, C, OC, OT, 2);
			break;
		case 1:
			matmul_tile_avx2(out + (size_t) n * OC, inp + (size_t) n * C, w, bias, C, OC, OT, 1);
			break;
	}
}

/*
 * matmul for few rows (short sequences): three weight rows at a time are
 * read from memory once and dotted with every input row while they sit in
 * L1 (the N input rows stay in L1/L2 throughout). BLAS would first pack
 * the whole weight matrix, which costs as much as the product itself when
 * N is small.
 */
__attribute__((target("avx2,fma")))
static void
matmul_small_avx2(float *out, const float *inp, const float *weight,
				  const float *bias, int N, int C, int OC)
{
	int			o = 0;

	if (C % 8 != 0)
	{
		for (int n = 0; n < N; n++)
			for (o = 0; o < OC; o++)
				out[(size_t) n * OC + o] = (bias ? bias[o] : 0.0f) +
					dot_avx2(inp + (size_t) n * C, weight + (size_t) o * C, C);
		return;
	}
	for (; o + 3 <= OC; o += 3)
		matmul_cols_avx2(out + o, inp, weight + (size_t) o * C, bias ? bias + o : NULL, N, C, OC, 3);
	for (; o < OC; o++)
		matmul_cols_avx2(out + o, inp, weight + (size_t) o * C, bias ? bias + o : NULL, N, C, OC, 1);
}
#endif

/* rows up to which matmul_small_avx2 beats BLAS (measured: ~100 on Zen) */
#define MATMUL_SMALL_N 64

/* out (N,OC) = inp (N,C) . weight (OC,C)^T + bias (OC) through BLAS */
void
matmul_forward(float *out, const float *inp, const float *weight,
			   const float *bias, int N, int C, int OC)
{
	float		beta = 0.0f;

#ifdef TFM_X86
	if (N <= MATMUL_SMALL_N && have_avx2())
	{
		matmul_small_avx2(out, inp, weight, bias, N, C, OC);
		return;
	}
#endif
	/* the bias is folded into the GEMM: C starts as bias, beta = 1 */
	if (bias != NULL)
	{
		for (int n = 0; n < N; n++)
			memcpy(out + (size_t) n * OC, bias, sizeof(float) * OC);
		beta = 1.0f;
	}
	TfmSgemm(0, 1, N, OC, C, 1.0f, inp, C, weight, C, beta, out, OC);
}

/* floats of the packed form of a (OC,C) weight: whole panels */
size_t
matmul_packed_floats(int C, int OC)
{
	return (size_t) (OC + TFM_PANEL - 1) / TFM_PANEL * TFM_PANEL * C;
}

/* panels of a weight (OC,C) whose element (o,i) is w[o * so + i * si]; zeros past OC */
static void
pack_strided(float *dst, const float *w, size_t so, size_t si, int C, int OC)
{
	for (int o0 = 0; o0 < OC; o0 += TFM_PANEL)
		for (int i = 0; i < C; i++)
			for (int j = 0; j < TFM_PANEL; j++)
				*dst++ = o0 + j < OC ? w[(size_t) (o0 + j) * so + (size_t) i * si] : 0.0f;
}

/* weight (OC,C) into panels of TFM_PANEL columns, (C,TFM_PANEL) each; zeros past OC */
void
matmul_pack(float *dst, const float *weight, int C, int OC)
{
	pack_strided(dst, weight, C, 1, C, OC);
}

/* weight (OC,C) back from panels */
void
matmul_unpack(float *weight, const float *packed, int C, int OC)
{
	for (int o0 = 0; o0 < OC; o0 += TFM_PANEL)
		for (int i = 0; i < C; i++, packed += TFM_PANEL)
			for (int j = 0; j < TFM_PANEL && o0 + j < OC; j++)
				weight[(size_t) (o0 + j) * C + i] = packed[j];
}

/* packed_gemm without AVX2: each panel is a (C,16) matrix for BLAS */
static void
packed_gemm_blas(float *out, int ldo, const float *inp, int ldi, const float *packed,
				 const float *bias, int N, int C, int OC)
{
	for (int o = 0; o < OC; o += TFM_PANEL)
	{
		int			cols = OC - o < TFM_PANEL ? OC - o : TFM_PANEL;

		for (int n = 0; n < N; n++)
			for (int j = 0; j < cols; j++)
				out[(size_t) n * ldo + o + j] = bias ? bias[o + j] : 0.0f;
		TfmSgemm(0, 0, N, cols, C, 1.0f, inp, ldi, packed + (size_t) o * C, TFM_PANEL,
				 1.0f, out + o, ldo);
	}
}

/* packed weights go through BLAS (no AVX2 here), so threads must not meet them before it loads */
int
matmul_packed_needs_blas(void)
{
#ifdef TFM_X86
	return !have_avx2();
#else
	return 1;
#endif
}

/* rows per block of the packed matmul: the block's inputs stay in L2 while every panel passes */
#define PACKED_BLOCK_BYTES (192 * 1024)

/*
 * out (N,OC) (rows ldo apart) = inp (N,C) (rows ldi apart) . weight^T + bias
 * with weight in panels.  Rows go in blocks that fit L2; within a block
 * each group of panels (one for AVX2, two for AVX-512) meets the rows in
 * tiles of at most mr (6 or 12), split evenly (13 rows at 6 are tiles of
 * 4, 4 and 5, not 6, 6, 1).
 */
static void
packed_gemm(float *out, int ldo, const float *inp, int ldi, const float *packed,
			const float *bias, int N, int C, int OC)
{
	int			wide = TfmCpuHas(TFM_FEAT_AVX512);
	int			maxmr = wide ? TFM_AVX512_MR : TFM_AVX2_MR;
	int			step = wide ? TFM_AVX512_COLS : TFM_AVX2_COLS;
	int			block = (int) (PACKED_BLOCK_BYTES / (sizeof(float) * (C > 0 ? C : 1))) /
		maxmr * maxmr;

	if (matmul_packed_needs_blas())
	{
		packed_gemm_blas(out, ldo, inp, ldi, packed, bias, N, C, OC);
		return;
	}
	if (block < maxmr)
		block = maxmr;
	for (int n0 = 0; n0 < N; n0 += block)
	{
		int			nb = N - n0 < block ? N - n0 : block;
		int			tiles = (nb + maxmr - 1) / maxmr;

		for (int o = 0; o < OC; o += step)
		{
			const float *panel = packed + (size_t) o * C;
			const float *b = bias ? bias + o : NULL;
			int			cols = OC - o < step ? OC - o : step;
			int			n = n0;

			for (int t = 0; t < tiles; t++)
			{
				int			mr = (n0 + nb - n) / (tiles - t);

				if (wide)
					tfm_packed_rows_avx512(out + (size_t) n * ldo + o, ldo, inp + (size_t) n * ldi,
										   ldi, panel, b, C, mr, cols);
				else
					tfm_packed_rows_avx2(out + (size_t) n * ldo + o, ldo, inp + (size_t) n * ldi,
										 ldi, panel, b, C, mr, cols);
				n += mr;
			}
		}
	}
}

/* out (N,OC) = inp (N,C) . weight^T + bias (or no bias if NULL), weight in panels */
void
matmul_forward_packed(float *out, const float *inp, const float *packed,
					  const float *bias, int N, int C, int OC)
{
	packed_gemm(out, OC, inp, C, packed, bias, N, C, OC);
}

/* naive matmul with double accumulation */
void
matmul_forward_ref(float *out, const float *inp, const float *weight,
				   const float *bias, int N, int C, int OC)
{
	for (int n = 0; n < N; n++)
	{
		const float *x = inp + (size_t) n * C;

		for (int o = 0; o < OC; o++)
		{
			const float *wrow = weight + (size_t) o * C;
			double		acc = bias ? bias[o] : 0.0;

			for (int i = 0; i < C; i++)
				acc += (double) x[i] * wrow[i];
			out[(size_t) n * OC + o] = (float) acc;
		}
	}
}

/*
 * dinp (N,C) += dout (N,OC) . weight (OC,C); dweight (OC,C) += dout^T . inp;
 * dbias (OC) += column sums of dout.  Any output may be NULL to skip it.
 */
void
matmul_backward(float *dinp, float *dweight, float *dbias,
				const float *dout, const float *inp, const float *weight,
				int N, int C, int OC)
{
	if (dinp)
		TfmSgemm(0, 0, N, C, OC, 1.0f, dout, OC, weight, C, 1.0f, dinp, C);
	if (dweight)
		TfmSgemm(1, 0, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
	if (dbias)
	{
		/* row by row so the inner loop runs along memory and vectorises */
		for (int n = 0; n < N; n++)
		{
			const float *d = dout + (size_t) n * OC;

			for (int o = 0; o < OC; o++)
				dbias[o] += d[o];
		}
	}
}

/* naive matmul backward with double accumulation */
void
matmul_backward_ref(float *dinp, float *dweight, float *dbias,
					const float *dout, const float *inp, const float *weight,
					int N, int C, int OC)
{
	for (int n = 0; n < N && dinp; n++)
	{
		for (int i = 0; i < C; i++)
		{
			double		acc = 0.0;

			for (int o = 0; o < OC; o++)
				acc += (double) dout[(size_t) n * OC + o] * weight[(size_t) o * C + i];
			dinp[(size_t) n * C + i] += (float) acc;
		}
	}
	for (int o = 0; o < OC; o++)
	{
		double		bacc = 0.0;

		for (int i = 0; i < C && dweight; i++)
		{
			double		acc = 0.0;

			for (int n = 0; n < N; n++)
				acc += (double) dout[(size_t) n * OC + o] * inp[(size_t) n * C + i];
			dweight[(size_t) o * C + i] += (float) acc;
		}
		for (int n = 0; n < N; n++)
			bacc += dout[(size_t) n * OC + o];
		if (dbias)
			dbias[o] += (float) bacc;
	}
}

/* ---------------------------------------------------------------------- */
/* layernorm                                                               */
/* ---------------------------------------------------------------------- */

#ifdef TFM_X86
/* one layernorm row with AVX2: two passes for mean/var, one to write */
__attribute__((target("avx2,fma")))
static void
layernorm_row_avx2(float *o, float *mean_out, float *rstd_out,
				   const float *x, const float *w, const float *b,
				   int C, float eps)
{
	__m256		acc = _mm256_setzero_ps();
	__m256		vx0 = _mm256_set1_ps(x[0]);
	__m256		vm,
				vs;
	float		x0 = x[0], m, v, s;
	int			i;

	/*
	 * Work on x - x[0] (exact for nearby values) and never add x[0] back
	 * before subtracting the mean: keeps nearly constant rows accurate.
	 */
	for (i = 0; i + 8 <= C; i += 8)
		acc = _mm256_add_ps(acc, _mm256_sub_ps(_mm256_loadu_ps(x + i), vx0));
	m = hsum256(acc);
	for (; i < C; i++)
		m += x[i] - x0;
	m /= C;
	vm = _mm256_set1_ps(m);
	acc = _mm256_setzero_ps();
	for (i = 0; i + 8 <= C; i += 8)
	{
		__m256		d = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vx0), vm);

		acc = _mm256_fmadd_ps(d, d, acc);
	}
	v = hsum256(acc);
	for (; i < C; i++)
		v += ((x[i] - x0) - m) * ((x[i] - x0) - m);
	v /= C;
	s = 1.0f / sqrtf(v + eps);
	vs = _mm256_set1_ps(s);
	for (i = 0; i + 8 <= C; i += 8)
	{
		__m256		d = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vx0), vm);

		_mm256_storeu_ps(o + i, _mm256_fmadd_ps(_mm256_mul_ps(d, vs),
												_mm256_loadu_ps(w + i),
												_mm256_loadu_ps(b + i)));
	}
	for (; i < C; i++)
		o[i] = ((x[i] - x0) - m) * s * w[i] + b[i];
	*mean_out = x0 + m;
	*rstd_out = s;
}
#endif

/* one layernorm row, portable; same arithmetic as the AVX2 version */
static void
layernorm_row(float *o, float *mean_out, float *rstd_out,
			  const float *x, const float *w, const float *b,
			  int C, float eps)
{
	float		x0 = x[0], m = 0.0f, v = 0.0f, s;

	for (int i = 0; i < C; i++)
		m += x[i] - x0;
	m /= C;
	for (int i = 0; i < C; i++)
		v += ((x[i] - x0) - m) * ((x[i] - x0) - m);
	v /= C;
	s = 1.0f / sqrtf(v + eps);
	for (int i = 0; i < C; i++)
		o[i] = ((x[i] - x0) - m) * s * w[i] + b[i];
	*mean_out = x0 + m;
	*rstd_out = s;
}

/* layernorm over the last dimension, biased variance as in PyTorch */
void
layernorm_forward(float *out, float *mean, float *rstd,
				  const float *inp, const float *weight, const float *bias,
				  int N, int C, float eps)
{
#ifdef TFM_X86
	int			avx2 = have_avx2();
#endif

	for (int n = 0; n < N; n++)
	{
		float		m, s;
		const float *x = inp + (size_t) n * C;
		float	   *o = out + (size_t) n * C;

#ifdef TFM_X86
		if (avx2)
			layernorm_row_avx2(o, &m, &s, x, weight, bias, C, eps);
		else
#endif
			layernorm_row(o, &m, &s, x, weight, bias, C, eps);
		if (mean)
			mean[n] = m;
		if (rstd)
			rstd[n] = s;
	}
}

/* naive layernorm in double */
void
layernorm_forward_ref(float *out, float *mean, float *rstd,
					  const float *inp, const float *weight,
					  const float *bias, int N, int C, float eps)
{
	for (int n = 0; n < N; n++)
	{
		const float *x = inp + (size_t) n * C;
		double		m = 0.0, v = 0.0, s;

		for (int i = 0; i < C; i++)
			m += x[i];
		m /= C;
		for (int i = 0; i < C; i++)
			v += (x[i] - m) * (x[i] - m);
		v /= C;
		s = 1.0 / sqrt(v + eps);
		for (int i = 0; i < C; i++)
			out[(size_t) n * C + i] = (float) ((x[i] - m) * s * weight[i] + bias[i]);
		if (mean)
			mean[n] = (float) m;
		if (rstd)
			rstd[n] = (float) s;
	}
}

/*
 * layernorm backward from the kept mean and rstd (llm.c): with
 * xhat = (x - mean) rstd and g = dout * weight,
 * dinp += rstd (g - mean(g) - xhat mean(g xhat)); dweight += dout xhat;
 * dbias += dout.  dweight and dbias may be NULL.
 */
void
layernorm_backward(float *dinp, float *dweight, float *dbias,
				   const float *dout, const float *inp, const float *weight,
				   const float *mean, const float *rstd, int N, int C)
{
	for (int n = 0; n < N; n++)
	{
		const float *x = inp + (size_t) n * C;
		const float *d = dout + (size_t) n * C;
		float	   *dx = dinp + (size_t) n * C;
		float		m = mean[n],
					s = rstd[n],
					gmean = 0.0f,
					gxmean = 0.0f;

		for (int i = 0; i < C; i++)
		{
			float		xhat = (x[i] - m) * s;
			float		g = d[i] * weight[i];

			gmean += g;
			gxmean += g * xhat;
		}
		gmean /= C;
		gxmean /= C;
		for (int i = 0; i < C; i++)
		{
			float		xhat = (x[i] - m) * s;

			dx[i] += s * (d[i] * weight[i] - gmean - xhat * gxmean);
			if (dweight)
				dweight[i] += d[i] * xhat;
			if (dbias)
				dbias[i] += d[i];
		}
	}
}

/* layernorm backward in double, recomputing mean and rstd from inp */
void
layernorm_backward_ref(float *dinp, float *dweight, float *dbias,
					   const float *dout, const float *inp,
					   const float *weight, int N, int C, float eps)
{
	for (int n = 0; n < N; n++)
	{
		const float *x = inp + (size_t) n * C;
		const float *d = dout + (size_t) n * C;
		double		m = 0.0, v = 0.0, s, gmean = 0.0, gxmean = 0.0;

		for (int i = 0; i < C; i++)
			m += x[i];
		m /= C;
		for (int i = 0; i < C; i++)
			v += (x[i] - m) * (x[i] - m);
		s = 1.0 / sqrt(v / C + eps);
		for (int i = 0; i < C; i++)
		{
			gmean += (double) d[i] * weight[i];
			gxmean += (double) d[i] * weight[i] * (x[i] - m) * s;
		}
		gmean /= C;
		gxmean /= C;
		for (int i = 0; i < C; i++)
		{
			double		xhat = (x[i] - m) * s;

			dinp[(size_t) n * C + i] += (float) (s * ((double) d[i] * weight[i] -
													  gmean - xhat * gxmean));
			if (dweight)
				dweight[i] += (float) (d[i] * xhat);
			if (dbias)
				dbias[i] += d[i];
		}
	}
}

/* ---------------------------------------------------------------------- */
/* pointwise                                                               */
/* ---------------------------------------------------------------------- */

#ifdef TFM_X86
/*
 * erf(x) for eight floats: x P(x^2) / Q(x^2) on [-4,4] (Eigen's float
 * rational approximation, abs error < 4e-7; erf is +-1 in float beyond 4)
 */
__attribute__((target("avx2,fma")))
static inline __m256
erf256(__m256 a)
{
	__m256		x = _mm256_max_ps(_mm256_min_ps(a, _mm256_set1_ps(4.0f)),
								  _mm256_set1_ps(-4.0f));
	__m256		x2 = _mm256_mul_ps(x, x);
	__m256		p = _mm256_set1_ps(-2.72614225801306e-10f);
	__m256		q = _mm256_set1_ps(-1.45660718464996e-05f);

	p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(2.77068142495902e-08f));
	p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-2.10102402082508e-06f));
	p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-5.69250639462346e-05f));
	p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-7.34990630326855e-04f));
	p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-2.95459980854025e-03f));
	p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-1.60960333262415e-02f));
	p = _mm256_mul_ps(p, x);
	q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-2.13374055278905e-04f));
	q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-1.68282697438203e-03f));
	q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-7.37332916720468e-03f));
	q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-1.42647390514189e-02f));
	return _mm256_div_ps(p, q);
}

/* exact GELU eight at a time; returns how many were done */
__attribute__((target("avx2,fma")))
static size_t
gelu_avx2(float *out, const float *inp, size_t n)
{
	const __m256 half = _mm256_set1_ps(0.5f);
	const __m256 r2 = _mm256_set1_ps(0.70710678118654752440f);
	size_t		i = 0;

	for (; i + 8 <= n; i += 8)
	{
		__m256		x = _mm256_loadu_ps(inp + i);
		__m256		hx = _mm256_mul_ps(half, x);

		_mm256_storeu_ps(out + i,
						 _mm256_fmadd_ps(hx, erf256(_mm256_mul_ps(x, r2)), hx));
	}
	/* the tail through the same formula, so a value never depends on its place in the array */
	if (i < n)
	{
		float		buf[8] = {0};
		__m256		x,
					hx;

		memcpy(buf, inp + i, sizeof(float) * (n - i));
		x = _mm256_loadu_ps(buf);
		hx = _mm256_mul_ps(half, x);
		_mm256_storeu_ps(buf, _mm256_fmadd_ps(hx, erf256(_mm256_mul_ps(x, r2)), hx));
		memcpy(out + i, buf, sizeof(float) * (n - i));
		i = n;
	}
	return i;
}
#endif

/* exact (erf) GELU, as BERT's "gelu" */
void
gelu_forward(float *out, const float *inp, size_t n)
{
	const float r2 = 0.70710678118654752440f;
	size_t		i = 0;

#ifdef TFM_X86
	if (have_avx2())
		i = gelu_avx2(out, inp, n);
#endif
	for (; i < n; i++)
	{
		float		x = inp[i];

		out[i] = 0.5f * x * (1.0f + erff(x * r2));
	}
}

/* GELU in double */
void
gelu_forward_ref(float *out, const float *inp, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		double		x = inp[i];

		out[i] = (float) (0.5 * x * (1.0 + erf(x / sqrt(2.0))));
	}
}

#ifdef TFM_X86
/*
 * exp(x) for eight floats, x <= 0 clamped at -87 (Cephes expf: 2^n times
 * a degree-6 polynomial on [-ln2/2, ln2/2], rel error < 2e-7)
 */
__attribute__((target("avx2,fma")))
static inline __m256
exp256_neg(__m256 x)
{
	__m256		n,
				r,
				p;
	__m256i		e;

	x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
	n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
						_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
	p = _mm256_set1_ps(1.9875691500e-4f);
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
	p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
	e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n),
										   _mm256_set1_epi32(127)), 23);
	return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/*
 * one softmax row: p[0..valid) = softmax(scale * x[0..valid)), eight at a
 * time with exp256_neg; the tail and padding columns are the caller's
 */
__attribute__((target("avx2,fma")))
static void
softmax_row_avx2(float *p, const float *x, float scale, int valid)
{
	__m256		vmax = _mm256_set1_ps(-INFINITY),
				vsum = _mm256_setzero_ps(),
				vs = _mm256_set1_ps(scale),
				vm,
				vinv;
	float		maxv,
				sum;
	int			j = 0;

	for (; j + 8 <= valid; j += 8)
		vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + j));
	vm = _mm256_max_ps(vmax, _mm256_permute2f128_ps(vmax, vmax, 1));
	vm = _mm256_max_ps(vm, _mm256_shuffle_ps(vm, vm, _MM_SHUFFLE(1, 0, 3, 2)));
	vm = _mm256_max_ps(vm, _mm256_shuffle_ps(vm, vm, _MM_SHUFFLE(2, 3, 0, 1)));
	maxv = _mm256_cvtss_f32(vm);
	for (; j < valid; j++)
		maxv = x[j] > maxv ? x[j] : maxv;
	vm = _mm256_set1_ps(maxv);
	for (j = 0; j + 8 <= valid; j += 8)
	{
		__m256		e = exp256_neg(_mm256_mul_ps(vs, _mm256_sub_ps(_mm256_loadu_ps(x + j), vm)));

		_mm256_storeu_ps(p + j, e);
		vsum = _mm256_add_ps(vsum, e);
	}
	sum = hsum256(vsum);
	for (; j < valid; j++)
		sum += (p[j] = expf(scale * (x[j] - maxv)));
	vinv = _mm256_set1_ps(1.0f / sum);
	for (j = 0; j + 8 <= valid; j += 8)
		_mm256_storeu_ps(p + j, _mm256_mul_ps(_mm256_loadu_ps(p + j), vinv));
	for (; j < valid; j++)
		p[j] *= 1.0f / sum;
}

/* GELU backward eight at a time; returns how many were done */
__attribute__((target("avx2,fma")))
static size_t
gelu_backward_avx2(float *dinp, const float *inp, const float *dout,
				   size_t n)
{
	const __m256 half = _mm256_set1_ps(0.5f);
	const __m256 r2 = _mm256_set1_ps(0.70710678118654752440f);
	const __m256 rs2pi = _mm256_set1_ps(0.39894228040143267794f);
	const __m256 mhalf = _mm256_set1_ps(-0.5f);
	size_t		i = 0;

	for (; i + 8 <= n; i += 8)
	{
		__m256		x = _mm256_loadu_ps(inp + i);
		__m256		cdf = _mm256_fmadd_ps(half, erf256(_mm256_mul_ps(x, r2)), half);
		__m256		pdf = _mm256_mul_ps(rs2pi,
										exp256_neg(_mm256_mul_ps(mhalf, _mm256_mul_ps(x, x))));
		__m256		g = _mm256_fmadd_ps(x, pdf, cdf);

		_mm256_storeu_ps(dinp + i, _mm256_fmadd_ps(g, _mm256_loadu_ps(dout + i),
												   _mm256_loadu_ps(dinp + i)));
	}
	return i;
}
#endif

/* dinp (n) += dout * GELU'(inp), GELU'(x) = Phi(x) + x phi(x) */
void
gelu_backward(float *dinp, const float *inp, const float *dout, size_t n)
{
	const float r2 = 0.70710678118654752440f;
	const float rs2pi = 0.39894228040143267794f;
	size_t		i = 0;

#ifdef TFM_X86
	if (have_avx2())
		i = gelu_backward_avx2(dinp, inp, dout, n);
#endif
	for (; i < n; i++)
	{
		float		x = inp[i];

		dinp[i] += dout[i] * (0.5f * (1.0f + erff(x * r2)) +
							  x * rs2pi * expf(-0.5f * x * x));
	}
}

/* GELU backward in double */
void
gelu_backward_ref(float *dinp, const float *inp, const float *dout, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		double		x = inp[i];
		double		g = 0.5 * (1.0 + erf(x / sqrt(2.0))) +
			x * exp(-0.5 * x * x) * 0.39894228040143267794;

		dinp[i] += (float) (g * dout[i]);
	}
}

/* elementwise sum; the loop vectorises at -O2 */
void
residual_forward(float *out, const float *inp1, const float *inp2, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = inp1[i] + inp2[i];
}

/* elementwise sum, reference */
void
residual_forward_ref(float *out, const float *inp1, const float *inp2,
					 size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (float) ((double) inp1[i] + inp2[i]);
}

/* dinp1 (n) += dout and dinp2 (n) += dout; either may be NULL */
void
residual_backward(float *dinp1, float *dinp2, const float *dout, size_t n)
{
	for (size_t i = 0; i < n && dinp1; i++)
		dinp1[i] += dout[i];
	for (size_t i = 0; i < n && dinp2; i++)
		dinp2[i] += dout[i];
}

/* masked row softmax: max-shifted exp over the valid columns */
void
softmax_forward(float *probs, const float *inp, float scale,
				int N, int T, int valid)
{
	if (valid > T)
		valid = T;
	for (int n = 0; n < N; n++)
	{
		const float *x = inp + (size_t) n * T;
		float	   *p = probs + (size_t) n * T;
		float		maxv = -INFINITY, sum = 0.0f, inv;
		int			j;

#ifdef TFM_X86
		if (valid > 0 && have_avx2())
		{
			softmax_row_avx2(p, x, scale, valid);
			for (j = valid; j < T; j++)
				p[j] = 0.0f;
			continue;
		}
#endif
		for (j = 0; j < valid; j++)
			if (x[j] > maxv)
				maxv = x[j];
		for (j = 0; j < valid; j++)
		{
			p[j] = expf(scale * (x[j] - maxv));
			sum += p[j];
		}
		inv = valid > 0 ? 1.0f / sum : 0.0f;
		for (j = 0; j < valid; j++)
			p[j] *= inv;
		for (j = valid < 0 ? 0 : valid; j < T; j++)
			p[j] = 0.0f;
	}
}

/* masked row softmax in double */
void
softmax_forward_ref(float *probs, const float *inp, float scale,
					int N, int T, int valid)
{
	if (valid > T)
		valid = T;
	for (int n = 0; n < N; n++)
	{
		const float *x = inp + (size_t) n * T;
		float	   *p = probs + (size_t) n * T;
		double		maxv = -INFINITY, sum = 0.0;

		for (int j = 0; j < valid; j++)
			maxv = fmax(maxv, (double) scale * x[j]);
		for (int j = 0; j < valid; j++)
			sum += exp((double) scale * x[j] - maxv);
		for (int j = 0; j < T; j++)
			p[j] = j < valid ? (float) (exp((double) scale * x[j] - maxv) / sum) : 0.0f;
	}
}

/*
 * dinp (N,T) += scale * probs * (dprobs - sum(dprobs * probs)) over the
 * first `valid` columns; masked columns get no gradient
 */
void
softmax_backward(float *dinp, const float *dprobs, const float *probs,
				 float scale, int N, int T, int valid)
{
	if (valid > T)
		valid = T;
	for (int n = 0; n < N; n++)
	{
		const float *dp = dprobs + (size_t) n * T;
		const float *p = probs + (size_t) n * T;
		float	   *dx = dinp + (size_t) n * T;
		float		s = 0.0f;

		for (int j = 0; j < valid; j++)
			s += dp[j] * p[j];
		for (int j = 0; j < valid; j++)
			dx[j] += scale * p[j] * (dp[j] - s);
	}
}

/* softmax backward in double */
void
softmax_backward_ref(float *dinp, const float *dprobs, const float *probs,
					 float scale, int N, int T, int valid)
{
	if (valid > T)
		valid = T;
	for (int n = 0; n < N; n++)
	{
		double		s = 0.0;

		for (int j = 0; j < valid; j++)
			s += (double) dprobs[(size_t) n * T + j] * probs[(size_t) n * T + j];
		for (int j = 0; j < valid; j++)
			dinp[(size_t) n * T + j] += (float) (scale * probs[(size_t) n * T + j] *
												 (dprobs[(size_t) n * T + j] - s));
	}
}

/* ---------------------------------------------------------------------- */
/* dropout                                                                 */
/* ---------------------------------------------------------------------- */

/* splitmix64's finaliser: a bijective 64-bit mix */
static inline uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* the 24-bit uniform draw of element idx of the stream of `key` */
static inline uint32_t
dropout_draw(uint64_t key, uint64_t idx)
{
	return (uint32_t) (mix64(key + idx * UINT64_C(0x9e3779b97f4a7c15)) >> 40);
}

/* draws below this are dropped: p of 2^24 */
static uint32_t
dropout_threshold(float p)
{
	return p >= 1.0f ? UINT32_C(1) << 24 : (uint32_t) (p * 16777216.0f);
}

/* the multiplier of kept elements, 1/(1-p) (0 when everything drops) */
static float
dropout_scale(float p)
{
	return p >= 1.0f ? 0.0f : 1.0f / (1.0f - p);
}

/* dropout keep factor of element idx: 0 or 1/(1-p) */
float
dropout_factor(float p, uint64_t seed, uint64_t idx)
{
	if (p <= 0.0f)
		return 1.0f;
	return dropout_draw(mix64(seed), idx) >= dropout_threshold(p) ?
		dropout_scale(p) : 0.0f;
}

/* out (n) = inp * mask / (1-p), mask from (seed, offset + i) */
void
dropout_forward(float *out, const float *inp, size_t n, float p,
				uint64_t seed, uint64_t offset)
{
	uint64_t	key = mix64(seed);
	uint32_t	thr = dropout_threshold(p);
	float		scale = dropout_scale(p);

	if (p <= 0.0f)
	{
		if (out != inp)
			memmove(out, inp, sizeof(float) * n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = dropout_draw(key, offset + i) >= thr ? inp[i] * scale : 0.0f;
}

/* dinp (n) += dout * mask / (1-p), the same mask as dropout_forward */
void
dropout_backward(float *dinp, const float *dout, size_t n, float p,
				 uint64_t seed, uint64_t offset)
{
	uint64_t	key = mix64(seed);
	uint32_t	thr = dropout_threshold(p);
	float		scale = dropout_scale(p);

	if (p <= 0.0f)
	{
		for (size_t i = 0; i < n; i++)
			dinp[i] += dout[i];
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (dropout_draw(key, offset + i) >= thr)
			dinp[i] += dout[i] * scale;
}

/* ---------------------------------------------------------------------- */
/* embeddings                                                              */
/* ---------------------------------------------------------------------- */

/* out (B,T,C) = wte[ids] + wpe[pos] (+ wtt[type], type 1 for ids marked TFM_TOKEN_TYPE1, else 0) */
void
embedding_forward(float *out, const int32_t *ids, const int *lens,
				  const float *wte, const float *wpe, const float *wtt, const int *pos,
				  int B, int T, int C, int V)
{
	for (int b = 0; b < B; b++)
	{
		for (int t = 0; t < T; t++)
		{
			int			type;
			const float *we = wte + (size_t) embedding_id(ids, lens, b, t, T, V, &type) * C,
					   *pe = wpe + (size_t) (pos ? pos[(size_t) b * T + t] : t) * C;
			float	   *o = out + ((size_t) b * T + t) * C;

			if (wtt)
			{
				const float *te = wtt + (size_t) type * C;

				for (int i = 0; i < C; i++)
					o[i] = we[i] + pe[i] + te[i];
			}
			else
				for (int i = 0; i < C; i++)
					o[i] = we[i] + pe[i];
		}
	}
}

/* scatter-add dout (B,T,C) into the rows embedding_forward read:
 * dwte (V,C), dwpe (positions' rows), dwtt (the token type's row); any may be NULL */
void
embedding_backward(float *dwte, float *dwpe, float *dwtt, const float *dout,
				   const int32_t *ids, const int *lens, const int *pos,
				   int B, int T, int C, int V)
{
	for (int b = 0; b < B; b++)
	{
		for (int t = 0; t < T; t++)
		{
			int			type;
			int32_t		id = embedding_id(ids, lens, b, t, T, V, &type);
			const float *d = dout + ((size_t) b * T + t) * C;
			float	   *we = dwte ? dwte + (size_t) id * C : NULL;
			float	   *pe = dwpe ? dwpe + (size_t) (pos ? pos[(size_t) b * T + t] : t) * C : NULL;
			float	   *te = dwtt ? dwtt + (size_t) type * C : NULL;

			for (int i = 0; i < C && we; i++)
				we[i] += d[i];
			for (int i = 0; i < C && pe; i++)
				pe[i] += d[i];
			for (int i = 0; i < C && te; i++)
				te[i] += d[i];
		}
	}
}

/* ---------------------------------------------------------------------- */
/* attention                                                               */
/* ---------------------------------------------------------------------- */

/* floats of attention_forward's scratch: one (T,T) score matrix, then one head's K and V in panels */
size_t
attention_scratch_floats(int T, int hs)
{
	/* the scores, then K and V of one head in panels (attention_packed) */
	return (size_t) T * (size_t) T + matmul_packed_floats(hs, T) + matmul_packed_floats(T, hs);
}

/* number of real tokens of a sequence, clamped to [0,T] */
static int
clamp_len(int len, int T)
{
	return len < 0 ? 0 : (len > T ? T : len);
}

/* sequences up to this length run attention's products without BLAS */
#define ATTN_SMALL_L 64

/* C (M,N) (ldc) = alpha A (M,K) B (N,K)^T, rows of A and B strided lda/ldb */
static void
small_gemm_nt(float *c, int ldc, const float *a, int lda, const float *b, int ldb,
			  int M, int N, int K, float alpha)
{
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++)
		{
			const float *x = a + (size_t) i * lda,
					   *y = b + (size_t) j * ldb;
			float		s;

#ifdef TFM_X86
			if (have_avx2())
				s = dot_avx2(x, y, K);
			else
#endif
			{
				s = 0.0f;
				for (int k = 0; k < K; k++)
					s += x[k] * y[k];
			}
			c[(size_t) i * ldc + j] = alpha * s;
		}
}

#ifdef TFM_X86
/* y[0..n) += a * x[0..n), n a multiple of 8 */
__attribute__((target("avx2,fma")))
static void
axpy_avx2(float *y, float a, const float *x, int n)
{
	__m256		av = _mm256_set1_ps(a);

	for (int j = 0; j < n; j += 8)
		_mm256_storeu_ps(y + j, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + j), _mm256_loadu_ps(y + j)));
}
#endif

/* C (M,N) (ldc) = A (M,K) (lda) B (K,N) (ldb): rows of C as sums of rows of B */
static void
small_gemm_nn(float *c, int ldc, const float *a, int lda, const float *b, int ldb,
			  int M, int N, int K)
{
	for (int i = 0; i < M; i++)
	{
		float	   *ci = c + (size_t) i * ldc;

		memset(ci, 0, sizeof(float) * N);
		for (int k = 0; k < K; k++)
		{
			float		aik = a[(size_t) i * lda + k];
			const float *bk = b + (size_t) k * ldb;

#ifdef TFM_X86
			if (N % 8 == 0 && have_avx2())
			{
				axpy_avx2(ci, aik, bk, N);
				continue;
			}
#endif
			for (int j = 0; j < N; j++)
				ci[j] += aik * bk[j];
		}
	}
}

/*
 * One head of attention without dropout through the panel kernel: K and V
 * of the head are packed into pk / pv (as weights of 16 keys / 16 output
 * channels), then scores = Q K^T, softmax with the 1/sqrt(hs) scale, out = P V.
 * The panels make both products run at the linear layers' rate, where BLAS
 * handled these thin shapes (hs = 32 columns) at a third of it.
 */
static void
attention_packed(float *out, float *pr, const float *q, const float *k, const float *v,
				 int L, int T, int C, int hs, float scale, float *pk, float *pv)
{
	pack_strided(pk, k, C, 1, hs, L);	/* K (L,hs) is the weight (L keys, hs) */
	pack_strided(pv, v, 1, C, L, hs);	/* V (L,hs) is the transposed weight (hs, L) */
	packed_gemm(pr, T, q, C, pk, NULL, L, hs, L);
	softmax_forward(pr, pr, scale, L, T, L);
	packed_gemm(out, C, pr, T, pv, NULL, L, L, hs);
}

/*
 * per (b,h): P = softmax(Q K^T / sqrt(hs)) over real keys, kept in att (or
 * scratch), D = dropout(P) in scratch (after P if P is there) when p > 0,
 * out = D V.  Inference (packed: no dropout, scratch for the panels) goes
 * through attention_packed where the panel kernel runs (AVX2); training
 * keeps the path its backward mirrors.
 */
static void
attention_forward_impl(float *out, float *att,
					   const float *q, const float *k, const float *v,
					   const int *lens, int B, int T, int C, int NH,
					   float p, uint64_t seed, uint64_t offset, float *scratch,
					   int packed)
{
	int			hs = C / NH;
	float		scale = 1.0f / sqrtf((float) hs);
	float	   *pk = scratch ? scratch + (size_t) T * T : NULL,
			   *pv = pk ? pk + matmul_packed_floats(hs, T) : NULL;
	int			panels = packed && scratch && !matmul_packed_needs_blas();

	for (int b = 0; b < B; b++)
	{
		int			L = clamp_len(lens[b], T);
		size_t		off = (size_t) b * T * C;

		for (int h = 0; h < NH; h++)
		{
			/* the score rows keep stride T, so att is (T,T) even if L < T */
			size_t		bh = ((size_t) b * NH + h) * T * T;
			float	   *pr = att ? att + bh : scratch;
			float	   *d = pr;

			if (L > 0 && panels)
				attention_packed(out + off + h * hs, pr, q + off + h * hs, k + off + h * hs,
								 v + off + h * hs, L, T, C, hs, scale, pk, pv);
			else if (L > 0)
			{
				/* short sequences: no BLAS call (OpenBLAS is then never loaded for them) */
				if (L <= ATTN_SMALL_L)
					small_gemm_nt(pr, T, q + off + h * hs, C, k + off + h * hs, C, L, L, hs, scale);
				else
					TfmSgemm(0, 1, L, L, hs, scale, q + off + h * hs, C,
							 k + off + h * hs, C, 0.0f, pr, T);	// (L,L)
				softmax_forward(pr, pr, 1.0f, L, T, L);
				if (p > 0.0f)
				{
					d = att ? scratch : scratch + (size_t) T * T;
					for (int t = 0; t < L; t++)
						dropout_forward(d + (size_t) t * T, pr + (size_t) t * T,
										L, p, seed, offset + bh + (size_t) t * T);
				}
				if (L <= ATTN_SMALL_L)
					small_gemm_nn(out + off + h * hs, C, d, T, v + off + h * hs, C, L, hs, L);
				else
					TfmSgemm(0, 0, L, hs, L, 1.0f, d, T,
							 v + off + h * hs, C, 0.0f, out + off + h * hs, C); // (L,hs)
			}
			if (att)
				memset(pr + (size_t) L * T, 0, sizeof(float) * (size_t) (T - L) * T);
		}
		/* padded query rows: defined zeros, so later layers stay finite */
		memset(out + off + (size_t) L * C, 0, sizeof(float) * (size_t) (T - L) * C);
	}
}

/* masked multi-head self-attention (see ops.h) */
void
attention_forward(float *out, float *att,
				  const float *q, const float *k, const float *v,
				  const int *lens, int B, int T, int C, int NH,
				  float *scratch)
{
	attention_forward_impl(out, att, q, k, v, lens, B, T, C, NH,
						   0.0f, 0, 0, scratch, 1);
}

/* attention with dropout on the probabilities (training) */
void
attention_forward_dropout(float *out, float *att,
						  const float *q, const float *k, const float *v,
						  const int *lens, int B, int T, int C, int NH,
						  float p, uint64_t seed, uint64_t offset,
						  float *scratch)
{
	attention_forward_impl(out, att, q, k, v, lens, B, T, C, NH,
						   p, seed, offset, scratch, 0);
}

/* attention, one query row at a time, double accumulation */
void
attention_forward_ref(float *out, const float *q, const float *k,
					  const float *v, const int *lens,
					  int B, int T, int C, int NH, float *scratch)
{
	int			hs = C / NH;
	double		scale = 1.0 / sqrt((double) hs);

	for (int b = 0; b < B; b++)
	{
		int			L = clamp_len(lens[b], T);

		for (int t = 0; t < T; t++)
		{
			float	   *o = out + ((size_t) b * T + t) * C;

			if (t >= L)
			{
				memset(o, 0, sizeof(float) * C);
				continue;
			}
			for (int h = 0; h < NH; h++)
			{
				const float *qt = q + ((size_t) b * T + t) * C + h * hs;
				double		maxv = -INFINITY, sum = 0.0;

				for (int j = 0; j < L; j++)
				{
					const float *kj = k + ((size_t) b * T + j) * C + h * hs;
					double		s = 0.0;

					for (int i = 0; i < hs; i++)
						s += (double) qt[i] * kj[i];
					scratch[j] = (float) (s * scale);
					maxv = fmax(maxv, scratch[j]);
				}
				for (int j = 0; j < L; j++)
					sum += exp(scratch[j] - maxv);
				for (int i = 0; i < hs; i++)
				{
					double		acc = 0.0;

					for (int j = 0; j < L; j++)
						acc += exp(scratch[j] - maxv) / sum *
							v[((size_t) b * T + j) * C + h * hs + i];
					o[h * hs + i] = (float) acc;
				}
			}
		}
	}
}

/* floats of scratch attention_backward needs */
size_t
attention_backward_scratch_floats(int T)
{
	return 3 * (size_t) T * (size_t) T;
}

/*
 * Per (b,h), with P the kept probabilities, D = dropout(P) and S the
 * scaled scores: dD = dout V^T, dV += D^T dout,
 * dS = scale (D*dD - P sum_j(D*dD)) (the softmax backward through the
 * dropout: where the mask keeps, P dP = D dD), dQ += dS K, dK += dS^T Q.
 * Without att, P is recomputed exactly as attention_forward did.
 */
void
attention_backward_dropout(float *dq, float *dk, float *dv, const float *dout,
						   const float *att, const float *q, const float *k,
						   const float *v, const int *lens,
						   int B, int T, int C, int NH,
						   float p, uint64_t seed, uint64_t offset,
						   float *scratch)
{
	int			hs = C / NH;
	float		scale = 1.0f / sqrtf((float) hs);
	float	   *dd = scratch,	/* (T,T) */
			   *dr = scratch + (size_t) T * T,	/* (T,T) */
			   *pbuf = scratch + 2 * (size_t) T * T;	/* (T,T) */

	for (int b = 0; b < B; b++)
	{
		int			L = clamp_len(lens[b], T);
		size_t		off = (size_t) b * T * C;

		for (int h = 0; h < NH; h++)
		{
			size_t		bh = ((size_t) b * NH + h) * T * T;
			const float *pr = att ? att + bh : pbuf;
			const float *d;
			size_t		o = off + h * hs;

			if (L <= 0)
				continue;
			if (att == NULL)
			{
				TfmSgemm(0, 1, L, L, hs, scale, q + o, C, k + o, C,
						 0.0f, pbuf, T);	// (L,L)
				softmax_forward(pbuf, pbuf, 1.0f, L, T, L);
			}
			d = pr;
			if (p > 0.0f)
			{
				for (int t = 0; t < L; t++)
					dropout_forward(dr + (size_t) t * T, pr + (size_t) t * T,
									L, p, seed, offset + bh + (size_t) t * T);
				d = dr;
			}
			TfmSgemm(0, 1, L, L, hs, 1.0f, dout + o, C, v + o, C,
					 0.0f, dd, T);	// dD (L,L)
			TfmSgemm(1, 0, L, hs, L, 1.0f, d, T, dout + o, C,
					 1.0f, dv + o, C);	// (L,hs)
			for (int t = 0; t < L; t++)
			{
				float	   *ds = dd + (size_t) t * T;
				const float *dt = d + (size_t) t * T,
						   *pt = pr + (size_t) t * T;
				float		s = 0.0f;

				for (int j = 0; j < L; j++)
					s += dt[j] * ds[j];
				for (int j = 0; j < L; j++)
					ds[j] = scale * (dt[j] * ds[j] - pt[j] * s);
			}
			TfmSgemm(0, 0, L, hs, L, 1.0f, dd, T, k + o, C,
					 1.0f, dq + o, C);	// (L,hs)
			TfmSgemm(1, 0, L, hs, L, 1.0f, dd, T, q + o, C,
					 1.0f, dk + o, C);	// (L,hs)
		}
	}
}

/* attention backward without dropout */
void
attention_backward(float *dq, float *dk, float *dv, const float *dout,
				   const float *att, const float *q, const float *k,
				   const float *v, const int *lens,
				   int B, int T, int C, int NH, float *scratch)
{
	attention_backward_dropout(dq, dk, dv, dout, att, q, k, v, lens,
							   B, T, C, NH, 0.0f, 0, 0, scratch);
}

/*
 * attention backward one query row at a time in double, recomputing the
 * probabilities from q and k; scratch holds 3 T doubles
 */
void
attention_backward_ref(float *dq, float *dk, float *dv, const float *dout,
					   const float *q, const float *k, const float *v,
					   const int *lens, int B, int T, int C, int NH,
					   float p, uint64_t seed, uint64_t offset,
					   double *scratch)
{
	int			hs = C / NH;
	double		scale = 1.0 / sqrt((double) hs);
	double	   *pr = scratch,
			   *dr = scratch + T,
			   *dd = scratch + 2 * (size_t) T;

	for (int b = 0; b < B; b++)
	{
		int			L = clamp_len(lens[b], T);

		for (int h = 0; h < NH; h++)
		{
			for (int t = 0; t < L; t++)
			{
				size_t		rt = ((size_t) b * T + t) * C + h * hs;
				double		maxv = -INFINITY, sum = 0.0, s = 0.0;

				for (int j = 0; j < L; j++)
				{
					size_t		rj = ((size_t) b * T + j) * C + h * hs;
					double		acc = 0.0,
								dacc = 0.0;

					for (int i = 0; i < hs; i++)
					{
						acc += (double) q[rt + i] * k[rj + i];
						dacc += (double) dout[rt + i] * v[rj + i];
					}
					pr[j] = acc * scale;
					dd[j] = dacc;
					maxv = fmax(maxv, pr[j]);
				}
				for (int j = 0; j < L; j++)
					sum += (pr[j] = exp(pr[j] - maxv));
				for (int j = 0; j < L; j++)
				{
					size_t		idx = offset + ((((size_t) b * NH + h) * T + t) * T) + j;

					pr[j] /= sum;
					dr[j] = pr[j] * dropout_factor(p, seed, idx);
					s += dr[j] * dd[j];
				}
				for (int j = 0; j < L; j++)
				{
					size_t		rj = ((size_t) b * T + j) * C + h * hs;
					double		ds = scale * (dr[j] * dd[j] - pr[j] * s);

					for (int i = 0; i < hs; i++)
					{
						dv[rj + i] += (float) (dr[j] * dout[rt + i]);
						dq[rt + i] += (float) (ds * k[rj + i]);
						dk[rj + i] += (float) (ds * q[rt + i]);
					}
				}
			}
		}
	}
}
