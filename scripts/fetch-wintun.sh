#!/usr/bin/env bash
# Puts wintun.dll (x64, Wintun 0.14.1, WireGuard LLC) and its licence into packages/win32-x64-gnu/.
# tun-rs opens TUN devices on Windows through it. Its "Prebuilt Binaries License" allows passing it
# on unmodified "alongside other software that uses the Software only via the Permitted API"
# (wintun.h, which tun-rs uses by LoadLibrary/GetProcAddress), so the win32 package ships it with
# that licence. The bytes come from a registry: the crates.io crate `wintun` 0.5.1 carries the
# official release's files (the crate wintun-bindings 0.7.40 carries the same DLL, same SHA-256).
set -euo pipefail
cd "$(dirname "$0")/.."
SHA256=e5da8447dc2c320edc0fc52fa01885c103de8c118481f683643cacc3220dafce
dest=packages/win32-x64-gnu
fetch=target/wintun-fetch
mkdir -p "$fetch/src" "$dest"
cat > "$fetch/Cargo.toml" <<'TOML'
[package]
name = "wintun-fetch"
version = "0.0.0"
edition = "2021"
[dependencies]
wintun = "=0.5.1"
[workspace]
TOML
: > "$fetch/src/lib.rs"
cargo fetch --quiet --manifest-path "$fetch/Cargo.toml"
dir=$(cargo metadata --quiet --format-version 1 --manifest-path "$fetch/Cargo.toml" \
  | node -e 'const m=JSON.parse(require("fs").readFileSync(0,"utf8")); console.log(require("path").dirname(m.packages.find(p=>p.name==="wintun").manifest_path))')
echo "$SHA256  $dir/wintun/bin/amd64/wintun.dll" | sha256sum --check --quiet
cp "$dir/wintun/bin/amd64/wintun.dll" "$dest/wintun.dll"
cp "$dir/wintun/LICENSE.txt" "$dest/wintun-LICENSE.txt"
echo "fetch-wintun: $dest/wintun.dll (from crates.io wintun 0.5.1)" >&2
