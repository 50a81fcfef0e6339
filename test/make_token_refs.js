// test/make_token_refs.js GOLDEN_DIR OUT_DIR TOKENIZERS_PKG MODEL_DIR: references and model directories for
// sql/tokens.sql (issue 14: tfm_tokens, and the WordPiece fallback vocab.txt + tokenizer_config.json).
//
// refs.jsonl: {"tokenizer", "text", "ids", "tokens"}: ids and token strings (encoding.getTokens(), with
// special tokens, untruncated) from Hugging Face's Rust tokenizers (npm `tokenizers`, TOKENIZERS_PKG is its
// unpacked folder) for the REAL tokenizer files: all-MiniLM-L6-v2 (MODEL_DIR), bge-small-en-v1.5,
// distilbert-sst2, ms-marco-MiniLM-L12-v2 (WordPiece), tiny-random-roberta, roberta-base (byte-level BPE
// with RobertaProcessing) and GPT-2 (../shared/golden/gpt2/tiny: vocab.json + merges.txt, the Rust BPE model
// with a ByteLevel pre-tokenizer without prefix space, as GPT-2's tokenizer.json has it), and t5-small's
// SentencePiece Unigram tokenizer.json.
// Texts: the MiniLM golden texts and hard cases (scripts, white space runs, controls, ZWJ, emoji, special-token
// strings, a final capital sigma).
//
// Directories (WordPiece fallback): vocab_<name>/ holds the REAL vocab.txt, tokenizer_config.json and
// special_tokens_map.json (when the model has one) of bge / distilbert / msmarco and NO tokenizer.json, with the
// config.json and RANDOM weights of the fixtures PG_TFM_ST/bge, PG_TFM_FAMILIES/distilbert, PG_TFM_SEQCLS/ce
// (made earlier by test.sh); vocab_cased/ the bge one with do_lower_case false; no_tokenizer/ neither file.
'use strict';
const fs = require('fs');
const path = require('path');
const { generatorArgs } = require('./lib/fixtures.js');

const { golden, out, more: [modelDir], tokenizers: { Tokenizer, BPE, byteLevelPreTokenizer }, G, dir } = generatorArgs();

// ---- WordPiece fallback directories
const fixtures = {
  bge: [G('bge-small-en-v1.5'), path.join(process.env.PG_TFM_ST, 'bge')],
  distilbert: [G('distilbert-base-uncased-finetuned-sst-2-english'), path.join(process.env.PG_TFM_FAMILIES, 'distilbert')],
  msmarco: [G('ms-marco-MiniLM-L12-v2'), path.join(process.env.PG_TFM_SEQCLS, 'ce')],
};
for (const [name, [real, fixture]] of Object.entries(fixtures)) {
  const files = { 'config.json': fs.readFileSync(path.join(fixture, 'config.json')),
    'model.safetensors': fs.readFileSync(path.join(fixture, 'model.safetensors')) };
  for (const f of ['vocab.txt', 'tokenizer_config.json', 'special_tokens_map.json'])
    if (fs.existsSync(path.join(real, f))) files[f] = fs.readFileSync(path.join(real, f));
  dir('vocab_' + name, files);
  // the same weights with the real tokenizer.json, for the ids of the tokenizer.json path
  dir('json_' + name, { 'config.json': files['config.json'], 'model.safetensors': files['model.safetensors'],
    'tokenizer.json': fs.readFileSync(path.join(real, 'tokenizer.json')) });
}
{
  const bge = path.join(out, 'vocab_bge');
  const tc = JSON.parse(fs.readFileSync(path.join(bge, 'tokenizer_config.json'), 'utf8'));
  const files = Object.fromEntries(fs.readdirSync(bge).map((f) => [f, fs.readFileSync(path.join(bge, f))]));
  dir('vocab_cased', { ...files, 'tokenizer_config.json': { ...tc, do_lower_case: false } });
  const sm = JSON.parse(files['special_tokens_map.json']);
  dir('vocab_bad_special', { ...files, 'tokenizer_config.json': { ...tc, cls_token: '[NOT-IN-VOCAB]' },
    'special_tokens_map.json': { ...sm, cls_token: { content: '[NOT-IN-VOCAB]', lstrip: false } } });
  // the special tokens named only by tokenizer_config.json (as AddedToken objects, as older files write them)
  const { ['special_tokens_map.json']: _, ...nomap } = files;
  dir('vocab_config_only', { ...nomap, 'tokenizer_config.json': { ...tc, unk_token: { __type: 'AddedToken', content: '[UNK]' } } });
  dir('vocab_empty_line', { ...files, 'vocab.txt': files['vocab.txt'].toString().replace('\n[unused5]\n', '\n\n') });
  dir('vocab_basic_off', { ...files, 'tokenizer_config.json': { ...tc, do_basic_tokenize: false } });
  dir('no_tokenizer', { 'config.json': files['config.json'], 'model.safetensors': files['model.safetensors'] });
}

