/*
 * test_grad.c - unit tests of the backward kernels (src/kernels, src/model/bert.c)
 * and the training pieces (src/kernels/optim.c)
 *
 * Every backward kernel is compared with its naive reference and with
 * central finite differences of its forward on tiny random shapes; the
 * whole tiny BERT backward (with and without dropout) is checked against
 * finite differences on a few parameters of every tensor.  Build and run:
 *
 *   make test/unit/test_grad && test/unit/test_grad
 *
 * The last line is "N passed, N failed"; the exit status is 1 on failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/blas.h"
#define CHECK_SEED 0x2545F4914F6CDD1DULL
#include "check.h"
#include "kernels/ops.h"
#include "model/bert.h"
#include "ops_ref.h"
#include "kernels/optim.h"

/* n zero floats */
static float *
zeros(size_t n)
{
	return calloc(n ? n : 1, sizeof(float));
}

/* copy of n floats */
static float *
dup(const float *src, size_t n)
{
	float	   *p = malloc(sizeof(float) * (n ? n : 1));

	memcpy(p, src, sizeof(float) * n);
	return p;
}

/* max |a-b| over max(|b|) (at least 1e-6): error relative to the scale of
 * the expected tensor; nan gives +inf */
static double
rel_err(const float *a, const float *b, size_t n)
{
	double		m = 0.0,
				s = 1e-6;

	for (size_t i = 0; i < n; i++)
	{
		double		e = fabs((double) a[i] - b[i]);

		if (isnan(e))
			return INFINITY;
		if (e > m)
			m = e;
		if (fabs(b[i]) > s)
			s = fabs(b[i]);
	}
	return m / s;
}

/* sum of out * r in double: the scalar loss of the finite differences */
static double
dot(const float *out, const float *r, size_t n)
{
	double		s = 0.0;

	for (size_t i = 0; i < n; i++)
		s += (double) out[i] * r[i];
	return s;
}

/* a scalar loss of the current (global) inputs */
typedef double (*loss_fn) (void);

/* central difference of loss() in the float at *x with step h */
static double
fd_at(float *x, float h, loss_fn loss)
{
	float		save = *x;
	double		lp,
				lm;

	*x = save + h;
	lp = loss();
	*x = save - h;
	lm = loss();
	*x = save;
	/* the step actually taken in float */
	return (lp - lm) / ((double) (save + h) - (double) (save - h));
}

/* fd of every element of x (n floats) into fd (n) */
static void
fd_all(float *fd, float *x, size_t n, float h, loss_fn loss)
{
	for (size_t i = 0; i < n; i++)
		fd[i] = (float) fd_at(x + i, h, loss);
}

/* ---------------------------------------------------------------------- */
/* matmul                                                                  */
/* ---------------------------------------------------------------------- */

static int	mm_N,
			mm_C,
			mm_OC;
static float *mm_inp,
		   *mm_w,
		   *mm_b,
		   *mm_out,
		   *mm_r;

/* loss of matmul_forward_ref */
static double
mm_loss(void)
{
	matmul_forward_ref(mm_out, mm_inp, mm_w, mm_b, mm_N, mm_C, mm_OC);
	return dot(mm_out, mm_r, (size_t) mm_N * mm_OC);
}

/* matmul_backward vs reference (accumulating) and finite differences */
static void
test_matmul_backward(int N, int C, int OC, int fd)
{
	size_t		nc = (size_t) N * C,
				wc = (size_t) OC * C,
				no = (size_t) N * OC;
	float	   *din0 = rand_buf(nc, -1, 1),
			   *dw0 = rand_buf(wc, -1, 1),
			   *db0 = rand_buf(OC, -1, 1);
	float	   *din = dup(din0, nc), *dw = dup(dw0, wc), *db = dup(db0, OC);
	float	   *rin = dup(din0, nc), *rw = dup(dw0, wc), *rb = dup(db0, OC);
	char		name[128];

	mm_N = N, mm_C = C, mm_OC = OC;
	mm_inp = rand_buf(nc, -1, 1);
	mm_w = rand_buf(wc, -1, 1);
	mm_b = rand_buf(OC, -1, 1);
	mm_out = zeros(no);
	mm_r = rand_buf(no, -1, 1);

	matmul_backward(din, dw, db, mm_r, mm_inp, mm_w, N, C, OC);
	matmul_backward_ref(rin, rw, rb, mm_r, mm_inp, mm_w, N, C, OC);
	snprintf(name, sizeof name, "matmul_backward %dx%dx%d vs ref: dinp", N, C, OC);
	check_err(rel_err(din, rin, nc), 1e-5, name);
	snprintf(name, sizeof name, "matmul_backward %dx%dx%d vs ref: dweight", N, C, OC);
	check_err(rel_err(dw, rw, wc), 1e-5, name);
	snprintf(name, sizeof name, "matmul_backward %dx%dx%d vs ref: dbias", N, C, OC);
	check_err(rel_err(db, rb, OC), 1e-5, name);

	/* dinp NULL skips it and still computes the rest */
	memcpy(dw, dw0, sizeof(float) * wc);
	memcpy(db, db0, sizeof(float) * OC);
	matmul_backward(NULL, dw, db, mm_r, mm_inp, mm_w, N, C, OC);
	snprintf(name, sizeof name, "matmul_backward %dx%dx%d dinp NULL", N, C, OC);
	check_err(fmax(rel_err(dw, rw, wc), rel_err(db, rb, OC)), 1e-5, name);

	if (fd)
	{
		float	   *g = zeros(nc > wc ? nc : wc);
		float	   *fdv = zeros(nc > wc ? nc : wc);

		matmul_backward(g, NULL, NULL, mm_r, mm_inp, mm_w, N, C, OC);
		fd_all(fdv, mm_inp, nc, 1e-2f, mm_loss);
		check_err(rel_err(g, fdv, nc), 1e-4, "matmul_backward vs finite differences: dinp");
		memset(g, 0, sizeof(float) * wc);
		matmul_backward(NULL, g, NULL, mm_r, mm_inp, mm_w, N, C, OC);
		fd_all(fdv, mm_w, wc, 1e-2f, mm_loss);
		check_err(rel_err(g, fdv, wc), 1e-4, "matmul_backward vs finite differences: dweight");
		memset(g, 0, sizeof(float) * OC);
		matmul_backward(NULL, NULL, g, mm_r, mm_inp, mm_w, N, C, OC);
		fd_all(fdv, mm_b, OC, 1e-2f, mm_loss);
		check_err(rel_err(g, fdv, OC), 1e-4, "matmul_backward vs finite differences: dbias");
	}
}

