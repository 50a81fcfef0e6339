/*
 * test_ops.c - unit tests of the compute kernels (src/kernels, src/model/bert.c)
 *
 * Every fast kernel is compared with its naive reference on random data
 * of odd sizes; masking, number conversion and pooling are checked on
 * their own.  Build and run: make test/unit/test_ops && test/unit/test_ops
 *
 * The last line is "N passed, N failed"; the exit status is 1 on failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels/bgemm.h"
#include "kernels/blas.h"
#include "kernels/cpu.h"
#include "kernels/ops.h"
#include "model/bert.h"
#include "ops_ref.h"

/*
 * max over i of |a-b| / (1 + |b|), i.e. absolute near 0, relative above 1;
 * nan anywhere gives +inf so it always fails
 */
static double
max_err(const float *a, const float *b, size_t n)
{
	double		m = 0.0;

	for (size_t i = 0; i < n; i++)
	{
		double		e = fabs((double) a[i] - b[i]) / (1.0 + fabs((double) b[i]));

		if (isnan(e))
			return INFINITY;
		if (e > m)
			m = e;
	}
	return m;
}

/* compare and record, printing the error */
static void
check_close(const float *a, const float *b, size_t n, double tol,
			const char *name)
{
	double		e = max_err(a, b, n);
	char		buf[200];

	snprintf(buf, sizeof(buf), "%s (max err %.2e, tol %.0e)", name, e, tol);
	check(e <= tol, buf);
}

/* ---------------------------------------------------------------------- */

/* independent binary16 decoder via ldexp */
static float
half_ref(unsigned h)
{
	int			s = h >> 15,
				e = (h >> 10) & 31,
				m = h & 1023;
	double		v;

	if (e == 31)
		v = m ? NAN : INFINITY;
	else if (e == 0)
		v = ldexp(m, -24);
	else
		v = ldexp(1024 + m, e - 25);
	return (float) (s ? -v : v);
}

/* every binary16 value, through the vector path and the scalar tail */
static void
test_half(void)
{
	size_t		n = 65536;
	uint16_t   *h = malloc(sizeof(uint16_t) * n);
	float	   *f = malloc(sizeof(float) * n);
	int			bad_vec = 0,
				bad_tail = 0,
				bad_nan = 0;

	for (size_t i = 0; i < n; i++)
		h[i] = (uint16_t) i;
	TfmHalfToFloat(f, h, n);
	for (size_t i = 0; i < n; i++)
	{
		float		r = half_ref((unsigned) i);

		if (isnan(r))
			bad_nan += !isnan(f[i]);
		else if (memcmp(&r, &f[i], sizeof(float)) != 0)
			bad_vec++;
	}
	/* 7 at a time never reaches the 8-wide path */
	for (size_t i = 0; i < n; i += 7)
	{
		size_t		k = n - i < 7 ? n - i : 7;

		TfmHalfToFloat(f + i, h + i, k);
	}
	for (size_t i = 0; i < n; i++)
	{
		float		r = half_ref((unsigned) i);

		if (isnan(r))
			bad_nan += !isnan(f[i]);
		else if (memcmp(&r, &f[i], sizeof(float)) != 0)
			bad_tail++;
	}
	check(bad_vec == 0, "fp16: all 65536 values, bit-exact (vector path)");
	check(bad_tail == 0, "fp16: all 65536 values, bit-exact (scalar path)");
	check(bad_nan == 0, "fp16: nan stays nan");

	/* named edge values, spelled out */
	{
		uint16_t	e[] = {0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x3c00,
		0xc000, 0x7bff, 0x7c00, 0xfc00, 0x3555};
		float		want[] = {0.0f, -0.0f, 5.9604645e-08f, 6.0975552e-05f,
			6.1035156e-05f, 1.0f, -2.0f, 65504.0f, INFINITY, -INFINITY,
		0.33325195f};
		float		got[11];
		int			ok = 1;

		TfmHalfToFloat(got, e, 11);
		for (int i = 0; i < 11; i++)
			ok &= got[i] == want[i] && signbit(got[i]) == signbit(want[i]);
		check(ok, "fp16: zeros, subnormals, max, inf, 1/3");
	}
	free(h);
	free(f);
}

