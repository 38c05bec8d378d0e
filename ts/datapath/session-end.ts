/** How a session's end is told: a closed set of kinds, and a detail for the log. */
import type { SessionEndKind as DataPathEndKind } from '../core/native-binding.js';

/**
 * Why a session ended: what the data path saw (made in Rust for the native path, the same kinds
 * in TypeScript for the event loop's), or the endpoint's own doing: 'replaced' (a newer session
 * took its place; the detail names its peer) or 'closing' (close() was called).
 */
export type SessionEndKind = DataPathEndKind | 'replaced' | 'closing';

export interface SessionEnd {
  kind: SessionEndKind;
  /** The error's message, the replacing peer, or ''. For logs; branch on `kind`. */
  detail: string;
}
