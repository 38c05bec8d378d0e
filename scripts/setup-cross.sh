#!/usr/bin/env bash
# Installs what scripts/build-platforms.sh needs to cross-build the addon for every target in
# package.json's "napi.targets" on a Linux x64 machine, and what scripts/test-platforms.sh needs to
# run the foreign builds. Idempotent. Linux, root (apt).
#   Debian's rustc-web + rust-web-src (std for any target via -Zbuild-std; rustup here has only the
#   host's std and cannot download others), with lld-22.
#   zig (PyPI package ziglang) and cargo-zigbuild (crates.io): link Linux glibc/musl and macOS.
#   MinGW-w64 (Debian): compiles ring's C and links x86_64-pc-windows-gnu.
#   For the tests: qemu-user, every shared library the arm64/armhf Node binaries and addons load
#   (the table in scripts/cross-runtime.sh), wine64.
set -euo pipefail
cd "$(dirname "$0")/.."
ZIGBUILD_VERSION=0.24.1
ZIG_VERSION=0.17.1

need_apt=()
[ -x /usr/bin/rustc ] && /usr/bin/rustc --print target-list | grep -qx aarch64-apple-darwin \
  && [ -d /usr/lib/rustlib/src/rust/library ] && command -v lld-22 >/dev/null || need_apt+=(rustc-web cargo-web rust-web-src lld-22)
command -v x86_64-w64-mingw32-gcc >/dev/null || need_apt+=(gcc-mingw-w64-x86-64)
if [ "${1:-}" != "--build-only" ]; then
  command -v qemu-aarch64 >/dev/null || need_apt+=(qemu-user)
  . scripts/cross-runtime.sh
  need_apt+=($(cross_runtime_missing_packages))
  command -v wine64 >/dev/null || [ -x /usr/lib/wine/wine64 ] || need_apt+=(wine64)
  command -v file >/dev/null || need_apt+=(file)
  command -v llvm-objdump-22 >/dev/null || need_apt+=(llvm-22)
  command -v musl-gcc >/dev/null || need_apt+=(musl-tools)
  # scripts/musl-node.sh: a musl Node from PyPI on musl from Debian's next release.
  command -v patchelf >/dev/null || need_apt+=(patchelf)
  command -v xz >/dev/null || need_apt+=(xz-utils)
  command -v curl >/dev/null || need_apt+=(curl)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup-cross: installing ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
python3 -m ziglang version >/dev/null 2>&1 || pip install --quiet "ziglang==$ZIG_VERSION"
command -v cargo-zigbuild >/dev/null || cargo install --quiet --locked cargo-zigbuild --version "$ZIGBUILD_VERSION"
