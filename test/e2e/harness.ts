/**
 * End-to-end test harness: real network namespaces joined by veth pairs, the real `ttun` CLI in
 * them, real ping and TCP. Every lab is torn down by the test that made it, pass or fail.
 * Needs root and /dev/net/tun; without them the tests fail (they never skip).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const TTUN = join(ROOT, 'bin', 'ttun.js');
export const TOOLS = join(ROOT, 'dist', 'test', 'e2e', 'tools');
/**
 * Node flags the real CLI runs with, as the systemd units give them: --disable-sigusr1 where this
 * Node has it (22.14 and later), so that SIGUSR1 never opens Node's debugger, not even before
 * bin/ttun.js has installed its listener.
 */
export const NODE_FLAGS: string[] = process.allowedNodeEnvironmentFlags.has('--disable-sigusr1') ? ['--disable-sigusr1'] : [];

/**
 * How long to wait for what a test needs (a log line, a ping answer) by default: generous, because
 * CI machines are small and busy, and a test that waits for an event costs nothing when it is fast.
 */
export const WAIT_MS = 30_000;

export function requireRootAndTun(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('end-to-end tests need root (network namespaces and TUN devices): run `sudo npm test`');
  }
  if (!existsSync('/dev/net/tun')) throw new Error('end-to-end tests need /dev/net/tun, which this machine lacks');
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function run(command: string, args: string[], options: { timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (options.input !== undefined) {
      child.stdin!.on('error', () => {}); // the command may exit without reading its input
      child.stdin!.end(options.input);
    }
  });
}

