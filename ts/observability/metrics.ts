/**
 * Prometheus metrics (`--metrics HOST:PORT`, the `metrics` option): an HTTP listener that answers
 * GET /metrics in the text exposition format 0.0.4. Every value is read from the endpoint when a
 * scrape arrives: no timer, no copy of a counter, and no cost while nobody scrapes.
 *
 * Written against node:http rather than prom-client: a dozen values that already exist as
 * counters in the endpoint need a formatter, not a registry of live metric objects; prom-client
 * would add a dependency (and its default collectors' timers) to render what fits in this file.
 *
 * Nothing here sees the key: the endpoint keeps only K, and the snapshot below has no field for it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { dropsByKind, type EndpointStats } from '../datapath/endpoint-stats.js';
import { listenError } from '../network/connections.js';
import type { CipherName, HostPort, Role } from '../options/values.js';
import { parseHostPort } from '../options/values.js';
import { badOption, type RejectReason } from '../shared/errors.js';
import { packageVersion } from '../shared/package-info.js';
import {
  METRICS_DEADLINE_CHECK_MS,
  METRICS_ERROR_REPORT_MS,
  METRICS_IDLE_TIMEOUT_MS,
  METRICS_MAX_CONNECTIONS,
  METRICS_REQUEST_TIMEOUT_MS,
} from '../shared/tunables.js';

/**
 * Where metrics are served when only a port is given: this host only. They tell whoever can read
 * them when the tunnel is used and how much; exposing them further is a choice to make explicitly.
 */
export const METRICS_DEFAULT_HOST = '127.0.0.1';

/** What an endpoint offers to a scrape (TtunServer and TtunClient have these). */
export interface MetricsSource {
  readonly role: Role;
  readonly cipher: CipherName;
  readonly coreKind: 'native' | 'wasm';
  readonly mptcp: boolean;
  /** When the live session came up (ms since the epoch), undefined while none is up. */
  readonly sessionStartedAt: number | undefined;
  stats(): EndpointStats;
  /** Server only: connections that did not become a session, by reason. */
  rejections?(): Record<RejectReason, number>;
  /** Server only: connections in their handshake right now. */
  readonly pendingHandshakes?: number;
}

/** One scrape's worth of values: renderMetrics is a pure function of this. */
export interface MetricsSnapshot {
  version: string;
  /** The Node.js version (process.version). */
  node: string;
  role: Role;
  cipher: CipherName;
  core: 'native' | 'wasm';
  mptcp: boolean;
  sessionStartedAt: number | undefined;
  stats: EndpointStats;
  rejections: Record<RejectReason, number> | undefined;
  pendingHandshakes: number | undefined;
  residentMemoryBytes: number;
  processStartTimeSeconds: number;
}

