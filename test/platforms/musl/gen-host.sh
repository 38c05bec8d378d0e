#!/usr/bin/env bash
# Writes a C program that loads a musl addon the way Node does (dlopen, RTLD_NOW as musl always
# binds) and finds napi_register_module_v1, with a do-nothing definition of every Node-API function
# the addon imports (a musl Node would provide them). Proves musl's loader accepts the addon and
# every libc symbol it needs is there. usage: gen-host.sh <addon.node> > host.c
set -euo pipefail
echo '#include <dlfcn.h>'
echo '#include <stdio.h>'
nm -D --undefined-only "$1" | awk '{print $2}' | grep -E '^(napi_|node_api_)' | sort -u | sed 's/.*/__attribute__((visibility("default"))) int &(void) { return 1; }/'
cat <<'C'
int main(int argc, char **argv) {
  void *h = dlopen(argv[1], RTLD_NOW);
  if (!h) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
  if (!dlsym(h, "napi_register_module_v1")) { fprintf(stderr, "no napi_register_module_v1\n"); return 1; }
  printf("loaded %s under musl; napi_register_module_v1 found\n", argv[1]);
  return 0;
}
C
