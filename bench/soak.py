#!/usr/bin/env python3
"""Soak: iperf3 through the tunnel for a long time, cutting the connection every minute.

Samples RSS, open file descriptors and threads of both ttun endpoints every few seconds, prints
them, and fails if any grew by more than 10% from the first full cut cycle after warm-up to the
last one (medians over each cycle, so both compare the same mix of before and after a cut), or
if the tunnel did not come back within 35 s (the longest backoff, 30 s, plus margin) after a
forced reconnect. Prints how long each reconnect took. `npm run soak` runs 10 minutes;
`--minutes 1 --cut-every 20` is the CI version.
Linux, root.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench import NS_CLIENT, NS_SERVER, in_ns, netns_down, netns_up, wait_ping  # noqa: E402

GROWTH_LIMIT = 0.10


def rss_kb(pid):
    return int(re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text()).group(1))


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def threads(pid):
    return int(re.search(r"Threads:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))


# How long a forced reconnect may take: the longest backoff (30 s) plus margin.
RECOVERY_LIMIT_S = 35


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--cut-every", type=float, default=60, help="seconds between forced reconnects")
    parser.add_argument("--sample-every", type=float, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("soak: run as root")
    key = os.urandom(32).hex()
    env = dict(os.environ, TTUN_PSK=key)
    netns_up()
    node = "node"
    logs = open(Path(os.environ.get("TMPDIR", "/tmp")) / "ttun-soak.log", "w")
    server = subprocess.Popen(["ip", "netns", "exec", NS_SERVER, node, str(ROOT / "bin/ttun.js"), "server"],
                              env=env, stderr=logs)
    time.sleep(0.7)
    client = subprocess.Popen(["ip", "netns", "exec", NS_CLIENT, node, str(ROOT / "bin/ttun.js"), "client",
                               "-s", "192.0.2.1:20203"], env=env, stderr=logs)
    iperf_server = iperf_client = None
    failures = []
    try:
        wait_ping(NS_CLIENT, "10.1.1.1")
        iperf_server = subprocess.Popen(["ip", "netns", "exec", NS_SERVER, "iperf3", "-s", "-B", "10.1.1.1"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        total = args.minutes * 60
        # iperf3 restarts whenever a cut breaks its control connection; the loop keeps one running.
        start = time.time()
        next_cut = start + args.cut_every
        next_sample = start
        samples = []
        cuts = 0
        recoveries = []
        print(f"{'t (s)':>6} {'server RSS MB':>14} {'fds':>4} {'threads':>8} {'client RSS MB':>14} {'fds':>4} {'threads':>8}  cuts")
        while time.time() - start < total:
            if iperf_client is None or iperf_client.poll() is not None:
                remaining = max(1, int(total - (time.time() - start)))
                iperf_client = subprocess.Popen(["ip", "netns", "exec", NS_CLIENT, "iperf3", "-c", "10.1.1.1",
                                                 "-t", str(remaining)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            now = time.time()
            if now >= next_cut:
                # Kill the tunnel's TCP connection from the client side; both ends must notice and reconnect.
                in_ns(NS_CLIENT, "ss", "-K", "dst", "192.0.2.1", "dport", "=", ":20203", check=False)
                cuts += 1
                next_cut += args.cut_every
                cut_at = time.time()
                try:
                    wait_ping(NS_CLIENT, "10.1.1.1", seconds=RECOVERY_LIMIT_S)
                    recoveries.append(time.time() - cut_at)
                except RuntimeError:
                    failures.append(f"tunnel did not come back within {RECOVERY_LIMIT_S} s after cut {cuts}")
            if now >= next_sample:
                sample = (now - start, rss_kb(server.pid), fds(server.pid), threads(server.pid),
                          rss_kb(client.pid), fds(client.pid), threads(client.pid))
                samples.append(sample)
                print(f"{sample[0]:6.0f} {sample[1] / 1024:14.1f} {sample[2]:4d} {sample[3]:8d} "
                      f"{sample[4] / 1024:14.1f} {sample[5]:4d} {sample[6]:8d}  {cuts}", flush=True)
                next_sample += args.sample_every
            time.sleep(0.2)
        if recoveries:
            print(f"reconnects: {len(recoveries)}, tunnel back after {statistics.median(recoveries):.2f} s median, "
                  f"{max(recoveries):.2f} s at most")
        # Medians over the first full cut cycle after warm-up and over the last cycle.
        cycle = min(args.cut_every, total / 3)
        first = [s for s in samples if cycle <= s[0] < 2 * cycle] or samples[:1]
        last = [s for s in samples if s[0] >= total - cycle] or samples[-1:]
        for label, i in (("server RSS kB", 1), ("server fds", 2), ("server threads", 3),
                         ("client RSS kB", 4), ("client fds", 5), ("client threads", 6)):
            before, after = statistics.median(s[i] for s in first), statistics.median(s[i] for s in last)
            growth = (after - before) / before
            print(f"{label}: {before:g} -> {after:g} ({growth:+.1%})")
            if growth > GROWTH_LIMIT:
                failures.append(f"{label} grew {growth:.1%} (limit {GROWTH_LIMIT:.0%})")
        if cuts == 0:
            failures.append("no reconnect was forced")
        for p, name in ((server, "server"), (client, "client")):
            if p.poll() is not None:
                failures.append(f"{name} exited early ({p.returncode})")
    finally:
        for p in (iperf_client, iperf_server, client, server):
            if p is not None and p.poll() is None:
                p.terminate()
        for p in (iperf_client, iperf_server, client, server):
            if p is not None:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        netns_down()
    if failures:
        print("soak: FAILED: " + "; ".join(failures), file=sys.stderr)
        sys.exit(1)
    print(f"soak: ok ({cuts} forced reconnects, growth within {GROWTH_LIMIT:.0%})")


if __name__ == "__main__":
    main()
