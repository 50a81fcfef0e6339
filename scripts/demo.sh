#!/usr/bin/env bash
# scripts/demo.sh: set everything up on this machine and show pg_tfm at work on the real model
source "$(dirname "$0")/lib.sh"

install_deps
build_install
choose_run_dir
fetch_model
fetch_spam
start_cluster
psql -q -d postgres -c "CREATE DATABASE demo" >/dev/null
log "demo (psql -d demo; the cluster stays up: PGHOST=$PGHOST PGPORT=$PGPORT)"
psql -d demo -v ON_ERROR_STOP=1 -v model_dir="$PG_TFM_MODEL_DIR" -v spam="$PG_TFM_SPAM_CSV" -f "$REPO/scripts/demo.sql"
echo
echo "Connect: PGHOST=$PGHOST PGPORT=$PGPORT psql -U postgres demo"
echo "Stop:    $( [ "$(id -u)" = 0 ] && echo 'runuser -u postgres -- ')$PGBIN/pg_ctl -D $RUN/pgdata stop"
