/**
 * Where the CLI gets the pre-shared key: -k (visible to every local user in the process list),
 * --psk-file, or the TTUN_PSK environment variable. Never prints the key itself.
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { readBounded } from '../shared/bounded-read.js';
import { TtunError, unreadableBecause } from '../shared/errors.js';

/** Below this many bytes a key recorded handshakes could be brute-forced against offline. */
export const SHORT_PSK_BYTES = 16;

export interface PskChoice {
  /** A string from -k or TTUN_PSK (its UTF-8 bytes are the key, as in v1); a file's raw bytes. */
  psk: string | Buffer;
  warnings: string[];
}

export function resolvePsk(options: { flag?: string; file?: string; env?: string }): PskChoice {
  const given = [options.flag !== undefined && '-k', options.file !== undefined && '--psk-file'].filter(Boolean);
  if (given.length > 1) throw new TtunError('give the key one way only: -k or --psk-file', 'EPSKSOURCE');
  const warnings: string[] = [];
  let psk: string | Buffer;
  if (options.flag !== undefined) {
    psk = options.flag;
    warnings.push(
      '-k puts the key in the process list, visible to every local user until ttun hides it, and for the whole run in the command line of whatever started ttun (sudo, a shell script); prefer --psk-file or TTUN_PSK',
    );
    warnIfMangled(psk, '-k', warnings);
  } else if (options.file !== undefined) {
    psk = readPskFile(options.file, warnings);
  } else if (options.env !== undefined && options.env !== '') {
    psk = options.env;
    warnIfMangled(psk, 'TTUN_PSK', warnings);
  } else {
    throw new TtunError('a pre-shared key is required: give --psk-file PATH, TTUN_PSK, or -k KEY', 'ENOPSK');
  }
  if (psk.length === 0) throw new TtunError('the pre-shared key is empty', 'ENOPSK');
  const bytes = typeof psk === 'string' ? Buffer.byteLength(psk, 'utf8') : psk.length;
  if (bytes < SHORT_PSK_BYTES) {
    warnings.push(`the key is only ${bytes} bytes: a recorded handshake lets anyone try keys offline; use a long random key (ttun genpsk)`);
  }
  return { psk, warnings };
}

/**
 * Node decodes argv and the environment as UTF-8 and replaces what is not valid UTF-8 with U+FFFD,
 * so a key whose bytes are not UTF-8 (Latin-1, random bytes) silently becomes another key; v1 used
 * the raw bytes. The bytes are gone by the time JavaScript sees them: all ttun can do is say so.
 */
function warnIfMangled(psk: string, where: string, warnings: string[]): void {
  if (psk.includes('\uFFFD')) {
    warnings.push(
      `the key from ${where} is not valid UTF-8 (Node replaced some of its bytes with U+FFFD), so it is not the key v1 would use: put the key's bytes in a file and give --psk-file`,
    );
  }
}

/** A key file holds a key: anything longer is the wrong file (or /dev/zero). */
export const MAX_KEY_FILE_BYTES = 4096;

/**
 * The file's bytes as they are (v1 used the raw bytes of its -k argument; a file keeps them). A
 * path that names no readable file is not repeated in the error: it may be the key itself, given
 * to --psk-file by mistake.
 */
function readPskFile(path: string, warnings: string[]): Buffer {
  let bytes: Buffer;
  try {
    bytes = readBounded(path, MAX_KEY_FILE_BYTES, 'the key file (--psk-file)', 'EPSKFILE');
    if ((statSync(path).mode & 0o077) !== 0) warnings.push(`key file ${path} is readable by other users: chmod 600 it`);
  } catch (err) {
    if (err instanceof TtunError) throw err;
    throw new TtunError(`cannot read the key file (--psk-file): ${unreadableBecause(err)}`, 'EPSKFILE');
  }
  // One trailing newline is the file's, not the key's (echo, editors); anything else is kept.
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0a) end -= end > 1 && bytes[end - 2] === 0x0d ? 2 : 1;
  const key = Buffer.from(bytes.subarray(0, end));
  bytes.fill(0);
  return key;
}

/** A fresh key: 32 random bytes, base64. */
export function generatePsk(): string {
  return randomBytes(32).toString('base64');
}
