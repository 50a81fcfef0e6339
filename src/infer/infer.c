/* infer.c: length-sorted batched encoding and heads (tokenization is text/tokenizer.h's) */
#include "postgres.h"

#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>

#include "access/detoast.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "infer/infer.h"
#include "kernels/blas.h"
#include "kernels/ops.h"
#include "model/bert.h"
#include "model/head.h"
#include "model/seqhead.h"
#include "pg_tfm.h"

static float *scratch = NULL;	/* encoder work area, kept between calls */
static size_t scratch_bytes = 0;

/* stop between layers and batches when the query is cancelled */
void
TfmCheckInterrupts(void)
{
	CHECK_FOR_INTERRUPTS();
}

/* the kept scratch area, grown to at least bytes */
float *
TfmScratch(size_t bytes)
{
	if (bytes > scratch_bytes)
	{
		if (scratch)
			pfree(scratch);
		scratch = NULL;
		scratch_bytes = 0;
		TfmCheckMemory((double) bytes, "the encoder's work area");
		scratch = MemoryContextAllocExtended(TopMemoryContext, bytes, MCXT_ALLOC_HUGE);
		scratch_bytes = bytes;
	}
	return scratch;
}

/* give the scratch area back at the end of a transaction: an idle backend keeps no private work memory */
void
TfmScratchRelease(void)
{
	if (scratch)
		pfree(scratch);
	scratch = NULL;
	scratch_bytes = 0;
}

/* one planned encoder batch: positions [start, start + B) of the length order, padded to T */
typedef struct EncBatch
{
	int			start,
				B,
				T;
} EncBatch;

/* what every encoder thread of one TfmEncodeMany call shares */
typedef struct EncJob
{
	float	   *out;
	const TfmModel *m;
	const TfmBertWeights *w;
	int32	   *const *ids;
	const int  *lens;
	const int  *order;
	const EncBatch *batches;
	int			nbatches;
	bool		normalize;
	int			next;			/* next batch to take (atomic) */
	int			stop;			/* set by the leader when it errors out (atomic) */
	int			running;		/* helper threads not yet finished (atomic) */
} EncJob;

/* a helper thread and its own work area */
typedef struct EncWorker
{
	EncJob	   *job;
	char	   *buf;
	pthread_t	tid;
} EncWorker;

/* a helper thread's way out of bert_forward when the leader stops the job */
static __thread jmp_buf *enc_abort;
static __thread EncJob *enc_job;

/* bytes of one thread's work area for a batch: hidden states, ids, encoder scratch, pooled rows */
static size_t
batch_bytes(const TfmModel *m, int B, int T)
{
	size_t		C = m->enc->cfg.hidden;

	return add_size(add_size(MAXALIGN(sizeof(float) * (size_t) B * T * C),
							 MAXALIGN(sizeof(int32) * (size_t) B * T)),
					add_size(TfmBertScratchBytes(&m->enc->cfg, B, T), MAXALIGN(sizeof(float) * B * C)));
}

/*
 * encode one batch with the work area buf and write its pooled rows into job->out; pure C
 * (no palloc, no ereport) so that helper threads can run it; check runs between layers
 */
static void
encode_batch(const EncJob *job, const EncBatch *bt, char *buf, void (*check) (void))
{
	const TfmModel *m = job->m;
	int			B = bt->B, T = bt->T, C = m->enc->cfg.hidden;
	float	   *hidden = (float *) buf;
	int32	   *flat = (int32 *) (buf + MAXALIGN(sizeof(float) * (size_t) B * T * C));
	float	   *work = (float *) ((char *) flat + MAXALIGN(sizeof(int32) * (size_t) B * T));
	float	   *bout = (float *) ((char *) work + TfmBertScratchBytes(&m->enc->cfg, B, T));
	int			blens[TFM_BATCH_MAX];

	for (int b = 0; b < B; b++)
	{
		int			i = job->order[bt->start + b];

		blens[b] = job->lens[i];
		memcpy(flat + (size_t) b * T, job->ids[i], sizeof(int32) * blens[b]);
		memset(flat + (size_t) b * T + blens[b], 0, sizeof(int32) * (T - blens[b]));
	}
	bert_forward(hidden, &m->enc->cfg, job->w, flat, blens, B, T, work, check);
	TfmPool(bout, hidden, blens, B, T, C, m->enc->opt.pooling, job->normalize);
	for (int b = 0; b < B; b++)
		memcpy(job->out + (size_t) job->order[bt->start + b] * C, bout + (size_t) b * C, sizeof(float) * C);
}

