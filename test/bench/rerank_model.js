// test/bench/rerank_model.js SRC_DIR OUT_DIR: the cross-encoder test/bench/rerank.sh times. SRC_DIR holds
// the REAL config.json and tokenizer.json of cross-encoder/ms-marco-MiniLM-L-12-v2 (shared/golden), copied
// unchanged (12 layers, hidden 384, 12 heads, FFN 1536, one label); the weights are RANDOM, because no real
// weights can be had here: a fixed-seed xorshift, each value the sum of four uniform draws scaled to a
// standard deviation of 0.02 (BERT's initializer_range; near-normal), LayerNorm gains 1 and biases 0,
// the classifier at 0.5 so that logits are of order 1. F32 safetensors under BertForSequenceClassification's
// names (bert.embeddings.*, bert.encoder.layer.N.*, bert.pooler.dense.*, classifier.*). The timings do not
// depend on the values; the scores are meaningless.
'use strict';
const fs = require('fs');
const path = require('path');
const { xorshift, bertTensors, safetensors, writeDir } = require('../lib/fixtures.js');

const [src, out] = process.argv.slice(2);
const config = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8'));
const { vocab_size: V, max_position_embeddings: P, hidden_size: H, intermediate_size: I, num_hidden_layers: L } = config;
const K = Object.keys(config.id2label || { 0: 'LABEL_0' }).length;

const rnd = xorshift(0x2545f491);
// four uniforms on [-0.5, 0.5) sum to variance 1/3: scaled to standard deviation std
const normalish = (std) => () => (rnd() + rnd() + rnd() + rnd()) * std * Math.sqrt(3);
const list = [...bertTensors({ prefix: 'bert.', V, P, H, I, L, types: config.type_vocab_size }),
  ['bert.pooler.dense.weight', [H, H]], ['bert.pooler.dense.bias', [H]], ['classifier.weight', [K, H]], ['classifier.bias', [K]]];
const tensors = list.map(([name, shape]) => {
  let init = normalish(name.startsWith('classifier.') ? 0.5 : 0.02);
  if (/LayerNorm\.weight$/.test(name)) init = () => 1;
  else if (/LayerNorm\.bias$/.test(name)) init = () => 0;
  return [name, shape, init];
});
const d = path.dirname(path.resolve(out));
writeDir(d, path.basename(out), {
  'config.json': fs.readFileSync(path.join(src, 'config.json')),
  'tokenizer.json': fs.readFileSync(path.join(src, 'tokenizer.json')),
  'model.safetensors': safetensors(tensors),
});
