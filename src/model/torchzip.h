/* torchzip.h: PyTorch checkpoints (pytorch_model.bin, torch.save's zip format) converted to safetensors */
#ifndef TFM_TORCHZIP_H
#define TFM_TORCHZIP_H

#include "postgres.h"

extern bool TfmIsTorchZip(const char *buf, uint64 size);
extern char *TfmTorchToSafetensors(const char *buf, uint64 size, const char *what, uint64 *out_size);

#endif
