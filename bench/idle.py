#!/usr/bin/env python3
"""Idle latency before/after a data-path change, in one run: ping RTT through ttun and over raw veth
(the floor), and what an idle tunnel costs: CPU of both endpoints over a stretch with no traffic at all,
and per ping while pings run. Sides and rounds alternate (before, after, before, ...) on the same
namespaces, so drift of a shared machine falls on both alike.

usage: bench/idle.py --before /path/to/old/checkout [--rounds 3] [--pings 300] [--idle-seconds 60]
Both checkouts must be built (npm run build). Linux, root.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import bench


def measure(root, args):
    """One side, one round: (tunnel RTTs, raw RTTs, idle CPU ms/s per endpoint, CPU µs per ping per endpoint)."""
    with bench.ttun_pair(root, "chacha20-poly1305", 1280) as (server, client):
        endpoints = [bench.Endpoint("server", server), bench.Endpoint("client", client)]
        time.sleep(2)  # let the session's start-up work (probes, first timers) pass
        before = [e.cpu_seconds() for e in endpoints]
        time.sleep(args.idle_seconds)
        idle = [(e.cpu_seconds() - b) * 1000 / args.idle_seconds for e, b in zip(endpoints, before)]
        raw = bench.ping_samples(bench.NS_CLIENT, "192.0.2.1", args.pings, 0.05)
        before = [e.cpu_seconds() for e in endpoints]
        tunnel = bench.ping_samples(bench.NS_CLIENT, "10.1.1.1", args.pings, 0.05)
        per_ping = [(e.cpu_seconds() - b) * 1e6 / max(len(tunnel), 1) for e, b in zip(endpoints, before)]
    if len(tunnel) < args.pings * 0.9 or len(raw) < args.pings * 0.9:
        raise RuntimeError(f"pings lost: {len(tunnel)} through the tunnel, {len(raw)} raw, of {args.pings}")
    return tunnel, raw, idle, per_ping


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="checkout of the code before the change (built)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pings", type=int, default=300)
    parser.add_argument("--idle-seconds", type=int, default=60)
    args = parser.parse_args()
    sides = {"before": args.before.resolve(), "after": bench.ROOT}
    for root in sides.values():
        if not (root / "bin" / "ttun.js").exists():
            sys.exit(f"idle: {root} has no bin/ttun.js")
    got = {side: [] for side in sides}
    bench.netns_up()
    try:
        for n in range(args.rounds):
            for side, root in sides.items():
                print(f"idle: round {n + 1}, {side}", file=sys.stderr, flush=True)
                got[side].append(measure(root, args))
    finally:
        bench.netns_down()
        bench.ROOT = sides["after"]
    rows = ["| side | idle RTT ms through ttun (median) | raw veth (median) | ttun − raw | p90 through ttun | "
            f"CPU ms per s, {args.idle_seconds} s idle, server / client | CPU µs per ping, server / client |",
            "|---|---|---|---|---|---|---|"]
    for side, runs in got.items():
        tunnel = [v for r in runs for v in r[0]]
        raw = [v for r in runs for v in r[1]]
        idle = [statistics.median(r[2][i] for r in runs) for i in range(2)]
        per_ping = [statistics.median(r[3][i] for r in runs) for i in range(2)]
        t, w = statistics.median(tunnel), statistics.median(raw)
        rows.append(f"| {side} | {t:.3f} | {w:.3f} | {t - w:+.3f} | {bench.percentile(tunnel, 90):.3f} | "
                    f"{idle[0]:.2f} / {idle[1]:.2f} | {per_ping[0]:.0f} / {per_ping[1]:.0f} |")
    print(f"{args.rounds} alternating rounds, {args.pings} pings at 50 ms intervals per side and round, {bench.machine()}")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
