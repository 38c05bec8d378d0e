/**
 * One line per event on stderr, as text or JSON (--log-format). Every line names its event, so
 * JSON consumers can filter on it; lines carry what happened and to whom, never the key.
 */

import type { EndpointStats } from '../datapath/endpoint-stats.js';
import type { TunInfo } from '../datapath/native-tun.js';
import { LOG_LINES_PER_SECOND } from '../shared/tunables.js';
import type { TtunClient } from '../tunnel/client.js';

import type { TtunServer } from '../tunnel/server.js';

export { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../options/values.js';

import type { SessionEnd, SessionEndKind } from '../datapath/session-end.js';
import { LOG_LEVELS, type LogFormat, type LogLevel } from '../options/values.js';
import type { RejectReason } from '../shared/errors.js';
import type { DropKind, FailReason } from '../tunnel/events.js';

export type Logger = (level: LogLevel, event: string, message: string, fields?: Record<string, unknown>) => void;

/** Writes the lines of `least` and above (--log-level) to stderr, as text or JSON (--log-format). */
export function stderrLogger(role: string, format: LogFormat = 'text', least: LogLevel = 'info'): Logger {
  const threshold = LOG_LEVELS.indexOf(least);
  return (level, event, message, fields) => {
    if (LOG_LEVELS.indexOf(level) < threshold) return;
    const time = new Date().toISOString();
    if (format === 'json') {
      process.stderr.write(`${JSON.stringify({ time, level, role, event, message, ...fields })}\n`);
    } else {
      const tag = level === 'info' ? '' : ` ${level.toUpperCase()}`;
      process.stderr.write(`${time} ttun ${role}${tag}: ${message}\n`);
    }
  };
}

/** The words for each reason a handshake or an attempt failed (the API gives the kind). */
const REASONS: Record<RejectReason | FailReason, string> = {
  timeout: 'handshake timeout',
  auth: 'wrong PSK or cipher',
  'bad-frame': 'bad frame',
  closed: 'closed during handshake',
  busy: 'too many pending handshakes',
  attach: 'cannot start session',
  connect: 'connect failed',
  proxy: 'proxy failed',
  'proxy-auth': 'proxy authentication failed',
};

const DROPS: Record<DropKind, string> = {
  'not-ip': 'frames from the peer that are not IP packets',
  'tun-refused': 'packets from the peer that the TUN refused',
  'too-big': 'packets larger than a frame carries (65519 bytes)',
  unreadable: 'reads from the TUN that gave no usable packet',
};

/** The words for why a session ended (the API gives the kind and a detail). */
const SESSION_ENDS: Record<SessionEndKind, (detail: string) => string> = {
  'peer-closed': () => 'closed by peer',
  'bad-frame': (detail) => `bad frame from peer: ${detail}`,
  'connection-error': (detail) => `connection error: ${detail}`,
  replaced: (peer) => `replaced by ${peer}`,
  closing: () => 'closed by this end',
};

export function describeReason(reason: RejectReason | FailReason): string {
  return REASONS[reason];
}

export function describeSessionEnd({ kind, detail }: SessionEnd): string {
  return SESSION_ENDS[kind](detail);
}

export function logTun(log: Logger, tun: TunInfo): void {
  const { name, mtu, ipv4, ipv6 } = tun;
  const addresses = [ipv4, ipv6].filter((a) => a !== undefined).join(' ');
  // Routes get their own line (logged by the CLI), so this line is what it always was.
  log('info', 'tun', `TUN ${name} up: ${addresses} mtu ${mtu}`, { name, mtu, ipv4, ipv6 });
}

/** Passes the first LOG_LINES_PER_SECOND lines of each second, then one summary of what it held back. */
function rateLimited(log: Logger): Logger {
  let windowStart = 0;
  let passed = 0;
  let held = 0;
  // biome-ignore lint/correctness/noUnusedVariables: read by the ??= below (a false positive)
  let timer: NodeJS.Timeout | undefined;
  return (level, event, message, fields) => {
    const now = Date.now();
    if (now - windowStart >= 1000) {
      windowStart = now;
      passed = 0;
    }
    if (passed < LOG_LINES_PER_SECOND) {
      passed += 1;
      log(level, event, message, fields);
      return;
    }
    held += 1;
    timer ??= setTimeout(() => {
      log('warn', 'suppressed', `... and ${held} more connection events in the last second (not logged one by one)`, { count: held });
      held = 0;
      timer = undefined;
    }, 1000).unref();
  };
}

/** How a session's connection ended up: MPTCP, or TCP and why. */
function transport(negotiated: boolean, requested: boolean): string {
  if (negotiated) return 'MPTCP';
  return requested ? 'TCP: the peer did not negotiate MPTCP' : 'TCP';
}

function logDrops(endpoint: TtunServer | TtunClient, log: Logger): void {
  endpoint.on('degraded', (message: string) => log('warn', 'degraded', message));
  endpoint.on('dropped', (kind, count) => log('warn', 'dropped', `dropped ${count} ${DROPS[kind]}`, { kind, count }));
}

export function logServerEvents(server: TtunServer, log: Logger): void {
  const connections = rateLimited(log);
  const rejections = rateLimited(log);
  server.on('connection', (peer: string) => connections('info', 'connected', `peer ${peer} connected`, { peer }));
  server.on('up', (peer: string, { mptcp }: { mptcp: boolean }) =>
    log('info', 'up', `peer ${peer} authenticated, session up (${server.cipher}, ${transport(mptcp, server.mptcp)})`, {
      peer,
      cipher: server.cipher,
      mptcp,
    }),
  );
  server.on('rejected', (peer, reason, message) =>
    rejections('warn', 'rejected', `peer ${peer} rejected: ${REASONS[reason]} (${message})`, { peer, reason, detail: message }),
  );
  server.on('down', (peer, end) =>
    log('info', 'down', `peer ${peer} disconnected: ${describeSessionEnd(end)}`, { peer, reason: end.kind, detail: end.detail }),
  );
  server.on('accept-error', (code: string, message: string) =>
    rejections('warn', 'accept-failed', `cannot accept a connection (${message}): still listening`, { code }),
  );
  logDrops(server, log);
}

export function logClientEvents(client: TtunClient, log: Logger): void {
  client.on('connecting', (server: string, proxy: string | undefined) =>
    proxy === undefined
      ? log('info', 'connecting', `connecting to ${server}`, { server })
      : log('info', 'connecting', `connecting to ${server} through proxy ${proxy}`, { server, proxy }),
  );
  // JSON readers get the proxy as a field of its own (absent when direct): the peer names it only in words.
  const proxy = client.proxy?.url;
  client.on('up', (peer: string, { mptcp }: { mptcp: boolean }) =>
    log('info', 'up', `connected to ${peer}, authenticated, session up (${client.cipher}, ${transport(mptcp, client.mptcp)})`, {
      peer,
      cipher: client.cipher,
      mptcp,
      proxy,
    }),
  );
  client.on('failed', (reason, message) => log('warn', 'failed', `${REASONS[reason]}: ${message}`, { reason, detail: message }));
  client.on('down', (peer, end) =>
    log('info', 'down', `disconnected from ${peer}: ${describeSessionEnd(end)}`, { peer, reason: end.kind, detail: end.detail, proxy }),
  );
  client.on('reconnecting', (delayMs: number) =>
    log('info', 'reconnecting', delayMs === 0 ? 'reconnecting now' : `reconnecting in ${Math.round(delayMs / 100) / 10} s`, { delayMs }),
  );
  logDrops(client, log);
}

/** Once at start: which proxy the client goes through and why, or that NO_PROXY bypasses one. Never credentials. */
export function logProxy(client: TtunClient, log: Logger): void {
  if (client.proxy !== undefined) {
    const { url, from } = client.proxy;
    log('info', 'proxy', `connections go through proxy ${url}${from === 'option' ? '' : ` (from ${from})`}`, { proxy: url, from });
  } else if (client.proxyBypass !== undefined) {
    const { variable, noProxy } = client.proxyBypass;
    log('info', 'proxy', `connecting directly: ${noProxy} covers the server, so the proxy in ${variable} is not used`, {
      variable,
      noProxy,
    });
  }
}

function rate(value: number, seconds: number, unit: string): string {
  const perSecond = value / seconds;
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(1)} M${unit}/s`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)} k${unit}/s`;
  return `${perSecond.toFixed(0)} ${unit}/s`;
}

