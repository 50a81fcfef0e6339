#!/usr/bin/python3
"""test/bench/onnx/export.py: export a BERT model to ONNX for test/bench/compare.sh and rerank.sh

Builds the BERT encoder in plain PyTorch from the model directory (config.json +
model.fp16.safetensors or model.safetensors, read by parsing the safetensors header; no
transformers package), casts the weights to fp32 and exports a graph with dynamic batch and
sequence axes. Embedding mode (all-MiniLM-L6-v2, compare.sh):

    input_ids (batch, seq) int64, attention_mask (batch, seq) int64
      -> sentence_embedding (batch, hidden) float32: mean pooling over the mask, L2-normalised

then checks the graph's torch twin against pg_tfm's golden embeddings
(shared/golden/minilm/embeddings.jsonl, max |diff| <= 1e-4) using the ids from tokens.jsonl
truncated to 256 tokens. Cross-encoder mode (BertForSequenceClassification, rerank.sh):

    input_ids, attention_mask, token_type_ids (batch, seq) int64
      -> logits (batch, labels) float32: BERT pooler (dense + tanh on [CLS]), then the classifier

then checks the torch twin against CHECK.jsonl, lines {"ids": [...], "score": x} of pg_tfm's
tfm_tokenize(a, b, model) and tfm_score_pair(a, b, model) (max |diff| <= 1e-4; token types 0
up to the first [SEP], the pair's last id, and 1 after it).

usage: export.py MODEL_DIR OUT.onnx [GOLDEN_DIR]
       export.py --cross-encoder MODEL_DIR OUT.onnx [CHECK.jsonl]
"""
import os
import json
import math
import struct
import sys

import torch

DTYPES = {"F16": torch.float16, "F32": torch.float32, "BF16": torch.bfloat16, "I64": torch.int64}


def read_safetensors(path):
    """tensors of a safetensors file, parsed from its JSON header"""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        buf = bytearray(data[base + start:base + end])
        t = torch.frombuffer(buf, dtype=DTYPES[meta["dtype"]]) if end > start else torch.empty(0)
        out[name] = t.reshape(meta["shape"]).clone()
    return out


class Bert(torch.nn.Module):
    """post-LN BERT encoder with mean pooling and L2 normalisation, or (cross_encoder) pooler + classifier"""

    def __init__(self, cfg, w, cross_encoder=False):
        super().__init__()
        self.cross_encoder = cross_encoder
        self.C = cfg["hidden_size"]
        self.NH = cfg["num_attention_heads"]
        self.L = cfg["num_hidden_layers"]
        self.eps = cfg.get("layer_norm_eps", 1e-12)
        p = {k.replace("bert.", "", 1): v.float() for k, v in w.items() if v.dtype != torch.int64}
        self.p = torch.nn.ParameterDict({k.replace(".", "__"): torch.nn.Parameter(v, requires_grad=False)
                                         for k, v in p.items()})

    def w(self, name):
        return self.p[name.replace(".", "__")]

    def lin(self, x, name):
        return torch.nn.functional.linear(x, self.w(name + ".weight"), self.w(name + ".bias"))

    def ln(self, x, name):
        return torch.nn.functional.layer_norm(x, (self.C,), self.w(name + ".weight"), self.w(name + ".bias"), self.eps)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        B, T = input_ids.shape
        hs = self.C // self.NH
        pos = torch.arange(T, dtype=torch.int64).unsqueeze(0)
        types = self.w("embeddings.token_type_embeddings.weight")
        x = (self.w("embeddings.word_embeddings.weight")[input_ids]
             + self.w("embeddings.position_embeddings.weight")[pos]
             + (types[0] if token_type_ids is None else types[token_type_ids]))
        x = self.ln(x, "embeddings.LayerNorm")
        maskf = attention_mask.to(torch.float32)
        bias = ((1.0 - maskf) * -1e9).view(B, 1, 1, T)
        for i in range(self.L):
            pre = "encoder.layer.%d." % i

            def heads(t):
                return t.view(B, T, self.NH, hs).transpose(1, 2)

            q = heads(self.lin(x, pre + "attention.self.query"))
            k = heads(self.lin(x, pre + "attention.self.key"))
            v = heads(self.lin(x, pre + "attention.self.value"))
            att = torch.softmax(q @ k.transpose(-1, -2) * (1.0 / math.sqrt(hs)) + bias, dim=-1)
            ctx = (att @ v).transpose(1, 2).reshape(B, T, self.C)
            x = self.ln(x + self.lin(ctx, pre + "attention.output.dense"), pre + "attention.output.LayerNorm")
            f = torch.nn.functional.gelu(self.lin(x, pre + "intermediate.dense"))
            x = self.ln(x + self.lin(f, pre + "output.dense"), pre + "output.LayerNorm")
        if self.cross_encoder:
            pooled = torch.tanh(self.lin(x[:, 0], "pooler.dense"))
            return torch.nn.functional.linear(pooled, self.w("classifier.weight"), self.w("classifier.bias"))
        m = maskf.unsqueeze(-1)
        pooled = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2.0, dim=1)


