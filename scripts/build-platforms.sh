#!/usr/bin/env bash
# Cross-builds the release addon for each target in package.json's "napi.targets" (or $TARGETS)
# other than this machine's own (npm run build makes that one), the napi-rs way:
#   napi build --platform --release --target <triple> [-x] --output-dir packages/<platform>
# Linux and macOS targets go through cargo-zigbuild (`-x`, zig links them and compiles ring's C);
# x86_64-pc-windows-gnu through plain cargo with MinGW-w64 (`-x` means cargo-xwin there, which only
# does MSVC and downloads Microsoft's CRT and SDK, not possible here). rustup here only has the
# host's std, so cargo and rustc are Debian's rustc-web 1.96 building std per target with
# -Zbuild-std (RUSTC_BOOTSTRAP=1). scripts/setup-cross.sh installs all of this.
# Writes target/cross/build-times.txt (seconds per target).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
host=$(rustc -vV | sed -n 's/^host: //p')
targets=${TARGETS:-$(node -p 'require("./package.json").napi.targets.join(" ")')}
platform_of() { node --input-type=module -e 'import { parseTriple } from "@napi-rs/cli"; console.log(parseTriple(process.argv[1]).platformArchABI)' "$1"; }

# `cargo` must be Debian's for -Zbuild-std against Debian's std source (napi and cargo-zigbuild both
# run the `cargo` on PATH).
mkdir -p target/cross/bin
ln -sf /usr/bin/cargo target/cross/bin/cargo
export PATH="$root/target/cross/bin:$PATH" RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$root/target/cross"
# napi's build script links windows-gnu addons against a libnode.dll (MSYS2's Node has one). With
# napi's dyn-symbols feature (crates/ttun-napi/Cargo.toml) the addon takes the Node-API functions
# from node.exe at run time and imports nothing from libnode.dll, but the build script still wants
# the file: an empty DLL satisfies it (scripts/test-platforms.sh checks the import table).
if [[ " $targets " == *windows-gnu* ]]; then
  mkdir -p target/cross/libnode-stub
  [ -f target/cross/libnode-stub/libnode.dll ] || {
    echo 'int ttun_libnode_stub;' > target/cross/libnode-stub/stub.c
    x86_64-w64-mingw32-gcc -shared -o target/cross/libnode-stub/libnode.dll target/cross/libnode-stub/stub.c
  }
  export LIBNODE_PATH="$root/target/cross/libnode-stub"
fi

: > target/cross/build-times.txt
status=0
for t in $targets; do
  [ "$t" = "$host" ] && continue
  p=$(platform_of "$t")
  case "$t" in
    *-windows-gnu) cross=() ;;
    *) cross=(-x) ;;
  esac
  # zig stamps the newest macOS it knows as the minimum (15.0) unless told: use Node 20's minimums.
  case "$t" in
    x86_64-apple-darwin) export MACOSX_DEPLOYMENT_TARGET=10.15 ;;
    aarch64-apple-darwin) export MACOSX_DEPLOYMENT_TARGET=11.0 ;;
    *) unset MACOSX_DEPLOYMENT_TARGET ;;
  esac
  # glibc: link against 2.28, Node 20's own minimum (cargo-zigbuild's ".2.28" suffix; zig's default
  # is newer, and Rust's std then needs GLIBC_2.30 for gettid).
  case "$t" in
    *-linux-gnu*) zt="$t.2.28" ;;
    *) zt=$t ;;
  esac
  start=$(date +%s)
  echo "build-platforms: $zt -> packages/$p/ttun.$p.node" >&2
  if nice -n 19 npx napi build --platform --release --strip --target "$zt" "${cross[@]}" \
       --manifest-path crates/ttun-napi/Cargo.toml --package-json-path package.json \
       --output-dir "packages/$p" --no-js --dts ttun.d.ts --no-const-enum -- -Zbuild-std=std,panic_abort \
       >"target/cross/build-$t.log" 2>&1; then
    echo "$t $(( $(date +%s) - start ))" >> target/cross/build-times.txt
  else
    echo "build-platforms: $t FAILED after $(( $(date +%s) - start ))s; last lines of target/cross/build-$t.log:" >&2
    tail -20 "target/cross/build-$t.log" >&2
    status=1
  fi
done
exit $status
