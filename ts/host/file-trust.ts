/**
 * Whether a file ttun reads as root can be trusted with what it holds. A config file that sets
 * `up`/`down` makes root run its commands, and one that names the key file chooses the key; the
 * key file is the tunnel's only secret. Whoever can write such a file, or replace it (write its
 * directory, or any directory above), runs commands as root or becomes the peer. So, when ttun
 * runs as root, these must be owned by root and written by nobody else; a file holding a secret
 * that others can read gets a warning. `ttun check` and a run apply the same rule (cli.ts prepare()).
 */
import { realpathSync, type Stats, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { TtunError } from '../shared/errors.js';

/** Why a file matters: named in the refusal, so the reader sees what is at stake. */
export interface TrustedFile {
  path: string;
  /** "sets up/down commands that run as root", "is the key file" */
  because: string;
}

const STICKY = 0o1000;
const GROUP_OR_OTHER_WRITE = 0o022;
const GROUP_OR_OTHER_READ = 0o044;

function mode(stats: Stats): string {
  return (stats.mode & 0o7777).toString(8).padStart(3, '0');
}

/** The problem with one file or directory on the way to it, as the end of a sentence with its fix; undefined if none. */
function problemWith(path: string, stats: Stats, isDirectory: boolean): string | undefined {
  if (stats.uid !== 0) return `${path} is owned by uid ${stats.uid}, not root: chown root ${path}`;
  if ((stats.mode & GROUP_OR_OTHER_WRITE) === 0) return undefined;
  // A device or a pipe (/dev/stdin, <(…)) is written to, not replaced: its owner is what counts.
  if (!isDirectory && !stats.isFile()) return undefined;
  // /tmp and the like: others may write the directory, but not remove or rename root's files in it.
  if (isDirectory && (stats.mode & STICKY) !== 0) return undefined;
  return `${path} is writable by ${(stats.mode & 0o002) !== 0 ? 'every user' : 'its group'} (mode ${mode(stats)}): chmod go-w ${path}`;
}

/** The file and every directory above it, as given and with symbolic links resolved. */
function chain(path: string): string[] {
  const paths = new Set<string>();
  for (const start of [resolve(path), realpathSync(path)]) {
    let current = start;
    paths.add(current);
    while (dirname(current) !== current) {
      current = dirname(current);
      paths.add(current);
    }
  }
  return [...paths];
}

/**
 * Refuses (TtunError EUNSAFEFILE) a file that someone other than root could change or replace.
 * Only as root: another user's own files are that user's business. A file that does not exist
 * is left to whoever reads it (its error names the option).
 */
export function requireTrusted(file: TrustedFile, euid = process.geteuid?.()): void {
  if (euid !== 0) return;
  let paths: string[];
  try {
    paths = chain(file.path);
  } catch {
    return;
  }
  for (const path of paths) {
    let stats: Stats;
    try {
      stats = statSync(path);
    } catch {
      continue;
    }
    const problem = problemWith(path, stats, stats.isDirectory());
    if (problem !== undefined) {
      throw new TtunError(`refusing ${file.path}, which ${file.because}: ${problem}`, 'EUNSAFEFILE');
    }
  }
}

/** A warning (or undefined) for a file holding a secret that users other than its owner can read. */
export function readableSecretWarning(path: string, secret: string, euid = process.geteuid?.()): string | undefined {
  if (euid !== 0) return undefined;
  try {
    const stats = statSync(path);
    if ((stats.mode & GROUP_OR_OTHER_READ) === 0) return undefined;
    return `${path} holds ${secret} and is readable by other users (mode ${mode(stats)}): chmod 600 ${path}`;
  } catch {
    return undefined;
  }
}
