#!/usr/bin/env bash
# Type-checks the addon for x86_64-pc-windows-msvc (cargo check, no linking), the one Windows flavour
# that cannot be built here (no MSVC; scripts/build-platforms.sh builds x86_64-pc-windows-gnu and
# macOS for real). TARGETS=... checks others. Uses Debian's rustc-web (installed by
# scripts/setup-cross.sh) with -Zbuild-std for the std of each target. ring's build script needs
# the target's C headers (macOS SDK, MSVC), which no Linux machine has, so it is skipped: for a
# type-check only its link instructions matter, and those are overridden to nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$PWD/target/other-platforms"
ring_links=$(sed -n 's/^links = "\(ring_core[^"]*\)"/\1/p' "$(dirname "$(/usr/bin/cargo metadata --format-version 1 --quiet | python3 -c 'import json,sys; print([p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"]=="ring"][0])')")/Cargo.toml")
status=0
for target in ${TARGETS:-x86_64-pc-windows-msvc}; do
  if /usr/bin/cargo check --quiet -p ttun-napi --target "$target" -Zbuild-std \
       --config "target.$target.$ring_links.rustc-link-lib=[]" 2>"$CARGO_TARGET_DIR.$target.log"; then
    echo "check-other-platforms: $target: ok" >&2
  else
    echo "check-other-platforms: $target: FAILED" >&2; tail -20 "$CARGO_TARGET_DIR.$target.log" >&2; status=1
  fi
done
exit $status