type Labels = Record<string, string>;
interface Sample {
  labels?: Labels;
  value: number;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Label values may hold anything; the format reserves backslash, double quote and newline. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text: backslash and newline only (quotes are literal there). */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function formatLabels(labels: Labels | undefined): string {
  if (labels === undefined) return '';
  const pairs = Object.entries(labels).map(([name, value]) => {
    if (!LABEL_NAME.test(name)) throw new Error(`bad label name ${JSON.stringify(name)}`);
    return `${name}="${escapeLabelValue(value)}"`;
  });
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

function family(name: string, type: 'counter' | 'gauge', help: string, samples: Sample[]): string {
  if (!METRIC_NAME.test(name)) throw new Error(`bad metric name ${JSON.stringify(name)}`);
  const lines = [`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`];
  for (const sample of samples) lines.push(`${name}${formatLabels(sample.labels)} ${formatValue(sample.value)}`);
  return `${lines.join('\n')}\n`;
}

/** The exposition text (format 0.0.4) for one snapshot. */
export function renderMetrics(s: MetricsSnapshot): string {
  const { stats } = s;
  const parts = [
    family(
      'ttun_build_info',
      'gauge',
      'Always 1; the labels say what runs: ttun version, role, cipher, protocol core, MPTCP, Node.js version.',
      [
        {
          labels: { version: s.version, role: s.role, cipher: s.cipher, core: s.core, mptcp: String(s.mptcp), node: s.node },
          value: 1,
        },
      ],
    ),
    family('ttun_session_up', 'gauge', '1 while an authenticated session carries packets, else 0.', [
      { value: s.sessionStartedAt === undefined ? 0 : 1 },
    ]),
    // No sample while no session is up: `time() - ttun_session_start_time_seconds` is then absent rather than ~56 years.
    family(
      'ttun_session_start_time_seconds',
      'gauge',
      'When the live session came up, Unix time in seconds (no sample while none is up).',
      s.sessionStartedAt === undefined ? [] : [{ value: s.sessionStartedAt / 1000 }],
    ),
    family('ttun_sessions_total', 'counter', 'Sessions that completed the handshake since start.', [{ value: stats.sessions }]),
    family('ttun_rx_bytes_total', 'counter', 'IP bytes received from the peer and written to the TUN (or handed to packets()).', [
      { value: stats.rxBytes },
    ]),
    family('ttun_rx_packets_total', 'counter', 'IP packets received from the peer and written to the TUN (or handed to packets()).', [
      { value: stats.rxPackets },
    ]),
    family('ttun_tx_bytes_total', 'counter', 'IP bytes read from the TUN (or given to send()) and sent to the peer.', [
      { value: stats.txBytes },
    ]),
    family('ttun_tx_packets_total', 'counter', 'IP packets read from the TUN (or given to send()) and sent to the peer.', [
      { value: stats.txPackets },
    ]),
    family(
      'ttun_tx_super_frames_total',
      'counter',
      "Of the packets sent, TCP super-packets that went to the peer's tunnel address whole, one frame each.",
      [{ value: stats.txSuperFrames }],
    ),
    family(
      'ttun_dropped_packets_total',
      'counter',
      'Packets dropped, by reason: not-ip (a frame from the peer that is not one IP packet), tun-refused (TUN writes refused, counted per batch), too-big (over 65519 bytes), unreadable (a TUN read with no usable packet), no-session (read from the TUN while no session was up), queue-full (read from the TUN while the send queue was full: more than the connection carries).',
      Object.entries(dropsByKind(stats)).map(([reason, count]) => ({ labels: { reason }, value: count })),
    ),
  ];
  const { rejections } = s;
  if (rejections !== undefined) {
    parts.push(
      family(
        'ttun_handshakes_rejected_total',
        'counter',
        'Connections that did not become a session, by reason: timeout, auth (wrong key or cipher), bad-frame, closed (by the peer during the handshake), busy (evicted: too many pending handshakes), attach (the session could not be started).',
        // Every reason, even at 0, so that rate() has a series from the first scrape.
        Object.entries(rejections).map(([reason, count]) => ({ labels: { reason }, value: count })),
      ),
    );
  }
  if (s.pendingHandshakes !== undefined) {
    parts.push(family('ttun_pending_handshakes', 'gauge', 'Connections in their handshake right now.', [{ value: s.pendingHandshakes }]));
  }
  if (s.role === 'client') {
    parts.push(
      family('ttun_reconnects_total', 'counter', 'Times the client scheduled a new connection attempt.', [{ value: stats.reconnects }]),
    );
  }
  parts.push(
    family('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', [{ value: s.residentMemoryBytes }]),
    family('process_start_time_seconds', 'gauge', 'Start time of the process since the Unix epoch in seconds.', [
      { value: s.processStartTimeSeconds },
    ]),
  );
  return parts.join('');
}

const processStartTimeSeconds = Math.round((Date.now() - process.uptime() * 1000) / 10) / 100;

export function snapshotOf(source: MetricsSource): MetricsSnapshot {
  return {
    version: packageVersion(),
    node: process.version,
    role: source.role,
    cipher: source.cipher,
    core: source.coreKind,
    mptcp: source.mptcp,
    sessionStartedAt: source.sessionStartedAt,
    stats: source.stats(),
    rejections: source.rejections?.(),
    pendingHandshakes: source.pendingHandshakes,
    residentMemoryBytes: process.memoryUsage.rss(),
    processStartTimeSeconds,
  };
}

/**
 * `PORT` or `:PORT` (127.0.0.1), `HOST:PORT`, `[IPV6]:PORT`; `0.0.0.0:PORT` or `[::]:PORT` for every
 * address. A port is required: unlike the tunnel's own addresses there is no default to fall back on.
 */
export function parseMetricsAddress(value: unknown): { host: string; port: number } {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : undefined;
  if (text === undefined || !/^(\d+|\[[^\]]*\]:.*|[^:[\]]*:[^:]*)$/.test(text)) {
    throw badOption('metrics', 'expected PORT, HOST:PORT or [IPV6]:PORT', 'EBADADDR');
  }
  const { host, port }: HostPort = parseHostPort(/^\d+$/.test(text) ? `:${text}` : text, 'metrics', { hostRequired: false });
  return { host: host ?? METRICS_DEFAULT_HOST, port };
}

/** The URL to scrape at a bound address, as the CLI logs it. */
export function metricsUrl({ address, port }: AddressInfo): string {
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}/metrics`;
}

/** The HTTP listener behind the `metrics` option; the endpoint that owns it closes it. */
export class MetricsServer {
  private constructor(private readonly server: http.Server) {}

  /** Binds `address` (see parseMetricsAddress) and serves `source`. Rejects with a TtunError when it cannot bind. */
  static async listen(
    source: MetricsSource,
    address: { host: string; port: number },
    degraded: (message: string) => void = () => {},
  ): Promise<MetricsServer> {
    const server = http.createServer({ connectionsCheckingInterval: METRICS_DEADLINE_CHECK_MS }, (request, response) =>
      answer(source, request, response),
    );
    // Bounded: whoever opens connections to the metrics port (and holds them idle) must not take
    // the file descriptors the tunnel needs. A stalled request, or a connection that says nothing,
    // is closed promptly; a scraper reconnects.
    server.maxConnections = METRICS_MAX_CONNECTIONS;
    server.requestTimeout = METRICS_REQUEST_TIMEOUT_MS;
    server.headersTimeout = METRICS_REQUEST_TIMEOUT_MS;
    server.setTimeout(METRICS_IDLE_TIMEOUT_MS);
    const shown = address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, `serve metrics on ${shown}`)));
      server.listen({ host: address.host, port: address.port }, () => resolve());
    });
    server.removeAllListeners('error');
    // After start-up a failing connection is the scraper's problem, never the tunnel's; failing to
    // accept one (out of file descriptors) is said, once per METRICS_ERROR_REPORT_MS at most.
    let reportedAt = 0;
    let unreported = 0;
    server.on('error', (err: NodeJS.ErrnoException) => {
      unreported += 1;
      if (Date.now() - reportedAt < METRICS_ERROR_REPORT_MS) return;
      degraded(
        `the metrics listener cannot accept connections (${err.code ?? err.message}; ${unreported} since the last report): still listening`,
      );
      reportedAt = Date.now();
      unreported = 0;
    });
    server.on('clientError', (_err, socket) => socket.destroy());
    return new MetricsServer(server);
  }

  /** The address actually bound (useful with port 0). */
  address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  /** Stops listening and drops every connection, kept-alive ones included, so close() never waits on a scraper. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

function answer(source: MetricsSource, request: http.IncomingMessage, response: http.ServerResponse): void {
  const path = (request.url ?? '/').split('?')[0];
  if (path !== '/metrics') {
    response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: metrics are at /metrics\n');
    return;
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('use GET\n');
    return;
  }
  const body = renderMetrics(snapshotOf(source));
  response.writeHead(200, {
    'content-type': 'text/plain; version=0.0.4; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  response.end(request.method === 'HEAD' ? undefined : body);
}
