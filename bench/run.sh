#!/usr/bin/env bash
# Installs what the benchmark needs (peers, iperf3, matplotlib for the chart) and runs it.
# usage: bench/run.sh [--quick] [--ladder] [--runs N] [--duration S]
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=()
command -v iperf3 >/dev/null || pkgs+=(iperf3)
if [[ " $* " != *" --quick "* ]]; then
  command -v openvpn >/dev/null || pkgs+=(openvpn)
  [ -x /usr/sbin/sshd ] || pkgs+=(openssh-server)
  command -v ssh >/dev/null || pkgs+=(openssh-client)
  /usr/bin/python3 -c 'import matplotlib' 2>/dev/null || pkgs+=(python3-matplotlib)
fi
if [ ${#pkgs[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
# Debian's python3 is the one python3-matplotlib belongs to.
exec /usr/bin/python3 bench/bench.py "$@"