// ---- reference token strings
const hard = [
  '', 'Hello world', 'Hello, world!', "It's a test: don't, won't, we'll, I'd, they're, you've.",
  '  leading and trailing spaces  ', 'many     spaces\tand\ttabs\n\nnewlines', 'Ünïcödé àccents café naïve',
  'Greek ΣΊΣΥΦΟΣ and ΟΔΥΣΣΕΥΣ, Cyrillic Привет мир', 'CJK 日本語のテキスト 中文 한국어', 'emoji 😀👍🏽 👨‍👩‍👧 🇫🇷',
  'zero\u200bwidth\u200djoiner', 'control\u0001\u0007chars', '[CLS] literal [SEP] and [MASK] and [UNK]',
  '<s>inside</s> text <mask> and <pad>', 'Thai ภาษาไทย Arabic العربية Hindi हिन्दी Hebrew עברית',
  'combining e\u0301 a\u0308 n\u0303', 'digits ١٢٣ ¼ ½ ² ⅷ', 'url https://example.com/a?b=c&d=e#f',
  'supercalifragilisticexpialidocious antidisestablishmentarianism', 'x'.repeat(150), 'snake_case and kebab-case and CamelCase',
  '!!!???...,,,;;;', 'no\u00a0break\u3000ideographic space', "CAPS 'S 'VE 'Re and o'clock", 'İstanbul ǅ ß ﬁ',
];
const minilmTexts = fs.readFileSync(path.join(golden, 'minilm', 'tokens.jsonl'), 'utf8').trim().split('\n')
  .map((l) => JSON.parse(l).text).slice(0, 120);
const texts = [...hard, ...minilmTexts];
const lines = [];
(async () => {
  const tokenizers = {
    minilm: Tokenizer.fromFile(path.join(modelDir, 'tokenizer.json')),
    bge: Tokenizer.fromFile(G('bge-small-en-v1.5', 'tokenizer.json')),
    distilbert: Tokenizer.fromFile(G('distilbert-base-uncased-finetuned-sst-2-english', 'tokenizer.json')),
    msmarco: Tokenizer.fromFile(G('ms-marco-MiniLM-L12-v2', 'tokenizer.json')),
    roberta_tiny: Tokenizer.fromFile(G('tiny-random-roberta', 'tokenizer.json')),
    roberta_base: Tokenizer.fromFile(G('roberta-base', 'tokenizer.json')),
    t5: Tokenizer.fromFile(G('t5-small-tokenizer', 'tokenizer.json')),
  };
  const g2 = path.join(golden, 'gpt2', 'tiny');
  tokenizers.gpt2 = new Tokenizer(await BPE.fromFile(path.join(g2, 'vocab.json'), path.join(g2, 'merges.txt')));
  tokenizers.gpt2.setPreTokenizer(byteLevelPreTokenizer(false, true));
  for (const [name, tok] of Object.entries(tokenizers)) {
    tok.disablePadding();       // MiniLM's file pads to 128 and truncates: tfm_tokenize does neither
    tok.disableTruncation();
    for (const text of texts) {
      const e = await tok.encode(text);
      lines.push(JSON.stringify({ tokenizer: name, text, ids: e.getIds(), tokens: e.getTokens() }));
    }
  }
  fs.writeFileSync(path.join(out, 'refs.jsonl'), lines.join('\n') + '\n');
})().catch((e) => { console.error(e); process.exit(1); });
