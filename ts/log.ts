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

export function logServerEvents(server: TtunServer, log: Logger): void {
  server.on('connection', (peer: string) => log('info', `peer ${peer} connected`));
  server.on('up', (peer: string) => log('info', `peer ${peer} authenticated, session up (${server.cipher})`));
  server.on('rejected', (peer: string, reason: string, message: string) =>
    log('warn', `peer ${peer} rejected: ${REASONS[reason] ?? reason} (${message})`),
  );
  server.on('down', (peer: string, reason: string) => log('info', `peer ${peer} disconnected: ${reason}`));
}

export function logClientEvents(client: TtunClient, log: Logger): void {
  client.on('connecting', (server: string) => log('info', `connecting to ${server}`));
  client.on('up', (peer: string) => log('info', `connected to ${peer}, authenticated, session up (${client.cipher})`));
  client.on('failed', (reason: string, message: string) => log('warn', `${REASONS[reason] ?? reason}: ${message}`));
  client.on('down', (peer: string, reason: string) => log('info', `disconnected from ${peer}: ${reason}`));
  client.on('reconnecting', (delayMs: number) => log('info', `reconnecting in ${delayMs / 1000} s`));
}
