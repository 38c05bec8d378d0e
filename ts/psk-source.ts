/**
 * Where the CLI gets the pre-shared key: -k (visible to every local user in the process list),
 * --psk-file, or the TTUN_PSK environment variable. Never prints the key itself.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { TtunError } from './errors.js';

/** Below this many bytes a key recorded handshakes could be brute-forced against offline. */
export const SHORT_PSK_BYTES = 16;

export interface PskChoice {
  psk: string;
  warnings: string[];
}

export function resolvePsk(options: { flag?: string; file?: string; env?: string }): PskChoice {
  const given = [options.flag !== undefined && '-k', options.file !== undefined && '--psk-file'].filter(Boolean);
  if (given.length > 1) throw new TtunError('give the key one way only: -k or --psk-file', 'EPSKSOURCE');
  const warnings: string[] = [];
  let psk: string;
  if (options.flag !== undefined) {
    psk = options.flag;
    warnings.push('-k puts the key in the process list, visible to every local user; prefer --psk-file or TTUN_PSK');
  } else if (options.file !== undefined) {
    psk = readPskFile(options.file, warnings);
  } else if (options.env !== undefined && options.env !== '') {
    psk = options.env;
  } else {
    throw new TtunError('a pre-shared key is required: give --psk-file PATH, TTUN_PSK, or -k KEY', 'ENOPSK');
  }
  if (psk === '') throw new TtunError('the pre-shared key is empty', 'ENOPSK');
  const bytes = Buffer.byteLength(psk, 'utf8');
  if (bytes < SHORT_PSK_BYTES) {
    warnings.push(`the key is only ${bytes} bytes: a recorded handshake lets anyone try keys offline; use a long random key (ttun genpsk)`);
  }
  return { psk, warnings };
}

function readPskFile(path: string, warnings: string[]): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
    if ((statSync(path).mode & 0o077) !== 0) warnings.push(`key file ${path} is readable by other users: chmod 600 it`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (code ?? 'unreadable');
    throw new TtunError(`cannot read the key file ${path}: ${why}`, 'EPSKFILE');
  }
  // One trailing newline is the file's, not the key's (echo, editors); anything else is kept.
  return text.replace(/\r?\n$/, '');
}

/** A fresh key: 32 random bytes, base64. */
export function generatePsk(): string {
  return randomBytes(32).toString('base64');
}
