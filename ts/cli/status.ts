/**
 * `ttun status`: how a running instance is, read from its control socket
 * (observability/control-socket.ts). The running side keeps what the counters do not (the peer,
 * the last error) by listening to the endpoint's events, and answers with a StatusReport; the
 * reading side prints it as text or JSON.
 */
import { type DropCounterKind, dropsByKind } from '../datapath/endpoint-stats.js';
import type { RejectReason } from '../shared/errors.js';
import { packageVersion } from '../shared/package-info.js';
import type { TtunClient } from '../tunnel/client.js';
import type { TtunServer } from '../tunnel/server.js';
import { describeReason, describeSessionEnd } from './log.js';

/** What `ttun status --json` prints for one instance. */
export interface StatusReport {
  version: string;
  pid: number;
  role: 'server' | 'client';
  dev: string;
  cipher: string;
  core: 'native' | 'wasm';
  /** Server: where it listens. Client: the server it connects to, and the proxy's URL without credentials. */
  listening?: string;
  server?: string;
  proxy?: string;
  startedAt: string;
  session: { peer: string; since: string; ageSeconds: number } | null;
  sessions: number;
  reconnects: number;
  rx: { bytes: number; packets: number };
  tx: { bytes: number; packets: number };
  drops: Record<DropCounterKind, number>;
  /** Server only: connections that did not become a session, by reason. */
  rejections?: Record<RejectReason, number>;
  pendingHandshakes?: number;
  lastError: { time: string; message: string } | null;
}

/** Follows an endpoint's events for what its counters do not keep: who the peer is, and the last thing that went wrong. */
export class StatusTracker {
  private peer: string | undefined;
  private lastError: { time: string; message: string } | null = null;
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly endpoint: TtunServer | TtunClient,
    private readonly where: { listening?: string; server?: string; proxy?: string },
  ) {
    const failed = (message: string) => {
      this.lastError = { time: new Date().toISOString(), message };
    };
    endpoint.on('up', (peer) => {
      this.peer = peer;
    });
    endpoint.on('down', (peer, end) => {
      if (this.peer === peer) this.peer = undefined;
      if (end.kind === 'bad-frame' || end.kind === 'connection-error') failed(`session with ${peer} ended: ${describeSessionEnd(end)}`);
    });
    endpoint.on('error', (err) => failed(err.message));
    if (endpoint.role === 'server') {
      const server = endpoint as TtunServer;
      server.on('rejected', (peer, reason, message) => failed(`peer ${peer} rejected: ${describeReason(reason)} (${message})`));
      server.on('accept-error', (_code, message) => failed(`cannot accept a connection: ${message}`));
    } else {
      (endpoint as TtunClient).on('failed', (reason, message) => failed(`${describeReason(reason)}: ${message}`));
    }
  }

  report(): StatusReport {
    const e = this.endpoint;
    const stats = e.stats();
    const since = e.sessionStartedAt;
    const server = e.role === 'server' ? (e as TtunServer) : undefined;
    return {
      version: packageVersion(),
      pid: process.pid,
      role: e.role,
      dev: e.tun?.name ?? '',
      cipher: e.cipher,
      core: e.coreKind,
      ...this.where,
      startedAt: this.startedAt,
      session:
        since === undefined || this.peer === undefined
          ? null
          : { peer: this.peer, since: new Date(since).toISOString(), ageSeconds: Math.floor((Date.now() - since) / 1000) },
      sessions: stats.sessions,
      reconnects: stats.reconnects,
      rx: { bytes: stats.rxBytes, packets: stats.rxPackets },
      tx: { bytes: stats.txBytes, packets: stats.txPackets },
      drops: dropsByKind(stats),
      ...(server === undefined ? {} : { rejections: server.rejections(), pendingHandshakes: server.pendingHandshakes }),
      lastError: this.lastError,
    };
  }
}

function duration(seconds: number): string {
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (seconds >= size) {
      parts.push(`${Math.floor(seconds / size)}${unit}`);
      seconds %= size;
    }
  }
  parts.push(`${seconds}s`);
  return parts.join(' ');
}

function bytes(n: number): string {
  for (const [unit, size] of [
    ['GB', 1e9],
    ['MB', 1e6],
    ['kB', 1e3],
  ] as const) {
    if (n >= size) return `${(n / size).toFixed(1)} ${unit}`;
  }
  return `${n} B`;
}

/** The counts that are not zero, `kind n` each, or "none". */
function counts(record: Record<string, number>): string {
  const nonZero = Object.entries(record).filter(([, n]) => n > 0);
  return nonZero.length === 0 ? 'none' : nonZero.map(([kind, n]) => `${kind} ${n}`).join(', ');
}

/** One instance's report as lines for people. */
export function statusText(report: StatusReport, label: string): string {
  const rows: Array<[string, string]> = [];
  if (report.listening !== undefined) rows.push(['listening', report.listening]);
  if (report.server !== undefined)
    rows.push(['server', report.proxy === undefined ? report.server : `${report.server} via ${report.proxy}`]);
  rows.push([
    'session',
    report.session === null
      ? `none (${report.role === 'server' ? 'waiting for a peer' : 'connecting'})`
      : `up with ${report.session.peer} for ${duration(report.session.ageSeconds)}`,
  ]);
  rows.push(['sessions', `${report.sessions} since ${report.startedAt}`]);
  if (report.role === 'client') rows.push(['reconnects', String(report.reconnects)]);
  rows.push(['received', `${bytes(report.rx.bytes)} in ${report.rx.packets} packets`]);
  rows.push(['sent', `${bytes(report.tx.bytes)} in ${report.tx.packets} packets`]);
  rows.push(['dropped', counts(report.drops)]);
  if (report.rejections !== undefined) rows.push(['rejected', counts(report.rejections)]);
  rows.push(['last error', report.lastError === null ? 'none' : `${report.lastError.time} ${report.lastError.message}`]);
  const width = Math.max(...rows.map(([name]) => name.length));
  const head = `ttun ${report.role} on ${label}: pid ${report.pid}, ttun ${report.version}, ${report.cipher}, ${report.core} core`;
  return `${[head, ...rows.map(([name, value]) => `  ${name.padEnd(width)}  ${value}`)].join('\n')}\n`;
}
