#!/usr/bin/env bash
# run.sh TARGET SECONDS [extra libFuzzer args...]
# Fuzzes TARGET (decoder, open, open_ring) for SECONDS with cargo-fuzz (nightly, or RUSTC_BOOTSTRAP=1),
# at the lowest CPU priority, one job. Seeds corpus/TARGET from the test vectors when it is
# missing or empty; crashes land in artifacts/TARGET/. Prints libFuzzer's final stats at the end.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

if [ $# -lt 2 ]; then
    echo "usage: $0 TARGET SECONDS [libFuzzer args...]   (targets: decoder open open_ring)" >&2
    exit 2
fi
target="$1" seconds="$2"
shift 2

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is not installed: cargo install cargo-fuzz" >&2
    exit 1
fi

# cargo-fuzz needs nightly features (-Zsanitizer). Use an installed nightly toolchain; where there
# is none (rustup cannot download one everywhere), let the stable compiler accept them.
toolchain=()
if rustup run nightly rustc --version >/dev/null 2>&1; then
    toolchain=(+nightly)
else
    echo "run.sh: no nightly toolchain; using the default one with RUSTC_BOOTSTRAP=1" >&2
    export RUSTC_BOOTSTRAP=1
fi

if [ -z "$(ls -A "corpus/$target" 2>/dev/null)" ]; then
    ./make-corpus.sh "$target"
fi

features=()
[ "$target" = open_ring ] && features=(--features ring)

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
nice -n 19 cargo "${toolchain[@]}" fuzz run "${features[@]}" "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

echo "=== $target: ${seconds}s, exit status $status"
grep -E '^stat::' "$log" || echo "(no final stats: libFuzzer did not finish normally)"
exit "$status"
