// test/ref/pair_ids.js GOLDEN_DIR > test/data/seqcls_ids.json: the token ids sql/seqcls.sql checks, made
// ONCE with Hugging Face's own tokenizer library (Rust) through its npm binding, pinned:
//   npm install --prefix /tmp/hf tokenizers@0.23.2 && NODE_PATH=/tmp/hf/node_modules node test/ref/pair_ids.js "$PG_TFM_GOLDEN"
// (the package ships prebuilt binaries for linux-x64-gnu). It reads the REAL tokenizer.json of
// cross-encoder/ms-marco-MiniLM-L-12-v2 and writes, for each text pair, the ids and token types of
// [CLS] a [SEP] b [SEP] untruncated and truncated longest_first to 16 tokens, and for each single
// text its ids. Ids are facts: the file is committed; test/make_seqcls_models.js reads it.
'use strict';
const path = require('path');
const { Tokenizer } = require('tokenizers');
const golden = process.argv[2];
const file = path.join(golden, 'models', 'ms-marco-MiniLM-L12-v2', 'tokenizer.json');

const pairs = [
  ['How many people live in Berlin?', 'Berlin has a population of 3,520,031 registered inhabitants in an area of 891.82 square kilometers.'],
  ['How many people live in Berlin?', 'New York City is famous for the Metropolitan Museum of Art.'],
  ['what is a cross-encoder', 'A cross-encoder reads the query and the document together, token by token.'],
  ['Café Müller', 'Das Café liegt in Köln; naïve façade, ÉCOLE.'],
  ['東京の人口', '東京都の人口は約1400万人です。'],
  ['a', ''],
  ['', 'only the second text'],
  ['short query', 'a much longer document that goes on and on about many different things, so that truncating a pair to sixteen tokens must cut this side first and leave the query alone'],
  ['a rather long query with quite a few words in it as well', 'and a document that is also long enough that both sides are cut down to half of the budget each'],
  ['odd budget split', 'x'],
];
const singles = [
  'I loved this film, it was wonderful.',
  'The service was slow and the food was cold.',
  'Nothing special.',
  'Ünïcödé àccents and 中文 mixed in',
];

(async () => {
  const tok = Tokenizer.fromFile(file);
  const out = { made_with: 'tokenizers@0.23.2 (npm, Rust), ' + path.basename(path.dirname(file)) + '/tokenizer.json', pairs: [], singles: [] };
  for (const [a, b] of pairs) {
    tok.disableTruncation();
    const e = await tok.encode(a, b);
    tok.setTruncation(16, { strategy: 'LongestFirst' });
    const t = await tok.encode(a, b);
    out.pairs.push({ a, b, ids: e.getIds(), types: e.getTypeIds(), ids16: t.getIds(), types16: t.getTypeIds() });
  }
  tok.disableTruncation();
  for (const s of singles) {
    const e = await tok.encode(s);
    out.singles.push({ text: s, ids: e.getIds() });
  }
  const list = (xs) => '[\n' + xs.map((x) => '  ' + JSON.stringify(x)).join(',\n') + '\n ]';
  process.stdout.write(`{\n "made_with": ${JSON.stringify(out.made_with)},\n "pairs": ${list(out.pairs)},\n "singles": ${list(out.singles)}\n}\n`);
})();
