#!/usr/bin/env bash
# Starts or stops a local Bolide cluster on loopback: 1 NameServer
# (127.0.0.1:9876) and 2 broker groups (broker-a on :10911, broker-b on
# :10921, each also on its VIP port, 2 below), each with its own data
# directory under $BOLIDE_CLUSTER_DIR (default ./cluster). Binaries come
# from $BOLIDE_BIN_DIR, default target/release (built on demand). Ports:
# $BOLIDE_NAMESRV_PORT, $BOLIDE_BROKER_PORT (broker-a; broker-b is 10 above).
#
#   deploy/local-cluster.sh start | stop | status
#
# start refuses while any member runs (pid file naming a live bolide
# process) or while one of its ports is taken, and stops what it started if
# a member fails to come up. stop stops brokers first (so they unregister
# from a live NameServer), says what it stopped and removes stale pid files.
# status exits 0 if every member runs and listens, 3 if none runs, else 1.
set -euo pipefail

cd "$(dirname "$0")/.."
DIR=${BOLIDE_CLUSTER_DIR:-$PWD/cluster}
BIN=${BOLIDE_BIN_DIR:-$PWD/target/release}
NAMESRV_PORT=${BOLIDE_NAMESRV_PORT:-9876}
BROKER_PORT=${BOLIDE_BROKER_PORT:-10911}
BROKERS=("broker-a:$BROKER_PORT" "broker-b:$((BROKER_PORT + 10))")
# Members in start order, as name:port.
MEMBERS=("namesrv:$NAMESRV_PORT" "${BROKERS[@]}")
START_TIMEOUT_S=20
STOP_TIMEOUT_S=30

build() {
  if [[ ! -x "$BIN/bolide-broker" || ! -x "$BIN/bolide-namesrv" ]]; then
    cargo build --release -p bolide-broker -p bolide-namesrv
  fi
}

# True if something accepts connections on 127.0.0.1:$1.
listening() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# True if pid $1 runs and, with a second argument, runs a command whose
# name starts with it. A zombie (a killed member nobody has reaped yet,
# which still answers kill -0) does not run.
alive() {
  local comm state
  [[ "$1" =~ ^[0-9]+$ ]] && read -r _ comm state _ 2>/dev/null <"/proc/$1/stat" &&
    [[ "$state" != Z && "$comm" == "(${2:-}"* ]]
}

# True if pid $1 runs a bolide binary, not a stranger that reused the pid.
is_bolide() {
  alive "$1" bolide-
}

# The pid recorded for member $1, or nothing.
recorded_pid() {
  [[ -e "$DIR/$1.pid" ]] && cat "$DIR/$1.pid" || true
}

# Ports member $1:$2 listens on (brokers also on their VIP port).
ports_of() {
  if [[ "$1" == namesrv ]]; then echo "$2"; else echo "$2 $(($2 - 2))"; fi
}

# Waits until member $1 (pid $2) accepts on port $3; false if it exits.
wait_started() {
  local deadline=$((SECONDS + START_TIMEOUT_S))
  while ((SECONDS < deadline)); do
    # Not is_bolide: right after the fork the child may not have exec'd yet.
    if ! alive "$2"; then
      echo "$1 exited during startup; last lines of $DIR/$1.log:" >&2
      tail -n 5 "$DIR/$1.log" >&2
      return 1
    fi
    listening "$3" && return 0
    sleep 0.05
  done
  echo "$1 (pid $2) does not listen on port $3 after ${START_TIMEOUT_S}s (see $DIR/$1.log)" >&2
  return 1
}

write_broker_config() {
  cat >"$DIR/$1.toml" <<TOML
[broker]
broker_name = "$1"
listen_host = "127.0.0.1"
listen_port = $2
namesrv_addrs = ["127.0.0.1:$NAMESRV_PORT"]

[store]
data_dir = "$DIR/$1/data"
TOML
}

