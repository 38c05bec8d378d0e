#!/usr/bin/env bash
# Makes a checkout ready to run and test: system packages, Node dependencies, the Rust addon and
# the compiled TypeScript. Idempotent and quick when everything is already in place.
# Debian/Ubuntu, run as root (apt and the end-to-end tests need it). Elsewhere it names what is
# missing instead of installing it. (`npm run build` alone installs nothing.)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v ip >/dev/null || need_apt+=(iproute2)
command -v ping >/dev/null || need_apt+=(iputils-ping)
command -v nft >/dev/null || need_apt+=(nftables)
command -v iperf3 >/dev/null || need_apt+=(iperf3)
# promtool and prometheus (one package) check and scrape --metrics in the end-to-end tests.
command -v promtool >/dev/null && command -v prometheus >/dev/null || need_apt+=(prometheus)
command -v ps >/dev/null || need_apt+=(procps)
command -v setpriv >/dev/null || need_apt+=(util-linux)
# strace: an end-to-end test watches that a start-up error comes before any socket or TUN.
command -v strace >/dev/null || need_apt+=(strace)
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
command -v cc >/dev/null || need_apt+=(build-essential)
command -v tinyproxy >/dev/null || need_apt+=(tinyproxy)
command -v microsocks >/dev/null || need_apt+=(microsocks)
command -v mptcpize >/dev/null || need_apt+=(mptcpd)
# The WebAssembly core (scripts/build-wasm.sh): rustup's wasm32 target if installed, else Debian's
# rustc-web building std from source.
if ! { command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; }; then
  [ -x /usr/bin/rustc ] && /usr/bin/rustc --print target-list 2>/dev/null | grep -qx wasm32-unknown-unknown \
    && [ -d /usr/lib/rustlib/src/rust/library ] && command -v lld-22 >/dev/null || need_apt+=(rustc-web cargo-web rust-web-src lld-22)
fi
if [ ${#need_apt[@]} -gt 0 ] && ! command -v apt-get >/dev/null; then
  echo "setup: not a Debian system; install the equivalents of these Debian packages, then run again: ${need_apt[*]}" >&2
  echo "setup: (rustc-web, cargo-web, rust-web-src and lld-22 can be replaced by \`rustup target add wasm32-unknown-unknown\`)" >&2
  exit 1
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  # rustup installs put cargo here; a login shell would have sourced it.
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
  command -v cargo >/dev/null || { echo "setup: Rust (cargo) is required: install it with rustup" >&2; exit 1; }
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

npm run --silent build
