#!/usr/bin/env python3
"""What limits one tunnel when cores are plentiful, measured on a machine with few.

One ttun tunnel (client namespace → server namespace, one iperf3 stream) is measured twice: with every
process (both ttun endpoints, both iperf3 ends) held to one CPU by `taskset`, and with all CPUs. For
each run it reads every ttun thread's CPU time from /proc and divides by the bytes carried: CPU
seconds per GB, per thread. A thread is a sequential pipeline stage: it cannot carry more than
1 / (its s/GB) GB/s, however many cores the host has. So the busiest thread's figure is the ceiling of
one tunnel on a host whose other work (the kernel's TCP, the applications) has cores of its own, and
its share of work (AEAD, copies, system calls) says what would raise it. Writes the table to
bench/cores-run.md; bench/cores.md has the figures of a run and the model built on them.

usage: bench/cores.py [--rounds 3] [--duration 5]   (Linux, root; `npm run build` first)
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import bench

CONFIGS = [("chacha20-poly1305", 1280), ("aes-256-gcm", 1280), ("chacha20-poly1305", 65000)]
# Linux keeps 15 characters of a thread's name.
FULL_NAMES = {"ttun-sock-reade": "ttun-sock-reader"}


def thread_cpu_seconds(pid):
    """CPU seconds (user + system) of each thread of `pid`, summed per thread name."""
    per_name = defaultdict(float)
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except FileNotFoundError:
            continue  # the thread ended between listing and reading
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        name = FULL_NAMES.get(name, name)
        fields = stat.rsplit(")", 1)[1].split()
        per_name[name] += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return per_name


def one_run(cipher, mtu, cpus, duration):
    """Gbit/s and {endpoint: {thread name: CPU s per GB}} of one iperf3 run; `cpus` is a taskset list or None."""
    pin = ["taskset", "-c", cpus] if cpus else []
    with bench.ttun_pair(bench.ROOT, cipher, mtu, pin=pin) as (server, client):
        iperf_server = subprocess.Popen(["ip", "netns", "exec", bench.NS_SERVER, *pin, "iperf3", "-s", "-B", "10.1.1.1"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            endpoints = {"server": server.pid, "client": client.pid}
            before = {name: thread_cpu_seconds(pid) for name, pid in endpoints.items()}
            out = bench.in_ns(bench.NS_CLIENT, *pin, "iperf3", "-c", "10.1.1.1", "-t", str(duration), "-J",
                              timeout=duration + 60).stdout
            after = {name: thread_cpu_seconds(pid) for name, pid in endpoints.items()}
        finally:
            bench.stop(iperf_server)
    report = json.loads(out)["end"]["sum_received"]
    gb = report["bytes"] / 1e9
    per_gb = {name: {thread: (after[name][thread] - before[name].get(thread, 0.0)) / gb
                     for thread in after[name]} for name in endpoints}
    return report["bits_per_second"] / 1e9, per_gb


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--out", type=Path, default=bench.ROOT / "bench" / "cores-run.md", help="where the table goes (bench/cores.md has the model built on it)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("cores: run as root (network namespaces, TUN devices)")
    placements = [("one CPU (taskset -c 0)", "0"), (f"all {os.cpu_count()} CPUs", None)]
    rows = ["| cipher, MTU | CPUs | Gbit/s (median) | busiest thread: endpoint, thread, CPU s/GB | its ceiling Gbit/s | "
            "CPU s/GB per thread (server; client) |", "|---|---|---|---|---|---|"]
    bench.netns_up()
    try:
        for cipher, mtu in CONFIGS:
            for label, cpus in placements:
                runs = []
                for n in range(args.rounds):
                    print(f"cores: {cipher} MTU {mtu}, {label}, round {n + 1}", file=sys.stderr, flush=True)
                    runs.append(one_run(cipher, mtu, cpus, args.duration))
                gbps = statistics.median(g for g, _ in runs)
                threads = {(endpoint, thread) for _, per_gb in runs for endpoint in per_gb for thread in per_gb[endpoint]}
                median = {key: statistics.median(per_gb[key[0]].get(key[1], 0.0) for _, per_gb in runs) for key in threads}
                busiest = max(median, key=median.get)
                ceiling = 8 / median[busiest]

                def listing(endpoint):
                    named = sorted(((t, v) for (e, t), v in median.items() if e == endpoint and v >= 0.01),
                                   key=lambda tv: -tv[1])
                    return ", ".join(f"{t} {v:.2f}" for t, v in named)

                rows.append(f"| {cipher}, {mtu} | {label} | {gbps:.2f} | {busiest[0]} {busiest[1]} {median[busiest]:.2f} | "
                            f"{ceiling:.1f} | {listing('server')}; {listing('client')} |")
    finally:
        bench.netns_down()
    table = "\n".join(rows)
    print(table)
    args.out.write_text(f"{bench.machine()}, {args.rounds} rounds × {args.duration} s iperf3 per row "
                        f"(`python3 bench/cores.py`).\n\n{table}\n")
    print(f"cores: wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
