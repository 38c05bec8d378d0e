/**
 * One line per event on stderr. Lines carry what happened and to whom, never the key.
 */
import type { TtunClient } from './client.js';
import type { TtunServer } from './server.js';
import type { TunInfo } from './tun.js';

export type LogLevel = 'info' | 'warn' | 'error';

export interface Logger {
  (level: LogLevel, message: string): void;
}

export function stderrLogger(role: string): Logger {
  return (level, message) => {
    const tag = level === 'info' ? '' : ` ${level.toUpperCase()}`;
    process.stderr.write(`${new Date().toISOString()} ttun ${role}${tag}: ${message}\n`);
  };
}

const REASONS: Record<string, string> = {
  timeout: 'handshake timeout',
  auth: 'wrong PSK or cipher',
  'bad-frame': 'bad frame',
  closed: 'closed during handshake',
  busy: 'too many pending handshakes',
  connect: 'connect failed',
};

export function describeTun(tun: TunInfo): string {
  return `TUN ${tun.name} up: ${tun.ipv4} ${tun.ipv6} mtu ${tun.mtu}`;
}

const DROPS: Record<string, string> = {
  'not-ip': 'frames from the peer that are not IP packets',
  'tun-refused': 'packets from the peer that the TUN refused',
};

/** Lines per second before connection and rejection lines are summarised (a flood must not flood the log). */
const LINES_PER_SECOND = 10;

/** Passes the first LINES_PER_SECOND lines of each second, then one summary of what it held back. */
function rateLimited(log: Logger): Logger {
  let windowStart = 0;
  let passed = 0;
  let held = 0;
  let timer: NodeJS.Timeout | undefined;
  return (level, message) => {
    const now = Date.now();
    if (now - windowStart >= 1000) {
      windowStart = now;
      passed = 0;
    }
    if (passed < LINES_PER_SECOND) {
      passed += 1;
      log(level, message);
      return;
    }
    held += 1;
    timer ??= setTimeout(() => {
      log('warn', `... and ${held} more connection events in the last second (not logged one by one)`);
      held = 0;
      timer = undefined;
    }, 1000).unref();
  };
}

export function logServerEvents(server: TtunServer, log: Logger): void {
  const connections = rateLimited(log);
  const rejections = rateLimited(log);
  server.on('connection', (peer: string) => connections('info', `peer ${peer} connected`));
  server.on('up', (peer: string) => log('info', `peer ${peer} authenticated, session up (${server.cipher})`));
  server.on('rejected', (peer: string, reason: string, message: string) =>
    rejections('warn', `peer ${peer} rejected: ${REASONS[reason] ?? reason} (${message})`),
  );
  server.on('down', (peer: string, reason: string) => log('info', `peer ${peer} disconnected: ${reason}`));
  server.on('dropped', (kind: string, count: number) => log('warn', `dropped ${count} ${DROPS[kind] ?? kind}`));
}

export function logClientEvents(client: TtunClient, log: Logger): void {
  client.on('connecting', (server: string) => log('info', `connecting to ${server}`));
  client.on('up', (peer: string) => log('info', `connected to ${peer}, authenticated, session up (${client.cipher})`));
  client.on('failed', (reason: string, message: string) => log('warn', `${REASONS[reason] ?? reason}: ${message}`));
  client.on('down', (peer: string, reason: string) => log('info', `disconnected from ${peer}: ${reason}`));
  client.on('reconnecting', (delayMs: number) => log('info', `reconnecting in ${delayMs / 1000} s`));
  client.on('dropped', (kind: string, count: number) => log('warn', `dropped ${count} ${DROPS[kind] ?? kind}`));
}
