#!/usr/bin/env bash
# Demo on one machine: builds ttun, starts a server and a client in two network namespaces joined
# by a veth pair, pings across the tunnel over IPv4 and IPv6 in both directions, prints what it
# saw and cleans up. Linux, root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: run as root (it creates network namespaces and TUN devices)" >&2; exit 1; }
bash scripts/setup.sh

A=ttdemo-server; B=ttdemo-client
PSK=$(head -c 32 /dev/urandom | base64)
logs=$(mktemp -d)
cleanup() {
  for ns in $A $B; do ip netns pids $ns 2>/dev/null | xargs -r kill 2>/dev/null || true; done
  sleep 0.3
  ip netns del $A 2>/dev/null || true; ip netns del $B 2>/dev/null || true
}
trap cleanup EXIT
cleanup
ip netns add $A; ip netns add $B
ip link add ttdemo-a type veth peer name ttdemo-b
ip link set ttdemo-a netns $A; ip link set ttdemo-b netns $B
ip -n $A addr add 192.0.2.1/24 dev ttdemo-a; ip -n $B addr add 192.0.2.2/24 dev ttdemo-b
ip -n $A link set ttdemo-a up; ip -n $B link set ttdemo-b up
ip -n $A link set lo up; ip -n $B link set lo up

echo "== starting: ttun server in $A (192.0.2.1), ttun client in $B"
ip netns exec $A node bin/ttun.js server -k "$PSK" 2> "$logs/server.log" &
sleep 0.5
ip netns exec $B node bin/ttun.js client -k "$PSK" -s 192.0.2.1:20203 2> "$logs/client.log" &
for _ in $(seq 50); do ip netns exec $B ping -c1 -W0.2 10.1.1.1 >/dev/null 2>&1 && break; sleep 0.2; done

status=0
for probe in "$B 10.1.1.1" "$B fc11::1" "$A 10.1.1.2" "$A fc11::2"; do
  set -- $probe
  if out=$(ip netns exec "$1" ping -c 3 -i 0.2 -W 2 "$2" 2>&1); then
    echo "== ping $2 from ${1#ttdemo-}: $(echo "$out" | grep -o '[0-9]* received.*loss') $(echo "$out" | grep -o 'rtt.*')"
  else
    echo "== ping $2 from ${1#ttdemo-}: FAILED"; echo "$out"; status=1
  fi
done
echo "== server log:"; sed 's/^/   /' "$logs/server.log"
echo "== client log:"; sed 's/^/   /' "$logs/client.log"
exit $status
