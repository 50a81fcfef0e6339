#!/usr/bin/python3
"""test/bench/onnx/torch_int8.py: the int8 peer of test/bench/compare.sh

PyTorch dynamic int8 (torch.ao.quantization.quantize_dynamic on every Linear layer, per-channel weight
scales, activations quantised per tensor at run time; the quantized engine Debian's torch has: onednn
or qnnpack, no fbgemm) on the plain PyTorch BERT of export.py, reading the same safetensors. Embeds one
text per call (batch 1) from token ids pg_tfm gave (tfm_tokenize, truncated to 256 as the encoder
does: tokenization is not timed, a thousandth of the work), mean pooling and L2 normalisation included.

usage: torch_int8.py MODEL_DIR IDS_JSON THREADS  -> {"seconds": s, "tokens": n, "engine": e, "cosine_min": c}
"""
import json
import sys
import time

import torch

from export import Bert, read_safetensors


class BertLinear(Bert):
    """export.py's Bert with its linear layers as torch.nn.Linear modules (what quantize_dynamic swaps)"""

    def __init__(self, cfg, w):
        super().__init__(cfg, w)
        names = sorted({k[:-len("__weight")] for k in self.p.keys()
                        if k.endswith("__weight") and self.p[k].dim() == 2 and "embeddings" not in k})
        self.linears = torch.nn.ModuleDict()
        for n in names:
            wt, b = self.p[n + "__weight"], self.p[n + "__bias"]
            m = torch.nn.Linear(wt.shape[1], wt.shape[0])
            m.weight.data.copy_(wt)
            m.bias.data.copy_(b)
            self.linears[n] = m

    def lin(self, x, name):
        return self.linears[name.replace(".", "__")](x)


def main():
    model_dir, ids_path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(threads)
    engines = torch.backends.quantized.supported_engines
    torch.backends.quantized.engine = next(e for e in ("fbgemm", "onednn", "x86", "qnnpack") if e in engines)
    cfg = json.load(open(model_dir + "/config.json"))
    fp32 = BertLinear(cfg, read_safetensors(model_dir + "/model.fp16.safetensors")).eval()
    q = torch.ao.quantization.quantize_dynamic(
        fp32, {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}, dtype=torch.qint8)
    texts = [ids if len(ids) <= 256 else ids[:255] + [ids[-1]] for ids in json.load(open(ids_path))]
    xs = [torch.tensor([ids], dtype=torch.int64) for ids in texts]
    with torch.no_grad():
        q(xs[0], torch.ones_like(xs[0]))  # warm-up
        t0 = time.perf_counter()
        for x in xs:
            q(x, torch.ones_like(x))
        secs = time.perf_counter() - t0
        cmin = min(torch.nn.functional.cosine_similarity(q(x, torch.ones_like(x)), fp32(x, torch.ones_like(x))).item()
                   for x in xs[:50])
    print(json.dumps({"seconds": secs, "tokens": sum(len(t) for t in texts), "engine": torch.backends.quantized.engine,
                      "cosine_min": round(cmin, 4)}))


if __name__ == "__main__":
    main()
