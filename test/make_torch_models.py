#!/usr/bin/python3
# test/make_torch_models.py GOLDEN OUT_DIR MODEL_DIR [SEQCLS_DIR] (make_fixture's order): PyTorch
# checkpoints (pytorch_model.bin) written by the REAL writer, torch.save (Debian's python3-torch), for
# sql/torchbin.sql and test/t/084_torchbin_mutate.pl. Each directory holds the real config.json and
# tokenizer.json of its source:
#   minilm_bin      all-MiniLM-L6-v2 (MODEL_DIR's model.fp16.safetensors) as F16, in an OrderedDict
#   minilm_bin_f32  the same values as float32, with the reader's harder paths (see save_f32)
#   roberta_bin     GOLDEN's tiny-random-roberta (real tiny weights), in a plain dict
#   seqcls_bin      SEQCLS_DIR/cls3 (test/make_seqcls_models.js), when SEQCLS_DIR is given
#   gpt2_bin        GOLDEN's tiny GPT-2 as an older GPT2LMHeadModel checkpoint holds it (see save_gpt2)
#   refusals        legacy_bin, evil_bin, module_bin, truncated_bin, compressed_bin, list_bin,
#                   bad_pickle_bin, repeat_key_bin, metadata_bin (refused: format, code, objects, damage,
#                   a name repeated by memo, a name safetensors reserves), marks_bin, stack_bin (limits) and
#                   shape_bin (shapes disagree)
# Only torch, json and the standard library: safetensors files are read by read_safetensors below.
import collections
import json
import os
import pickle
import pickletools
import shutil
import struct
import sys
import zipfile

import torch

DTYPES = {'F16': torch.float16, 'BF16': torch.bfloat16, 'F32': torch.float32, 'F64': torch.float64,
          'I64': torch.int64, 'I32': torch.int32, 'I16': torch.int16, 'I8': torch.int8, 'U8': torch.uint8}


# the tensors of a .safetensors file in header order: 8-byte header length, JSON header, raw bytes
def read_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    sd = collections.OrderedDict()
    for name, t in header.items():
        if name == '__metadata__':
            continue
        a, b = t['data_offsets']
        dtype = DTYPES[t['dtype']]
        if a == b:
            sd[name] = torch.empty(t['shape'], dtype=dtype)
        else:
            sd[name] = torch.frombuffer(bytearray(data[8 + n + a:8 + n + b]), dtype=dtype).reshape(t['shape'])
    return sd


# OUT/name with src's config.json and tokenizer.json, and obj saved as its pytorch_model.bin by torch.save
def save_dir(out, name, src, obj, **save_kw):
    d = os.path.join(out, name)
    os.makedirs(d)
    for f in ('config.json', 'tokenizer.json'):
        shutil.copy(os.path.join(src, f), d)
    path = os.path.join(d, 'pytorch_model.bin')
    if obj is not None:
        torch.save(obj, path, **save_kw)
    return path


# minilm_bin_f32: the F16 values widened to float32, saved so the reader's strided, offset, shared-storage
# and parameter paths are exercised:
#   encoder.layer.0.intermediate.dense.weight   a transposed view (w.t().contiguous().t(): column-major
#                                               strides (1, 1536), not row-major)
#   encoder.layer.0.attention.self.query.weight  slices of ONE storage of 5 + 2 * 384 * 384 floats: query
#   encoder.layer.0.attention.self.key.weight    at storage offset 5, key right after it (offset 147461)
#   embeddings.LayerNorm.weight                 a torch.nn.Parameter (torch._utils._rebuild_parameter)
def save_f32(out, model_dir, sd16):
    sd = collections.OrderedDict((k, v.float() if v.is_floating_point() else v) for k, v in sd16.items())
    w = sd['encoder.layer.0.intermediate.dense.weight']
    sd['encoder.layer.0.intermediate.dense.weight'] = w.t().contiguous().t()
    assert sd['encoder.layer.0.intermediate.dense.weight'].stride() == (1, w.shape[0])
    q, k = sd['encoder.layer.0.attention.self.query.weight'], sd['encoder.layer.0.attention.self.key.weight']
    shared = torch.cat([torch.full((5,), 7.0), q.flatten(), k.flatten()])
    sd['encoder.layer.0.attention.self.query.weight'] = shared[5:5 + q.numel()].view(q.shape)
    sd['encoder.layer.0.attention.self.key.weight'] = shared[5 + q.numel():].view(k.shape)
    sd['embeddings.LayerNorm.weight'] = torch.nn.Parameter(sd['embeddings.LayerNorm.weight'], requires_grad=False)
    save_dir(out, 'minilm_bin_f32', model_dir, sd)


