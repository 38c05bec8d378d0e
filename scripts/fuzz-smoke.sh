#!/usr/bin/env bash
# Short run of every fuzz target (default 20 s each) so they keep building and a shallow crash
# shows up in CI. The real runs are longer: crates/ttun-proto/fuzz/run.sh TARGET SECONDS.
# Installs cargo-fuzz from crates.io when it is missing.
set -euo pipefail
cd "$(dirname "$0")/../crates/ttun-proto/fuzz"
seconds="${1:-20}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke: installing cargo-fuzz" >&2
  cargo install --locked --quiet cargo-fuzz
fi
for target in decoder open open_ring; do
  CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}" ./run.sh "$target" "$seconds" > "/tmp/ttun-fuzz-$target.log" 2>&1 || {
    tail -40 "/tmp/ttun-fuzz-$target.log" >&2
    echo "fuzz-smoke: $target failed (log: /tmp/ttun-fuzz-$target.log, crashes: crates/ttun-proto/fuzz/artifacts/$target/)" >&2
    exit 1
  }
  echo "fuzz-smoke: $target: $(grep -Eo '^Done [0-9]+ runs in [0-9]+ second' "/tmp/ttun-fuzz-$target.log" | tail -1)(s), no crash" >&2
done
