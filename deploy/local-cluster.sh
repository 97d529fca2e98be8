#!/usr/bin/env bash
# Starts or stops a local Bolide cluster on loopback: 1 NameServer and 2
# broker groups, broker-a and broker-b, each a master and, with --slaves,
# a slave that copies the master's log and metadata. Every broker has its
# own config, log and data directory under $BOLIDE_CLUSTER_DIR (default
# ./cluster). Binaries come from $BOLIDE_BIN_DIR, default target/release
# (built on demand; target/debug is built on demand too).
#
#   deploy/local-cluster.sh start [--slaves] [--sync] | stop | status
#
#   --slaves  also start broker-a-slave and broker-b-slave (broker_id 1,
#             replication.role = "slave", replication.master_addr = their
#             master's replication port).
#   --sync    masters are sync_master (a send is answered once the slave
#             holds it); implies --slaves. Without it they are async_master.
#
# Every broker runs S shards ($BOLIDE_SHARDS, default nproc; a slave must
# run its master's count), and the brokers share 3/4 of the machine's RAM
# (each gets an equal broker.memory_budget_bytes, so a broker refuses an S
# that does not fit its share, naming broker.shards). Ports:
#
#   member          client  VIP (client - 2)  replication (client + 1 ..)
#   namesrv         9876    -                 -
#   broker-a        10911   10909             10912 .. 10911 + S
#   broker-b        10921   10919             10922 .. 10921 + S
#   broker-a-slave  10931   10929             -
#   broker-b-slave  10941   10939             -
#
# Groups are 10 ports apart while S <= 7, else S + 3 rounded up to a
# multiple of 10, so no two brokers' ports meet. Change the bases with
# $BOLIDE_NAMESRV_PORT and $BOLIDE_BROKER_PORT (broker-a's client port).
#
# start refuses while any member runs (pid file naming a live bolide
# process) or while one of the ports it needs is taken, and stops what it
# started if a member fails to come up (every port of a member must
# listen). stop stops slaves, then masters (so they unregister from a live
# NameServer), then the NameServer, says what it stopped and removes stale
# pid files. status lists the members the last start started with each
# one's role (and, if $BOLIDE_BIN_DIR has bolide-admin, the role and
# replication lag the broker itself reports); it exits 0 if every member
# runs and listens, 3 if none runs, else 1.
set -euo pipefail

cd "$(dirname "$0")/.."
DIR=${BOLIDE_CLUSTER_DIR:-$PWD/cluster}
BIN=${BOLIDE_BIN_DIR:-$PWD/target/release}
NAMESRV_PORT=${BOLIDE_NAMESRV_PORT:-9876}
BROKER_PORT=${BOLIDE_BROKER_PORT:-10911}
SHARDS=${BOLIDE_SHARDS:-$(nproc)}
GROUPS_=(broker-a broker-b)
# Every member this script may start, in stop order.
STOP_ORDER=(broker-b-slave broker-a-slave broker-b broker-a namesrv)
# The members of this start (or of the last one, for status), one per
# line: name role client-port [other ports...]; role is namesrv,
# async_master, sync_master or slave.
MEMBERS_FILE=$DIR/members
MEMBERS=()
START_TIMEOUT_S=20
STOP_TIMEOUT_S=30

usage() {
  echo "usage: $0 start [--slaves] [--sync] | stop | status" >&2
  exit 2
}

die() {
  echo "$*" >&2
  exit 1
}

check_settings() {
  local v
  for v in NAMESRV_PORT BROKER_PORT SHARDS; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "BOLIDE_$v=${!v} is not a number"
  done
  ((SHARDS >= 1 && SHARDS <= 128)) || die "BOLIDE_SHARDS must be 1..=128"
  ((BROKER_PORT >= 3)) || die "BOLIDE_BROKER_PORT must be >= 3 (the VIP port is 2 below)"
}