/* ---------------------------------------------------------------------- */
/* layernorm                                                               */
/* ---------------------------------------------------------------------- */

static int	ln_N,
			ln_C;
static float *ln_inp,
		   *ln_w,
		   *ln_b,
		   *ln_out,
		   *ln_r;

/* loss of layernorm_forward_ref */
static double
ln_loss(void)
{
	layernorm_forward_ref(ln_out, NULL, NULL, ln_inp, ln_w, ln_b, ln_N, ln_C,
						  1e-5f);
	return dot(ln_out, ln_r, (size_t) ln_N * ln_C);
}

/* layernorm_backward vs reference and finite differences */
static void
test_layernorm_backward(int N, int C, int fd)
{
	size_t		nc = (size_t) N * C;
	float	   *mean = zeros(N), *rstd = zeros(N);
	float	   *din = rand_buf(nc, -1, 1), *dw = rand_buf(C, -1, 1),
			   *db = rand_buf(C, -1, 1);
	float	   *rin = dup(din, nc), *rw = dup(dw, C), *rb = dup(db, C);
	char		name[128];

	ln_N = N, ln_C = C;
	ln_inp = rand_buf(nc, -2, 2);
	ln_w = rand_buf(C, 0.5, 1.5);
	ln_b = rand_buf(C, -0.5, 0.5);
	ln_out = zeros(nc);
	ln_r = rand_buf(nc, -1, 1);
	layernorm_forward(ln_out, mean, rstd, ln_inp, ln_w, ln_b, N, C, 1e-5f);
	layernorm_backward(din, dw, db, ln_r, ln_inp, ln_w, mean, rstd, N, C);
	layernorm_backward_ref(rin, rw, rb, ln_r, ln_inp, ln_w, N, C, 1e-5f);
	snprintf(name, sizeof name, "layernorm_backward %dx%d vs ref", N, C);
	check_err(fmax(rel_err(din, rin, nc),
				   fmax(rel_err(dw, rw, C), rel_err(db, rb, C))), 1e-5, name);

	if (fd)
	{
		float	   *g = zeros(nc),
				   *fdv = zeros(nc);

		layernorm_backward(g, NULL, NULL, ln_r, ln_inp, ln_w, mean, rstd, N, C);
		fd_all(fdv, ln_inp, nc, 1e-3f, ln_loss);
		check_err(rel_err(g, fdv, nc), 2e-3, "layernorm_backward vs finite differences: dinp");
		memset(g, 0, sizeof(float) * 2 * C);
		layernorm_backward(fdv, g, g + C, ln_r, ln_inp, ln_w, mean, rstd, N, C);
		fd_all(fdv, ln_w, C, 1e-3f, ln_loss);
		fd_all(fdv + C, ln_b, C, 1e-3f, ln_loss);
		check_err(rel_err(g, fdv, 2 * C), 2e-3, "layernorm_backward vs finite differences: dweight, dbias");
	}
}

/* ---------------------------------------------------------------------- */
/* pointwise and softmax                                                   */
/* ---------------------------------------------------------------------- */

static size_t gelu_n;
static float *gelu_x,
		   *gelu_out,
		   *gelu_r;

/* loss of gelu_forward_ref */
static double
gelu_loss(void)
{
	gelu_forward_ref(gelu_out, gelu_x, gelu_n);
	return dot(gelu_out, gelu_r, gelu_n);
}

/* gelu_backward (both code paths) vs reference and finite differences */
static void
test_gelu_backward(void)
{
	size_t		n = 203;
	float	   *d0 = rand_buf(n, -1, 1);
	float	   *g = dup(d0, n), *gp = dup(d0, n), *rg = dup(d0, n),
			   *fdv = zeros(n), *z = zeros(n);

	gelu_n = n;
	gelu_x = rand_buf(n, -6, 6);
	gelu_x[0] = 0.0f;
	gelu_x[1] = -12.0f;			/* far tails: derivative 0 and 1 */
	gelu_x[2] = 12.0f;
	gelu_out = zeros(n);
	gelu_r = rand_buf(n, -1, 1);
	gelu_backward(g, gelu_x, gelu_r, n);
	TfmOpsSetSimd(0);
	gelu_backward(gp, gelu_x, gelu_r, n);
	TfmOpsSetSimd(1);
	gelu_backward_ref(rg, gelu_x, gelu_r, n);
	check_err(rel_err(g, rg, n), 2e-6, "gelu_backward vs ref (simd)");
	check_err(rel_err(gp, rg, n), 2e-6, "gelu_backward vs ref (portable)");
	gelu_backward(z, gelu_x, gelu_r, n);
	fd_all(fdv, gelu_x, n, 1e-3f, gelu_loss);
	check_err(rel_err(z, fdv, n), 1e-3, "gelu_backward vs finite differences");
	/* the derivative itself at known points: 0.5 at 0, 0 and 1 far out */
	{
		float		x[3] = {0.0f, -12.0f, 12.0f},
					one[3] = {1, 1, 1},
					d[3] = {0, 0, 0};

		gelu_backward(d, x, one, 3);
		check(fabsf(d[0] - 0.5f) < 1e-6f && fabsf(d[1]) < 1e-6f &&
			  fabsf(d[2] - 1.0f) < 1e-6f, "gelu_backward at 0, -12, 12");
	}
}

