/*
 * attention.c - masked multi-head self-attention, forward and backward,
 * with dropout on the probabilities for training (see ops.h)
 */
#include <math.h>
#include <string.h>

#include "kernels/blas.h"
#include "kernels/cpu.h"
#include "kernels/ops.h"
#include "kernels/opsint.h"

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
	tfm_pack_strided(pk, k, C, 1, hs, L);	/* K (L,hs) is the weight (L keys, hs) */
	tfm_pack_strided(pv, v, 1, C, L, hs);	/* V (L,hs) is the transposed weight (hs, L) */
	tfm_packed_gemm(pr, T, q, C, pk, NULL, L, hs, L);
	softmax_forward(pr, pr, scale, L, T, L);
	tfm_packed_gemm(out, C, pr, T, pv, NULL, L, L, hs);
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
