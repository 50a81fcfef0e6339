/* infer.h: text -> ids -> encoder -> pooled vector -> head, for one text or many */
#ifndef TFM_INFER_H
#define TFM_INFER_H

#include "postgres.h"

#include "fmgr.h"

#include "store/cache.h"
#include "text/tokenizer.h"

#define TFM_BATCH_TOKENS 1024	/* padded tokens per encoder batch */
#define TFM_BATCH_MAX 64		/* sequences per encoder batch */
#define TFM_BATCH_FULL 128		/* padded tokens past which a batch takes no more than 1/16 padding */
#define TFM_MAX_ENCODER_THREADS 16	/* threads of one bulk encoding */

extern void TfmEncodeMany(float *out, const TfmModel *m, const TfmBertWeights *w, int32 *const *ids,
						  const int *lens, int n, bool normalize);
extern void TfmHeadForward(float *out, const TfmModel *m, const float *head, const float *pooled, int n);
extern void TfmCheckInterrupts(void);
extern float *TfmScratch(size_t bytes);
extern void TfmScratchRelease(void);

#endif
