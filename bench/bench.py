#!/usr/bin/env python3
"""ttun beside its peers, in one run, on one pair of network namespaces joined by veth.

Measures raw veth (the ceiling), ttun (chacha20-poly1305 and aes-256-gcm at MTU 1280, chacha20 at
MTU 9000 and 65000), wireguard-go (userspace WireGuard over UDP), OpenVPN static-key over TCP and
`ssh -w`. For each: one-stream iperf3 TCP throughput, idle ping RTT, ping RTT while iperf3 runs
(median and p99); for ttun also each endpoint's peak RSS and CPU seconds per GB carried. The tunnels
take turns: `--rounds` rounds, each measuring every tunnel once, so that drift of a shared machine
falls on all of them alike; the figures are medians over the rounds.

Writes bench/results.md and bench/results.png and prints the table. `--ladder` instead measures ttun's
data-path optimisation steps side by side (bench/ladder.md). `--quick` is the CI smoke
version: one short run of each ttun cipher, results written to a temporary directory.
Linux, root. Run it with `npm run bench` (which builds first).
"""
import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "bench" / "peers"
NS_SERVER, NS_CLIENT = "ttA", "ttB"
PSK = "benchmark key: " + os.urandom(16).hex()


def sh(*args, check=True, timeout=120, **kw):
    return subprocess.run(list(args), check=check, timeout=timeout, text=True, capture_output=True, **kw)


def in_ns(ns, *args, **kw):
    return sh("ip", "netns", "exec", ns, *args, **kw)


def percentile(values, p):
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def ping_samples(ns, target, count, interval, deadline=None):
    args = ["ping", "-n", "-c", str(count), "-i", str(interval)]
    if deadline:
        args += ["-w", str(deadline)]
    out = in_ns(ns, *args, target, check=False, timeout=(deadline or count * interval) + 30).stdout
    return [float(m) for m in re.findall(r"time=([\d.]+) ms", out)]


@dataclass
class Endpoint:
    """A ttun process whose CPU time and peak RSS we read from /proc."""
    name: str
    proc: subprocess.Popen

    def cpu_seconds(self):
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self):
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


@dataclass
class Result:
    name: str
    mtu: int
    gbps: list = field(default_factory=list)
    idle_rtt: list = field(default_factory=list)
    loaded_rtt: list = field(default_factory=list)
    # endpoint name -> [(peak RSS MB, CPU s per GB)], one per round
    endpoints: dict = field(default_factory=dict)

    @property
    def gbps_median(self):
        return statistics.median(self.gbps) if self.gbps else 0.0

    def endpoint(self, name):
        """(largest peak RSS MB, median CPU s per GB) of one endpoint over the rounds."""
        rounds = self.endpoints[name]
        return max(rss for rss, _ in rounds), statistics.median(cpu for _, cpu in rounds)

    def add_round(self, other):
        self.gbps += other.gbps
        self.idle_rtt += other.idle_rtt
        self.loaded_rtt += other.loaded_rtt
        for name, rounds in other.endpoints.items():
            self.endpoints.setdefault(name, []).extend(rounds)


def merge_rounds(results):
    """One Result per tunnel (name, MTU), in first-seen order, holding all its rounds."""
    merged = {}
    for r in results:
        key = (r.name, r.mtu)
        if key in merged:
            merged[key].add_round(r)
        else:
            merged[key] = r
    return list(merged.values())


def netns_up():
    sh("bash", str(PEERS / "netns.sh"), "down", check=False)
    sh("bash", str(PEERS / "netns.sh"), "up")


def netns_down():
    sh("bash", str(PEERS / "netns.sh"), "down", check=False)


def wait_ping(ns, target, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if in_ns(ns, "ping", "-c1", "-W1", target, check=False).returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"no ping answer from {target} within {seconds} s")