/* residual_backward adds to both inputs and skips NULL */
static void
test_residual_backward(void)
{
	float		a[3] = {1, 2, 3},
				b[3] = {0, 0, 0},
				d[3] = {0.5f, -1, 2};

	residual_backward(a, b, d, 3);
	residual_backward(NULL, b, d, 3);
	check(a[0] == 1.5f && a[1] == 1.0f && a[2] == 5.0f &&
		  b[0] == 1.0f && b[1] == -2.0f && b[2] == 4.0f,
		  "residual_backward accumulates into both, NULL skipped");
}

static int	sm_N,
			sm_T,
			sm_valid;
static float sm_scale;
static float *sm_x,
		   *sm_p,
		   *sm_r;

/* loss of softmax_forward_ref */
static double
sm_loss(void)
{
	softmax_forward_ref(sm_p, sm_x, sm_scale, sm_N, sm_T, sm_valid);
	return dot(sm_p, sm_r, (size_t) sm_N * sm_T);
}

/* softmax_backward vs reference and finite differences; masked columns */
static void
test_softmax_backward(int N, int T, int valid)
{
	size_t		n = (size_t) N * T;
	float	   *g = zeros(n), *rg = zeros(n), *fdv = zeros(n);
	char		name[128];
	int			masked_zero = 1;

	sm_N = N, sm_T = T, sm_valid = valid, sm_scale = 0.7f;
	sm_x = rand_buf(n, -3, 3);
	sm_p = zeros(n);
	sm_r = rand_buf(n, -1, 1);
	softmax_forward(sm_p, sm_x, sm_scale, N, T, valid);
	softmax_backward(g, sm_r, sm_p, sm_scale, N, T, valid);
	softmax_backward_ref(rg, sm_r, sm_p, sm_scale, N, T, valid);
	snprintf(name, sizeof name, "softmax_backward %dx%d valid %d vs ref", N, T, valid);
	check_err(rel_err(g, rg, n), 1e-5, name);
	fd_all(fdv, sm_x, n, 1e-3f, sm_loss);
	snprintf(name, sizeof name, "softmax_backward %dx%d valid %d vs finite differences", N, T, valid);
	check_err(rel_err(g, fdv, n), 2e-3, name);
	for (int r = 0; r < N; r++)
		for (int j = valid < 0 ? 0 : valid; j < T; j++)
			masked_zero &= g[(size_t) r * T + j] == 0.0f;
	check(masked_zero, "softmax_backward: masked columns get no gradient");
}

/* ---------------------------------------------------------------------- */
/* dropout                                                                 */
/* ---------------------------------------------------------------------- */

/* masks reproducible, seed-dependent, counter-based, correctly scaled */
static void
test_dropout(void)
{
	size_t		n = 100000;
	float	   *ones = zeros(n), *a = zeros(n), *b = zeros(n), *c = zeros(n),
			   *d = zeros(n), *db = zeros(n);
	size_t		kept = 0,
				same = 0,
				bad = 0;
	float		p = 0.1f;

	for (size_t i = 0; i < n; i++)
		ones[i] = 1.0f;
	dropout_forward(a, ones, n, p, 42, 0);
	dropout_forward(b, ones, n, p, 42, 0);
	dropout_forward(c, ones, n, p, 43, 0);
	check(memcmp(a, b, sizeof(float) * n) == 0, "dropout: same seed, same mask");
	check(memcmp(a, c, sizeof(float) * n) != 0, "dropout: another seed, another mask");
	for (size_t i = 0; i < n; i++)
	{
		kept += a[i] != 0.0f;
		same += (a[i] != 0.0f) == (c[i] != 0.0f);
		bad += a[i] != 0.0f && fabsf(a[i] - 1.0f / 0.9f) > 1e-6f;
	}
	check(kept > 89000 && kept < 91000 && bad == 0,
		  "dropout: keeps ~(1-p), scales kept by 1/(1-p)");
	/* independent masks agree on ~ p^2 + (1-p)^2 = 0.82 */
	check(same > 81000 && same < 83000, "dropout: masks of two seeds independent");
	/* counter-based: a window at an offset is the same part of the stream */
	dropout_forward(d, ones, 1000, p, 42, 5000);
	check(memcmp(d, a + 5000, sizeof(float) * 1000) == 0,
		  "dropout: offset selects the same counter range");
	/* backward applies the very mask of the forward, accumulating */
	for (size_t i = 0; i < n; i++)
		db[i] = 1.0f;
	dropout_backward(db, ones, n, p, 42, 0);
	bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += db[i] != 1.0f + a[i];
	check(bad == 0, "dropout_backward: same mask, accumulates");
	/* dropout_factor agrees element by element */
	bad = 0;
	for (size_t i = 0; i < 1000; i++)
		bad += dropout_factor(p, 42, i) != a[i];
	check(bad == 0, "dropout_factor matches dropout_forward");
	/* p = 0 is the identity, in place */
	memcpy(d, a, sizeof(float) * n);
	dropout_forward(d, d, n, 0.0f, 42, 0);
	check(memcmp(d, a, sizeof(float) * n) == 0, "dropout: p = 0 is the identity");
	dropout_forward(d, ones, 100, 1.0f, 42, 0);
	bad = 0;
	for (size_t i = 0; i < 100; i++)
		bad += d[i] != 0.0f;
	check(bad == 0, "dropout: p = 1 drops everything");
}

/* ---------------------------------------------------------------------- */
/* embeddings                                                              */
/* ---------------------------------------------------------------------- */

enum
{
	EB = 2, ET = 4, EC = 3, EV = 6
};
/* 5 + TFM_TOKEN_TYPE1: token 5 with token type 1 (the second text of a pair) */
static int32_t emb_ids[EB * ET] = {1, 5 + TFM_TOKEN_TYPE1, 1, 99, 2, 3, 77, -4};
static int	emb_lens[EB] = {4, 2};
static float *emb_wte,
		   *emb_wpe,
		   *emb_wtt,
		   *emb_out,
		   *emb_r;

/* loss of embedding_forward */
static double
emb_loss(void)
{
	embedding_forward(emb_out, emb_ids, emb_lens, emb_wte, emb_wpe, emb_wtt, NULL,
					  EB, ET, EC, EV);
	return dot(emb_out, emb_r, EB * ET * EC);
}

