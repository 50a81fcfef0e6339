// test/make_seqcls_models.js GOLDEN_DIR OUT_DIR: BertForSequenceClassification checkpoints for
// sql/seqcls.sql (issue 15). The REAL config.json and tokenizer.json of the cross-encoder
// cross-encoder/ms-marco-MiniLM-L-12-v2 (golden data; it has no weights here), config.json shrunk to
// hidden 32, 4 heads, FFN 37, 2 layers, with RANDOM F32 weights (a fixed-seed xorshift) under the real
// tensor names (bert.embeddings.*, bert.encoder.layer.N.*, bert.pooler.dense.*, classifier.*).
// Variants change config.json's head settings; the refused ones break one thing each.
// OUT_DIR/expected.csv holds, for the token ids of test/data/seqcls_ids.json (made with Hugging
// Face's Rust tokenizers, see test/ref/pair_ids.js), the logits and probabilities of the plain
// reference test/ref/bert_ref.js on the same weights: sql/seqcls.sql COPYs it and compares.
'use strict';
const fs = require('fs');
const path = require('path');
const ref = require('./ref/bert_ref.js');
const { xorshift, bertTensors, randomValue, safetensors } = require('./lib/fixtures.js');
const [golden, out] = process.argv.slice(2);
const src = path.join(golden, 'models', 'ms-marco-MiniLM-L12-v2');
const read = (f) => fs.readFileSync(path.join(src, f));
const ids = JSON.parse(fs.readFileSync(path.join(__dirname, 'data', 'seqcls_ids.json')));

const H = 32, NH = 4, I = 37, L = 2;
const real = JSON.parse(read('config.json'));
const config = { ...real, hidden_size: H, num_attention_heads: NH, intermediate_size: I, num_hidden_layers: L };
const V = config.vocab_size, P = config.max_position_embeddings;

// random tensors of the shrunk config under BertForSequenceClassification's names, K outputs
const rnd = xorshift(0x1b873593);
function tensors(K) {
  const t = [...bertTensors({ prefix: 'bert.', V, P, H, I, L }),
    ['bert.pooler.dense.weight', [H, H]], ['bert.pooler.dense.bias', [H]], ['classifier.weight', [K, H]], ['classifier.bias', [K]]];
  const w = {};
  for (const [name, shape] of t) {
    const n = shape.reduce((a, b) => a * b, 1), a = new Float32Array(n);
    // the classifier larger, so that logits are of order 1 and a 1e-4 tolerance is tight
    for (let i = 0; i < n; i++) a[i] = randomValue(name, rnd, () => (name === 'classifier.weight' ? 4 : 0.6));
    w[name] = { shape, data: a };
  }
  return w;
}
// the safetensors file of tensors(K)'s weights
const weightsFile = (w) => safetensors(Object.entries(w).map(([name, { shape, data }]) => [name, shape, (i) => data[i]]));
function dir(name, files) {
  const d = path.join(out, name);
  fs.rmSync(d, { recursive: true, force: true });
  fs.mkdirSync(d, { recursive: true });
  for (const [f, c] of Object.entries(files))
    fs.writeFileSync(path.join(d, f), Buffer.isBuffer(c) || typeof c === 'string' ? c : JSON.stringify(c, null, 2));
}
const tokenizer = read('tokenizer.json');
const plain = { ...config };
delete plain.sbert_ce_default_activation_function;   // a classifier, not a cross-encoder
const labels3 = { 0: 'neutral', 1: 'contradiction', 2: 'entailment' };   // id order is not sorted order
const inv = (m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [v, Number(k)]));

const w1 = tensors(1), w3 = tensors(3);
const models = {
  ce: { config, w: w1 },                                                     // the real cross-encoder config
  cls3: { config: { ...plain, id2label: labels3, label2id: inv(labels3) }, w: w3 },
  multi: { config: { ...plain, id2label: labels3, label2id: inv(labels3), problem_type: 'multi_label_classification' }, w: w3 },
  reg: { config: { ...plain, problem_type: 'regression' }, w: w1 },
};
for (const [name, m] of Object.entries(models))
  dir(name, { 'config.json': m.config, 'tokenizer.json': tokenizer, 'model.safetensors': weightsFile(m.w) });

// refused
const tok = JSON.parse(tokenizer);
const swapped = { ...tok, post_processor: { ...tok.post_processor, pair: tok.post_processor.pair.map((e) => (e.Sequence ? { Sequence: { ...e.Sequence, type_id: 0 } } : e)) } };
const noClassifier = Object.fromEntries(Object.entries(w3).filter(([k]) => !k.startsWith('classifier')));
for (const [name, files] of Object.entries({
  bad_shape: { 'config.json': models.cls3.config, 'tokenizer.json': tokenizer, 'model.safetensors': weightsFile(tensors(2)) },
  no_classifier: { 'config.json': models.cls3.config, 'tokenizer.json': tokenizer, 'model.safetensors': weightsFile(noClassifier) },
  bad_template: { 'config.json': config, 'tokenizer.json': JSON.stringify(swapped), 'model.safetensors': weightsFile(w1) },
  bad_problem: { 'config.json': { ...plain, problem_type: 'ranking' }, 'tokenizer.json': tokenizer, 'model.safetensors': weightsFile(w1) },
  reg3: { 'config.json': { ...models.cls3.config, problem_type: 'regression' }, 'tokenizer.json': tokenizer, 'model.safetensors': weightsFile(w3) },
  dup_labels: { 'config.json': { ...plain, id2label: { 0: 'yes', 1: 'no', 2: 'yes' } }, 'tokenizer.json': tokenizer, 'model.safetensors': weightsFile(w3) },
  // cross-encoder settings on another head, or with no architecture: refused from config.json alone
  ce_token_classification: { 'config.json': { ...config, architectures: ['BertForTokenClassification'] } },
  ce_no_architecture: { 'config.json': Object.fromEntries(Object.entries(config).filter(([k]) => k !== 'architectures')) },
})) dir(name, files);

// expected numbers: model, a, b (empty: single text), ids, logits, probabilities
const val = (w) => (name) => w[name].data;
const csv = (x) => (x === null ? '' : '"' + String(x).replace(/"/g, '""') + '"');
const arr = (a) => '{' + a.map((v) => (Number.isInteger(v) ? v : v.toPrecision(9))).join(',') + '}';
const rows = [];
for (const p of ids.pairs) {
  for (const [model, key] of [['ce', ''], ['ce16', '16']]) {
    const z = ref.logits(config, val(w1), p['ids' + key], p['types' + key]);
    rows.push([model, p.a, p.b, arr(p['ids' + key]), arr(z), arr(z)]);
  }
}
for (const s of ids.singles) {
  const types = s.ids.map(() => 0);
  const z3 = ref.logits(models.cls3.config, val(w3), s.ids, types), z1 = ref.logits(config, val(w1), s.ids, types);
  rows.push(['cls3', s.text, null, arr(s.ids), arr(z3), arr(ref.softmax(z3))]);
  rows.push(['multi', s.text, null, arr(s.ids), arr(z3), arr(ref.sigmoid(z3))]);
  rows.push(['reg', s.text, null, arr(s.ids), arr(z1), arr(z1)]);
}
fs.writeFileSync(path.join(out, 'expected.csv'), rows.map((r) => r.map(csv).join(',') + '\n').join(''));
