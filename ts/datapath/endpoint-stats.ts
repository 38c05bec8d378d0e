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