/** `--stats SECONDS`: one line per interval with the rates since the last one. */
export function logStatsEvery(endpoint: TtunServer | TtunClient, log: Logger, seconds: number): NodeJS.Timeout {
  let last = endpoint.stats();
  let lastAt = Date.now();
  const timer = setInterval(() => {
    const now = endpoint.stats();
    const at = Date.now();
    const s = (at - lastAt) / 1000;
    const d = (k: keyof EndpointStats) => now[k] - last[k];
    log(
      'info',
      'stats',
      `rx ${rate(d('rxBytes'), s, 'B')} ${rate(d('rxPackets'), s, 'pkt')}, tx ${rate(d('txBytes'), s, 'B')} ${rate(d('txPackets'), s, 'pkt')}`,
      {
        intervalSeconds: s,
        rxBytesPerSecond: d('rxBytes') / s,
        rxPacketsPerSecond: d('rxPackets') / s,
        txBytesPerSecond: d('txBytes') / s,
        txPacketsPerSecond: d('txPackets') / s,
      },
    );
    last = now;
    lastAt = at;
  }, seconds * 1000);
  timer.unref();
  return timer;
}

/** SIGUSR1: the counters since start and where the process's memory is, in one line. */
export function logCounters(endpoint: TtunServer | TtunClient, log: Logger): void {
  const memory = process.memoryUsage();
  const megabytes = (bytes: number) => Math.round(bytes / 1e5) / 10;
  const fields = {
    ...endpoint.stats(),
    rssMB: megabytes(memory.rss),
    heapUsedMB: megabytes(memory.heapUsed),
    heapTotalMB: megabytes(memory.heapTotal),
    externalMB: megabytes(memory.external),
  };
  const text = Object.entries(fields)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  log('info', 'counters', `counters: ${text}`, fields);
}