/* embedding_backward vs finite differences, incl. padding, bad ids and a token of type 1 */
static void
test_embedding_backward(void)
{
	float	   *gte = zeros(EV * EC), *gpe = zeros(ET * EC), *gtt = zeros(2 * EC),
			   *fdv = zeros(EV * EC);

	emb_wte = rand_buf(EV * EC, -1, 1);
	emb_wpe = rand_buf(ET * EC, -1, 1);
	emb_wtt = rand_buf(2 * EC, -1, 1);
	emb_out = zeros(EB * ET * EC);
	emb_r = rand_buf(EB * ET * EC, -1, 1);
	embedding_backward(gte, gpe, gtt, emb_r, emb_ids, emb_lens, NULL, EB, ET, EC, EV);
	fd_all(fdv, emb_wte, EV * EC, 1e-2f, emb_loss);
	check_err(rel_err(gte, fdv, EV * EC), 1e-5, "embedding_backward vs finite differences: word");
	fd_all(fdv, emb_wpe, ET * EC, 1e-2f, emb_loss);
	check_err(rel_err(gpe, fdv, ET * EC), 1e-5, "embedding_backward vs finite differences: position");
	fd_all(fdv, emb_wtt, 2 * EC, 1e-2f, emb_loss);
	check_err(rel_err(gtt, fdv, 2 * EC), 1e-5, "embedding_backward vs finite differences: type");
	/* the type-1 token reads row 1 of the type table, the others row 0 */
	embedding_forward(emb_out, emb_ids, emb_lens, emb_wte, emb_wpe, emb_wtt, NULL, EB, ET, EC, EV);
	check(emb_out[EC] == emb_wte[5 * EC] + emb_wpe[EC] + emb_wtt[EC] &&
		  emb_out[0] == emb_wte[EC] + emb_wpe[0] + emb_wtt[0],
		  "embedding_forward: a token marked TFM_TOKEN_TYPE1 adds token type row 1");
	/* NULL tables are skipped: the position gradient alone, accumulated from zero, is the same */
	{
		float	   *gpe2 = zeros(ET * EC);

		embedding_backward(NULL, gpe2, NULL, emb_r, emb_ids, emb_lens, NULL, EB, ET, EC, EV);
		check(memcmp(gpe2, gpe, sizeof(float) * ET * EC) == 0,
			  "embedding_backward with NULL tables: the position gradient unchanged");
		free(gpe2);
	}
}

/* ---------------------------------------------------------------------- */
/* attention                                                               */
/* ---------------------------------------------------------------------- */

static int	at_B,
			at_T,
			at_C,
			at_NH,
			at_lens[3];
static float at_p;
static float *at_q,
		   *at_k,
		   *at_v,
		   *at_out,
		   *at_att,
		   *at_scr,
		   *at_r;

/* loss of attention_forward_dropout with a fixed mask */
static double
at_loss(void)
{
	attention_forward_dropout(at_out, at_att, at_q, at_k, at_v, at_lens,
							  at_B, at_T, at_C, at_NH, at_p, 7, 1000, at_scr);
	return dot(at_out, at_r, (size_t) at_B * at_T * at_C);
}

/* attention_backward(_dropout) vs reference and finite differences */
static void
test_attention_backward(int B, int T, int C, int NH, const int *lens, float p)
{
	size_t		n = (size_t) B * T * C;
	float	   *g[3], *rg[3], *fdv = zeros(n);
	float	   *x[3];
	double	   *dscr = malloc(sizeof(double) * 3 * T);
	float	   *bscr = zeros(attention_backward_scratch_floats(T));
	const char *nm[3] = {"dq", "dk", "dv"};
	char		name[160];
	int			pad_zero = 1;

	at_B = B, at_T = T, at_C = C, at_NH = NH, at_p = p;
	memcpy(at_lens, lens, sizeof(int) * B);
	at_q = rand_buf(n, -1, 1);
	at_k = rand_buf(n, -1, 1);
	at_v = rand_buf(n, -1, 1);
	at_out = zeros(n);
	at_att = zeros((size_t) B * NH * T * T);
	at_scr = zeros(attention_scratch_floats(T, C / NH));
	at_r = rand_buf(n, -1, 1);
	x[0] = at_q, x[1] = at_k, x[2] = at_v;
	for (int i = 0; i < 3; i++)
	{
		g[i] = zeros(n);
		rg[i] = zeros(n);
	}
	at_loss();
	if (p > 0.0f)
		attention_backward_dropout(g[0], g[1], g[2], at_r, at_att, at_q, at_k,
								   at_v, at_lens, B, T, C, NH, p, 7, 1000, bscr);
	else
		attention_backward(g[0], g[1], g[2], at_r, at_att, at_q, at_k, at_v,
						   at_lens, B, T, C, NH, bscr);
	attention_backward_ref(rg[0], rg[1], rg[2], at_r, at_q, at_k, at_v,
						   at_lens, B, T, C, NH, p, 7, 1000, dscr);
	for (int i = 0; i < 3; i++)
	{
		snprintf(name, sizeof name,
				 "attention_backward B%d T%d C%d NH%d lens %d,%d p %.2f vs ref: %s",
				 B, T, C, NH, lens[0], lens[1], p, nm[i]);
		check_err(rel_err(g[i], rg[i], n), 1e-5, name);
		fd_all(fdv, x[i], n, 1e-3f, at_loss);
		snprintf(name, sizeof name,
				 "attention_backward B%d T%d C%d NH%d lens %d,%d p %.2f vs finite differences: %s",
				 B, T, C, NH, lens[0], lens[1], p, nm[i]);
		check_err(rel_err(g[i], fdv, n), 2e-3, name);
		for (int b = 0; b < B; b++)
			for (size_t j = (size_t) (b * T + (lens[b] > 0 ? lens[b] : 0)) * C;
				 j < (size_t) (b + 1) * T * C; j++)
				pad_zero &= g[i][j] == 0.0f;
	}
	check(pad_zero, "attention_backward: padding rows get no gradient");

	/* without att: forward keeps nothing, backward recomputes P */
	{
		float	   *out2 = zeros(n),
				   *scr2 = zeros(2 * attention_scratch_floats(T, C / NH));
		int			same = 1;

		attention_forward_dropout(out2, NULL, at_q, at_k, at_v, at_lens, B, T,
								  C, NH, p, 7, 1000, scr2);
		same &= memcmp(out2, at_out, sizeof(float) * n) == 0;
		for (int i = 0; i < 3; i++)
			memset(rg[i], 0, sizeof(float) * n);
		attention_backward_dropout(rg[0], rg[1], rg[2], at_r, NULL, at_q,
								   at_k, at_v, at_lens, B, T, C, NH, p, 7,
								   1000, bscr);
		for (int i = 0; i < 3; i++)
			same &= rel_err(rg[i], g[i], n) <= 1e-6;
		check(same, "attention with att NULL: same output, recomputed P gives the same gradients");
		free(out2);
		free(scr2);
	}
	free(dscr);
}

