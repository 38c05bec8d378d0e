/**
 * A bad option or configuration: the API rejects it before anything is created, and the CLI
 * exits 2 (a usage error) for each of these.
 */
export const BAD_OPTION_CODES = [
  'EBADOPTION',
  'EBADCIPHER',
  'EBADMTU',
  'EBADADDR',
  'EBADDEV',
  'EBADTUNADDR',
  'EBADROUTE',
  'EBADHOOK',
  'EBADPROXY',
  'EBADUSER',
  'EBADCONFIG',
  'ENOPSK',
  'EPSKSOURCE',
  'ENOSERVER',
  // A file root would trust (commands, the key) that another user can change.
  'EUNSAFEFILE',
] as const;

const CODE_LIST = [
  ...BAD_OPTION_CODES,
  // The system refused or failed (an unreadable key file among them: the CLI exits 1).
  'EPSKFILE',
  'EPERM',
  'EACCES',
  'EEXIST',
  'EADDRINUSE',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'ELISTEN',
  'ECONNECT',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETUN',
  'EROUTE',
  'EHOOK',
  'EPRIV',
  'ENOTSUP',
  'EINVAL',
  'EIO',
  'ENONATIVE',
  'ENOCORE',
  // The API used the wrong way.
  'EMODE',
  'ENOTIP',
  // The AbortSignal given as `signal` aborted the start.
  'ABORT_ERR',
] as const;

/** What went wrong, to branch on (the message is for people, and may change). */
export type TtunErrorCode = (typeof CODE_LIST)[number];

const CODES: ReadonlySet<string> = new Set(CODE_LIST);

/** A code from the system (errno) or the addon as a TtunErrorCode: itself if ttun knows it, else `fallback`. */
export function knownCode(code: string | undefined, fallback: TtunErrorCode): TtunErrorCode {
  return code !== undefined && CODES.has(code) ? (code as TtunErrorCode) : fallback;
}

/**
 * Errors a user can act on, with a code to branch on and a one-line message. The CLI prints
 * `ttun: <message>` for these and exits non-zero without a stack trace; anything else is a bug
 * and keeps its stack.
 */
export class TtunError extends Error {
  /** For a bad option: its API name (`mtu`, `maxPendingHandshakes`), so the CLI can name its flag instead. */
  readonly option?: string;
  /** For a bad option: what is wrong, without the option's name ("use a whole number from 1280 to 65519"). */
  readonly problem?: string;

  constructor(
    message: string,
    readonly code: TtunErrorCode,
    options?: { cause?: unknown; option?: string; problem?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TtunError';
    this.option = options?.option;
    this.problem = options?.problem;
  }
}

/**
 * A bad value of the API option `option`: "bad OPTION: PROBLEM". The value itself is never in it
 * (it may be a key given to the wrong option); the CLI names the flag, variable or file key instead.
 */
export function badOption(option: string, problem: string, code: TtunErrorCode = 'EBADOPTION'): TtunError {
  return new TtunError(`bad ${option}: ${problem}`, code, { option, problem });
}

/** Why a file could not be read, in a few words for a one-line error, by its errno code (Node's message repeats the path). */
export function unreadableBecause(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    default:
      return code ?? 'unreadable';
  }
}

/**
 * Why a connection did not become a session. The server logs it and goes on serving. busy: evicted
 * to make room for a newer handshake; attach: authenticated, but the session could not be started
 * (out of file descriptors, a thread that would not start).
 */
export type RejectReason = 'timeout' | 'auth' | 'bad-frame' | 'closed' | 'busy' | 'attach';

export class HandshakeError extends Error {
  constructor(
    readonly reason: RejectReason,
    message: string,
  ) {
    super(message);
    this.name = 'HandshakeError';
  }
}
