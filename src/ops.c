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
#include "ops.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define TFM_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

/* SIMD paths allowed (tests turn them off to check the portable code) */
static int simd_enabled = 1;

/* allow or forbid the SIMD paths */
void
TfmOpsSetSimd(int enabled)
{
	simd_enabled = enabled;
}

#ifdef TFM_X86
/* CPU and switch allow the AVX2+FMA paths */
static int
have_avx2(void)
{
	return simd_enabled && __builtin_cpu_supports("avx2") &&
		__builtin_cpu_supports("fma");
}

/* CPU and switch allow the F16C path (clang's builtin has no "f16c") */
static int
have_f16c(void)
{
	static int	f16c = -1;	/* cpuid traps in VMs: ask once */
	unsigned int eax, ebx, ecx, edx;

	if (f16c < 0)
		f16c = __builtin_cpu_supports("avx") &&
			__get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
	return simd_enabled && f16c;
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
 * matmul for few rows (short sequences): every weight row is read from
 * memory once and dotted with all N input rows while it sits in L1.
 * BLAS would first pack the whole weight matrix, which costs as much as
 * the product itself when N is small.
 */
__attribute__((target("avx2,fma")))
static void
matmul_small_avx2(float *out, const float *inp, const float *weight,
				  const float *bias, int N, int C, int OC)
{
	for (int o = 0; o < OC; o++)
	{
		const float *w = weight + (size_t) o * C;
		float		b = bias ? bias[o] : 0.0f;
		int			n = 0;

		/* four input rows per pass: each weight load feeds four FMAs */
		for (; n + 4 <= N && C % 8 == 0; n += 4)
		{
			const float *x = inp + (size_t) n * C;
			__m256		a0 = _mm256_setzero_ps(),
						a1 = _mm256_setzero_ps(),
						a2 = _mm256_setzero_ps(),
						a3 = _mm256_setzero_ps();

			for (int i = 0; i < C; i += 8)
			{
				__m256		wv = _mm256_loadu_ps(w + i);

				a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), wv, a0);
				a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + C + i), wv, a1);
				a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 2 * C + i), wv, a2);
				a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 3 * C + i), wv, a3);
			}
			out[(size_t) n * OC + o] = b + hsum256(a0);
			out[(size_t) (n + 1) * OC + o] = b + hsum256(a1);
			out[(size_t) (n + 2) * OC + o] = b + hsum256(a2);
			out[(size_t) (n + 3) * OC + o] = b + hsum256(a3);
		}
		for (; n < N; n++)
			out[(size_t) n * OC + o] = b + dot_avx2(inp + (size_t) n * C, w, C);
	}
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

	__m256		vm = _mm256_set1_ps(m);

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

	__m256		vs = _mm256_set1_ps(s);

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

/* ---------------------------------------------------------------------- */
/* attention                                                               */
/* ---------------------------------------------------------------------- */

/* floats of scratch for one (T,T) score matrix */
size_t
attention_scratch_floats(int T)
{
	return (size_t) T * (size_t) T;
}

/* number of real tokens of a sequence, clamped to [0,T] */
static int
clamp_len(int len, int T)
{
	return len < 0 ? 0 : (len > T ? T : len);
}

/* per (b,h): P = softmax(Q K^T / sqrt(hs)) over real keys, out = P V */
void
attention_forward(float *out, float *att,
				  const float *q, const float *k, const float *v,
				  const int *lens, int B, int T, int C, int NH,
				  float *scratch)
{
	int			hs = C / NH;
	float		scale = 1.0f / sqrtf((float) hs);

	for (int b = 0; b < B; b++)
	{
		int			L = clamp_len(lens[b], T);
		size_t		off = (size_t) b * T * C;

		for (int h = 0; h < NH; h++)
		{
			/* the score rows keep stride T, so att is (T,T) even if L < T */
			float	   *p = att ? att + ((size_t) b * NH + h) * T * T : scratch;

			if (L > 0)
			{
				TfmSgemm(0, 1, L, L, hs, scale, q + off + h * hs, C,
						 k + off + h * hs, C, 0.0f, p, T);	// (L,L)
				softmax_forward(p, p, 1.0f, L, T, L);
				TfmSgemm(0, 0, L, hs, L, 1.0f, p, T,
						 v + off + h * hs, C, 0.0f, out + off + h * hs, C); // (L,hs)
			}
			if (att)
				memset(p + (size_t) L * T, 0, sizeof(float) * (size_t) (T - L) * T);
		}
		/* padded query rows: defined zeros, so later layers stay finite */
		memset(out + off + (size_t) L * C, 0, sizeof(float) * (size_t) (T - L) * C);
	}
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
