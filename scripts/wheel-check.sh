#!/usr/bin/env bash
# The wheel as a pip user gets it: build it from this checkout, install it (not editable) into a
# fresh virtualenv, and from a directory outside the checkout run the quickstart on a private
# broker and warehouse: kafka start, migrate, the shipped sample accounts and events, replay,
# invoice --format json. The invoices are checked against the test suite's independent oracle.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
work=$(mktemp -d)
uf="$work/venv/bin/usageflow"
cleanup() {
  if [ -x "$uf" ]; then (cd "$work" && "$uf" kafka stop >/dev/null 2>&1) || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "wheel-check: building the wheel" >&2
"$root/.venv/bin/python" -m build --wheel --outdir "$work/dist" "$root" >"$work/build.log" 2>&1 \
  || { tail -20 "$work/build.log" >&2; exit 1; }
"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet "$work"/dist/*.whl

cd "$work"  # outside the checkout: nothing may be found by walking up to it
export USAGEFLOW_DATA_DIR="$work/state" USAGEFLOW_WAREHOUSE="chdb:$work/state/warehouse"
export USAGEFLOW_TOPIC_PREFIX="wheel-check."
unset USAGEFLOW_PRICE_BOOK
"$uf" --version
port=$("$work/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export USAGEFLOW_KAFKA_BOOTSTRAP=$("$uf" kafka start --port "$port" | tail -1)
"$uf" migrate
"$uf" sample accounts --out accounts.yaml
"$uf" sample events --out events.jsonl
"$uf" accounts load accounts.yaml
"$uf" replay events.jsonl
"$work/venv/bin/python" "$root/scripts/check_wheel_invoices.py" "$root/tests/oracle/billing.py" accounts.yaml events.jsonl
echo "wheel-check: passed" >&2