/* ---------------------------------------------------------------------- */
/* pooling                                                                 */
/* ---------------------------------------------------------------------- */

static int	pl_lens[3] = {4, 0, 2};
static int	pl_mode;
static float *pl_h,
		   *pl_out,
		   *pl_r;

/* loss of TfmPool without normalisation */
static double
pl_loss(void)
{
	TfmPool(pl_out, pl_h, pl_lens, 3, 4, 5, pl_mode, 0);
	return dot(pl_out, pl_r, 3 * 5);
}

/* TfmPoolBackward vs finite differences for every pooling mode, and in place as training calls it */
static void
test_pool_backward(void)
{
	static const char *const names[] = {"mean", "cls", "max", "mean_sqrt_len", "lasttoken"};
	size_t		n = 3 * 4 * 5;
	float	   *g = rand_buf(n, -1, 1), *fdv = zeros(n), *inplace = zeros(n);
	char		what[96];

	pl_out = zeros(15);
	pl_r = rand_buf(15, -1, 1);
	for (pl_mode = TFM_POOL_MEAN; pl_mode <= TFM_POOL_LAST; pl_mode++)
	{
		pl_h = rand_buf(n, -1, 1);
		if (pl_mode == TFM_POOL_MAX)
			/* tokens of one channel 0.1 apart: the finite-difference step never changes the argmax */
			for (int b = 0; b < 3; b++)
				for (int t = 0; t < 4; t++)
					for (int i = 0; i < 5; i++)
						pl_h[(b * 4 + t) * 5 + i] = (float) ((7 * t + 3 * i + 5 * b) % 11) * 0.1f - 0.5f;
		TfmPoolBackward(g, pl_r, pl_h, pl_lens, 3, 4, 5, pl_mode);
		fd_all(fdv, pl_h, n, 1e-2f, pl_loss);
		snprintf(what, sizeof(what), "TfmPoolBackward %s vs finite differences", names[pl_mode]);
		check_err(rel_err(g, fdv, n), 1e-5, what);
		memcpy(inplace, pl_h, sizeof(float) * n);
		TfmPoolBackward(inplace, pl_r, inplace, pl_lens, 3, 4, 5, pl_mode);
		snprintf(what, sizeof(what), "TfmPoolBackward %s in place (dhidden = hidden)", names[pl_mode]);
		check_err(rel_err(inplace, g, n), 0, what);
	}
}

/* ---------------------------------------------------------------------- */
/* the whole tiny BERT                                                     */
/* ---------------------------------------------------------------------- */

#define TB 2
#define TT 5
static TfmBertConfig tiny = {11, 8, 2, 2, 16, 7, 2, 1e-12f};
static TfmBertLayer tiny_layers[2],
			grad_layers[2];
static TfmBertWeights tiny_w,
			grad_w;
static int32_t tiny_ids[TB * TT] = {3, 7, 1, 9, 2, 4, 10, 5, 0, 0};
static int	tiny_lens[TB] = {5, 3};
static float *tiny_hidden,
		   *tiny_acts,
		   *tiny_scr,
		   *tiny_r;
static float tiny_hp,
			tiny_ap;
static uint64_t tiny_seed = 1234;

/* the float tensors of a TfmBertWeights, with their sizes and names */
static int
bert_tensors(const TfmBertWeights *w, const TfmBertLayer *layers,
			 float **t, size_t *sz, const char **names)
{
	int			C = tiny.hidden,
				I = tiny.intermediate,
				n = 0;
	static const char *lnames[16] = {"q_w", "q_b", "k_w", "k_b", "v_w", "v_b",
		"ao_w", "ao_b", "ln1_w", "ln1_b", "i_w", "i_b", "o_w", "o_b",
	"ln2_w", "ln2_b"};
	size_t		lsz[16] = {C * C, C, C * C, C, C * C, C, C * C, C, C, C,
	I * C, I, C * I, C, C, C};

	t[n] = (float *) w->word_emb, sz[n] = (size_t) tiny.vocab * C, names[n++] = "word_emb";
	t[n] = (float *) w->pos_emb, sz[n] = (size_t) tiny.max_pos * C, names[n++] = "pos_emb";
	t[n] = (float *) w->type_emb, sz[n] = (size_t) tiny.type_vocab * C, names[n++] = "type_emb";
	t[n] = (float *) w->emb_ln_w, sz[n] = C, names[n++] = "emb_ln_w";
	t[n] = (float *) w->emb_ln_b, sz[n] = C, names[n++] = "emb_ln_b";
	for (int l = 0; l < tiny.layers; l++)
	{
		const float **f = (const float **) &layers[l];

		for (int j = 0; j < 16; j++)
		{
			t[n] = (float *) f[j];
			sz[n] = lsz[j];
			names[n++] = lnames[j];
		}
	}
	return n;
}