def measure(result, target, runs, duration, idle_count, endpoints=()):
    """Idle RTT, then `runs` iperf3 runs with a ping running alongside each."""
    result.idle_rtt = ping_samples(NS_CLIENT, target, idle_count, 0.05)
    iperf_server = subprocess.Popen(["ip", "netns", "exec", NS_SERVER, "iperf3", "-s", "-B", target],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    cpu_before = {e.name: e.cpu_seconds() for e in endpoints}
    carried_bytes = 0
    try:
        for _ in range(runs):
            pinger = subprocess.Popen(["ip", "netns", "exec", NS_CLIENT, "ping", "-n", "-i", "0.02",
                                       "-w", str(duration), target], stdout=subprocess.PIPE, text=True)
            time.sleep(0.2)
            out = in_ns(NS_CLIENT, "iperf3", "-c", target, "-t", str(duration), "-J", timeout=duration + 60).stdout
            report = json.loads(out)["end"]["sum_received"]
            result.gbps.append(report["bits_per_second"] / 1e9)
            carried_bytes += report["bytes"]
            ping_out, _ = pinger.communicate(timeout=duration + 30)
            result.loaded_rtt += [float(m) for m in re.findall(r"time=([\d.]+) ms", ping_out)]
    finally:
        iperf_server.kill()
        iperf_server.wait()
    for e in endpoints:
        cpu = e.cpu_seconds() - cpu_before[e.name]
        result.endpoints[e.name] = [(e.peak_rss_mb(), cpu / (carried_bytes / 1e9))]


def stop(*processes):
    """Terminates the processes (None skipped); any that has not ended within 10 s is killed."""
    processes = [p for p in processes if p]
    for p in processes:
        p.terminate()
    for p in processes:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


@contextmanager
def ttun_pair(root, cipher, mtu, args_extra=(), env=None, pin=()):
    """A ttun server (server namespace) and client (client namespace) from the checkout at `root`,
    the tunnel up (its far end answers ping); stopped on leaving. Yields (server, client).
    `pin` prefixes both commands (e.g. taskset)."""
    ttun = [*pin, shutil.which("node") or "node", str(root / "bin/ttun.js")]
    common = ["-k", PSK, "-m", cipher, "-mtu", str(mtu), *args_extra]
    server = subprocess.Popen(["ip", "netns", "exec", NS_SERVER, *ttun, "server", *common],
                              stderr=subprocess.DEVNULL, env=env)
    time.sleep(0.7)
    client = subprocess.Popen(["ip", "netns", "exec", NS_CLIENT, *ttun, "client", "-s", "192.0.2.1:20203", *common],
                              stderr=subprocess.DEVNULL, env=env)
    try:
        wait_ping(NS_CLIENT, "10.1.1.1")
        yield server, client
    finally:
        stop(client, server)


def run_ttun(cipher, mtu, args, name=None, env_extra=None, args_extra=()):
    result = Result(name or f"ttun {cipher}", mtu)
    env = dict(os.environ, **(env_extra or {}))
    with ttun_pair(ROOT, cipher, mtu, args_extra, env) as (server, client):
        measure(result, "10.1.1.1", args.runs, args.duration, args.idle_count,
                [Endpoint("server", server), Endpoint("client", client)])
    return result


def run_peer(name, script, target, args, env_extra=None):
    result = Result(name, 1280)
    sh("bash", str(PEERS / script), timeout=60, env=dict(os.environ, **(env_extra or {})))
    wait_ping(NS_CLIENT, target)
    measure(result, target, args.runs, args.duration, args.idle_count)
    # The peer's processes end with the namespaces; restart them clean for the next peer.
    netns_up()
    return result


def fmt(v, digits=2):
    return f"{v:.{digits}f}"


RAW, WIREGUARD_GO, OPENVPN, SSH = "raw veth (no tunnel)", "wireguard-go (UDP)", "OpenVPN static key, TCP", "ssh -w"


def table(results):
    by_name = {r.name: r for r in results}
    raw, wg, ovpn, ssh = (by_name.get(name) for name in (RAW, WIREGUARD_GO, OPENVPN, SSH))
    rows = ["| tunnel | MTU | Gbit/s (median) | % of raw veth | × wireguard-go | × OpenVPN | × ssh -w | idle RTT ms (median) | "
            "loaded RTT ms median / p99 | peak RSS MB server / client | CPU s per GB server / client |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        ratio = lambda peer: fmt(r.gbps_median / peer.gbps_median, 1) if peer and peer.gbps_median else "–"
        of_raw = f"{100 * r.gbps_median / raw.gbps_median:.0f}%" if raw and raw.gbps_median else "–"
        loaded = f"{fmt(statistics.median(r.loaded_rtt))} / {fmt(percentile(r.loaded_rtt, 99))}" if r.loaded_rtt else "–"
        idle = fmt(statistics.median(r.idle_rtt), 3) if r.idle_rtt else "–"
        if r.endpoints:
            s, c = r.endpoint("server"), r.endpoint("client")
            rss, cpu = f"{fmt(s[0], 0)} / {fmt(c[0], 0)}", f"{fmt(s[1])} / {fmt(c[1])}"
        else:
            rss = cpu = "–"
        rows.append(f"| {r.name} | {r.mtu} | {fmt(r.gbps_median)} | {of_raw} | {ratio(wg)} | {ratio(ovpn)} | {ratio(ssh)} | "
                    f"{idle} | {loaded} | {rss} | {cpu} |")
    return "\n".join(rows)


# The optimisation steps of the data path, so one run shows what each step bought (ttun
# chacha20-poly1305, MTU 1280): the data path is a CLI option (--datapath), the AEAD backend a
# cargo feature of the addon, so the RustCrypto steps load a second build of it (rustcrypto_addon).
LADDER = [
    ("1. batches through the JS event loop, RustCrypto", ["--datapath", "event-loop"], "rustcrypto"),
    ("2. Rust threads own the socket, RustCrypto", [], "rustcrypto"),
    ("3. Rust threads, ring AEAD (as shipped)", [], "ring"),
]


def rustcrypto_addon(out_dir):
    """Builds the addon with the `rustcrypto` feature (no ring) into out_dir; returns the .node file.
    The shipped build (ring) in packages/ is left alone; ttun loads this one through
    TTUN_NATIVE_LIBRARY_PATH."""
    sh("npx", "napi", "build", "--platform", "--release", "--manifest-path", "crates/ttun-napi/Cargo.toml",
       "--output-dir", str(out_dir), "--no-js", "--no-default-features", "--features", "rustcrypto",
       cwd=ROOT, timeout=1800)
    built = sorted(Path(out_dir).glob("*.node"))
    if len(built) != 1:
        raise RuntimeError(f"expected one .node file in {out_dir}, found {built}")
    return built[0]


def ladder_table(results):
    rows = ["| data path | Gbit/s (median) | idle RTT ms (median) | loaded RTT ms median / p99 | CPU s per GB server / client |",
            "|---|---|---|---|---|"]
    for r in results:
        s, c = r.endpoint("server"), r.endpoint("client")
        rows.append(f"| {r.name} | {fmt(r.gbps_median)} | {fmt(statistics.median(r.idle_rtt), 3)} | "
                    f"{fmt(statistics.median(r.loaded_rtt))} / {fmt(percentile(r.loaded_rtt, 99))} | {fmt(s[1])} / {fmt(c[1])} |")
    return "\n".join(rows)


def run_all(steps):
    """Runs each (label, measure) step on fresh namespaces; every step must have measured something."""
    results = []
    netns_up()
    try:
        for label, run in steps:
            print(f"bench: {label}", file=sys.stderr, flush=True)
            r = run()
            if not r.gbps or min(r.gbps) <= 0 or not r.idle_rtt:
                raise RuntimeError(f"{r.name}: no measurement (throughput {r.gbps}, {len(r.idle_rtt)} pings)")
            results.append(r)
    finally:
        netns_down()
    return results


def write_report(path, title, md, notes):
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {title}\n\n{when}, {machine()}.\n\n{md}\n\n{notes}\n")
    print(md)
    print(f"\nbench: wrote {path}", file=sys.stderr)


def run_ladder(args):
    print("bench: building the addon with the rustcrypto feature", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="ttun-rustcrypto-") as build_dir:
        addons = {"rustcrypto": {"TTUN_NATIVE_LIBRARY_PATH": str(rustcrypto_addon(build_dir))}, "ring": {}}
        steps = [(f"ladder round {n + 1}: {label}", lambda label=label, extra=extra, aead=aead:
                  run_ttun("chacha20-poly1305", 1280, args, name=label, env_extra=addons[aead], args_extra=extra))
                 for n in range(args.rounds) for label, extra, aead in LADDER]
        results = merge_rounds(run_all(steps))
    write_report(args.out / "ladder.md", "ttun data path, step by step", ladder_table(results),
                 f"ttun chacha20-poly1305 at MTU 1280, measured as in results.md ({args.rounds} rounds of "
                 f"{args.runs} × {args.duration} s iperf3, median; {args.idle_count} idle pings per round). `--datapath event-loop` keeps the socket in Node and moves "
                 f"batches through the event loop (the path Windows takes); the RustCrypto steps run an addon built with "
                 f"the `rustcrypto` cargo feature (pure-Rust AEAD) instead of the shipped ring build. "
                 f"Command: `bash bench/run.sh --ladder`.")


def machine():
    model = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                  if l.startswith("model name")), platform.processor())
    return f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, Node {sh('node', '--version').stdout.strip()}"


