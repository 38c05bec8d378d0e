#!/usr/bin/env bash
# Builds the protocol core for WebAssembly (crates/ttun-wasm → wasm/ttun-core.wasm), the
# fallback the loader uses where no native addon exists.
#
# rustup cannot add the wasm32 target here, so this uses Debian's rustc-web (Rust 1.96 with its
# standard library source, rust-web-src) to build core and alloc for wasm32 with -Zbuild-std
# (RUSTC_BOOTSTRAP=1), linked by lld. Installs those packages when missing (root).
set -euo pipefail
cd "$(dirname "$0")/.."
RUSTC_WEB=/usr/bin/rustc
CARGO_WEB=/usr/bin/cargo
if ! { [ -x "$RUSTC_WEB" ] && "$RUSTC_WEB" --print target-list 2>/dev/null | grep -qx wasm32-unknown-unknown \
       && [ -d /usr/lib/rustlib/src/rust/library ] && command -v lld-22 >/dev/null; }; then
  echo "build-wasm: installing Debian's rustc-web, cargo-web, rust-web-src and lld-22" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq rustc-web cargo-web rust-web-src lld-22 >/dev/null
fi
export RUSTC="$RUSTC_WEB" RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$PWD/target/wasm"
"$CARGO_WEB" build --quiet --release --manifest-path crates/ttun-wasm/Cargo.toml \
  --target wasm32-unknown-unknown -Zbuild-std=core,alloc
mkdir -p wasm
cp "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/ttun_wasm.wasm" wasm/ttun-core.wasm
echo "build-wasm: wasm/ttun-core.wasm ($(stat -c %s wasm/ttun-core.wasm) bytes)" >&2