/* random weights (and zero gradients) of the tiny BERT */
static void
tiny_init(void)
{
	float	   *t[64];
	size_t		sz[64];
	const char *nm[64];
	int			C = tiny.hidden,
				I = tiny.intermediate,
				n;

	tiny_w.word_emb = rand_buf((size_t) tiny.vocab * C, -1, 1);
	tiny_w.pos_emb = rand_buf((size_t) tiny.max_pos * C, -1, 1);
	tiny_w.type_emb = rand_buf((size_t) tiny.type_vocab * C, -1, 1);
	tiny_w.emb_ln_w = rand_buf(C, 0.5, 1.5);
	tiny_w.emb_ln_b = rand_buf(C, -0.5, 0.5);
	grad_w.word_emb = zeros((size_t) tiny.vocab * C);
	grad_w.pos_emb = zeros((size_t) tiny.max_pos * C);
	grad_w.type_emb = zeros((size_t) tiny.type_vocab * C);
	grad_w.emb_ln_w = zeros(C);
	grad_w.emb_ln_b = zeros(C);
	for (int l = 0; l < tiny.layers; l++)
	{
		TfmBertLayer *L = &tiny_layers[l],
				   *G = &grad_layers[l];

		L->q_w = rand_buf((size_t) C * C, -0.5, 0.5);
		L->q_b = rand_buf(C, -0.1, 0.1);
		L->k_w = rand_buf((size_t) C * C, -0.5, 0.5);
		L->k_b = rand_buf(C, -0.1, 0.1);
		L->v_w = rand_buf((size_t) C * C, -0.5, 0.5);
		L->v_b = rand_buf(C, -0.1, 0.1);
		L->ao_w = rand_buf((size_t) C * C, -0.5, 0.5);
		L->ao_b = rand_buf(C, -0.1, 0.1);
		L->ln1_w = rand_buf(C, 0.5, 1.5);
		L->ln1_b = rand_buf(C, -0.5, 0.5);
		L->i_w = rand_buf((size_t) I * C, -0.5, 0.5);
		L->i_b = rand_buf(I, -0.1, 0.1);
		L->o_w = rand_buf((size_t) C * I, -0.5, 0.5);
		L->o_b = rand_buf(C, -0.1, 0.1);
		L->ln2_w = rand_buf(C, 0.5, 1.5);
		L->ln2_b = rand_buf(C, -0.5, 0.5);
		*G = *L;
	}
	tiny_w.layer = tiny_layers;
	grad_w.layer = grad_layers;
	/* gradient buffers of the layers: fresh zeros of the same sizes */
	n = bert_tensors(&grad_w, grad_layers, t, sz, nm);
	for (int l = 0; l < tiny.layers; l++)
	{
		const float **f = (const float **) &grad_layers[l];

		for (int j = 0; j < 16; j++)
			f[j] = zeros(sz[5 + 16 * l + j]);
	}
	(void) n;
	tiny_hidden = zeros((size_t) TB * TT * C);
	tiny_acts = malloc(TfmBertActBytes(&tiny, TB, TT));
	tiny_scr = malloc(TfmBertTrainScratchBytes(&tiny, TB, TT));
	tiny_r = rand_buf((size_t) TB * TT * C, -1, 1);
}

/* zero every gradient buffer */
static void
tiny_zero_grads(void)
{
	float	   *t[64];
	size_t		sz[64];
	const char *nm[64];
	int			n = bert_tensors(&grad_w, grad_layers, t, sz, nm);

	for (int i = 0; i < n; i++)
		memset(t[i], 0, sizeof(float) * sz[i]);
}

/* loss of bert_forward_train with the current dropout settings */
static double
tiny_loss(void)
{
	bert_forward_train(tiny_hidden, tiny_acts, &tiny, &tiny_w, tiny_ids,
					   tiny_lens, TB, TT, tiny_hp, tiny_ap, tiny_seed,
					   tiny_scr, NULL);
	return dot(tiny_hidden, tiny_r, (size_t) TB * TT * tiny.hidden);
}

/* full backward vs finite differences on a few elements of every tensor */
static void
test_bert_backward(float hp, float ap)
{
	float	   *wt[64],
			   *gt[64];
	size_t		sz[64];
	const char *nm[64];
	int			n;
	double		worst = 0.0,
				gmax = 0.0;
	char		name[160],
				where[64] = "";

	tiny_hp = hp, tiny_ap = ap;
	n = bert_tensors(&tiny_w, tiny_layers, wt, sz, nm);
	bert_tensors(&grad_w, grad_layers, gt, sz, nm);
	tiny_zero_grads();
	tiny_loss();
	bert_backward(&grad_w, tiny_r, tiny_acts, &tiny, &tiny_w, tiny_ids,
				  tiny_lens, TB, TT, hp, ap, tiny_seed, tiny_scr, NULL);
	for (int i = 0; i < n; i++)
		for (size_t j = 0; j < sz[i]; j++)
			gmax = fmax(gmax, fabs(gt[i][j]));
	for (int i = 0; i < n; i++)
	{
		/*
		 * errors relative to the tensor's largest gradient, floored at 1%
		 * of the model's: some gradients are exactly 0 (the key bias cannot
		 * change a softmax), where only float noise is left to compare
		 */
		double		scale = 1e-2 * gmax;

		for (size_t j = 0; j < sz[i]; j++)
			scale = fmax(scale, fabs(gt[i][j]));
		for (int s = 0; s < 4; s++)
		{
			size_t		j = (size_t) (frand(0, 1) * sz[i]) % sz[i];
			double		fd = fd_at(wt[i] + j, 1e-2f, tiny_loss);
			double		e = fabs(fd - gt[i][j]) / scale;

			if (!(e <= worst))
			{
				worst = e;
				snprintf(where, sizeof where, "%s[%zu] of tensor %d", nm[i], j, i);
			}
		}
	}
	snprintf(name, sizeof name,
			 "bert_backward hidden_p %.2f attn_p %.2f vs finite differences, %d tensors x 4 (worst %s)",
			 hp, ap, n, where);
	check_err(worst, 5e-3, name);
}