def chart(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    labels = [f"{r.name}\nMTU {r.mtu}" for r in results]
    colors = ["#888888" if r.name == RAW else "#1f77b4" if r.name.startswith("ttun") else "#d62728" for r in results]
    fig, (a, b) = plt.subplots(1, 2, figsize=(14, 5.5))
    a.bar(labels, [r.gbps_median for r in results], color=colors)
    a.set_ylabel("Gbit/s (one TCP stream, median)")
    a.set_title("Throughput (higher is better)")
    b.bar(labels, [statistics.median(r.loaded_rtt) if r.loaded_rtt else 0 for r in results], color=colors)
    b.set_ylabel("ms")
    b.set_yscale("log")
    b.set_title("Ping RTT while the stream runs, median (lower is better)")
    for ax in (a, b):
        ax.tick_params(axis="x", labelrotation=60, labelsize=8)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CI smoke: one short run of each ttun cipher")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each measuring every tunnel once (medians over them)")
    parser.add_argument("--runs", type=int, default=1, help="iperf3 runs per tunnel and round")
    parser.add_argument("--duration", type=int, default=5, help="seconds per iperf3 run")
    parser.add_argument("--idle-count", type=int, default=60, help="idle pings per tunnel and round (>= 50)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench", help="where results.md/png go")
    parser.add_argument("--ladder", action="store_true",
                        help="instead: ttun's data-path optimisation steps side by side (bench/ladder.md)")
    parser.add_argument("--wireguard-go", type=Path, default=Path(os.environ.get("WG_GO", "/tmp/wg-go/wireguard")),
                        help="the wireguard-go binary (bench/run.sh builds it there)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root (network namespaces, TUN devices)")
    if args.quick:
        args.rounds, args.runs, args.duration, args.idle_count = 1, 1, 2, 20
        args.out = Path(tempfile.mkdtemp(prefix="ttun-bench-"))
    if args.ladder:
        run_ladder(args)
        return

    plan = [("ttun", "chacha20-poly1305", 1280), ("ttun", "aes-256-gcm", 1280)]
    if not args.quick:
        if not os.access(args.wireguard_go, os.X_OK):
            sys.exit(f"bench: no wireguard-go at {args.wireguard_go} (bench/run.sh builds it; or --wireguard-go PATH)")
        plan = ([("raw", None, None)] + plan + [("wireguard-go", None, None), ("openvpn", None, None), ("ssh", None, None),
                ("ttun", "chacha20-poly1305", 9000), ("ttun", "chacha20-poly1305", 65000)])

    def step(kind, cipher, mtu):
        if kind == "raw":
            r = Result(RAW, 1500)
            measure(r, "192.0.2.1", args.runs, args.duration, args.idle_count)
            return r
        if kind == "ttun":
            return run_ttun(cipher, mtu, args)
        if kind == "wireguard-go":
            return run_peer(WIREGUARD_GO, "anchor_wireguard_go.sh", "10.6.0.1", args, {"WG_GO": str(args.wireguard_go)})
        if kind == "openvpn":
            return run_peer(OPENVPN, "anchor_openvpn.sh", "10.4.0.1", args)
        return run_peer(SSH, "anchor_ssh.sh", "10.5.0.1", args)

    steps = [(f"round {n + 1}: {kind} {cipher or ''} {mtu or ''}".rstrip(), lambda k=kind, c=cipher, m=mtu: step(k, c, m))
             for n in range(args.rounds) for kind, cipher, mtu in plan]
    results = merge_rounds(run_all(steps))
    write_report(args.out / "results.md", "ttun benchmark", table(results),
                 f"{args.rounds} rounds, each measuring every tunnel in turn: {args.runs} × {args.duration} s one-stream iperf3 "
                 f"(client namespace → server namespace, through the tunnel) and {args.idle_count} idle pings at 50 ms intervals; "
                 f"throughput is the median over the rounds, RTTs the median (and p99) of all pings; loaded RTT: pings every 20 ms "
                 f"during every iperf3 run. RSS is VmHWM (the largest over the rounds), CPU is user+system time of each ttun "
                 f"process over the iperf3 runs divided by the GB received (median over the rounds).\n\n"
                 f"Commands: `npm run bench` (= `npm run build && bash bench/run.sh`); peers stood up by "
                 f"`bench/peers/anchor_wireguard_go.sh`, `bench/peers/anchor_openvpn.sh` and `bench/peers/anchor_ssh.sh` between "
                 f"namespaces from `bench/peers/netns.sh`.")
    if not args.quick:
        chart(results, args.out / "results.png")


if __name__ == "__main__":
    main()
