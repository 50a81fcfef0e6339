#!/usr/bin/env bash
# test/bench/mlp.sh: pg_tfm's MLP (tfm_train(name, 'mlp', ...)) against scikit-learn's MLPClassifier and
# MLPRegressor on scikit-learn's own data sets (Debian python3-sklearn), same features, same fixed split
# (test/make_tabular.js: 25 % held out), same hidden sizes and optimiser settings (Adam(W) lr 1e-3, batch 64,
# L2 / weight decay 1e-4, inputs standardised on the training rows, regression targets standardised too).
# One thread each (pg_tfm.blas_threads = 1, OPENBLAS_NUM_THREADS=1 for numpy). Two regimes:
#   fixed: EPOCHS epochs (default 100) on all training rows, no validation split: the same work on both
#          sides (compare the time per epoch and the accuracy of the same schedule);
#   early: at most 200 epochs, early stopping after 10 epochs without improvement on a 10 % validation split
#          (pg_tfm: validation loss, best weights kept; scikit-learn: validation accuracy or R², tol 1e-4).
# Reports held-out accuracy or R² and training time (the whole CALL for pg_tfm: reading the rows, training,
# storing; fit() for scikit-learn), means of SEEDS runs (default 3); then fairness by group (Fairlearn's
# definitions in numpy) on both sides' breast-cancer predictions. Starts its own throwaway cluster.
source "$(dirname "$0")/../../scripts/lib.sh"
SEEDS=${SEEDS:-3}
EPOCHS=${EPOCHS:-100}
PY=/usr/bin/python3   # Debian's, with python3-sklearn (not a python3 earlier on PATH)
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
choose_run_dir
TAB="$RUN/tabular"
rm -rf "$TAB"
node "$REPO/test/make_tabular.js" "$SKLEARN_DATA" "$TAB" >/dev/null
chmod -R a+rX "$TAB"
start_cluster
trap stop_cluster EXIT
bench_db
for t in digits breast_cancer diabetes; do
  ltype=text; [ $t = diabetes ] && ltype=float8
  q -v ON_ERROR_STOP=1 -c "CREATE TABLE $t (id int PRIMARY KEY, split text, features real[], label $ltype)" \
    -c "\\copy $t FROM '$TAB/$t.csv' CSV"
done

# data set, task, hidden sizes (JSON array), metric
cases="digits classification [64,32] accuracy
breast_cancer classification [32] accuracy
diabetes regression [32] r2"

log "pg_tfm, $SEEDS seeds, 1 thread"
echo "$cases" | while read -r t task hidden metric; do
  for regime in fixed early; do
    opts="\"hidden\": $hidden, \"batch_size\": 64, \"learning_rate\": 0.001, \"weight_decay\": 0.0001"
    [ $regime = fixed ] && opts="$opts, \"epochs\": $EPOCHS, \"validation_fraction\": 0"
    for s in $(seq 1 "$SEEDS"); do
      m="${t}_${regime}_$s"
      secs=$(ms -c "SET client_min_messages = warning" -c "SET pg_tfm.blas_threads = 1" \
        -c "CALL tfm_train('$m', 'mlp', 'SELECT features, label FROM $t WHERE split = ''train''', '$task', '{$opts, \"seed\": $s}')")
      q -c "SELECT format('%s %s seed %s: %s %s, %s s, %s epochs', '$t', '$regime', $s, '$metric',
              round((tfm_evaluate('$m', 'SELECT features, label FROM $t WHERE split = ''test''')->>'$metric')::numeric, 4),
              round($secs / 1000.0, 3), training->>'epochs_run') FROM tfm.models WHERE name = '$m'"
    done
  done
done | tee "$RUN/mlp_pg.txt"

log "scikit-learn $($PY -c 'import sklearn; print(sklearn.__version__)'), $SEEDS seeds, 1 thread"
$PY - "$TAB" "$SEEDS" "$EPOCHS" <<'PY' | tee "$RUN/mlp_sk.txt"
import sys, time, warnings
import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

warnings.simplefilter('ignore', ConvergenceWarning)
tab, seeds, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def load(name):
    X, y, split = [], [], []
    for line in open(f'{tab}/{name}.csv'):
        i, s, rest = line.rstrip('\n').split(',', 2)
        feats, label = rest.rsplit(',', 1)
        X.append([float(v) for v in feats.strip('"{}').split(',')])
        y.append(label)
        split.append(s)
    return np.array(X, dtype=np.float32), np.array(y), np.array(split) == 'train'