/* forward_train agrees with bert_forward, dropout is seeded, grads add up */
static void
test_bert_train_misc(void)
{
	size_t		nc = (size_t) TB * TT * tiny.hidden;
	float	   *h0 = zeros(nc), *h1, *h2;
	float	   *scr = malloc(TfmBertScratchBytes(&tiny, TB, TT));
	float	   *gt[64],
			   *wt[64];
	size_t		sz[64];
	const char *nm[64];
	int			n,
				doubled = 1,
				nonzero = 0;
	float	   *copy[64];

	bert_forward(h0, &tiny, &tiny_w, tiny_ids, tiny_lens, TB, TT, scr, NULL);
	tiny_hp = 0, tiny_ap = 0;
	tiny_loss();
	check_err(rel_err(tiny_hidden, h0, nc), 1e-6, "bert_forward_train without dropout = bert_forward");
	tiny_hp = 0.2f, tiny_ap = 0.3f;
	tiny_loss();
	h1 = dup(tiny_hidden, nc);
	tiny_loss();
	check(memcmp(h1, tiny_hidden, sizeof(float) * nc) == 0,
		  "bert_forward_train: same seed, same output");
	check(rel_err(h1, h0, nc) > 1e-3, "bert_forward_train: dropout changes the output");
	tiny_seed++;
	tiny_loss();
	h2 = dup(tiny_hidden, nc);
	tiny_seed--;
	check(rel_err(h2, h1, nc) > 1e-3, "bert_forward_train: another seed, another output");

	/* a second backward adds the same gradients again */
	n = bert_tensors(&grad_w, grad_layers, gt, sz, nm);
	bert_tensors(&tiny_w, tiny_layers, wt, sz, nm);
	tiny_zero_grads();
	tiny_loss();
	bert_backward(&grad_w, tiny_r, tiny_acts, &tiny, &tiny_w, tiny_ids,
				  tiny_lens, TB, TT, tiny_hp, tiny_ap, tiny_seed, tiny_scr, NULL);
	for (int i = 0; i < n; i++)
		copy[i] = dup(gt[i], sz[i]);
	bert_backward(&grad_w, tiny_r, tiny_acts, &tiny, &tiny_w, tiny_ids,
				  tiny_lens, TB, TT, tiny_hp, tiny_ap, tiny_seed, tiny_scr, NULL);
	for (int i = 0; i < n; i++)
		for (size_t j = 0; j < sz[i]; j++)
		{
			doubled &= fabsf(gt[i][j] - 2 * copy[i][j]) <= 1e-6f * (1 + fabsf(copy[i][j]));
			nonzero += copy[i][j] != 0.0f;
		}
	check(doubled && nonzero > 0, "bert_backward accumulates (+=) into grads");

	/* NULL gradient buffers are skipped; the others do not change */
	{
		TfmBertWeights g2 = grad_w;
		int			same = 1;

		tiny_zero_grads();
		g2.word_emb = NULL;
		g2.pos_emb = NULL;
		bert_backward(&g2, tiny_r, tiny_acts, &tiny, &tiny_w, tiny_ids,
					  tiny_lens, TB, TT, tiny_hp, tiny_ap, tiny_seed,
					  tiny_scr, NULL);
		for (int i = 2; i < n; i++)
			for (size_t j = 0; j < sz[i]; j++)
				same &= gt[i][j] == copy[i][j];
		check(same, "bert_backward with NULL embedding gradients");
	}
	for (int i = 0; i < n; i++)
		free(copy[i]);
	free(scr);
	free(h1);
	free(h2);
}

/* ---------------------------------------------------------------------- */
/* head, losses, optimiser, rng                                            */
/* ---------------------------------------------------------------------- */

enum
{
	HB = 3, HC = 6, HK = 4
};
static float *hd_x,
		   *hd_W,
		   *hd_b,
		   *hd_logits;
static int	hd_labels[HB] = {2, 0, 3};

/* loss of linear head + cross-entropy */
static double
hd_loss(void)
{
	linear_head_forward(hd_logits, hd_x, hd_W, hd_b, HB, HC, HK);
	return crossentropy_forward_backward(NULL, hd_logits, hd_labels, HB, HK);
}

static float *mse_pred,
		   *mse_target;

/* loss of mse */
static double
mse_loss(void)
{
	return mse_forward_backward(NULL, mse_pred, mse_target, 5);
}

/* linear head + cross-entropy, mse vs finite differences; known values */
static void
test_losses(void)
{
	float	   *dlog = zeros(HB * HK), *gx = zeros(HB * HC), *gW = zeros(HK * HC),
			   *gb = zeros(HK), *fdv = zeros(HK * HC);
	float		z[4] = {0, 0, 0, 0},
				dz[4];
	int			lab[2] = {1, 0};
	float		loss;

	hd_x = rand_buf(HB * HC, -1, 1);
	hd_W = rand_buf(HK * HC, -1, 1);
	hd_b = rand_buf(HK, -1, 1);
	hd_logits = zeros(HB * HK);
	linear_head_forward(hd_logits, hd_x, hd_W, hd_b, HB, HC, HK);
	crossentropy_forward_backward(dlog, hd_logits, hd_labels, HB, HK);
	linear_head_backward(gx, gW, gb, dlog, hd_x, hd_W, HB, HC, HK);
	fd_all(fdv, hd_W, HK * HC, 1e-3f, hd_loss);
	check_err(rel_err(gW, fdv, HK * HC), 1e-3, "linear head + cross-entropy vs finite differences: dW");
	fd_all(fdv, hd_b, HK, 1e-3f, hd_loss);
	check_err(rel_err(gb, fdv, HK), 1e-3, "linear head + cross-entropy vs finite differences: db");
	fd_all(fdv, hd_x, HB * HC, 1e-3f, hd_loss);
	check_err(rel_err(gx, fdv, HB * HC), 1e-3, "linear head + cross-entropy vs finite differences: dx");

	loss = crossentropy_forward_backward(dz, z, lab, 2, 2);
	check(fabsf(loss - logf(2.0f)) < 1e-6f && fabsf(dz[0] - 0.25f) < 1e-7f &&
		  fabsf(dz[1] + 0.25f) < 1e-7f, "cross-entropy of equal logits: ln 2, (p - y)/B");

	mse_pred = rand_buf(5, -1, 1);
	mse_target = rand_buf(5, -1, 1);
	{
		float		g[5],
					f[5];

		mse_forward_backward(g, mse_pred, mse_target, 5);
		fd_all(f, mse_pred, 5, 1e-2f, mse_loss);
		check_err(rel_err(g, f, 5), 1e-4, "mse vs finite differences");
	}
	{
		float		p2[2] = {1, 3},
					t2[2] = {0, 1};

		check(fabsf(mse_forward_backward(NULL, p2, t2, 2) - 2.5f) < 1e-6f,
			  "mse of (1,3) vs (0,1) is 2.5");
	}
}

