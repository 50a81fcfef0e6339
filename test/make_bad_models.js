// test/make_bad_models.js MODEL_DIR OUT_DIR: hostile and broken model directories for the error tests,
// and odd_shape: a valid BERT with random weights in shapes MiniLM lacks (sql/shapes.sql, sql/options.sql);
// huge_file: a sparse weights file over the 8 GB limit (sql/sqlstates.sql)
'use strict';
const fs = require('fs');
const path = require('path');
const [src, out] = process.argv.slice(2);
const config = fs.readFileSync(path.join(src, 'config.json'));
const tokenizer = fs.readFileSync(path.join(src, 'tokenizer.json'));
const weights = fs.readFileSync(path.join(src, 'model.fp16.safetensors'));
const hlen = Number(weights.readBigUInt64LE(0));
const header = JSON.parse(weights.subarray(8, 8 + hlen).toString());
const data = weights.subarray(8 + hlen);

function st(h, d = data) {                   // serialise a safetensors file
  const j = Buffer.from(JSON.stringify(h));
  const l = Buffer.alloc(8); l.writeBigUInt64LE(BigInt(j.length));
  return Buffer.concat([l, j, d]);
}
function dir(name, files) {                  // write one model directory
  const d = path.join(out, name);
  fs.rmSync(d, { recursive: true, force: true });
  fs.mkdirSync(d, { recursive: true });
  for (const [f, c] of Object.entries(files)) fs.writeFileSync(path.join(d, f), c);
}
const cfg = (patch) => JSON.stringify({ ...JSON.parse(config), ...patch });
const tok = (patch) => JSON.stringify({ ...JSON.parse(tokenizer), ...patch });
const base = { 'config.json': config, 'tokenizer.json': tokenizer };
const withHeader = (f) => { const h = JSON.parse(JSON.stringify(header)); f(h); return st(h); };

dir('empty', {});
dir('no_tokenizer', { 'config.json': config, 'model.safetensors': weights });
dir('bad_json', { ...base, 'config.json': '{"model_type": "bert", oops', 'model.safetensors': weights });
dir('not_bert', { ...base, 'config.json': cfg({ model_type: 't5' }), 'model.safetensors': weights });
dir('negative_size', { ...base, 'config.json': cfg({ hidden_size: -384 }), 'model.safetensors': weights });
dir('absurd_size', { ...base, 'config.json': cfg({ num_hidden_layers: 100000 }), 'model.safetensors': weights });
dir('wrong_shape', { ...base, 'config.json': cfg({ intermediate_size: 3072 }), 'model.safetensors': weights });
dir('bpe_tokenizer', { ...base, 'tokenizer.json': tok({ model: { type: 'BPE', vocab: {}, merges: [] } }), 'model.safetensors': weights });
dir('truncated', { ...base, 'model.safetensors': weights.subarray(0, 1000) });
dir('tiny_file', { ...base, 'model.safetensors': Buffer.from([1, 2, 3]) });
const huge = Buffer.from(weights); huge.writeBigUInt64LE(0xffffffffn, 0);
dir('huge_header', { ...base, 'model.safetensors': huge });
dir('offsets_past_end', { ...base, 'model.safetensors': withHeader((h) => { h['embeddings.LayerNorm.bias'].data_offsets = [data.length - 10, data.length + 758]; }) });
dir('size_mismatch', { ...base, 'model.safetensors': withHeader((h) => { h['embeddings.LayerNorm.bias'].shape = [385]; }) });
dir('wrong_dtype', { ...base, 'model.safetensors': withHeader((h) => { h['encoder.layer.0.output.dense.bias'].dtype = 'I16'; }) });
dir('unknown_dtype', { ...base, 'model.safetensors': withHeader((h) => { h['encoder.layer.0.output.dense.bias'].dtype = 'Q4'; }) });
dir('missing_tensor', { ...base, 'model.safetensors': withHeader((h) => { delete h['encoder.layer.3.attention.self.key.weight']; }) });
dir('header_not_object', { ...base, 'model.safetensors': st([1, 2, 3], Buffer.alloc(0)) });
dir('two_weights', { ...base, 'a.safetensors': weights, 'b.safetensors': weights });

// odd_shape: MiniLM's tokenizer and vocabulary size, random F32 weights (a fixed-seed xorshift),
// hidden 20 in 4 heads of 5 channels, FFN 37, 2 layers: no dimension is a multiple of 8 or 16
{
  const H = 20, I = 37, L = 2, P = 64, V = JSON.parse(config).vocab_size;
  let x = 0x9e3779b9;
  const rnd = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 4294967296 - 0.5; };
  const tensors = [['embeddings.word_embeddings.weight', [V, H]], ['embeddings.position_embeddings.weight', [P, H]],
    ['embeddings.token_type_embeddings.weight', [2, H]], ['embeddings.LayerNorm.weight', [H]], ['embeddings.LayerNorm.bias', [H]]];
  for (let l = 0; l < L; l++) {
    const p = `encoder.layer.${l}.`;
    for (const m of ['attention.self.query', 'attention.self.key', 'attention.self.value', 'attention.output.dense'])
      tensors.push([p + m + '.weight', [H, H]], [p + m + '.bias', [H]]);
    tensors.push([p + 'attention.output.LayerNorm.weight', [H]], [p + 'attention.output.LayerNorm.bias', [H]],
      [p + 'intermediate.dense.weight', [I, H]], [p + 'intermediate.dense.bias', [I]],
      [p + 'output.dense.weight', [H, I]], [p + 'output.dense.bias', [H]],
      [p + 'output.LayerNorm.weight', [H]], [p + 'output.LayerNorm.bias', [H]]);
  }
  const h = {}, parts = [];
  let off = 0;
  for (const [name, shape] of tensors) {
    const n = shape.reduce((a, b) => a * b, 1), b = Buffer.alloc(4 * n);
    const ln = name.endsWith('LayerNorm.weight');
    for (let i = 0; i < n; i++) b.writeFloatLE(ln ? 1 + 0.2 * rnd() : 0.6 * rnd(), 4 * i);
    h[name] = { dtype: 'F32', shape, data_offsets: [off, off + b.length] };
    parts.push(b); off += b.length;
  }
  dir('odd_shape', { 'tokenizer.json': tokenizer, 'model.safetensors': st(h, Buffer.concat(parts)),
    'config.json': cfg({ hidden_size: H, num_attention_heads: 4, intermediate_size: I, num_hidden_layers: L,
      max_position_embeddings: P }) });
}

// huge_file: a weights file of 8 GB + 1 byte, sparse (no disk used), refused from its size (54000)
{
  dir('huge_file', base);
  const fd = fs.openSync(path.join(out, 'huge_file', 'model.safetensors'), 'w');
  fs.ftruncateSync(fd, 8 * 1024 * 1024 * 1024 + 1);
  fs.closeSync(fd);
}
