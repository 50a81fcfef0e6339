// test/make_st_models.js GOLDEN_DIR OUT_DIR: model directories for sql/stconfig.sql (issue 15).
// The bge-small-en-v1.5 folder of the golden data has the REAL config.json, tokenizer.json and
// sentence-transformers files but no weights: the directories below keep those files (config.json
// shrunk to hidden 32, 4 heads, FFN 37, 2 layers, and 1_Pooling's word_embedding_dimension with it)
// and get RANDOM F32 weights (a fixed-seed xorshift) under BERT's tensor names. Variants change one
// sentence-transformers setting each; the refused ones need no weights (refused before they are read).
'use strict';
const fs = require('fs');
const path = require('path');
const { xorshift, bertTensors, randomWeights } = require('./lib/fixtures.js');
const [golden, out] = process.argv.slice(2);
const bge = path.join(golden, 'models', 'bge-small-en-v1.5');
const read = (f) => fs.readFileSync(path.join(bge, f));
const json = (f) => JSON.parse(read(f));

function dir(name, files) {                  // write one model directory (keys may hold one folder level)
  const d = path.join(out, name);
  fs.rmSync(d, { recursive: true, force: true });
  for (const [f, c] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(d, f)), { recursive: true });
    fs.writeFileSync(path.join(d, f), typeof c === 'string' || Buffer.isBuffer(c) ? c : JSON.stringify(c, null, 2));
  }
  fs.mkdirSync(d, { recursive: true });
}

const H = 32, NH = 4, I = 37, L = 2;
const config = { ...json('config.json'), hidden_size: H, num_attention_heads: NH, intermediate_size: I, num_hidden_layers: L };
const V = config.vocab_size, P = config.max_position_embeddings;

// random weights of the shrunk config, BERT names (BertModel: no "bert." prefix)
function weights() {
  return randomWeights(bertTensors({ V, P, H, I, L }), xorshift(0x2545f491));
}
const w = weights();

const modules = json('modules.json');
const pooling = { ...json('1_Pooling/config.json'), word_embedding_dimension: H };
const st = {
  'config.json': config, 'tokenizer.json': read('tokenizer.json'), 'modules.json': modules,
  '1_Pooling/config.json': pooling, 'sentence_bert_config.json': read('sentence_bert_config.json'),
  'config_sentence_transformers.json': read('config_sentence_transformers.json'),
};
const pool = (p) => ({ ...st, '1_Pooling/config.json': p });
const only = (mode) => ({ word_embedding_dimension: H, pooling_mode_cls_token: false, pooling_mode_mean_tokens: false,
  pooling_mode_max_tokens: false, pooling_mode_mean_sqrt_len_tokens: false, [mode]: true });

// computed: bge's own settings (CLS pooling, Normalize, max_seq_length 512), and one change each
dir('bge', { ...st, 'model.safetensors': w });
dir('plain', { 'config.json': config, 'tokenizer.json': read('tokenizer.json'), 'model.safetensors': w });
dir('no_normalize', { ...st, 'modules.json': modules.filter((m) => !m.type.endsWith('Normalize')), 'model.safetensors': w });
dir('seq128', { ...st, 'sentence_bert_config.json': { max_seq_length: 128, do_lower_case: false }, 'model.safetensors': w });
dir('max', { ...pool(only('pooling_mode_max_tokens')), 'model.safetensors': w });
dir('mean_sqrt_len', { ...pool(only('pooling_mode_mean_sqrt_len_tokens')), 'model.safetensors': w });
// the newer form: one "pooling_mode" string (and no Normalize module)
dir('lasttoken', { ...pool({ word_embedding_dimension: H, pooling_mode: 'lasttoken' }),
  'modules.json': modules.filter((m) => !m.type.endsWith('Normalize')), 'model.safetensors': w });
// the oldest form: only the four original flags, mean on by default when a flag is missing
dir('mean_default', { ...pool({ word_embedding_dimension: H }), 'model.safetensors': w });

// sentence-transformers' prompts (newer config_sentence_transformers.json): the default import prefixes
// (sql/prefixes.sql); bge's own file has none
const prompts = { query: 'Represent this sentence for searching relevant passages: ', passage: '' };
dir('prompt', { ...st, 'config_sentence_transformers.json': { ...json('config_sentence_transformers.json'), prompts, default_prompt_name: 'query' }, 'model.safetensors': w });
dir('prompt_nodefault', { ...st, 'config_sentence_transformers.json': { ...json('config_sentence_transformers.json'), prompts }, 'model.safetensors': w });
dir('prompt_bad', { ...st, 'config_sentence_transformers.json': { ...json('config_sentence_transformers.json'), prompts: { query: 42 } }, 'model.safetensors': w });
// refused (0A000) before the weights are read: none are written
const dense = [modules[0], modules[1], { idx: 2, name: '2', path: '2_Dense', type: 'sentence_transformers.models.Dense' }, { ...modules[2], idx: 3, name: '3' }];
dir('dense', { ...st, 'modules.json': dense });
dir('concat', pool({ ...pooling, pooling_mode_mean_tokens: true }));
dir('weightedmean', pool(only('pooling_mode_weightedmean_tokens')));
const tok = JSON.parse(read('tokenizer.json'));
dir('cased', { ...st, 'tokenizer.json': JSON.stringify({ ...tok, normalizer: { ...tok.normalizer, lowercase: false } }) });
dir('traversal', { ...st, 'modules.json': modules.map((m) => (m.type.endsWith('Pooling') ? { ...m, path: '../bge/1_Pooling' } : m)) });
// refused from config.json alone: the directories hold nothing else
for (const [name, patch] of Object.entries({
  token_classification: { architectures: ['BertForTokenClassification'] },
  question_answering: { architectures: ['BertForQuestionAnswering'] },
  gelu_new: { hidden_act: 'gelu_new' },
  relative_key: { position_embedding_type: 'relative_key' },
  decoder: { is_decoder: true },
})) dir(name, { 'config.json': { ...config, ...patch } });
dir('roberta_config_only', { 'config.json': fs.readFileSync(path.join(golden, 'models', 'tiny-random-roberta', 'config.json')) });
// allowed: a masked-LM checkpoint used as an embedder (BertForMaskedLM names carry the "bert." prefix)
{
  const hlen = Number(w.readBigUInt64LE(0)), h = JSON.parse(w.subarray(8, 8 + hlen).toString()), hp = {};
  for (const [k, v] of Object.entries(h)) hp['bert.' + k] = v;
  const j = Buffer.from(JSON.stringify(hp)), len = Buffer.alloc(8); len.writeBigUInt64LE(BigInt(j.length));
  dir('masked_lm', { 'config.json': { ...config, architectures: ['BertForMaskedLM'] }, 'tokenizer.json': read('tokenizer.json'),
    'model.safetensors': Buffer.concat([len, j, w.subarray(8 + hlen)]) });
}