# Refuses (exit 1) if a member runs or one of the cluster's ports is taken.
check_not_running() {
  local running=() spec name port pid
  for spec in "${MEMBERS[@]}"; do
    name=${spec%%:*}
    pid=$(recorded_pid "$name")
    if [[ -n "$pid" ]] && is_bolide "$pid"; then running+=("$name (pid $pid)"); fi
  done
  if ((${#running[@]})); then
    echo "cluster already running: ${running[*]}; run '$0 stop' first" >&2
    exit 1
  fi
  for spec in "${MEMBERS[@]}"; do
    for port in $(ports_of "${spec%%:*}" "${spec##*:}"); do
      if listening "$port"; then
        echo "port $port (for ${spec%%:*}) is in use by another process; not starting" >&2
        exit 1
      fi
    done
  done
}

start() {
  build
  mkdir -p "$DIR"
  check_not_running
  rm -f "$DIR"/*.pid # all stale: check_not_running found no live member
  local spec name port pid
  for spec in "${MEMBERS[@]}"; do
    name=${spec%%:*} port=${spec##*:}
    if [[ "$name" == namesrv ]]; then
      "$BIN/bolide-namesrv" --listen "127.0.0.1:$port" >"$DIR/$name.log" 2>&1 &
    else
      mkdir -p "$DIR/$name"
      write_broker_config "$name" "$port"
      "$BIN/bolide-broker" --config "$DIR/$name.toml" >"$DIR/$name.log" 2>&1 &
    fi
    pid=$!
    echo "$pid" >"$DIR/$name.pid"
    if ! wait_started "$name" "$pid" "$port"; then
      echo "start failed; stopping what was started" >&2
      stop >&2 || true
      exit 1
    fi
    echo "started $name (pid $pid) on 127.0.0.1:$port"
  done
  echo "cluster up: NameServer 127.0.0.1:$NAMESRV_PORT, brokers ${BROKERS[*]} (logs in $DIR)"
}

# Stops member $1 if its pid file names a live bolide process; false if it
# outlives the timeout (its pid file is then kept).
stop_member() {
  local pid
  pid=$(recorded_pid "$1")
  [[ -n "$pid" ]] || return 0
  if ! is_bolide "$pid"; then
    echo "removed stale pid file of $1 (pid $pid is not running)"
    rm -f "$DIR/$1.pid"
    return 0
  fi
  kill -TERM "$pid"
  local deadline=$((SECONDS + STOP_TIMEOUT_S))
  while is_bolide "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
  if is_bolide "$pid"; then
    echo "$1 (pid $pid) still running ${STOP_TIMEOUT_S}s after SIGTERM" >&2
    return 1
  fi
  echo "stopped $1 (pid $pid)"
  rm -f "$DIR/$1.pid"
}

stop() {
  local failed=0 i
  if ! compgen -G "$DIR/*.pid" >/dev/null; then
    echo "cluster not running (no pid files in $DIR)"
    return 0
  fi
  # Brokers first, so they unregister from a NameServer still running.
  for ((i = ${#MEMBERS[@]} - 1; i >= 0; i--)); do
    stop_member "${MEMBERS[i]%%:*}" || failed=1
  done
  return $failed
}

status() {
  local up=0 down=0 spec name port pid
  for spec in "${MEMBERS[@]}"; do
    name=${spec%%:*} port=${spec##*:}
    pid=$(recorded_pid "$name")
    if [[ -n "$pid" ]] && is_bolide "$pid"; then
      if listening "$port"; then
        echo "$name: running (pid $pid), listening on 127.0.0.1:$port"
        up=$((up + 1))
      else
        echo "$name: running (pid $pid), but nothing listens on 127.0.0.1:$port"
      fi
    elif [[ -n "$pid" ]]; then
      echo "$name: not running (stale pid file: pid $pid is gone)"
      down=$((down + 1))
    elif listening "$port"; then
      echo "$name: not running, but another process listens on 127.0.0.1:$port"
      down=$((down + 1))
    else
      echo "$name: not running"
      down=$((down + 1))
    fi
  done
  if ((up == ${#MEMBERS[@]})); then return 0; fi
  if ((down == ${#MEMBERS[@]})); then return 3; fi
  return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
