/**
 * The events of the API, as data: a misspelt event name or a listener of the wrong shape does not
 * compile (test/unit/api-types.test.ts). Each reason is a closed set of kinds with a detail for
 * logs; the CLI words them (cli/log.ts).
 */
import type { SessionEnd } from '../datapath/session-end.js';
import type { RejectReason, TtunError } from '../shared/errors.js';

/** Packets the data path dropped, by why (counted per kind every few seconds). */
export type DropKind = 'not-ip' | 'tun-refused' | 'too-big' | 'unreadable';

/** Why a client's attempt did not become a session: its connection, its proxy, or the handshake. */
export type FailReason = 'connect' | 'proxy' | 'proxy-auth' | Exclude<RejectReason, 'busy'>;

export interface EndpointEvents {
  /** A session is up: the peer's address (or "server via proxy …"), and whether MPTCP was negotiated. */
  up: [peer: string, info: { mptcp: boolean }];
  /** The session with `peer` ended, and why. */
  down: [peer: string, end: SessionEnd];
  /** The data path dropped `count` packets of one kind since the last report. */
  dropped: [kind: DropKind, count: number];
  /** Something works less well than asked (MPTCP unavailable, a socket option refused). */
  degraded: [message: string];
  /** The `down` hook failed at close(); the TUN was removed all the same. */
  'hook-failed': [hook: 'down', message: string];
  /** The endpoint cannot go on (its TUN device or its listener failed); close() it. Unhandled, it is thrown. */
  error: [error: TtunError];
  /** Userspace mode: the socket has room again after send() said 'queued'. */
  drain: [];
}

export interface ServerEvents extends EndpointEvents {
  /** A TCP connection arrived and its handshake starts. */
  connection: [peer: string];
  /** A connection did not become a session; the live session, if any, is untouched. */
  rejected: [peer: string, reason: RejectReason, message: string];
  /** Accepting a connection failed for a passing reason (out of file descriptors); still listening. */
  'accept-error': [code: string, message: string];
}

export interface ClientEvents extends EndpointEvents {
  /** An attempt starts: the server, and the proxy's URL (without credentials) when through one. */
  connecting: [server: string, proxy: string | undefined];
  /** The attempt failed; a reconnect follows. */
  failed: [reason: FailReason, message: string];
  /** The next attempt starts in `delayMs`. */
  reconnecting: [delayMs: number];
}