async function must(command: string, args: string[]): Promise<string> {
  const result = await run(command, args);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.code}): ${result.stderr.trim()}`);
  return result.stdout;
}

/**
 * One line of `ttun --log-format json` (ts/log.ts): the event's name, its level, the role, the text
 * line's words in `message`, and the event's own fields.
 */
export interface LogEvent {
  time: string;
  level: 'info' | 'warn' | 'error';
  role: string;
  event: string;
  message: string;
  [field: string]: unknown;
}

/** A line as a JSON log event, or undefined for any other line (a usage error, a hook's or Node's own output). */
export function parseEvent(line: string): LogEvent | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const entry = JSON.parse(line) as Partial<LogEvent>;
    return typeof entry.event === 'string' ? (entry as LogEvent) : undefined;
  } catch {
    return undefined;
  }
}

/** What a wait is for: a test on one line, and how to name it when it times out. */
interface LineWaiter {
  matches: (line: string) => boolean;
  what: string;
  resolve: (line: string) => void;
}

/** A running ttun (or other) process inside a namespace, with its output kept line by line. */
export class NsProcess {
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private waiters: LineWaiter[] = [];

  constructor(ns: string, command: string[], env: Record<string, string> = {}) {
    // `ip netns exec` execs the command, so the pid is ttun's own and signals reach it directly.
    this.child = spawn('ip', ['netns', 'exec', ns, ...command], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      let partial = '';
      stream.on('data', (data: Buffer) => {
        const parts = (partial + data.toString()).split('\n');
        partial = parts.pop()!;
        for (const line of parts) this.addLine(line);
      });
    }
    // 'close', not 'exit': 'exit' can come before the last of the output has been read, and tests
    // look at the lines once the process is gone.
    this.exited = new Promise((resolve) => this.child.on('close', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** True until the process has exited (as far as this process has been told). */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get output(): string {
    return this.lines.join('\n');
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** Resolves with the first line matching `pattern` at or after line `from` (default: any line so far). */
  waitForLine(pattern: RegExp, timeoutMs = WAIT_MS, from = 0): Promise<string> {
    return this.waitFor((line) => pattern.test(line), `a line matching ${pattern}`, timeoutMs, from);
  }

  /**
   * Resolves with the first JSON log event named `event` for which `matches` holds, at or after
   * line `from` (default: any line so far). The process must log with --log-format json (the
   * default of Lab.ttun).
   */
  async waitForEvent(
    event: string,
    matches: (e: LogEvent) => boolean = () => true,
    { timeoutMs = WAIT_MS, from = 0 }: { timeoutMs?: number; from?: number } = {},
  ): Promise<LogEvent> {
    const isIt = (line: string) => {
      const entry = parseEvent(line);
      return entry !== undefined && entry.event === event && matches(entry);
    };
    // A timeout quotes the predicate's source: what the test waited for, in its own words.
    const what = `a "${event}" event${matches.length > 0 ? ` that passes ${matches}` : ''}`;
    return parseEvent(await this.waitFor(isIt, what, timeoutMs, from))!;
  }

  /** The JSON log events so far, in order: those named `event`, or all of them without a name. */
  events(event?: string): LogEvent[] {
    return this.lines.map(parseEvent).filter((e): e is LogEvent => e !== undefined && (event === undefined || e.event === event));
  }

  private waitFor(matches: (line: string) => boolean, what: string, timeoutMs: number, from: number): Promise<string> {
    const seen = this.lines.slice(from).find(matches);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter: LineWaiter = {
        matches,
        what,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no ${what} within ${timeoutMs} ms; output so far:\n${this.output}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  private addLine(line: string): void {
    this.lines.push(line);
    for (const waiter of [...this.waiters]) {
      if (waiter.matches(line)) {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        waiter.resolve(line);
      }
    }
  }
}

/** `args` with --log-format json added, unless the command is not an endpoint or the test chose a format. */
function withJsonLogs(args: string[], env: Record<string, string> = {}): string[] {
  const endpoint = args[0] === 'server' || args[0] === 'client';
  const chosen = args.some((a) => /^--?(log-format|config)(=|$)/.test(a)) || env.TTUN_LOG_FORMAT !== undefined;
  return endpoint && !chosen ? [...args, '--log-format', 'json'] : args;
}

let labCounter = 0;

/**
 * One server namespace and N client namespaces, each client joined to the server by its own veth
 * pair: client i reaches the server at 10.200.i.1 and is 10.200.i.2.
 */
export class Lab {
  readonly server: string;
  readonly clients: string[];
  /** The server-side end of each client's veth pair. */
  readonly serverVeths: string[] = [];
  private readonly processes: NsProcess[] = [];

  private constructor(id: string, clientCount: number) {
    this.server = `tt${id}s`;
    this.clients = Array.from({ length: clientCount }, (_, i) => `tt${id}c${i}`);
  }

  static async create(clientCount = 1): Promise<Lab> {
    requireRootAndTun();
    const lab = new Lab(`${process.pid}x${labCounter++}`, clientCount);
    try {
      await must('ip', ['netns', 'add', lab.server]);
      await must('ip', ['-n', lab.server, 'link', 'set', 'lo', 'up']);
      for (const [i, ns] of lab.clients.entries()) {
        const vs = `ve${process.pid % 10000}${labCounter}s${i}`;
        const vc = `ve${process.pid % 10000}${labCounter}c${i}`;
        lab.serverVeths.push(vs);
        await must('ip', ['netns', 'add', ns]);
        await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
        await must('ip', ['link', 'add', vs, 'type', 'veth', 'peer', 'name', vc]);
        await must('ip', ['link', 'set', vs, 'netns', lab.server]);
        await must('ip', ['link', 'set', vc, 'netns', ns]);
        await must('ip', ['-n', lab.server, 'addr', 'add', `10.200.${i}.1/24`, 'dev', vs]);
        await must('ip', ['-n', ns, 'addr', 'add', `10.200.${i}.2/24`, 'dev', vc]);
        await must('ip', ['-n', lab.server, 'link', 'set', vs, 'up']);
        await must('ip', ['-n', ns, 'link', 'set', vc, 'up']);
      }
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  /** Where client i reaches the server's listener. */
  serverAddress(client = 0, port = 20203): string {
    return `10.200.${client}.1:${port}`;
  }

  spawn(ns: string, command: string[], env?: Record<string, string>): NsProcess {
    const proc = new NsProcess(ns, command, env);
    this.processes.push(proc);
    return proc;
  }

  /**
   * Starts the real CLI: `ttun <args>` in namespace `ns`, logging JSON events (--log-format json)
   * that tests wait on with waitForEvent. A test that chooses the format itself (--log-format,
   * TTUN_LOG_FORMAT, or a --config file) gets what it chose.
   */
  ttun(ns: string, args: string[], env?: Record<string, string>): NsProcess {
    return this.spawn(ns, [process.execPath, ...NODE_FLAGS, TTUN, ...withJsonLogs(args, env)], env);
  }

  /** Runs the real CLI in namespace `ns` to its exit (start-up errors); its stderr also as lines. */
  async ttunOnce(ns: string, args: string[]): Promise<ExecResult & { lines: string[] }> {
    const result = await this.exec(ns, [process.execPath, ...NODE_FLAGS, TTUN, ...args]);
    return { ...result, lines: result.stderr.trim().split('\n') };
  }

  /**
   * The real CLI at both ends: `ttun server` in the server namespace, `ttun client` in client
   * `client`'s, both with `args`; resolves once a ping crosses the tunnel.
   */
  async tunnel(psk: string, { args = [], env, client = 0 }: { args?: string[]; env?: Record<string, string>; client?: number } = {}) {
    const server = this.ttun(this.server, ['server', '-k', psk, ...args], env);
    await server.waitForEvent('listening');
    const clientProcess = this.ttun(this.clients[client]!, ['client', '-k', psk, '-s', this.serverAddress(client), ...args], env);
    await clientProcess.waitForEvent('up');
    await server.waitForEvent('up');
    await this.waitForPing(this.clients[client]!, '10.1.1.1');
    return { server, client: clientProcess };
  }

  /** Both ends of client 0's tunnel as (namespace, the peer's tunnel address) pairs: each direction, IPv4 and IPv6. */
  tunnelEnds(): Array<readonly [string, string]> {
    const client = this.clients[0]!;
    return [
      [client, '10.1.1.1'],
      [client, 'fc11::1'],
      [this.server, '10.1.1.2'],
      [this.server, 'fc11::2'],
    ];
  }

  /**
   * `mib` MiB of random bytes over TCP from `fromNs` to `toAddress` in `toNs` (tools/tcp-source and
   * tcp-sink): each side's `bytes=N sha256=H` line, equal when everything arrived unchanged.
   */
  async transfer(fromNs: string, toNs: string, toAddress: string, mib: number): Promise<{ sent: string; received: string }> {
    const sink = this.spawn(toNs, [process.execPath, join(TOOLS, 'tcp-sink.js'), toAddress, '5001']);
    await sink.waitForLine(/listening/);
    const source = this.spawn(fromNs, [process.execPath, join(TOOLS, 'tcp-source.js'), toAddress, '5001', String(mib)]);
    const sent = await source.waitForLine(/^bytes=/, 120_000);
    const received = await sink.waitForLine(/^bytes=/);
    return { sent, received };
  }

  exec(ns: string, command: string[], timeoutMs?: number): Promise<ExecResult> {
    return run('ip', ['netns', 'exec', ns, ...command], { timeoutMs });
  }

  async ping(ns: string, address: string, count = 3): Promise<ExecResult> {
    return this.exec(ns, ['ping', '-c', String(count), '-i', '0.2', '-W', '2', address], 20_000);
  }

  /** Pings until one answer comes back (the tunnel is up), or throws after timeoutMs. */
  async waitForPing(ns: string, address: string, timeoutMs = WAIT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ((await this.exec(ns, ['ping', '-c', '1', '-W', '1', address])).code === 0) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`no ping answer from ${address} in ${ns} within ${timeoutMs} ms`);
  }

  /** Runs nft in the server namespace (one command, e.g. `add table inet t`). */
  async nft(...args: string[]): Promise<void> {
    await must('ip', ['netns', 'exec', this.server, 'nft', ...args]);
  }

  async links(ns: string): Promise<string[]> {
    const out = await must('ip', ['-n', ns, '-o', 'link', 'show']);
    return out
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(': ')[1]!.split('@')[0]!);
  }

  async destroy(): Promise<void> {
    for (const proc of this.processes) proc.kill('SIGKILL');
    await Promise.all(this.processes.map((p) => Promise.race([p.exited, new Promise((r) => setTimeout(r, 3000))])));
    for (const ns of [this.server, ...this.clients]) {
      const pids = await run('ip', ['netns', 'pids', ns]);
      for (const pid of pids.stdout.split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      await run('ip', ['netns', 'del', ns]);
      // What a killed ttun leaves: its control socket (ttun removes it when it exits by itself).
      rmSync(`/run/ttun/netns-${ns}`, { recursive: true, force: true });
    }
  }
}

/** A real unix datagram socket, bound by Python (Node has none), printing each datagram as one JSON line. */
export function notifyReceiver(address: string, ns?: string): { lines: string[]; ready: Promise<void>; stop: () => void } {
  const script = [
    'import json, socket, sys',
    'address = sys.argv[1]',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    "s.bind('\\0' + address[1:] if address.startswith('@') else address)",
    // A path socket anyone may send to: a service that runs as its own user must reach it.
    "if not address.startswith('@'): __import__('os').chmod(address, 0o666)",
    "print('bound', flush=True)",
    'while True:',
    '    print(json.dumps(s.recv(4096).decode()), flush=True)',
  ].join('\n');
  const command = ['python3', '-c', script, address];
  const child = spawn(ns === undefined ? command[0]! : 'ip', ns === undefined ? command.slice(1) : ['netns', 'exec', ns, ...command], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  let partial = '';
  let bound: () => void = () => {};
  const ready = new Promise<void>((resolve) => (bound = resolve));
  child.stdout.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop()!;
    for (const line of parts) {
      if (line === 'bound') bound();
      else lines.push(JSON.parse(line) as string);
    }
  });
  return { lines, ready, stop: () => child.kill() };
}

/** Polls until `probe` holds, every 100 ms; fails after `timeoutMs` naming `what`. */
export async function until(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
