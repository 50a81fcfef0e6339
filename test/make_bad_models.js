// test/make_bad_models.js MODEL_DIR OUT_DIR: hostile and broken model directories for the error tests,
// and odd_shape: a valid BERT with random weights in shapes MiniLM lacks (sql/shapes.sql, sql/options.sql);
// huge_file: a sparse weights file over the 8 GB limit (sql/sqlstates.sql)
'use strict';
const fs = require('fs');
const path = require('path');
const { xorshift, bertTensors, randomWeights } = require('./lib/fixtures.js');
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
// a pytorch_model.bin that is not torch.save's zip format (the legacy format) and a sharded checkpoint: 0A000
dir('bin_weights', { ...base, 'pytorch_model.bin': Buffer.from([0x80, 0x02, 0x8a, 0x0a]) });
dir('tf_weights', { ...base, 'tf_model.h5': 'HDF5 weights, never read' });  // a format pg_tfm does not read
dir('sharded', { ...base, 'model-00001-of-00002.safetensors': weights, 'model-00002-of-00002.safetensors': weights,
  'model.safetensors.index.json': '{"metadata": {}, "weight_map": {}}' });

// odd_shape: MiniLM's tokenizer and vocabulary size, random F32 weights (a fixed-seed xorshift),
// hidden 20 in 4 heads of 5 channels, FFN 37, 2 layers: no dimension is a multiple of 8 or 16
{
  const H = 20, I = 37, L = 2, P = 64, V = JSON.parse(config).vocab_size;
  const w = randomWeights(bertTensors({ V, P, H, I, L }), xorshift(0x9e3779b9));
  dir('odd_shape', { 'tokenizer.json': tokenizer, 'model.safetensors': w,
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
