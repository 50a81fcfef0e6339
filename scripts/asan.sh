#!/usr/bin/env bash
# scripts/asan.sh: the regression suite against a pg_tfm built with AddressSanitizer and
# UndefinedBehaviorSanitizer (gcc, -fsanitize=address,undefined), loaded into the private
# PostgreSQL of PG_TFM_PREFIX (required: the sanitized build is never installed elsewhere).
# The build happens in a temporary copy of the tree; the server runs with libasan preloaded
# (PostgreSQL itself is not instrumented; scripts/asan_boot.c, preloaded after it, works around a
# deadlock of a preloaded libasan with libgpg-error's constructor) and ASAN_OPTIONS=detect_leaks=0:abort_on_error=1, so an
# invalid access aborts the backend, which the suite sees as a crash. Sanitizer reports go to
# $RUN/asan/ (one file per process); the script prints them and fails when there is any.
# Runs the pg_regress files of ASAN_REGRESS (default: every file of the Makefile's REGRESS but train,
# the long training file),
# and TAP files of ASAN_TAP (default test/asan/asan_active.pl, which checks that the backends map
# libasan and the sanitized pg_tfm.so, and test/asan/safetensors_mutate.pl, ST_MUTATIONS=2000
# mutated safetensors headers through tfm_import, and test/t/084_torchbin_mutate.pl, mutated pytorch_model.bin
# files (TB_SECONDS, TB_MUTATIONS); add test/t/*.pl files to run those sanitized too). At the end the normal build is installed again.
# Not part of scripts/test.sh: the sanitized server is 2-3 times slower.
source "$(dirname "$0")/lib.sh"
[ -n "$PG_ROOT" ] || { echo "set PG_TFM_PREFIX to a private PostgreSQL copy (see scripts/lib.sh)" >&2; exit 2; }
# every file of the Makefile's REGRESS (read from make, so files added later are included) but train
all_regress=$(make -s --no-print-directory -C "$REPO" PG_CONFIG=/usr/bin/pg_config \
  --eval 'print-regress: ; @echo $(REGRESS)' print-regress)
ASAN_REGRESS=${ASAN_REGRESS:-$(echo "$all_regress" | tr ' ' '\n' | grep -vx train | tr '\n' ' ')}
[ -n "$ASAN_REGRESS" ] || { echo "could not read REGRESS from the Makefile" >&2; exit 2; }
ASAN_TAP=${ASAN_TAP:-"$REPO/test/asan/asan_active.pl $REPO/test/asan/safetensors_mutate.pl $REPO/test/t/084_torchbin_mutate.pl"}
export ST_MUTATIONS=${ST_MUTATIONS:-2000}
install_deps
choose_run_dir
libasan=$(gcc -print-file-name=libasan.so)
[ -f "$libasan" ] || { echo "gcc's libasan.so not found (install libasan8)" >&2; exit 2; }

log "building pg_tfm with -fsanitize=address,undefined in a temporary copy"
build=$(mktemp -d /tmp/pg_tfm-asan.XXXXXX)
restore() {
  log "installing the normal build again"
  build_install >/dev/null
  rm -rf "$build"
}
trap restore EXIT
cp -a "$REPO/Makefile" "$REPO/pg_tfm.control" "$REPO/src" "$REPO/sql" "$build/"
find "$build/src" -name "*.o" -delete
# PGXS adds COPT to both CFLAGS and LDFLAGS
make -C "$build" -s -j2 PG_CONFIG=/usr/bin/pg_config \
  COPT="-fsanitize=address,undefined -fno-sanitize=alignment -fno-omit-frame-pointer -g"
make -C "$build" -s install PG_CONFIG=/usr/bin/pg_config DESTDIR="$PG_ROOT" >/dev/null
[[ "$(ldd "$PG_ROOT/usr/lib/postgresql/15/lib/pg_tfm.so")" == *libasan* ]] || { echo "the installed pg_tfm.so is not sanitized" >&2; exit 1; }

# preloaded after libasan: initialises ASan before a library constructor's bindtextdomain (see the file)
gcc -shared -fPIC -O2 -Wall -Wextra -o "$RUN/asan_boot.so" "$REPO/scripts/asan_boot.c" -ldl
rm -rf "$RUN/asan" && mkdir -p "$RUN/asan"
[ "$(id -u)" = 0 ] && chown postgres: "$RUN/asan"
opts="detect_leaks=0:abort_on_error=1:disable_coredump=1:log_path=$RUN/asan/asan"
export PG_TFM_SERVER_ENV="LD_PRELOAD=$libasan:$RUN/asan_boot.so ASAN_OPTIONS=$opts UBSAN_OPTIONS=print_stacktrace=1:log_path=$RUN/asan/ubsan"
log "running pg_regress ($ASAN_REGRESS) and TAP ($ASAN_TAP) on the sanitized server"
rc=0
PG_TFM_BUILD=0 PG_TFM_UNIT=0 PG_TFM_FUZZ=0 PG_TFM_REGRESS="$ASAN_REGRESS" PG_TFM_TAP="$ASAN_TAP" \
  "$REPO/scripts/test.sh" || rc=$?

reports=$(ls "$RUN"/asan/ 2>/dev/null | wc -l)
if [ "$reports" != 0 ]; then
  log "sanitizer reports"
  for f in "$RUN"/asan/*; do echo "--- $f"; head -60 "$f"; done
  rc=1
fi
echo "asan.sh: suite exit $rc, $reports sanitizer report file(s) in $RUN/asan"
exit $rc