/* take batches until none is left (or the job stops) */
static void
run_batches(EncJob *job, char *buf, void (*check) (void))
{
	for (;;)
	{
		int			i = __atomic_fetch_add(&job->next, 1, __ATOMIC_RELAXED);

		if (i >= job->nbatches || __atomic_load_n(&job->stop, __ATOMIC_RELAXED))
			break;
		encode_batch(job, &job->batches[i], buf, check);
		if (check)
			check();
	}
}

/* a helper thread's check between layers: leave the batch when the leader stopped the job */
static void
worker_check(void)
{
	if (__atomic_load_n(&enc_job->stop, __ATOMIC_RELAXED))
		longjmp(*enc_abort, 1);
}

/* body of a helper thread: pure C, signals blocked, never touches PostgreSQL state */
static void *
worker_main(void *arg)
{
	EncWorker  *wk = arg;
	jmp_buf		jb;

	enc_job = wk->job;
	enc_abort = &jb;
	if (setjmp(jb) == 0)
		run_batches(wk->job, wk->buf, worker_check);
	__atomic_fetch_sub(&wk->job->running, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* start up to n helper threads (fewer if memory or threads run out); returns how many started */
static pg_noinline int
start_workers(EncJob *job, EncWorker *wk, int n, size_t bytes)
{
	sigset_t	all, old;
	int			started = 0;

	/* helpers inherit a mask that blocks every signal: PostgreSQL's handlers stay on this thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (int i = 0; i < n; i++)
	{
		wk[i].job = job;
		wk[i].buf = MemoryContextAllocExtended(CurrentMemoryContext, bytes,
											   MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
		if (wk[i].buf == NULL)
			break;
		__atomic_fetch_add(&job->running, 1, __ATOMIC_RELAXED);
		if (pthread_create(&wk[i].tid, NULL, worker_main, &wk[i]) != 0)
		{
			__atomic_fetch_sub(&job->running, 1, __ATOMIC_RELAXED);
			pfree(wk[i].buf);
			break;
		}
		started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return started;
}

/* wait for the helpers to finish, answering cancels meanwhile, then join them */
static pg_noinline void
finish_workers(EncJob *job, EncWorker *wk, int n, bool checking)
{
	while (checking && __atomic_load_n(&job->running, __ATOMIC_ACQUIRE) > 0)
	{
		CHECK_FOR_INTERRUPTS();
		pg_usleep(500);
	}
	for (int i = 0; i < n; i++)
	{
		pthread_join(wk[i].tid, NULL);
		pfree(wk[i].buf);
	}
}

/* sort helper: index by length */
static const int *sort_lens;

/* compare two indices by their sequence length */
static int
cmp_len(const void *a, const void *b)
{
	int			x = sort_lens[*(const int *) a], y = sort_lens[*(const int *) b];

	return (x > y) - (x < y);
}

/* error 22P01 when an encoding holds NaN or infinity: finite weights can still overflow fp32 */
static void
check_finite_out(const TfmModel *m, const float *out, int n)
{
	for (size_t i = 0; i < (size_t) n * m->enc->cfg.hidden; i++)
		if (!isfinite(out[i]))
			ereport(ERROR, (errcode(ERRCODE_FLOATING_POINT_EXCEPTION),
							errmsg("model \"%s\" computed a value that is not a finite number", m->name),
							errhint("Its weights overflow fp32 arithmetic for this input; the checkpoint is probably damaged.")));
}

/*
 * encode n truncated sequences into out (n,C), batching similar lengths to waste no padding;
 * with pg_tfm.blas_threads > 1 and several batches, helper threads encode batches too (each
 * with single-threaded BLAS), so the whole encoder, not only its GEMMs, runs in parallel
 */
void
TfmEncodeMany(float *out, const TfmModel *m, const TfmBertWeights *w, int32 *const *ids, const int *lens,
			  int n, bool normalize)
{
	int		   *order = palloc(sizeof(int) * Max(n, 1));
	EncBatch   *batches = palloc(sizeof(EncBatch) * Max(n, 1));
	EncJob		job = {0};
	EncWorker  *wk;
	char	   *leader_buf;
	int			nb = 0, nworkers;
	size_t		bytes = 0;

	for (int i = 0; i < n; i++)
		order[i] = i;
	sort_lens = lens;
	qsort(order, n, sizeof(int), cmp_len);
	for (int i = 0; i < n;)
	{
		int			B = 0;
		int64		real = 0;

		/*
		 * sorted ascending: the last sequence taken is the longest of the batch, whose length every
		 * row is padded to; padding costs every layer, and rows beyond TFM_BATCH_FULL padded tokens
		 * gain the GEMMs little, so from there a batch grows only while padding stays within 1/16
		 */
		while (i + B < n && B < TFM_BATCH_MAX)
		{
			int64		L = lens[order[i + B]],
						padded = (B + 1) * L;

			if (padded > TFM_BATCH_TOKENS ||
				(B * L > TFM_BATCH_FULL && padded * 16 > (real + L) * 17))
				break;
			real += L;
			B++;
		}
		B = Max(B, 1);
		batches[nb].start = i;
		batches[nb].B = B;
		batches[nb].T = Max(lens[order[i + B - 1]], 1);
		bytes = Max(bytes, batch_bytes(m, B, batches[nb].T));
		nb++;
		i += B;
	}
	job.out = out;
	job.m = m;
	job.w = w;
	job.ids = ids;
	job.lens = lens;
	job.order = order;
	job.batches = batches;
	job.nbatches = nb;
	job.normalize = normalize;

	nworkers = Min(Min(tfm_blas_threads, nb), TFM_MAX_ENCODER_THREADS) - 1;
	if (nworkers <= 0)
	{
		run_batches(&job, (char *) TfmScratch(bytes), TfmCheckInterrupts);
		check_finite_out(m, out, n);
		pfree(order);
		pfree(batches);
		return;
	}
	wk = palloc0(sizeof(EncWorker) * nworkers);
	/* what may throw comes before any thread starts: helpers must never reach ereport */
	TfmCheckMemory((double) bytes * (nworkers + 1), "the encoder threads' work areas");
	leader_buf = (char *) TfmScratch(bytes);
	/* only (out,in) weights (training's copy) reach BLAS; a cache file's packed ones only without AVX2 */
	if (w->layer[0].q_p == NULL || matmul_packed_needs_blas())
		TfmBlasLoad();
	TfmBlasSetThreads(1);
	nworkers = start_workers(&job, wk, nworkers, bytes);
	PG_TRY();
	{
		run_batches(&job, leader_buf, TfmCheckInterrupts);
		finish_workers(&job, wk, nworkers, true);
	}
	PG_CATCH();
	{
		/* cancelled or failed: stop the helpers at their next layer and wait for them */
		__atomic_store_n(&job.stop, 1, __ATOMIC_RELAXED);
		finish_workers(&job, wk, nworkers, false);
		TfmBlasSetThreads(tfm_blas_threads);
		PG_RE_THROW();
	}
	PG_END_TRY();
	TfmBlasSetThreads(tfm_blas_threads);
	check_finite_out(m, out, n);
	pfree(wk);
	pfree(order);
	pfree(batches);
}

/* out (n,K): the model's head on pooled vectors (n,C) */
void
TfmHeadForward(float *out, const TfmModel *m, const float *head, const float *pooled, int n)
{
	int			H = m->head_hidden;
	float	   *pre, *act;

	/* a trained head (GELU), or a checkpoint's (BERT's pooler, RoBERTa's classifier.dense, DistilBERT's pre_classifier) */
	pre = palloc_extended(sizeof(float) * Max((size_t) n * H, 1), MCXT_ALLOC_HUGE);
	act = palloc_extended(sizeof(float) * Max((size_t) n * H, 1), MCXT_ALLOC_HUGE);
	head_forward(out, pre, act, head, pooled, n, m->enc->cfg.hidden, H, m->nlabels, m->head_act);
	pfree(pre);
	pfree(act);
}
