#!/usr/bin/env bash
# Builds everything this machine can build into ./build/:
#   - the release addon for this platform (packages/<triple>/ttun.<triple>.node)
#   - the WebAssembly core (wasm/ttun-core.wasm), shipped in the main package as the fallback
#   - the compiled TypeScript (dist/)
#   - a type-check (cargo check) of the addon for macOS and Windows, which cannot be built here
#   - npm pack tarballs of the main `ttun` package and of each platform package that has an addon
# usage: ./build.sh            everything
#        ./build.sh --pack     only pack (after a build)
# Install what it made with the command it prints at the end.
set -euo pipefail
cd "$(dirname "$0")"
out=build
mkdir -p "$out"

if [[ "${1:-}" != "--pack" ]]; then
  npm run --silent build
  bash scripts/check-other-platforms.sh
fi

rm -f "$out"/*.tgz
packed=()
for dir in packages/*/; do
  name=$(basename "$dir")
  if ls "$dir"/*.node >/dev/null 2>&1; then
    packed+=("$out/$(cd "$dir" && npm pack --silent --pack-destination "../../$out")")
  else
    echo "build.sh: no addon built for $name here; its package is not packed" >&2
  fi
done
# The main package is packed from a staged copy whose package.json names every platform package
# as an optional dependency (npm installs only the one matching os/cpu/libc). The checkout's
# package.json does not, so `npm ci` never looks for them in the registry before they are published.
stage="$out/stage"
rm -rf "$stage" && mkdir -p "$stage/dist"
cp -r bin wasm contrib README.md package.json "$stage/"
cp -r dist/ts "$stage/dist/"
node -e '
  const fs = require("fs"), path = require("path");
  const [stage, ...dirs] = process.argv.slice(1);
  const pkg = JSON.parse(fs.readFileSync(path.join(stage, "package.json"), "utf8"));
  pkg.optionalDependencies = {};
  for (const d of dirs) {
    const p = JSON.parse(fs.readFileSync(path.join(d, "package.json"), "utf8"));
    pkg.optionalDependencies[p.name] = p.version;
  }
  delete pkg.scripts; delete pkg.devDependencies;
  fs.writeFileSync(path.join(stage, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
' "$stage" packages/*/
packed+=("$out/$(cd "$stage" && npm pack --silent --pack-destination ..)")
rm -rf "$stage"

echo "build.sh: built ${packed[*]}" >&2
echo "build.sh: install with: npm install -g ${packed[*]/#/./}" >&2