def check_golden(model, golden_dir, max_tokens=256):
    """max |diff| of the model's embeddings against the golden ones, one text at a time"""
    toks = [json.loads(l) for l in open(golden_dir + "/tokens.jsonl") if l.strip()]
    embs = {}
    for l in open(golden_dir + "/embeddings.jsonl"):
        if l.strip():
            g = json.loads(l)
            embs[g["text"]] = g["embedding"]
    worst = 0.0
    with torch.no_grad():
        for t in toks:
            ids = t["ids"]
            if len(ids) > max_tokens:
                ids = ids[:max_tokens - 1] + [ids[-1]]
            x = torch.tensor([ids], dtype=torch.int64)
            e = model(x, torch.ones_like(x))[0]
            worst = max(worst, (e - torch.tensor(embs[t["text"]])).abs().max().item())
    return worst, len(toks)


def pair_types(ids):
    """token type ids of a BERT pair: 0 up to and including the first [SEP] (the pair's last id), then 1"""
    first = ids.index(ids[-1])
    return [0 if i <= first else 1 for i in range(len(ids))]


def check_pairs(model, path):
    """max |diff| of the model's logits against pg_tfm's scores of CHECK.jsonl, one pair at a time"""
    worst, n = 0.0, 0
    with torch.no_grad():
        for line in open(path):
            if not line.strip():
                continue
            p = json.loads(line)
            x = torch.tensor([p["ids"]], dtype=torch.int64)
            z = model(x, torch.ones_like(x), torch.tensor([pair_types(p["ids"])], dtype=torch.int64))[0, 0]
            worst = max(worst, abs(z.item() - p["score"]))
            n += 1
    return worst, n


def weights(model_dir):
    """the model directory's tensors: model.fp16.safetensors or model.safetensors"""
    f = model_dir + "/model.fp16.safetensors"
    return read_safetensors(f if os.path.exists(f) else model_dir + "/model.safetensors")


def export_cross_encoder(model_dir, out, check):
    """the cross-encoder graph (input_ids, attention_mask, token_type_ids -> logits), checked against pg_tfm"""
    cfg = json.load(open(model_dir + "/config.json"))
    model = Bert(cfg, weights(model_dir), cross_encoder=True).eval()
    if check:
        worst, n = check_pairs(model, check)
        print("export: torch cross-encoder vs pg_tfm tfm_score_pair (%d pairs): max |diff| %.2e" % (n, worst))
        if worst > 1e-4 or n == 0:
            sys.exit("export: pair check failed")
    ids = torch.tensor([[101, 7592, 102, 2088, 102], [101, 7592, 102, 2088, 0]], dtype=torch.int64)
    mask = (ids != 0).to(torch.int64)
    types = torch.tensor([pair_types([101, 7592, 102, 2088, 102])] * 2, dtype=torch.int64)
    axes = {0: "batch", 1: "seq"}
    torch.onnx.export(model, (ids, mask, types), out, input_names=["input_ids", "attention_mask", "token_type_ids"],
                      output_names=["logits"],
                      dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                                    "logits": {0: "batch"}},
                      opset_version=14, do_constant_folding=True)
    print("export: wrote", out)


def main():
    if sys.argv[1] == "--cross-encoder":
        export_cross_encoder(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
        return
    model_dir, out = sys.argv[1], sys.argv[2]
    golden = sys.argv[3] if len(sys.argv) > 3 else None
    cfg = json.load(open(model_dir + "/config.json"))
    model = Bert(cfg, weights(model_dir)).eval()
    if golden:
        worst, n = check_golden(model, golden)
        print("export: torch model vs golden embeddings (%d texts): max |diff| %.2e" % (n, worst))
        if worst > 1e-4:
            sys.exit("export: golden check failed")
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.int64)
    mask = (ids != 0).to(torch.int64)
    torch.onnx.export(model, (ids, mask), out, input_names=["input_ids", "attention_mask"],
                      output_names=["sentence_embedding"],
                      dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                                    "sentence_embedding": {0: "batch"}},
                      opset_version=14, do_constant_folding=True)
    print("export: wrote", out)


if __name__ == "__main__":
    main()