/* bf16 is the upper half of a float */
static void
test_bf16(void)
{
	uint16_t	b[] = {0x3f80, 0xc000, 0x7f80, 0x0001, 0x3eab, 0x7fc0};
	float		got[6];
	int			ok;

	TfmBf16ToFloat(got, b, 6);
	ok = got[0] == 1.0f && got[1] == -2.0f && isinf(got[2]) &&
		got[3] == ldexpf(1.0f, -133) && got[4] == 0.333984375f && isnan(got[5]);
	check(ok, "bf16: 1, -2, inf, subnormal, 1/3, nan");
}

/* ---------------------------------------------------------------------- */

static void
test_matmul(int N, int C, int OC, int with_bias)
{
	float	   *inp = rand_buf((size_t) N * C, -1, 1);
	float	   *w = rand_buf((size_t) OC * C, -1, 1);
	float	   *bias = rand_buf(OC, -1, 1);
	float	   *out = rand_buf((size_t) N * OC, -9, 9);
	float	   *ref = rand_buf((size_t) N * OC, -9, 9);
	char		name[100];

	matmul_forward(out, inp, w, with_bias ? bias : NULL, N, C, OC);
	matmul_forward_ref(ref, inp, w, with_bias ? bias : NULL, N, C, OC);
	snprintf(name, sizeof(name), "matmul N=%d C=%d OC=%d bias=%d",
			 N, C, OC, with_bias);
	check_close(out, ref, (size_t) N * OC, 1e-5, name);
	free(inp);
	free(w);
	free(bias);
	free(out);
	free(ref);
}

/* the packed-panel matmul against the reference: row tiles of 1-6, partial last panel, L2 blocks */
static void
test_matmul_packed(int N, int C, int OC, int with_bias)
{
	float	   *inp = rand_buf((size_t) N * C, -1, 1);
	float	   *w = rand_buf((size_t) OC * C, -1, 1);
	float	   *bias = rand_buf(OC, -1, 1);
	float	   *packed = rand_buf(matmul_packed_floats(C, OC), -9, 9);
	float	   *out = rand_buf((size_t) N * OC + 1, -9, 9);
	float	   *ref = rand_buf((size_t) N * OC, -9, 9);
	char		name[100];

	out[(size_t) N * OC] = 12345.0f;
	matmul_pack(packed, w, C, OC);
	{
		float	   *back = rand_buf((size_t) OC * C, -9, 9);

		matmul_unpack(back, packed, C, OC);
		check(memcmp(back, w, sizeof(float) * OC * C) == 0, "matmul_unpack(matmul_pack(w)) == w");
		free(back);
	}
	matmul_forward_packed(out, inp, packed, with_bias ? bias : NULL, N, C, OC);
	matmul_forward_ref(ref, inp, w, with_bias ? bias : NULL, N, C, OC);
	snprintf(name, sizeof(name), "matmul packed N=%d C=%d OC=%d bias=%d",
			 N, C, OC, with_bias);
	/* float sums of C products against double ones: outputs reach ~|20| at C 1536 */
	check_close(out, ref, (size_t) N * OC, C > 384 ? 5e-5 : 1e-5, name);
	check(out[(size_t) N * OC] == 12345.0f, "matmul packed writes nothing past out");
	free(inp);
	free(w);
	free(bias);
	free(packed);
	free(out);
	free(ref);
}

