#!/usr/bin/env bash
# test/bench/quality.sh: how far bf16 and int8 all-MiniLM-L6-v2 are from fp32 (issue 16), on more texts
# than test/t/058_precision_quality.pl, with the same code (test/t/TfmQuality.pm):
#   cosine to fp32, mean and min: the golden texts, SpamAssassin subjects and bodies (max_tokens 256)
#   top-10 neighbour overlap with fp32's neighbours: golden (each text over the other 250), subjects
#     (N_QUERIES over N_CORPUS), bodies (N_BODY_QUERIES over the rest of N_BODIES)
#   spam F1 of a head trained on each precision's encoder (fine_tune head, seed 16, early stopping off) on
#     the held-out half of F1_ROWS subjects and of F1_BODY_ROWS bodies (tfm_train's validation metrics)
# Quality does not depend on load; the kernels do not change results between runs on one CPU level
# (CPU_FEATURES caps the level, as pg_tfm.cpu_features; int8 gives the same bits at every level).
#   PG_TFM_PREFIX=... bash test/bench/quality.sh
#   (env: N_QUERIES=200 N_CORPUS=2000 N_BODIES=400 N_BODY_QUERIES=50 F1_ROWS=5000 F1_BODY_ROWS=1500
#    CPU_FEATURES=auto)
source "$(dirname "$0")/../../scripts/lib.sh"
N_QUERIES=${N_QUERIES:-200}
N_CORPUS=${N_CORPUS:-2000}
N_BODIES=${N_BODIES:-400}
N_BODY_QUERIES=${N_BODY_QUERIES:-50}
F1_ROWS=${F1_ROWS:-5000}
F1_BODY_ROWS=${F1_BODY_ROWS:-1500}
CPU_FEATURES=${CPU_FEATURES:-auto}
# TfmTest's psql gives up after this many seconds: a training on 1,500 bodies takes minutes on a busy machine
export PG_TFM_TAP_TIMEOUT=${PG_TFM_TAP_TIMEOUT:-7200}
GOLDEN=${PG_TFM_GOLDEN_SRC:-$REPO/../shared/golden}

choose_run_dir
fetch_model
fetch_spam
start_cluster
trap stop_cluster EXIT
# the server reads the golden texts with COPY: a copy it can reach
rm -rf "$RUN/golden" && cp -r "$GOLDEN" "$RUN/golden" && chmod -R a+rX "$RUN/golden"
[ "$CPU_FEATURES" = auto ] || export PGOPTIONS="-c pg_tfm.cpu_features=$CPU_FEATURES"
bench_db
q -c "SELECT 1 FROM tfm_import('minilm', '$PG_TFM_MODEL_DIR', '{\"max_tokens\": 256}')" >/dev/null

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs) model $(grep -m1 '^model[[:space:]]' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "tfm_cpu_info(): $(q -c 'SELECT tfm_cpu_info()')"
start=$(date +%s)
perl -I "$REPO/test/t" -MTfmTest -MTfmQuality -e '
	my ($model, $golden, $spam, $nq, $nc, $nb, $nbq, $f1, $f1b) = @ARGV;
	quality_setup("bench", $model, $golden, $spam);
	print "$_->{line}\n" for quality_measure("bench", [ "golden", quality_set("golden"), 0 ],
		[ "subjects", quality_set("subjects", 1, $nq + $nc), $nq ], [ "bodies", quality_set("bodies", 1, $nb), $nbq ]);
	for my $s ([ "subjects", $f1 ], [ "bodies", $f1b ])
	{
		my ($set, $n) = @$s;
		my %f = map { $_ => spam_f1("bench", $set, $n, $_ eq "fp32" ? "minilm" : "minilm_$_", "spam_${set}_$_") }
		  ("fp32", @PRECISIONS);
		print spam_f1_line("$set, " . int($n / 2) . " held out", \%f), "\n";
	}' "$PG_TFM_MODEL_DIR" "$RUN/golden" "$PG_TFM_SPAM_CSV" "$N_QUERIES" "$N_CORPUS" "$N_BODIES" "$N_BODY_QUERIES" \
	"$F1_ROWS" "$F1_BODY_ROWS"
echo "($(($(date +%s) - start)) s)"
