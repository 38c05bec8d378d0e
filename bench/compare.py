#!/usr/bin/env python3
"""Before/after benchmark of a data-path change, in one run: ttun from another checkout (--before)
and from this one, measured alternately (before, after, before, after, ...) on the same namespaces so
that drift of a shared machine falls on both sides alike. Prints medians per configuration.

usage: bench/compare.py --before /path/to/old/checkout [--rounds 3] [--duration 5]
Both checkouts must be built (npm run build). Linux, root.
"""
import argparse
import statistics
import sys
from pathlib import Path

import bench

CONFIGS = [("chacha20-poly1305", 1280), ("aes-256-gcm", 1280), ("chacha20-poly1305", 9000), ("chacha20-poly1305", 65000)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="checkout of the code before the change (built)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per configuration")
    parser.add_argument("--duration", type=int, default=5, help="seconds per iperf3 run")
    parser.add_argument("--idle-count", type=int, default=50)
    args = parser.parse_args()
    args.runs = 1
    sides = {"before": args.before.resolve(), "after": bench.ROOT}
    for side, root in sides.items():
        if not (root / "bin" / "ttun.js").exists():
            sys.exit(f"compare: {root} has no bin/ttun.js")
    rows = ["| cipher, MTU | Gbit/s before → after | idle RTT ms before → after | loaded RTT ms median before → after | loaded RTT p99 ms before → after | CPU s/GB server/client before → after | peak RSS MB server/client before → after |",
            "|---|---|---|---|---|---|---|"]
    for cipher, mtu in CONFIGS:
        got = {side: [] for side in sides}

        def step(side):
            def go():
                bench.ROOT = sides[side]
                return bench.run_ttun(cipher, mtu, args, name=f"{side} {cipher} {mtu}")
            return (f"{side}: {cipher} MTU {mtu}", go)

        results = bench.run_all([step(side) for _ in range(args.rounds) for side in sides])
        for r in results:
            got[r.name.split()[0]].append(r)
        cell = {}
        for side, rs in got.items():
            cell[side] = (statistics.median(x.gbps_median for x in rs),
                          statistics.median(v for x in rs for v in x.idle_rtt),
                          statistics.median(v for x in rs for v in x.loaded_rtt),
                          max(x.endpoint("server")[0] for x in rs), max(x.endpoint("client")[0] for x in rs),
                          statistics.quantiles([v for x in rs for v in x.loaded_rtt], n=100)[98],
                          statistics.median(x.endpoint("server")[1] for x in rs), statistics.median(x.endpoint("client")[1] for x in rs))
        b, a = cell["before"], cell["after"]
        rows.append(f"| {cipher}, {mtu} | {b[0]:.2f} → {a[0]:.2f} | {b[1]:.3f} → {a[1]:.3f} | {b[2]:.2f} → {a[2]:.2f} | "
                    f"{b[5]:.2f} → {a[5]:.2f} | {b[6]:.2f}/{b[7]:.2f} → {a[6]:.2f}/{a[7]:.2f} | "
                    f"{b[3]:.0f}/{b[4]:.0f} → {a[3]:.0f}/{a[4]:.0f} |")
    bench.ROOT = sides["after"]
    print(f"{args.rounds} alternating rounds × {args.duration} s iperf3 per side and configuration, {bench.machine()}")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