static void
test_layernorm(int N, int C)
{
	float	   *inp = rand_buf((size_t) N * C, -3, 5);
	float	   *w = rand_buf(C, 0.5, 1.5);
	float	   *b = rand_buf(C, -1, 1);
	float	   *out = malloc(sizeof(float) * N * C),
			   *ref = malloc(sizeof(float) * N * C);
	float	   *m = malloc(sizeof(float) * N),
			   *mr = malloc(sizeof(float) * N);
	float	   *s = malloc(sizeof(float) * N),
			   *sr = malloc(sizeof(float) * N);
	char		name[100];

	/* one row nearly constant: variance ~ eps territory */
	for (int i = 0; i < C; i++)
		inp[i] = 1000.0f + (i % 2) * 1e-3f;
	layernorm_forward(out, m, s, inp, w, b, N, C, 1e-12f);
	layernorm_forward_ref(ref, mr, sr, inp, w, b, N, C, 1e-12f);
	snprintf(name, sizeof(name), "layernorm N=%d C=%d out", N, C);
	/* row 0: deviations of 5e-4 at magnitude 1000, checked on its own */
	check_close(out + C, ref + C, (size_t) (N - 1) * C, 1e-5, name);
	snprintf(name, sizeof(name), "layernorm N=%d C=%d near-constant row", N, C);
	check_close(out, ref, C, 1e-4, name);
	snprintf(name, sizeof(name), "layernorm N=%d C=%d mean, rstd", N, C);
	check_close(m + 1, mr + 1, N - 1, 1e-5, name);
	check_close(s + 1, sr + 1, N - 1, 1e-5, name);
	/* NULL mean/rstd must be accepted */
	layernorm_forward(out, NULL, NULL, inp, w, b, N, C, 1e-12f);
	snprintf(name, sizeof(name), "layernorm N=%d C=%d without stats", N, C);
	check_close(out + C, ref + C, (size_t) (N - 1) * C, 1e-5, name);
	free(inp);
	free(w);
	free(b);
	free(out);
	free(ref);
	free(m);
	free(mr);
	free(s);
	free(sr);
}

static void
test_pointwise(void)
{
	size_t		n = 1001;
	float	   *x = rand_buf(n, -10, 10),
			   *y = rand_buf(n, -10, 10);
	float	   *o = malloc(sizeof(float) * n),
			   *r = malloc(sizeof(float) * n);
	float		edge[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 40.0f, -40.0f, 3e38f, -3e38f};
	float		eo[8],
				er[8];

	/* the AVX2 erf is a rational approximation, abs error < 4e-7 */
	gelu_forward(o, x, n);
	gelu_forward_ref(r, x, n);
	check_close(o, r, n, 2e-6, "gelu n=1001 on [-10,10]");
	{
		size_t		m = 200001;
		float	   *sx = malloc(sizeof(float) * m),
				   *so = malloc(sizeof(float) * m),
				   *sr = malloc(sizeof(float) * m);

		for (size_t i = 0; i < m; i++)
			sx[i] = -10.0f + 1e-4f * (float) i;
		gelu_forward(so, sx, m);
		gelu_forward_ref(sr, sx, m);
		check_close(so, sr, m, 2e-6, "gelu sweep of [-10,10] step 1e-4");
		free(sx);
		free(so);
		free(sr);
	}
	{
		float		tail[3];

		/* a value gives the same bits wherever it sits (the bulk path relies on it) */
		gelu_forward(o, x, n);
		gelu_forward(tail, x + 8, 3);
		check(memcmp(tail, o + 8, sizeof(tail)) == 0, "gelu of an array's tail == of the same values mid-array");
	}
	gelu_forward(eo, edge, 8);
	gelu_forward_ref(er, edge, 8);
	check_close(eo, er, 8, 2e-6, "gelu edge values (0, tiny, +-40, +-3e38)");
	memcpy(o, x, sizeof(float) * n);
	gelu_forward(o, o, n);
	check_close(o, r, n, 2e-6, "gelu in place");

	residual_forward(o, x, y, n);
	residual_forward_ref(r, x, y, n);
	check_close(o, r, n, 0, "residual n=1001");
	free(x);
	free(y);
	free(o);
	free(r);
}

static void
test_softmax(int N, int T, int valid)
{
	float	   *x = rand_buf((size_t) N * T, -20, 20);
	float	   *o = malloc(sizeof(float) * N * T),
			   *r = malloc(sizeof(float) * N * T);
	int			masked_zero = 1,
				sums_ok = 1;
	char		name[100];

	softmax_forward(o, x, 0.37f, N, T, valid);
	softmax_forward_ref(r, x, 0.37f, N, T, valid);
	for (int n = 0; n < N; n++)
	{
		double		s = 0;

		for (int j = 0; j < T; j++)
		{
			s += o[n * T + j];
			if (j >= valid && o[n * T + j] != 0.0f)
				masked_zero = 0;
		}
		if (valid > 0 ? fabs(s - 1.0) > 1e-5 : s != 0.0)
			sums_ok = 0;
	}
	snprintf(name, sizeof(name), "softmax N=%d T=%d valid=%d", N, T, valid);
	check_close(o, r, (size_t) N * T, 1e-6, name);
	snprintf(name, sizeof(name), "softmax valid=%d: masked = 0, rows sum to %d",
			 valid, valid > 0);
	check(masked_zero && sums_ok, name);
	/* in place */
	softmax_forward(x, x, 0.37f, N, T, valid);
	check_close(x, r, (size_t) N * T, 1e-6, "softmax in place");
	free(x);
	free(o);
	free(r);
}