# a pickle whose loading would call os.system (the global posix.system) through __reduce__
class Evil:
    def __reduce__(self):
        return (os.system, ('echo pg_tfm-evil-pickle-ran',))


# the refused and damaged checkpoints, on tiny-random-roberta's files (small) unless MiniLM's file is needed
def save_refusals(out, rob_dir, rob_sd, minilm_bin):
    save_dir(out, 'legacy_bin', rob_dir, rob_sd, _use_new_zipfile_serialization=False)
    save_dir(out, 'module_bin', rob_dir, torch.nn.Linear(4, 4))
    save_dir(out, 'list_bin', rob_dir, list(rob_sd.values())[:3])
    bad = collections.OrderedDict(rob_sd)
    w = bad['embeddings.word_embeddings.weight']
    bad['embeddings.word_embeddings.weight'] = w[:-1].clone()  # one vocabulary row short of config.json's
    save_dir(out, 'shape_bin', rob_dir, bad)
    # a valid torch zip (STORED entries, archive/ prefix) whose data.pkl calls os.system when unpickled
    with zipfile.ZipFile(save_dir(out, 'evil_bin', rob_dir, None), 'w', zipfile.ZIP_STORED) as z:
        z.writestr('archive/data.pkl', pickle.dumps(Evil(), protocol=2))
        z.writestr('archive/version', '3\n')
    # a valid zip whose data.pkl is a pickle cut short (no STOP opcode)
    good = pickle.dumps(collections.OrderedDict(a=1), protocol=2)
    with zipfile.ZipFile(save_dir(out, 'bad_pickle_bin', rob_dir, None), 'w', zipfile.ZIP_STORED) as z:
        z.writestr('archive/data.pkl', good[:len(good) // 2])
        z.writestr('archive/version', '3\n')
    # roberta_bin's data.pkl with one more SETITEMS that repeats the first (key, tensor) pair 1000 times by
    # memo gets (4 bytes a pair: a pickle of n bytes could name n / 4 entries from two objects)
    src_bin = os.path.join(out, 'roberta_bin', 'pytorch_model.bin')
    with zipfile.ZipFile(src_bin) as src:
        pkl_name = next(n for n in src.namelist() if n.endswith('/data.pkl'))
        pkl = src.read(pkl_name)
        ops = list(pickletools.genops(pkl))
        key = next(i for i, (op, arg, _) in enumerate(ops) if op.name in ('BINUNICODE', 'SHORT_BINUNICODE'))
        key_memo = ops[key + 1][1]
        # the tensor: the first REDUCE on an argument tuple (TUPLE, BINPUT) after the key, not the empty
        # OrderedDict of its backward hooks (EMPTY_TUPLE)
        red = next(i for i in range(key, len(ops)) if ops[i][0].name == 'REDUCE' and
                   ops[i - 2][0].name == 'TUPLE' and ops[i + 1][0].name == 'BINPUT')
        t_memo = ops[red + 1][1]
        assert ops[-1][0].name == 'STOP' and key_memo < 256 and t_memo < 256
        repeat = b'(' + (b'h' + bytes([key_memo]) + b'h' + bytes([t_memo])) * 1000 + b'u'
        with zipfile.ZipFile(save_dir(out, 'repeat_key_bin', rob_dir, None), 'w', zipfile.ZIP_STORED) as z:
            for info in src.infolist():
                z.writestr(info.filename, pkl[:-1] + repeat + b'.' if info.filename == pkl_name
                           else src.read(info.filename))
    # pickles that grow the machine without new objects: 2^21 + 1 open marks; one object pushed 2^21 + 1
    # times by memo gets (refused 54000 at the limit, not after using memory a hundred times the file's)
    for name, pkl in (('marks_bin', b'\x80\x02' + b'(' * (2 ** 21 + 1) + b'.'),
                      ('stack_bin', b'\x80\x02Nq\x00' + b'h\x00' * (2 ** 21 + 1) + b'.')):
        with zipfile.ZipFile(save_dir(out, name, rob_dir, None), 'w', zipfile.ZIP_STORED) as z:
            z.writestr('archive/data.pkl', pkl)
            z.writestr('archive/version', '3\n')
    # a tensor named as safetensors' own metadata entry
    save_dir(out, 'metadata_bin', rob_dir, {'__metadata__': torch.zeros(2)})
    # roberta_bin's entries rewritten DEFLATED
    with zipfile.ZipFile(os.path.join(out, 'roberta_bin', 'pytorch_model.bin')) as src, \
         zipfile.ZipFile(save_dir(out, 'compressed_bin', rob_dir, None), 'w', zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            z.writestr(info.filename, src.read(info.filename))
    # minilm_bin's file cut in half: no end of central directory
    with open(minilm_bin, 'rb') as f:
        data = f.read()
    with open(save_dir(out, 'truncated_bin', os.path.dirname(minilm_bin), None), 'wb') as f:
        f.write(data[:len(data) // 2])


# gpt2_bin: GOLDEN's tiny GPT-2 (real vocab.json, merges.txt, config.json) as GPT2LMHeadModel's state dict
# was saved by older transformers: the transformer. prefix, each layer's attn.bias (the causal mask, a
# (1, 1, n_ctx, n_ctx) buffer) and attn.masked_bias (a scalar), and lm_head.weight tied to wte.weight
# (one storage): the buffers are not weights and the tied head is the same tensor
def save_gpt2(out, golden):
    src = os.path.join(golden, 'gpt2', 'tiny')
    sd = read_safetensors(os.path.join(src, 'model.safetensors'))
    cfg = json.load(open(os.path.join(src, 'config.json')))
    n_ctx = cfg.get('n_positions', cfg.get('n_ctx'))
    obj = collections.OrderedDict((k if k.startswith('transformer.') else 'transformer.' + k, v) for k, v in sd.items())
    for i in range(cfg['n_layer']):
        obj['transformer.h.%d.attn.bias' % i] = torch.tril(torch.ones(n_ctx, n_ctx)).view(1, 1, n_ctx, n_ctx)
        obj['transformer.h.%d.attn.masked_bias' % i] = torch.tensor(-1e4)
    obj['lm_head.weight'] = obj['transformer.wte.weight']
    d = os.path.join(out, 'gpt2_bin')
    os.makedirs(d)
    for f in ('config.json', 'vocab.json', 'merges.txt'):
        shutil.copy(os.path.join(src, f), d)
    torch.save(obj, os.path.join(d, 'pytorch_model.bin'))


# every fixture directory under OUT_DIR, made afresh (OUT_DIR must not exist)
def main():
    if len(sys.argv) not in (4, 5):
        sys.exit('usage: make_torch_models.py GOLDEN OUT_DIR MODEL_DIR [SEQCLS_DIR]')
    golden, out, model_dir = sys.argv[1:4]
    os.makedirs(out)
    sd16 = read_safetensors(os.path.join(model_dir, 'model.fp16.safetensors'))
    minilm_bin = save_dir(out, 'minilm_bin', model_dir, sd16)
    save_f32(out, model_dir, sd16)
    rob_dir = os.path.join(golden, 'models', 'tiny-random-roberta')
    rob_sd = read_safetensors(os.path.join(rob_dir, 'model.safetensors'))
    save_dir(out, 'roberta_bin', rob_dir, dict(rob_sd))
    if len(sys.argv) == 5:
        cls3 = os.path.join(sys.argv[4], 'cls3')
        save_dir(out, 'seqcls_bin', cls3, read_safetensors(os.path.join(cls3, 'model.safetensors')))
    save_gpt2(out, golden)
    save_refusals(out, rob_dir, rob_sd, minilm_bin)


if __name__ == '__main__':
    main()
