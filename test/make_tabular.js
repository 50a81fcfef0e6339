// test/make_tabular.js SKLEARN_DATA_DIR OUT_DIR: scikit-learn's bundled data sets (Debian python3-sklearn)
// as CSV files pg_tfm's tests and benchmark load with COPY: id, split ('train' or 'test'), features (a
// PostgreSQL array literal), label or target. The split is a seeded shuffle (25 % test), the same for
// pg_tfm and scikit-learn (test/bench/mlp.sh reads these files too).
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const [dataDir, outDir] = process.argv.slice(2);
if (!dataDir || !outDir) {
  console.error('usage: node test/make_tabular.js SKLEARN_DATA_DIR OUT_DIR');
  process.exit(2);
}

// read a data file, gunzipped when it ends in .gz
function read(name) {
  const buf = fs.readFileSync(path.join(dataDir, name));
  return (name.endsWith('.gz') ? zlib.gunzipSync(buf) : buf).toString('utf8');
}

// rows of numbers from comma- or space-separated lines; skip = header lines
function numbers(text, skip, sep) {
  return text.split('\n').slice(skip).filter((l) => l.trim() !== '')
    .map((l) => l.trim().split(sep).map(Number));
}

// a deterministic permutation of 0..n-1 (xorshift32, seed fixed)
function permutation(n, seed) {
  const p = [...Array(n).keys()];
  let s = seed >>> 0;
  for (let i = n - 1; i > 0; i--) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    const j = s % (i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

// write OUT_DIR/name.csv from features X and labels y
function write(name, X, y) {
  const test = new Set(permutation(X.length, 20261202).slice(0, Math.round(X.length * 0.25)));
  for (const row of X) {
    if (row.some((v) => !Number.isFinite(v))) throw new Error(`${name}: a value is not a number`);
    if (row.length !== X[0].length) throw new Error(`${name}: rows of different lengths`);
  }
  const lines = X.map((row, i) => `${i + 1},${test.has(i) ? 'test' : 'train'},"{${row.join(',')}}",${y[i]}`);
  fs.writeFileSync(path.join(outDir, `${name}.csv`), lines.join('\n') + '\n');
  console.log(`${name}: ${X.length} rows, ${X[0].length} features, ${test.size} test rows`);
}

fs.mkdirSync(outDir, { recursive: true });
// digits: 1,797 8x8 images, 64 pixel features, label 0..9 in the last column
const digits = numbers(read('digits.csv.gz'), 0, ',');
write('digits', digits.map((r) => r.slice(0, 64)), digits.map((r) => r[64]));
// breast cancer: header line, 30 features, 0 = malignant, 1 = benign
const bc = numbers(read('breast_cancer.csv'), 1, ',');
write('breast_cancer', bc.map((r) => r.slice(0, 30)), bc.map((r) => (r[30] === 0 ? 'malignant' : 'benign')));
// diabetes: 442 patients, 10 raw features (space separated), disease progression target
const dx = numbers(read('diabetes_data_raw.csv.gz'), 0, /\s+/);
const dy = numbers(read('diabetes_target.csv.gz'), 0, /\s+/).map((r) => r[0]);
if (dx.length !== dy.length) throw new Error('diabetes: features and targets differ in rows');
write('diabetes', dx, dy);
// iris and wine: header line, features, class index last
for (const [name, file] of [['iris', 'iris.csv'], ['wine', 'wine_data.csv']]) {
  const rows = numbers(read(file), 1, ',');
  write(name, rows.map((r) => r.slice(0, -1)), rows.map((r) => r[r.length - 1]));
}