# Fills MEMBERS for a start with (1) or without (0) slaves; masters get
# role $2.
plan() {
  local slaves=$1 master_role=$2 stride g port repl
  stride=$((SHARDS + 3 <= 10 ? 10 : (SHARDS + 3 + 9) / 10 * 10))
  MEMBERS=("namesrv namesrv $NAMESRV_PORT")
  for g in "${!GROUPS_[@]}"; do
    port=$((BROKER_PORT + g * stride))
    repl=$(seq -s ' ' $((port + 1)) $((port + SHARDS)))
    MEMBERS+=("${GROUPS_[g]} $master_role $port $((port - 2)) $repl")
  done
  if ((slaves)); then
    for g in "${!GROUPS_[@]}"; do
      port=$((BROKER_PORT + (${#GROUPS_[@]} + g) * stride))
      MEMBERS+=("${GROUPS_[g]}-slave slave $port $((port - 2))")
    done
  fi
}

# Refuses (exit 1) a layout whose own ports collide or leave 1..=65535.
check_layout() {
  local -A owner=()
  local spec port name ports
  for spec in "${MEMBERS[@]}"; do
    read -r name _ ports <<<"$spec"
    for port in $ports; do
      ((port >= 1 && port <= 65535)) || die "port $port (for $name) is outside 1..=65535"
      [[ -z "${owner[$port]:-}" ]] ||
        die "port $port is wanted by both ${owner[$port]} and $name; change BOLIDE_NAMESRV_PORT or BOLIDE_BROKER_PORT"
      owner[$port]=$name
    done
  done
}

# Reads the members of the last start (or, if none was recorded, the
# masters-only layout of the current settings).
load_members() {
  if [[ -e "$MEMBERS_FILE" ]]; then
    mapfile -t MEMBERS <"$MEMBERS_FILE"
  else
    check_settings
    plan 0 async_master
  fi
}

build() {
  if [[ -x "$BIN/bolide-broker" && -x "$BIN/bolide-namesrv" ]]; then return 0; fi
  case "$BIN" in
    "$PWD/target/release") cargo build --release -p bolide-broker -p bolide-namesrv ;;
    "$PWD/target/debug") cargo build -p bolide-broker -p bolide-namesrv ;;
    *) die "no bolide-broker and bolide-namesrv in $BIN (BOLIDE_BIN_DIR)" ;;
  esac
}

# True if something accepts connections on 127.0.0.1:$1: a listening
# socket on 127.0.0.1, 0.0.0.0 or [::] in /proc/net/tcp{,6}, read rather
# than connected to (a master logs every connection to its replication
# port that ends without a word); a connection attempt where /proc is not
# readable.
listening() {
  local tables=() table
  for table in /proc/net/tcp /proc/net/tcp6; do
    [[ -r "$table" ]] && tables+=("$table")
  done
  if ((${#tables[@]} == 0)); then
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    return
  fi
  awk -v port="$(printf '%04X' "$1")" '
    $4 == "0A" {
      split($2, local, ":")
      if (local[2] == port && local[1] ~ /^(0100007F|0+|0{16}FFFF00000100007F)$/) found = 1
    }
    END { exit !found }' "${tables[@]}"
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

# Ports of member line $1 that nobody listens on (empty: all listen).
silent_ports() {
  local port ports silent=()
  read -r _ _ ports <<<"$1"
  for port in $ports; do listening "$port" || silent+=("$port"); done
  echo "${silent[*]}"
}

# Waits until member line $1 (pid $2) listens on all its ports; false if
# it exits or does not within START_TIMEOUT_S.
wait_started() {
  local name deadline=$((SECONDS + START_TIMEOUT_S)) silent
  read -r name _ <<<"$1"
  while ((SECONDS < deadline)); do
    # Not is_bolide: right after the fork the child may not have exec'd yet.
    if ! alive "$2"; then
      echo "$name exited during startup; last lines of $DIR/$name.log:" >&2
      tail -n 5 "$DIR/$name.log" >&2
      return 1
    fi
    silent=$(silent_ports "$1")
    [[ -z "$silent" ]] && return 0
    sleep 0.05
  done
  echo "$name (pid $2) does not listen on port(s) $silent after ${START_TIMEOUT_S}s (see $DIR/$name.log)" >&2
  return 1
}

# Each broker's memory budget, bytes: an equal share of 3/4 of the RAM
# (empty where /proc/meminfo does not say: each broker then assumes the
# whole 3/4 for itself).
memory_share() {
  local kib brokers=$((${#MEMBERS[@]} - 1))
  kib=$(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo 2>/dev/null || true)
  if [[ "$kib" =~ ^[0-9]+$ ]]; then echo $((kib * 1024 / 4 * 3 / brokers)); fi
}

# Writes the config of broker member $1 (role $2, client port $3).
write_broker_config() {
  local name=$1 role=$2 port=$3 group=${1%-slave} spec member master_port budget
  budget=$(memory_share)
  {
    cat <<TOML
[broker]
broker_name = "$group"
broker_id = $([[ "$role" == slave ]] && echo 1 || echo 0)
listen_host = "127.0.0.1"
listen_port = $port
namesrv_addrs = ["127.0.0.1:$NAMESRV_PORT"]
shards = $SHARDS
memory_budget_bytes = ${budget:-0}

[store]
data_dir = "$DIR/$name/data"

[replication]
role = "$role"
TOML
    if [[ "$role" == slave ]]; then
      for spec in "${MEMBERS[@]}"; do
        read -r member _ master_port _ <<<"$spec"
        [[ "$member" == "$group" ]] && break
      done
      # The master's replication port (its listen_port + 1): shard k
      # follows the master's shard k on this port + k.
      echo "master_addr = \"127.0.0.1:$((master_port + 1))\""
    fi
  } >"$DIR/$name.toml"
}

# Refuses (exit 1) if a member runs or one of the ports to use is taken.
check_not_running() {
  local running=() name pid spec port ports
  for name in "${STOP_ORDER[@]}"; do
    pid=$(recorded_pid "$name")
    if [[ -n "$pid" ]] && is_bolide "$pid"; then running+=("$name (pid $pid)"); fi
  done
  if ((${#running[@]})); then
    die "cluster already running: ${running[*]}; run '$0 stop' first"
  fi
  for spec in "${MEMBERS[@]}"; do
    read -r name _ ports <<<"$spec"
    for port in $ports; do
      if listening "$port"; then
        die "port $port (for $name) is in use by another process; not starting"
      fi
    done
  done
}

start() {
  local slaves=0 master_role=async_master arg
  for arg in "$@"; do
    case "$arg" in
      --slaves) slaves=1 ;;
      --sync) slaves=1 master_role=sync_master ;;
      *) usage ;;
    esac
  done
  check_settings
  plan "$slaves" "$master_role"
  check_layout
  build
  mkdir -p "$DIR"
  check_not_running
  rm -f "$DIR"/*.pid # all stale: check_not_running found no live member
  printf '%s\n' "${MEMBERS[@]}" >"$MEMBERS_FILE"
  local spec name role port pid
  for spec in "${MEMBERS[@]}"; do
    read -r name role port _ <<<"$spec"
    if [[ "$role" == namesrv ]]; then
      "$BIN/bolide-namesrv" --listen "127.0.0.1:$port" >"$DIR/$name.log" 2>&1 &
    else
      mkdir -p "$DIR/$name"
      write_broker_config "$name" "$role" "$port"
      "$BIN/bolide-broker" --config "$DIR/$name.toml" >"$DIR/$name.log" 2>&1 &
    fi
    pid=$!
    echo "$pid" >"$DIR/$name.pid"
    if ! wait_started "$spec" "$pid"; then
      echo "start failed; stopping what was started" >&2
      stop >&2 || true
      exit 1
    fi
    echo "started $name ($(describe "$spec")) (pid $pid) on 127.0.0.1:$port"
  done
  echo "cluster up: NameServer 127.0.0.1:$NAMESRV_PORT, $((${#MEMBERS[@]} - 1)) brokers of $SHARDS shards (logs in $DIR; '$0 status' shows roles)"
}

# A member's part, from its line: "NameServer", "async_master of
# broker-a, replication on 10912-10913", "slave of broker-a, follows
# 127.0.0.1:10912" (the master_addr of its config).
describe() {
  local name role first
  read -r name role _ _ first _ <<<"$1"
  local last=${1##* }
  case "$role" in
    namesrv) echo "NameServer" ;;
    slave)
      local follows
      follows=$(sed -n 's/^master_addr = "\(.*\)"$/\1/p' "$DIR/$name.toml" 2>/dev/null || true)
      echo "slave of ${name%-slave}${follows:+, follows $follows}"
      ;;
    *) echo "$role of $name, replication on $first-$last" ;;
  esac
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
  local failed=0 name
  if ! compgen -G "$DIR/*.pid" >/dev/null; then
    echo "cluster not running (no pid files in $DIR)"
    return 0
  fi
  # Slaves, then masters, so that they unregister from a NameServer still
  # running.
  for name in "${STOP_ORDER[@]}"; do
    stop_member "$name" || failed=1
  done
  return $failed
}

# What broker $1 (client port) says about its replication, one line; empty
# without bolide-admin.
live_role() {
  [[ -x "$BIN/bolide-admin" ]] || return 0
  local out
  if out=$(timeout 15 "$BIN/bolide-admin" brokerStatus -n "127.0.0.1:$NAMESRV_PORT" \
    -b "127.0.0.1:$1" 2>&1); then
    awk -F' *: ' '
      /^(brokerRole|masterAddr|replicaConnections|replicaLagBytes|replicaLagMs) / {
        line = line sep $1 "=" $2; sep = " "
      }
      END { print "  reports: " line }' <<<"$out"
  else
    echo "  reports: nothing (bolide-admin brokerStatus: ${out##*$'\n'})"
  fi
}

status() {
  load_members
  local up=0 down=0 spec name role port pid silent
  for spec in "${MEMBERS[@]}"; do
    read -r name role port _ <<<"$spec"
    pid=$(recorded_pid "$name")
    if [[ -n "$pid" ]] && is_bolide "$pid"; then
      silent=$(silent_ports "$spec")
      if [[ -z "$silent" ]]; then
        echo "$name ($(describe "$spec")): running (pid $pid), listening on 127.0.0.1:$port"
        up=$((up + 1))
      else
        echo "$name ($(describe "$spec")): running (pid $pid), but nothing listens on port(s) $silent"
      fi
      [[ "$role" == namesrv ]] || live_role "$port"
    elif [[ -n "$pid" ]]; then
      echo "$name ($(describe "$spec")): not running (stale pid file: pid $pid is gone)"
      down=$((down + 1))
    elif listening "$port"; then
      echo "$name ($(describe "$spec")): not running, but another process listens on 127.0.0.1:$port"
      down=$((down + 1))
    else
      echo "$name ($(describe "$spec")): not running"
      down=$((down + 1))
    fi
  done
  if ((up == ${#MEMBERS[@]})); then return 0; fi
  if ((down == ${#MEMBERS[@]})); then return 3; fi
  return 1
}

case "${1:-}" in
  start) shift && start "$@" ;;
  stop) if (($# != 1)); then usage; fi; stop ;;
  status) if (($# != 1)); then usage; fi; status ;;
  *) usage ;;
esac
