/*
 * pointwise.c - row and elementwise kernels: layernorm, GELU, residual,
 * softmax, dropout, embeddings (see ops.h)
 *
 * Forward kernels keep what their backward will need when the caller passes
 * a buffer for it (layernorm mean/rstd).  SIMD paths are chosen at run time.
 */
#include <math.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/ops.h"
#include "kernels/opsint.h"

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

/* elementwise sum; the loop vectorises at -O2 */
void
residual_forward(float *out, const float *inp1, const float *inp2, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = inp1[i] + inp2[i];
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
