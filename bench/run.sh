#!/usr/bin/env bash
# Installs what the benchmark needs (peers, iperf3, matplotlib for the chart), builds wireguard-go
# from the Go module proxy, and runs it.
# usage: bench/run.sh [--quick] [--ladder] [--rounds N] [--runs N] [--duration S]
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=()
command -v iperf3 >/dev/null || pkgs+=(iperf3)
if [[ " $* " != *" --quick "* ]]; then
  command -v openvpn >/dev/null || pkgs+=(openvpn)
  [ -x /usr/sbin/sshd ] || pkgs+=(openssh-server)
  command -v ssh >/dev/null || pkgs+=(openssh-client)
  command -v wg >/dev/null || pkgs+=(wireguard-tools)
  /usr/bin/python3 -c 'import matplotlib' 2>/dev/null || pkgs+=(python3-matplotlib)
fi
if [ ${#pkgs[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
# The kernel module is not needed (nor present everywhere): wireguard-go is userspace WireGuard.
# Pinned, so that runs on different days measure the same peer.
WIREGUARD_GO_VERSION=v0.0.0-20260522210424-ecfc5a8d5446
if [[ " $* " != *" --quick "* && " $* " != *" --ladder "* ]]; then
  # Its go.mod asks for Go 1.23 (Debian 12's golang-go is 1.19).
  go_minor=$(go env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9]*\).*/\1/p') || true
  if [ -z "$go_minor" ] || [ "$go_minor" -lt 23 ]; then
    echo "bench: building wireguard-go needs Go 1.23 or newer on PATH (found: $(go env GOVERSION 2>/dev/null || echo none))" >&2
    exit 1
  fi
  export WG_GO_DIR="${TMPDIR:-/tmp}/ttun-bench-wireguard-go-$WIREGUARD_GO_VERSION"
  [ -x "$WG_GO_DIR/wireguard" ] || GOBIN="$WG_GO_DIR" go install "golang.zx2c4.com/wireguard@$WIREGUARD_GO_VERSION"
  export WG_GO="$WG_GO_DIR/wireguard"
fi
# Debian's python3 is the one python3-matplotlib belongs to.
exec /usr/bin/python3 bench/bench.py "$@"
