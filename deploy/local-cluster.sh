#!/usr/bin/env bash
# Starts or stops a local Bolide cluster on loopback: 1 NameServer
# (127.0.0.1:9876) and 2 broker groups (broker-a on :10911, broker-b on
# :10921), each with its own data directory under $BOLIDE_CLUSTER_DIR
# (default ./cluster). Binaries come from $BOLIDE_BIN_DIR, default
# target/release (built on demand).
#
#   deploy/local-cluster.sh start | stop | status
set -euo pipefail

cd "$(dirname "$0")/.."
DIR=${BOLIDE_CLUSTER_DIR:-$PWD/cluster}
BIN=${BOLIDE_BIN_DIR:-$PWD/target/release}
NAMESRV_PORT=${BOLIDE_NAMESRV_PORT:-9876}
BROKERS=("broker-a:10911" "broker-b:10921")

build() {
  if [[ ! -x "$BIN/bolide-broker" || ! -x "$BIN/bolide-namesrv" ]]; then
    cargo build --release -p bolide-broker -p bolide-namesrv
  fi
}

wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on port $1 (see $DIR/*.log)" >&2
  return 1
}

start() {
  build
  mkdir -p "$DIR"
  "$BIN/bolide-namesrv" --listen "127.0.0.1:$NAMESRV_PORT" >"$DIR/namesrv.log" 2>&1 &
  echo $! >"$DIR/namesrv.pid"
  wait_port "$NAMESRV_PORT"
  for spec in "${BROKERS[@]}"; do
    local name=${spec%%:*} port=${spec##*:}
    mkdir -p "$DIR/$name"
    cat >"$DIR/$name.toml" <<TOML
[broker]
broker_name = "$name"
listen_host = "127.0.0.1"
listen_port = $port
namesrv_addrs = ["127.0.0.1:$NAMESRV_PORT"]

[store]
data_dir = "$DIR/$name/data"
TOML
    "$BIN/bolide-broker" --config "$DIR/$name.toml" >"$DIR/$name.log" 2>&1 &
    echo $! >"$DIR/$name.pid"
    wait_port "$port"
  done
  echo "cluster up: NameServer 127.0.0.1:$NAMESRV_PORT, brokers ${BROKERS[*]} (logs in $DIR)"
}

stop() {
  local failed=0
  for pidfile in "$DIR"/*.pid; do
    [[ -e "$pidfile" ]] || continue
    local pid
    pid=$(cat "$pidfile")
    if kill -TERM "$pid" 2>/dev/null; then
      for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
      if kill -0 "$pid" 2>/dev/null; then echo "$pidfile: still running" >&2; failed=1; fi
    fi
    rm -f "$pidfile"
  done
  echo "cluster stopped"
  return $failed
}

status() {
  for pidfile in "$DIR"/*.pid; do
    [[ -e "$pidfile" ]] || { echo "not running"; return 0; }
    local pid
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then echo "$(basename "$pidfile" .pid): running ($pid)"; else echo "$(basename "$pidfile" .pid): dead"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
