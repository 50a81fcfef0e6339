/*
 * ops_ref.c - naive reference kernels the unit tests compare the fast ones
 * of src/kernels with: plain loops, double accumulation.  Compiled into the
 * unit tests only (Makefile OPS_REF); the module does not ship them.
 */
#include <math.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/opsint.h"
#include "ops_ref.h"

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

/* elementwise sum, reference */
void
residual_forward_ref(float *out, const float *inp1, const float *inp2,
					 size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (float) ((double) inp1[i] + inp2[i]);
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