regimes = {
    # EPOCHS epochs on all training rows (n_iter_no_change beyond max_iter: no stop on the training loss)
    'fixed': dict(solver='adam', learning_rate_init=1e-3, batch_size=64, alpha=1e-4, max_iter=epochs,
                  early_stopping=False, n_iter_no_change=epochs + 1),
    'early': dict(solver='adam', learning_rate_init=1e-3, batch_size=64, alpha=1e-4, max_iter=200,
                  early_stopping=True, validation_fraction=0.1, n_iter_no_change=10),
}
for name, task, hidden, metric in [('digits', 'classification', (64, 32), 'accuracy'),
                                   ('breast_cancer', 'classification', (32,), 'accuracy'),
                                   ('diabetes', 'regression', (32,), 'r2')]:
    X, y, tr = load(name)
    if task == 'regression':
        y = y.astype(float)
    for regime, common in regimes.items():
        for s in range(1, seeds + 1):
            if task == 'classification':
                model = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=hidden, random_state=s, **common))
            else:
                model = TransformedTargetRegressor(
                    regressor=make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=hidden, random_state=s, **common)),
                    transformer=StandardScaler())
            t0 = time.perf_counter()
            model.fit(X[tr], y[tr])
            secs = time.perf_counter() - t0
            pred = model.predict(X[~tr])
            score = accuracy_score(y[~tr], pred) if task == 'classification' else r2_score(y[~tr], pred)
            est = model[-1] if task == 'classification' else model.regressor_[-1]
            print(f'{name} {regime} seed {s}: {metric} {score:.4f}, {secs:.3f} s, {est.n_iter_} epochs')
PY

log "means over $SEEDS seeds: metric, training seconds, epochs, ms per epoch"
for side in pg sk; do
  awk -v side=$side '{ k = $1 " " $2; m[k] += $6; t[k] += $7; e[k] += $9; n[k]++ }
    END { for (k in m) printf "%s %-22s %.4f  %6.3f s  %5.1f epochs  %5.2f ms/epoch\n", side == "pg" ? "pg_tfm      " : "scikit-learn",
          k, m[k] / n[k], t[k] / n[k], e[k] / n[k], 1000 * t[k] / e[k] }' "$RUN/mlp_$side.txt" | sort -k2,3
done
# fairness by group, Fairlearn's definitions computed by a few lines of numpy: on pg_tfm's own predictions
# (they must equal tfm_evaluate's "fairness") and, side by side, on scikit-learn's model of the same
# schedule; breast cancer held out, the group a synthetic attribute (id % 3), positive label "malignant"
log "fairness by group (breast cancer, group id % 3, positive 'malignant'): tfm_evaluate vs numpy"
q -c "\\copy (SELECT id % 3, label, tfm_classify(features, 'breast_cancer_fixed_1') FROM breast_cancer WHERE split = 'test' ORDER BY id) TO '$RUN/fair_pg.csv' CSV"
q -c "SELECT tfm_evaluate('breast_cancer_fixed_1', 'SELECT features, label, id % 3 FROM breast_cancer WHERE split = ''test''',
        '{\"positive\": \"malignant\"}')->'fairness'" > "$RUN/fair_pg.json"
$PY - "$TAB" "$RUN" "$EPOCHS" <<'PY'
import csv, json, sys, warnings
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
warnings.simplefilter('ignore', ConvergenceWarning)
tab, run, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])

def fairness(group, truth, pred, pos='malignant'):
    """Fairlearn's demographic parity difference/ratio, equal opportunity and equalized odds differences"""
    sel, tpr, fpr = [], [], []
    for g in sorted(set(group)):
        m = group == g
        p, t = pred[m] == pos, truth[m] == pos
        sel.append(p.mean())
        tpr.append((p & t).sum() / t.sum() if t.sum() else 0.0)
        fpr.append((p & ~t).sum() / (~t).sum() if (~t).sum() else 0.0)
    d = lambda v: max(v) - min(v)
    return {'demographic_parity_difference': d(sel),
            'demographic_parity_ratio': min(sel) / max(sel) if max(sel) else float('nan'),
            'equal_opportunity_difference': d(tpr), 'equalized_odds_difference': max(d(tpr), d(fpr))}

rows = list(csv.reader(open(f'{run}/fair_pg.csv')))
g, t, p = (np.array([r[i] for r in rows]) for i in range(3))
mine, theirs = fairness(g, t, p), json.load(open(f'{run}/fair_pg.json'))
print('pg_tfm model, tfm_evaluate :', {k: round(theirs[k], 6) for k in mine})
print('pg_tfm model, numpy        :', {k: round(float(v), 6) for k, v in mine.items()})
print('max |difference|           : %.2e' % max(abs(mine[k] - theirs[k]) for k in mine))
X, y, tr, ids = [], [], [], []
for line in open(f'{tab}/breast_cancer.csv'):
    i, s, rest = line.rstrip('\n').split(',', 2)
    feats, label = rest.rsplit(',', 1)
    X.append([float(v) for v in feats.strip('"{}').split(',')]); y.append(label); tr.append(s == 'train'); ids.append(int(i))
X, y, tr, ids = np.array(X), np.array(y), np.array(tr), np.array(ids)
sk = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), solver='adam', learning_rate_init=1e-3,
                   batch_size=64, alpha=1e-4, max_iter=epochs, n_iter_no_change=epochs + 1, random_state=1)).fit(X[tr], y[tr])
print('scikit-learn model, numpy  :', {k: round(float(v), 6) for k, v in
      fairness((ids[~tr] % 3).astype(str), y[~tr], sk.predict(X[~tr])).items()})
PY
lscpu | grep -E '^Model name|^CPU\(s\)|^Flags' | cut -c1-120
