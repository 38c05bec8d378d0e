#!/usr/bin/env bash
# Builds the protocol core for WebAssembly (crates/ttun-wasm → wasm/ttun-core.wasm), the
# fallback the loader uses where no native addon exists. Installs nothing; it uses, first found:
#   - rustup's wasm32-unknown-unknown target (`rustup target add wasm32-unknown-unknown`), with the
#     rustup toolchain's own cargo;
#   - Debian's rustc-web with its standard library source (rust-web-src) and lld-22, building core
#     and alloc for wasm32 with -Zbuild-std (RUSTC_BOOTSTRAP=1): where rustup cannot download targets
#     (`npm run setup` installs these on Debian).
# Otherwise it says what is missing and fails.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=wasm32-unknown-unknown
export CARGO_TARGET_DIR="$PWD/target/wasm"
manifest=(--manifest-path crates/ttun-wasm/Cargo.toml --target "$TARGET")

if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  how="rustup's $TARGET target"
  cargo build --quiet --release "${manifest[@]}"
elif [ -x /usr/bin/rustc ] && /usr/bin/rustc --print target-list 2>/dev/null | grep -qx "$TARGET" \
     && [ -d /usr/lib/rustlib/src/rust/library ] && command -v lld-22 >/dev/null && [ -x /usr/bin/cargo ]; then
  how="Debian's rustc-web with -Zbuild-std"
  RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 \
    /usr/bin/cargo build --quiet --release "${manifest[@]}" -Zbuild-std=core,alloc
else
  echo "build-wasm: no Rust for $TARGET: run \`rustup target add $TARGET\`, or on Debian \`npm run setup\` (installs rustc-web, cargo-web, rust-web-src, lld-22)" >&2
  exit 1
fi
mkdir -p wasm
cp "$CARGO_TARGET_DIR/$TARGET/release/ttun_wasm.wasm" wasm/ttun-core.wasm
echo "build-wasm: wasm/ttun-core.wasm ($(stat -c %s wasm/ttun-core.wasm) bytes, $how)" >&2