/* ---------------------------------------------------------------------- */

/* attention against the reference for one shape (the panel kernel, any head size and length) */
static void
test_attention_shape(int T, int C, int NH, int len0, int len1)
{
	int			lens[] = {len0, len1};
	size_t		btc = (size_t) 2 * T * C;
	float	   *q = rand_buf(btc, -2, 2),
			   *k = rand_buf(btc, -2, 2),
			   *v = rand_buf(btc, -2, 2);
	float	   *o = rand_buf(btc, -9, 9),
			   *r = rand_buf(btc, -9, 9);
	float	   *scratch = malloc(sizeof(float) * attention_scratch_floats(T, C / NH));
	char		name[96];

	attention_forward(o, NULL, q, k, v, lens, 2, T, C, NH, scratch);
	attention_forward_ref(r, q, k, v, lens, 2, T, C, NH, scratch);
	snprintf(name, sizeof(name), "attention T=%d C=%d NH=%d lens={%d,%d}", T, C, NH, len0, len1);
	check_close(o, r, btc, 1e-5, name);
	free(q); free(k); free(v); free(o); free(r); free(scratch);
}

static void
test_attention(void)
{
	int			B = 3,
				T = 17,
				C = 60,
				NH = 5;
	int			lens[] = {17, 9, 0};
	size_t		btc = (size_t) B * T * C;
	float	   *q = rand_buf(btc, -2, 2),
			   *k = rand_buf(btc, -2, 2),
			   *v = rand_buf(btc, -2, 2);
	float	   *o = rand_buf(btc, -9, 9),
			   *r = rand_buf(btc, -9, 9),
			   *o2 = rand_buf(btc, -9, 9);
	float	   *att = rand_buf((size_t) B * NH * T * T, -9, 9);
	float	   *scratch = malloc(sizeof(float) * attention_scratch_floats(T, C / NH));
	int			att_ok = 1;

	attention_forward(o, NULL, q, k, v, lens, B, T, C, NH, scratch);
	attention_forward_ref(r, q, k, v, lens, B, T, C, NH, scratch);
	check_close(o, r, btc, 1e-5, "attention B=3 T=17 C=60 NH=5 lens={17,9,0}");
	attention_forward(o2, att, q, k, v, lens, B, T, C, NH, NULL);
	check_close(o2, r, btc, 1e-5, "attention keeping att (B,NH,T,T)");
	for (int b = 0; b < B; b++)
		for (int h = 0; h < NH; h++)
			for (int i = 0; i < T; i++)
			{
				const float *p = att + (((size_t) b * NH + h) * T + i) * T;
				double		s = 0;

				for (int j = 0; j < T; j++)
				{
					s += p[j];
					if ((i >= lens[b] || j >= lens[b]) && p[j] != 0.0f)
						att_ok = 0;
				}
				if (i < lens[b] && fabs(s - 1.0) > 1e-5)
					att_ok = 0;
			}
	check(att_ok, "attention att rows sum to 1, padding rows/cols are 0");

	/* sequence 1 alone (B=1, T=9) must equal its padded run */
	{
		int			L = lens[1];
		int			one[] = {9};
		size_t		lc = (size_t) L * C;
		float	   *q1 = malloc(sizeof(float) * lc),
				   *k1 = malloc(sizeof(float) * lc),
				   *v1 = malloc(sizeof(float) * lc),
				   *o1 = malloc(sizeof(float) * lc);
		int			zeros = 1;

		memcpy(q1, q + (size_t) T * C, sizeof(float) * lc);
		memcpy(k1, k + (size_t) T * C, sizeof(float) * lc);
		memcpy(v1, v + (size_t) T * C, sizeof(float) * lc);
		attention_forward(o1, NULL, q1, k1, v1, one, 1, L, C, NH, scratch);
		check_close(o + (size_t) T * C, o1, lc, 1e-5,
					"attention padded sequence == same sequence alone");
		for (size_t i = (size_t) (T + L) * C; i < (size_t) 3 * T * C; i++)
			zeros &= o[i] == 0.0f;
		check(zeros, "attention padded query rows and empty sequence are 0");
		free(q1);
		free(k1);
		free(v1);
		free(o1);
	}
	free(q);
	free(k);
	free(v);
	free(o);
	free(r);
	free(o2);
	free(att);
	free(scratch);
}

