#!/usr/bin/env bash
# Type-checks the addon for macOS and Windows (cargo check, no linking): their code sits behind
# cfg(target_os) and cannot be built or run here. Uses Debian's rustc-web (installed by
# scripts/build-wasm.sh) with -Zbuild-std for the std of each target. ring's build script needs
# the target's C headers (macOS SDK, MSVC), which no Linux machine has, so it is skipped: for a
# type-check only its link instructions matter, and those are overridden to nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$PWD/target/other-platforms"
ring_links=$(sed -n 's/^links = "\(ring_core[^"]*\)"/\1/p' "$(dirname "$(/usr/bin/cargo metadata --format-version 1 --quiet | python3 -c 'import json,sys; print([p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"]=="ring"][0])')")/Cargo.toml")
status=0
for target in ${TARGETS:-x86_64-apple-darwin aarch64-apple-darwin x86_64-pc-windows-msvc}; do
  if /usr/bin/cargo check --quiet -p ttun-napi --target "$target" -Zbuild-std \
       --config "target.$target.$ring_links.rustc-link-lib=[]" 2>"$CARGO_TARGET_DIR.$target.log"; then
    echo "check-other-platforms: $target: ok" >&2
  else
    echo "check-other-platforms: $target: FAILED" >&2; tail -20 "$CARGO_TARGET_DIR.$target.log" >&2; status=1
  fi
done
exit $status
