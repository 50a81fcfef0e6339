/* mlp.h: a multi-layer perceptron on feature vectors: linear layers with ReLU and dropout between them */
#ifndef TFM_MLP_H
#define TFM_MLP_H

#include <stddef.h>
#include <stdint.h>

#define TFM_MLP_MAX_LAYERS 8	/* linear layers: hidden layers + the output layer */
#define TFM_MAX_FEATURES 100000	/* most features of one feature vector (an MLP's inputs) */

/*
 * dims[0] inputs D, dims[1..L-1] hidden units, dims[L] outputs K; L linear layers.
 * Parameters, one block: for each layer l, W_l (dims[l+1], dims[l]) then b_l (dims[l+1]).
 * acts holds each hidden layer's output after ReLU and dropout, (B, dims[l+1]) for l < L-1, so the
 * backward pass needs no mask: a unit has gradient iff its output is > 0 (ReLU'(0) = 0; a dropped
 * unit is 0), scaled by 1/(1-p). mlp_backward needs scratch of 2 * B * max hidden floats.
 * Same conventions as ops.h: outputs first, no allocation, no error reporting.
 */
size_t		TfmMlpParams(const int *dims, int L);
size_t		TfmMlpActFloats(const int *dims, int L, int B);
size_t		TfmMlpScratchFloats(const int *dims, int L, int B);
void		mlp_forward(float *out, float *acts, const float *p, const float *x, const int *dims, int L, int B,
						float dropout, uint64_t seed);
void		mlp_backward(float *dx, float *dp, const float *dout, const float *p, const float *x,
						 const float *acts, float *scratch, const int *dims, int L, int B, float dropout);
void		TfmMlpInit(float *p, const int *dims, int L, double (*uniform) (void *), void *rng);
float		weighted_crossentropy_forward_backward(float *dlogits, const float *logits, const int *labels,
												   const float *weights, int B, int K);

#endif
