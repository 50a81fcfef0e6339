#!/usr/bin/env bash
# scripts/fuzz.sh: build the libFuzzer targets of test/fuzz with clang-14
# (-fsanitize=fuzzer,address,undefined), replay their committed inputs (test/fuzz/corpus/<target>:
# seeds and regression inputs of bugs found), then fuzz each for FUZZ_SECONDS (default 20).
# Exits non-zero when a target crashes, leaks, trips a sanitizer or fails one of its own checks;
# the input is saved as $RUN/fuzz/crash-<target>-* (replay: $RUN/fuzz/bin/<target> FILE).
# FUZZ_TARGETS="wordpiece bpe" picks targets; the growing corpus lives in $RUN/fuzz/corpus.
# FUZZ_COVERAGE=1 also builds the targets with source-based coverage and prints the line and
# branch coverage of the src files each target links (the tokenizer cores of src/text, src/model/stcheck.c)
# reached by the corpus (llvm-cov-14). fuzz_safetensors covers the pure-C safetensors checks of
# src/model/stcheck.c; the jsonb header decoding of src/model/safetensors.c is fuzzed in the server by
# test/asan/safetensors_mutate.pl (test/t/083_safetensors_mutate.pl in the normal suite).
# Installs clang-14 and libclang-rt-14-dev with apt when missing.
source "$(dirname "$0")/lib.sh"
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
FUZZ_TARGETS=${FUZZ_TARGETS:-"wordpiece bpe merges blob safetensors roberta unigram"}

missing=""
for p in clang-14 libclang-rt-14-dev; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  log "installing Debian packages:$missing"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq $missing >/dev/null
fi
choose_run_dir
fetch_model
export FUZZ_TOKENIZER_JSON="$PG_TFM_MODEL_DIR/tokenizer.json"
golden=${PG_TFM_GOLDEN:-$(cd "$REPO/.." && pwd)/shared/golden}
if [ -f "$golden/gpt2/tiny/vocab.json" ]; then export FUZZ_GPT2_DIR="$golden/gpt2/tiny"; else
  echo "no GPT-2 vocabulary at $golden/gpt2/tiny: fuzz_bpe uses the 256 byte tokens only"; fi
export FUZZ_ROBERTA_DIR="$golden/models/tiny-random-roberta"   # fuzz_roberta: a vocabulary lacking byte characters
export FUZZ_UNIGRAM_JSON="$golden/models/t5-small-tokenizer/tokenizer.json"   # fuzz_unigram: vocabulary and charsmap

OUT=$RUN/fuzz
mkdir -p "$OUT/bin"
CC=clang-14
FLAGS="-g -O1 -Wall -Wextra -Werror -I$REPO/src -fno-sanitize-recover=undefined"
sources() { # the src files a target links: the pure-C tokenizer cores of src/text, or the safetensors checks
  case $1 in
    wordpiece|bpe|merges|blob|roberta|unigram) grep -L '"postgres.h"' "$REPO"/src/text/*.c ;;  # no server code
    safetensors) echo "$REPO/src/model/stcheck.c" ;;
    *) echo "unknown fuzz target $1" >&2; exit 2 ;;
  esac
}

log "building fuzz targets: $FUZZ_TARGETS"
for t in $FUZZ_TARGETS; do
  $CC $FLAGS -fsanitize=fuzzer,address,undefined -o "$OUT/bin/$t" "$REPO/test/fuzz/fuzz_$t.c" $(sources $t) -lutf8proc -lm
done

failed=0
for t in $FUZZ_TARGETS; do
  seeds=$REPO/test/fuzz/corpus/$t
  corpus=$OUT/corpus/$t
  mkdir -p "$corpus"
  log "fuzz_$t: replaying $(ls "$seeds" | wc -l) committed inputs, then fuzzing for $FUZZ_SECONDS s"
  if ! "$OUT/bin/$t" -artifact_prefix="$OUT/crash-$t-" "$seeds"/* > "$OUT/$t.replay.log" 2>&1; then
    tail -40 "$OUT/$t.replay.log"; echo "FAILED: fuzz_$t on a committed input"; failed=1; continue
  fi
  if "$OUT/bin/$t" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$OUT/crash-$t-" "$corpus" "$seeds" > "$OUT/$t.log" 2>&1; then
    done_line=$(grep -E "^#[0-9]+[[:space:]]+DONE" "$OUT/$t.log" | tail -1 || true)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$t.log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$OUT/$t.log")
    echo "fuzz_$t: $execs executions, $rate exec/s, $(echo "$done_line" | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' || true) (edges, features, corpus)"
  else
    grep -vE "^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)" "$OUT/$t.log" | tail -40
    echo "FAILED: fuzz_$t crashed; input saved as $(ls -t "$OUT"/crash-$t-* 2>/dev/null | head -1)"
    failed=1
  fi
done

if [ "${FUZZ_COVERAGE:-0}" = 1 ]; then
  log "line and branch coverage of the corpus (llvm-cov-14)"
  for t in $FUZZ_TARGETS; do
    $CC -g -O0 -I"$REPO/src" -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping \
      -o "$OUT/bin/$t.cov" "$REPO/test/fuzz/fuzz_$t.c" $(sources $t) -lutf8proc -lm
    rm -f "$OUT/$t.profraw"
    LLVM_PROFILE_FILE="$OUT/$t.profraw" "$OUT/bin/$t.cov" -runs=0 "$OUT/corpus/$t" "$REPO/test/fuzz/corpus/$t" >/dev/null 2>&1
    llvm-profdata-14 merge -sparse "$OUT/$t.profraw" -o "$OUT/$t.profdata"
    echo "fuzz_$t:"
    llvm-cov-14 report "$OUT/bin/$t.cov" -instr-profile="$OUT/$t.profdata" $(sources $t) | sed 's/^/  /'
  done
fi
[ "$failed" = 0 ]
