/**
 * The counters an endpoint reports (stats()): its own module so that what reads them (metrics.ts,
 * log.ts) need not import the endpoint, which itself starts the metrics listener.
 */
import type { NativeStats } from '../core/native.js';

export interface EndpointStats extends NativeStats {
  /** Sessions that completed the handshake. */
  sessions: number;
  /** Times the client scheduled a reconnect (always 0 on a server). */
  reconnects: number;
}

/** Each kind of dropped packet and the counter that counts it: the names metrics and `ttun status` report them by. */
export const DROP_COUNTERS = {
  'not-ip': 'rxDroppedNotIp',
  'tun-refused': 'rxDroppedTunWrite',
  'too-big': 'txDroppedTooBig',
  unreadable: 'txDroppedUnreadable',
  'no-session': 'txDroppedNoSession',
  'queue-full': 'txDroppedQueueFull',
} as const satisfies Record<string, keyof NativeStats>;

export type DropCounterKind = keyof typeof DROP_COUNTERS;

/** The drop counters of `stats` by kind. */
export function dropsByKind(stats: NativeStats): Record<DropCounterKind, number> {
  return Object.fromEntries(Object.entries(DROP_COUNTERS).map(([kind, counter]) => [kind, stats[counter]])) as Record<
    DropCounterKind,
    number
  >;
}