/* AdamW against torch.optim.AdamW's formula in double; clipping */
static void
test_optim(void)
{
	float		p[3] = {1.0f, -0.5f, 2.0f},
				m[3] = {0},
				v[3] = {0};
	double		pd[3] = {1.0, -0.5, 2.0},
				md[3] = {0},
				vd[3] = {0},
				err = 0.0;
	float		g[3][3] = {{0.5f, -0.1f, 0.0f}, {0.3f, 0.2f, -1.0f}, {-0.4f, 0.0f, 2.0f}};
	double		lr = 0.1,
				b1 = 0.9,
				b2 = 0.999,
				eps = 1e-8,
				wd = 0.01;

	for (int t = 1; t <= 3; t++)
	{
		adamw_update(p, g[t - 1], m, v, 3, (float) lr, (float) b1, (float) b2,
					 (float) eps, (float) wd, t);
		for (int i = 0; i < 3; i++)
		{
			double		gi = g[t - 1][i];

			pd[i] *= 1.0 - lr * wd;
			md[i] = b1 * md[i] + (1 - b1) * gi;
			vd[i] = b2 * vd[i] + (1 - b2) * gi * gi;
			pd[i] -= lr / (1 - pow(b1, t)) * md[i] /
				(sqrt(vd[i]) / sqrt(1 - pow(b2, t)) + eps);
		}
	}
	for (int i = 0; i < 3; i++)
		err = fmax(err, fabs(p[i] - pd[i]));
	check_err(err, 1e-6, "adamw_update: 3 steps vs PyTorch formula");
	{
		/* step 1 moves by lr (times sign) after the decay */
		float		q = 1.0f,
					gg = 0.5f,
					mm = 0,
					vv = 0;

		adamw_update(&q, &gg, &mm, &vv, 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, 1);
		check(fabsf(q - 0.899f) < 1e-6f, "adamw_update: first step = decay then lr");
	}
	{
		float		a[1] = {3},
					b[2] = {4, 0};
		float	   *gs[2] = {a, b};
		size_t		sz[2] = {1, 2};
		float		norm = TfmGradClipNorm(gs, sz, 2, 1.0f);

		check(fabsf(norm - 5.0f) < 1e-6f && fabsf(a[0] - 0.6f) < 1e-5f &&
			  fabsf(b[0] - 0.8f) < 1e-5f, "TfmGradClipNorm: norm 5 clipped to 1");
		norm = TfmGradClipNorm(gs, sz, 2, 10.0f);
		check(fabsf(norm - 1.0f) < 1e-5f && fabsf(a[0] - 0.6f) < 1e-5f,
			  "TfmGradClipNorm: below max_norm unchanged");
	}
}

/* TfmRng: reproducible, in range, a permutation, sane moments */
static void
test_rng(void)
{
	TfmRng		a,
				b,
				c;
	int			same = 1,
				diff = 0,
				inrange = 1,
				perm[100],
				seen[100] = {0},
				isperm = 1,
				moved = 0;
	double		mean = 0,
				var = 0,
				umean = 0;

	TfmRngSeed(&a, 7);
	TfmRngSeed(&b, 7);
	TfmRngSeed(&c, 8);
	for (int i = 0; i < 1000; i++)
	{
		uint64_t	x = TfmRngNext(&a);

		same &= x == TfmRngNext(&b);
		diff += x != TfmRngNext(&c);
	}
	check(same && diff == 1000, "TfmRng: same seed same stream, other seed other stream");
	for (int i = 0; i < 100000; i++)
	{
		double		u = TfmRngUniform(&a),
					z = TfmRngNormal(&a);

		inrange &= u >= 0.0 && u < 1.0 && TfmRngBelow(&a, 7) < 7;
		umean += u;
		mean += z;
		var += z * z;
	}
	umean /= 100000, mean /= 100000, var /= 100000;
	check(inrange && fabs(umean - 0.5) < 0.01 && fabs(mean) < 0.02 &&
		  fabs(var - 1.0) < 0.03, "TfmRng: uniform and normal moments, Below in range");
	for (int i = 0; i < 100; i++)
		perm[i] = i;
	TfmRngShuffle(&a, perm, 100);
	for (int i = 0; i < 100; i++)
	{
		if (perm[i] < 0 || perm[i] >= 100 || seen[perm[i]]++)
			isperm = 0;
		moved += perm[i] != i;
	}
	check(isperm && moved > 80, "TfmRngShuffle: a permutation that moves most");
}

int
main(void)
{
	static const int lens_a[2] = {5, 3},
				lens_b[2] = {0, 2},
				lens_c[3] = {7, 1, 4};

	TfmBlasSetThreads(1);
	test_matmul_backward(5, 8, 6, 1);
	test_matmul_backward(37, 20, 13, 0);
	test_matmul_backward(70, 40, 33, 0);
	test_layernorm_backward(5, 8, 1);
	test_layernorm_backward(7, 389, 0);
	test_gelu_backward();
	test_residual_backward();
	test_softmax_backward(4, 7, 5);
	test_softmax_backward(3, 6, 6);
	test_dropout();
	test_embedding_backward();
	test_attention_backward(2, 5, 8, 2, lens_a, 0.0f);
	test_attention_backward(2, 5, 8, 2, lens_b, 0.0f);
	test_attention_backward(2, 5, 8, 2, lens_a, 0.3f);
	test_attention_backward(3, 7, 12, 3, lens_c, 0.2f);
	test_pool_backward();
	tiny_init();
	test_bert_backward(0.0f, 0.0f);
	test_bert_backward(0.2f, 0.3f);
	test_bert_train_misc();
	test_losses();
	test_optim();
	test_rng();
	return check_report();
}