/* ---------------------------------------------------------------------- */
/* a tiny random BERT                                                      */
/* ---------------------------------------------------------------------- */

static TfmBertConfig tiny = {50, 24, 2, 4, 40, 20, 2, 1e-12f};
static TfmBertLayer tiny_layers[2];
static TfmBertWeights tiny_w;
static int	check_calls;

static void
count_check(void)
{
	check_calls++;
}

static void
tiny_init(void)
{
	int			C = tiny.hidden,
				I = tiny.intermediate;

	tiny_w.word_emb = rand_buf((size_t) tiny.vocab * C, -1, 1);
	tiny_w.pos_emb = rand_buf((size_t) tiny.max_pos * C, -1, 1);
	tiny_w.type_emb = rand_buf((size_t) tiny.type_vocab * C, -1, 1);
	tiny_w.emb_ln_w = rand_buf(C, 0.5, 1.5);
	tiny_w.emb_ln_b = rand_buf(C, -0.5, 0.5);
	for (int l = 0; l < tiny.layers; l++)
	{
		TfmBertLayer *L = &tiny_layers[l];

		L->q_w = rand_buf((size_t) C * C, -0.3, 0.3);
		L->q_b = rand_buf(C, -0.1, 0.1);
		L->k_w = rand_buf((size_t) C * C, -0.3, 0.3);
		L->k_b = rand_buf(C, -0.1, 0.1);
		L->v_w = rand_buf((size_t) C * C, -0.3, 0.3);
		L->v_b = rand_buf(C, -0.1, 0.1);
		L->ao_w = rand_buf((size_t) C * C, -0.3, 0.3);
		L->ao_b = rand_buf(C, -0.1, 0.1);
		L->ln1_w = rand_buf(C, 0.5, 1.5);
		L->ln1_b = rand_buf(C, -0.5, 0.5);
		L->i_w = rand_buf((size_t) I * C, -0.3, 0.3);
		L->i_b = rand_buf(I, -0.1, 0.1);
		L->o_w = rand_buf((size_t) C * I, -0.3, 0.3);
		L->o_b = rand_buf(C, -0.1, 0.1);
		L->ln2_w = rand_buf(C, 0.5, 1.5);
		L->ln2_b = rand_buf(C, -0.5, 0.5);
	}
	tiny_w.layer = tiny_layers;
}

/* the encoder written out with the reference kernels, one sequence */
static void
tiny_forward_ref(float *x, const int32_t *ids, int L)
{
	int			C = tiny.hidden,
				I = tiny.intermediate;
	float	   *e = malloc(sizeof(float) * L * C),
			   *q = malloc(sizeof(float) * L * C),
			   *k = malloc(sizeof(float) * L * C),
			   *v = malloc(sizeof(float) * L * C),
			   *a = malloc(sizeof(float) * L * C),
			   *f = malloc(sizeof(float) * L * I),
			   *s = malloc(sizeof(float) * (L + 1));
	int			lens[1] = {L};

	for (int t = 0; t < L; t++)
		for (int i = 0; i < C; i++)
			e[t * C + i] = tiny_w.word_emb[ids[t] * C + i] +
				tiny_w.pos_emb[t * C + i] + tiny_w.type_emb[i];
	layernorm_forward_ref(x, NULL, NULL, e, tiny_w.emb_ln_w, tiny_w.emb_ln_b,
						  L, C, tiny.ln_eps);
	for (int l = 0; l < tiny.layers; l++)
	{
		const TfmBertLayer *w = &tiny_layers[l];

		matmul_forward_ref(q, x, w->q_w, w->q_b, L, C, C);
		matmul_forward_ref(k, x, w->k_w, w->k_b, L, C, C);
		matmul_forward_ref(v, x, w->v_w, w->v_b, L, C, C);
		attention_forward_ref(a, q, k, v, lens, 1, L, C, tiny.heads, s);
		matmul_forward_ref(e, a, w->ao_w, w->ao_b, L, C, C);
		residual_forward_ref(e, e, x, (size_t) L * C);
		layernorm_forward_ref(x, NULL, NULL, e, w->ln1_w, w->ln1_b, L, C,
							  tiny.ln_eps);
		matmul_forward_ref(f, x, w->i_w, w->i_b, L, C, I);
		gelu_forward_ref(f, f, (size_t) L * I);
		matmul_forward_ref(e, f, w->o_w, w->o_b, L, I, C);
		residual_forward_ref(e, e, x, (size_t) L * C);
		layernorm_forward_ref(x, NULL, NULL, e, w->ln2_w, w->ln2_b, L, C,
							  tiny.ln_eps);
	}
	free(e);
	free(q);
	free(k);
	free(v);
	free(a);
	free(f);
	free(s);
}

