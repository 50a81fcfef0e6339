// test/lib/fixtures.js: what the random-weight test fixtures share (make_bad_models.js,
// make_st_models.js, make_seqcls_models.js, make_family_models.js, make_head_models.js,
// make_token_refs.js): a fixed-seed xorshift, the tensor lists of BERT and DistilBERT encoders, the usual
// random values, the safetensors layout (F32, or raw bytes of another dtype), and the set-up of the
// generators run as `node test/make_X.js GOLDEN_DIR OUT_DIR TOKENIZERS_PKG ...` (generatorArgs)
'use strict';
const fs = require('fs');
const path = require('path');

// a fixed-seed xorshift32: each call gives the next value in [-0.5, 0.5)
function xorshift(seed) {
  let x = seed >>> 0;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 4294967296 - 0.5; };
}

// [name, shape] of a BERT encoder's tensors under prefix (BertModel's names): embeddings, then L layers
function bertTensors({ prefix = '', V, P, H, I, L, types = 2 }) {
  const t = [[prefix + 'embeddings.word_embeddings.weight', [V, H]], [prefix + 'embeddings.position_embeddings.weight', [P, H]],
    [prefix + 'embeddings.token_type_embeddings.weight', [types, H]], [prefix + 'embeddings.LayerNorm.weight', [H]],
    [prefix + 'embeddings.LayerNorm.bias', [H]]];
  for (let l = 0; l < L; l++) {
    const p = `${prefix}encoder.layer.${l}.`;
    for (const m of ['attention.self.query', 'attention.self.key', 'attention.self.value', 'attention.output.dense'])
      t.push([p + m + '.weight', [H, H]], [p + m + '.bias', [H]]);
    t.push([p + 'attention.output.LayerNorm.weight', [H]], [p + 'attention.output.LayerNorm.bias', [H]],
      [p + 'intermediate.dense.weight', [I, H]], [p + 'intermediate.dense.bias', [I]],
      [p + 'output.dense.weight', [H, I]], [p + 'output.dense.bias', [H]],
      [p + 'output.LayerNorm.weight', [H]], [p + 'output.LayerNorm.bias', [H]]);
  }
  return t;
}

// [name, shape] of a DistilBERT encoder's tensors under prefix (DistilBertModel's names), no token types
function distilbertTensors({ prefix = '', V, P, H, I, L }) {
  const t = [[prefix + 'embeddings.word_embeddings.weight', [V, H]], [prefix + 'embeddings.position_embeddings.weight', [P, H]],
    [prefix + 'embeddings.LayerNorm.weight', [H]], [prefix + 'embeddings.LayerNorm.bias', [H]]];
  for (let l = 0; l < L; l++) {
    const p = `${prefix}transformer.layer.${l}.`;
    for (const m of ['q_lin', 'k_lin', 'v_lin', 'out_lin']) t.push([p + 'attention.' + m + '.weight', [H, H]], [p + 'attention.' + m + '.bias', [H]]);
    t.push([p + 'sa_layer_norm.weight', [H]], [p + 'sa_layer_norm.bias', [H]], [p + 'ffn.lin1.weight', [I, H]], [p + 'ffn.lin1.bias', [I]],
      [p + 'ffn.lin2.weight', [H, I]], [p + 'ffn.lin2.bias', [H]], [p + 'output_layer_norm.weight', [H]], [p + 'output_layer_norm.bias', [H]]);
  }
  return t;
}

// the usual random value of an element of tensor name: LayerNorm gains near 1, the rest in
// [-scale/2, scale/2) (scale 0.6 unless scaleOf(name) says otherwise)
function randomValue(name, rnd, scaleOf = () => 0.6) {
  return /(LayerNorm|layer_norm)\.weight$/.test(name) ? 1 + 0.2 * rnd() : scaleOf(name) * rnd();
}

// a safetensors file of [name, shape, init] (init(i) gives element i) in list order, F32; or of
// [name, shape, bytes, dtype] (a Buffer of another dtype, e.g. the I64 embeddings.position_ids buffer)
function safetensors(tensors) {
  const h = {}, parts = [];
  let off = 0;
  for (const [name, shape, init, dtype = 'F32'] of tensors) {
    const n = shape.reduce((a, b) => a * b, 1);
    let b = init;
    if (!Buffer.isBuffer(init)) {
      b = Buffer.alloc(4 * n);
      for (let i = 0; i < n; i++) b.writeFloatLE(init(i), 4 * i);
    }
    h[name] = { dtype, shape, data_offsets: [off, off + b.length] };
    parts.push(b); off += b.length;
  }
  const j = Buffer.from(JSON.stringify(h)), len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(j.length));
  return Buffer.concat([len, j, ...parts]);
}

// a safetensors file of random weights for [name, shape] pairs, drawn from rnd in list order
function randomWeights(list, rnd, scaleOf) {
  return safetensors(list.map(([name, shape]) => [name, shape, () => randomValue(name, rnd, scaleOf)]));
}

// a JSON file's value
const readJson = (f) => JSON.parse(fs.readFileSync(f, 'utf8'));

// the directory out/name made afresh with files ({file: contents}: a string, a Buffer, or an object written
// as JSON); its path
function writeDir(out, name, files) {
  const d = path.join(out, name);
  fs.rmSync(d, { recursive: true, force: true });
  fs.mkdirSync(d, { recursive: true });
  for (const [f, c] of Object.entries(files))
    fs.writeFileSync(path.join(d, f), typeof c === 'string' || Buffer.isBuffer(c) ? c : JSON.stringify(c, null, 2));
  return d;
}

// the arguments GOLDEN_DIR OUT_DIR TOKENIZERS_PKG [MORE...] of a generator: golden, out, more, tokenizers
// (npm `tokenizers` loaded from its unpacked folder), G(...p) (a path under GOLDEN_DIR/models) and
// dir(name, files) (writeDir under OUT_DIR)
function generatorArgs() {
  const [golden, out, tokPkg, ...more] = process.argv.slice(2);
  return { golden, out, more, tokenizers: require(path.resolve(tokPkg)), G: (...p) => path.join(golden, 'models', ...p),
    dir: (name, files) => writeDir(out, name, files) };
}

module.exports = { xorshift, bertTensors, distilbertTensors, randomValue, safetensors, randomWeights, readJson, writeDir,
  generatorArgs };
