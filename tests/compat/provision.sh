#!/usr/bin/env bash
# Installs the third-party RocketMQ clients the bolide-compat tests drive.
# Idempotent; serialized with flock so concurrent test runs do not race.
#
#   provision.sh python TARGET_DIR   venv with rocketmq-client-python 2.0.0 and the
#                                    C++ librocketmq.so from rocketmq-python-cvs 2.1.0.3
#                                    → TARGET_DIR/compat-venv
#   provision.sh rust TARGET_DIR     builds tests/compat/rust-client (rocketmq-client-rust
#                                    1.0.0) → TARGET_DIR/compat-rust/debug/rmq-rust-client
set -euo pipefail
what=${1:?python|rust}
target=$(mkdir -p "${2:?TARGET_DIR}" && cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
exec 9>"$target/compat-provision.lock"
flock 9

case "$what" in
python)
  venv="$target/compat-venv"
  check='import rocketmq.client'
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$check" 2>/dev/null; then
    exit 0
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check rocketmq-client-python==2.0.0
  # The wrapper's wheel ships no native library (it loads librocketmq.so from
  # its package dir); this source package carries a build of the C++ client.
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --target "$venv/cvs" \
    rocketmq-python-cvs==2.1.0.3
  purelib=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  cp "$venv/cvs/rocketmq/librocketmq.so" "$purelib/rocketmq/"
  "$venv/bin/python" -c "$check"
  ;;
rust)
  "${CARGO:-cargo}" build --manifest-path "$here/rust-client/Cargo.toml" \
    --target-dir "$target/compat-rust"
  ;;
*)
  echo "usage: $0 python|rust TARGET_DIR" >&2
  exit 2
  ;;
esac