static void
test_bert(void)
{
	int			B = 3,
				T = 11,
				C = tiny.hidden;
	int			lens[] = {11, 6, 0};
	int32_t		ids[33];
	float	   *hid = malloc(sizeof(float) * B * T * C);
	float	   *scratch = malloc(TfmBertScratchBytes(&tiny, B, T));
	float		ref[11 * 24];
	int			finite = 1;

	for (int i = 0; i < B * T; i++)
		ids[i] = 1 + i % (tiny.vocab - 1);
	/* garbage past lens[b]: out-of-range ids must never be read */
	for (int t = 6; t < T; t++)
		ids[T + t] = (t % 2) ? -12345 : 1 << 30;
	for (int t = 0; t < T; t++)
		ids[2 * T + t] = -1;

	check_calls = 0;
	bert_forward(hid, &tiny, &tiny_w, ids, lens, B, T, scratch, count_check);
	check(check_calls == 5 * tiny.layers, "bert_forward calls check() five times per layer (between its large steps)");
	for (int i = 0; i < B * T * C; i++)
		finite &= isfinite(hid[i]);
	check(finite, "bert_forward output finite, padding and empty rows included");

	tiny_forward_ref(ref, ids, T);
	check_close(hid, ref, (size_t) T * C, 1e-4,
				"bert_forward vs reference-kernel encoder, full sequence");
	tiny_forward_ref(ref, ids + T, 6);
	check_close(hid + (size_t) T * C, ref, (size_t) 6 * C, 1e-4,
				"bert_forward vs reference-kernel encoder, padded sequence");

	/* padded sequence in a batch == same sequence alone, B=1 T=6 */
	{
		int			one[] = {6};
		float	   *h1 = malloc(sizeof(float) * 6 * C);
		float	   *s1 = malloc(TfmBertScratchBytes(&tiny, 1, 6));
		float		pa[2 * 24],
					p1[24];

		bert_forward(h1, &tiny, &tiny_w, ids + T, one, 1, 6, s1, NULL);
		check_close(hid + (size_t) T * C, h1, (size_t) 6 * C, 1e-5,
					"bert padded sequence in B=3 == alone in B=1");
		TfmPool(pa, hid, lens, 2, T, C, TFM_POOL_MEAN, 1);
		TfmPool(p1, h1, one, 1, 6, C, TFM_POOL_MEAN, 1);
		check_close(pa + C, p1, C, 1e-5, "bert pooled padded == pooled alone");
		free(h1);
		free(s1);
	}
	/* the packed linear weights (a partial last panel at C 24 and I 40) give the same encoder */
	{
		float	   *hp = malloc(sizeof(float) * B * T * C);

		for (int l = 0; l < tiny.layers; l++)
		{
			TfmBertLayer *L = &tiny_layers[l];
			const float *w[6] = {L->q_w, L->k_w, L->v_w, L->ao_w, L->i_w, L->o_w};
			const float **p[6] = {&L->q_p, &L->k_p, &L->v_p, &L->ao_p, &L->i_p, &L->o_p};
			int			in[6] = {C, C, C, C, C, tiny.intermediate},
						out[6] = {C, C, C, C, tiny.intermediate, C};

			for (int k = 0; k < 6; k++)
			{
				float	   *d = malloc(sizeof(float) * matmul_packed_floats(in[k], out[k]));

				matmul_pack(d, w[k], in[k], out[k]);
				*p[k] = d;
			}
		}
		bert_forward(hp, &tiny, &tiny_w, ids, lens, B, T, scratch, NULL);
		check_close(hp, hid, (size_t) 2 * T * C, 1e-5, "bert_forward with packed weights == with (out,in) weights");
		for (int l = 0; l < tiny.layers; l++)
		{
			TfmBertLayer *L = &tiny_layers[l];

			free((void *) L->q_p);
			free((void *) L->k_p);
			free((void *) L->v_p);
			free((void *) L->ao_p);
			free((void *) L->i_p);
			free((void *) L->o_p);
			L->q_p = L->k_p = L->v_p = L->ao_p = L->i_p = L->o_p = NULL;
		}
		free(hp);
	}
	/* reduced word embeddings (a bf16 or int8 cache file's): the encoder of their values widened to fp32 */
	{
		size_t		VC = (size_t) tiny.vocab * C;
		uint16_t   *wb = malloc(2 * VC);
		int8_t	   *wq = malloc(VC);
		float	   *ws = malloc(sizeof(float) * tiny.vocab),
				   *wide = malloc(sizeof(float) * VC),
				   *zero = calloc(C, sizeof(float)),
				   *hr = malloc(sizeof(float) * B * T * C),
				   *hw = malloc(sizeof(float) * B * T * C);
		const float *orig = tiny_w.word_emb;
		TfmBertWeights rw = tiny_w;

		for (size_t i = 0; i < VC; i++)
		{
			uint32_t	u;

			wb[i] = tfm_f32_to_bf16(orig[i]);
			u = (uint32_t) wb[i] << 16;
			memcpy(&wide[i], &u, 4);
		}
		rw.word_emb = NULL;
		rw.word_bf16 = wb;
		rw.word_zero = zero;
		bert_forward(hr, &tiny, &rw, ids, lens, B, T, scratch, NULL);
		tiny_w.word_emb = wide;
		bert_forward(hw, &tiny, &tiny_w, ids, lens, B, T, scratch, NULL);
		check_close(hr, hw, (size_t) 2 * T * C, 1e-5, "bert_forward with bf16 word embeddings == with their fp32 values");
		for (int v = 0; v < tiny.vocab; v++)
		{
			float		amax = 0;

			for (int i = 0; i < C; i++)
				amax = fmaxf(amax, fabsf(orig[(size_t) v * C + i]));
			ws[v] = amax / 127.0f;
			for (int i = 0; i < C; i++)
			{
				wq[(size_t) v * C + i] = (int8_t) lrintf(orig[(size_t) v * C + i] / ws[v]);
				wide[(size_t) v * C + i] = ws[v] * (float) wq[(size_t) v * C + i];
			}
		}
		rw.word_bf16 = NULL;
		rw.word_i8 = wq;
		rw.word_scale = ws;
		bert_forward(hr, &tiny, &rw, ids, lens, B, T, scratch, NULL);
		bert_forward(hw, &tiny, &tiny_w, ids, lens, B, T, scratch, NULL);
		check_close(hr, hw, (size_t) 2 * T * C, 1e-5, "bert_forward with int8 word embeddings == with their fp32 values");
		tiny_w.word_emb = orig;
		free(wb);
		free(wq);
		free(ws);
		free(wide);
		free(zero);
		free(hr);
		free(hw);
	}
	free(hid);
	free(scratch);
}

/* ---------------------------------------------------------------------- */

static void
test_pool(void)
{
	/* B=3, T=3, C=2 */
	float		h[] = {1, 2, 3, 4, 100, 100,
		-3, 4, 0, 0, 0, 0,
	7, 7, 7, 7, 7, 7};
	int			lens[] = {2, 1, 0};
	float		o[6];
	float		mean[] = {2, 3, -3, 4, 0, 0};
	float		meann[] = {0.5547002f, 0.8320503f, -0.6f, 0.8f, 0, 0};
	float		cls[] = {1, 2, -3, 4, 0, 0};

	TfmPool(o, h, lens, 3, 3, 2, TFM_POOL_MEAN, 0);
	check_close(o, mean, 6, 1e-7, "pool mean ignores padding, lens 0 -> 0");
	TfmPool(o, h, lens, 3, 3, 2, TFM_POOL_MEAN, 1);
	check_close(o, meann, 6, 1e-7, "pool mean + L2 normalise (zero stays 0)");
	TfmPool(o, h, lens, 3, 3, 2, TFM_POOL_CLS, 0);
	check_close(o, cls, 6, 0, "pool cls");
}

/* the comparison must notice a wrong value, or every test above is moot */
static void
test_self(void)
{
	float		a[] = {1, 2, 3},
				b[] = {1, 2, 3.001f},
				c[] = {1, NAN, 3};

	check(max_err(a, b, 3) > 1e-5, "self-test: a 1e-3 error is detected");
	check(max_err(c, a, 3) > 1, "self-test: nan is detected");
}

/* every kernel test with the kernels capped at one level (kernels/cpu.h) */
static void
run_kernel_tests(int level)
{
	TfmCpuSetLevel(level);
	printf("# level %s: running (kernels at %s)\n", TfmCpuLevelName(level),
		   TfmCpuLevelName(TfmCpuEffectiveLevel()));
	test_half();
	test_bf16();
	test_matmul(37, 53, 29, 1);
	test_matmul(37, 53, 29, 0);
	test_matmul(1, 384, 1536, 1);
	test_matmul(65, 7, 3, 1);
	test_matmul(13, 384, 97, 1);	/* small-N kernel: 4-row blocks + tail */
	test_matmul(13, 384, 97, 0);
	for (int n = 2; n <= 7; n++)	/* every row tail (0-3) with 3-column tiles and a column tail */
		test_matmul(n, 64, 8, n % 2);
	test_matmul(64, 16, 3, 1);		/* the largest N of the small-N kernel */
	test_matmul(201, 40, 33, 1);	/* BLAS path */
	for (int n = 1; n <= 13; n++)	/* every split of rows into tiles of <= 6, 16 and 8+16 columns */
		test_matmul_packed(n, 24, n % 2 ? 16 : 24, n % 3);
	test_matmul_packed(13, 384, 1536, 1);
	test_matmul_packed(13, 1536, 384, 0);
	test_matmul_packed(3, 5, 1, 1);	/* one column: a panel of 15 zeros */
	test_matmul_packed(300, 384, 40, 1);	/* several row blocks (128 rows of 384) */
	for (int n = 14; n <= 25; n++)	/* AVX-512: tiles of <= 12 rows, 2 + 1 partial panels */
		test_matmul_packed(n, 40, n % 2 ? 48 : 40, n % 3);
	test_matmul_packed(27, 384, 17, 1);	/* a panel and one column */
	test_layernorm(13, 389);
	test_layernorm(5, 7);
	test_layernorm(3, 384);
	test_pointwise();
	test_softmax(9, 23, 23);
	test_softmax(9, 23, 10);
	test_softmax(9, 23, 0);
	test_softmax(4, 1, 1);
	test_attention();
	test_attention_shape(20, 64, 2, 20, 7);		/* small path, AVX2 dot and axpy */
	test_attention_shape(80, 64, 2, 80, 64);	/* 80 and 64 real tokens */
	test_attention_shape(216, 384, 12, 216, 101);	/* MiniLM's heads (32 channels) at a body's length */
	test_attention_shape(7, 40, 5, 1, 7);	/* 8-channel heads: half a panel; one real token */
	test_bert();
	test_pool();
	TfmCpuSetLevel(TFM_LEVEL_AUTO);
}

int
main(void)
{
	TfmBlasSetThreads(1);
	test_self();
	tiny_init();
	{
		char		flags[200];

		TfmCpuFlags(flags, sizeof(flags));
		printf("# CPU features: %s\n", flags);
	}
	/* every level this CPU reaches, each against the scalar references; the others are skipped */
	for (int level = TFM_LEVEL_AVX512BF16; level >= TFM_LEVEL_SCALAR; level--)
	{
		TfmCpuSetLevel(level);
		if (TfmCpuEffectiveLevel() != level)
		{
			printf("# level %s: skipped (CPU lacks it)\n", TfmCpuLevelName(level));
			continue;
		}
		run_kernel_tests(level);
	}
	return check_report();
}
