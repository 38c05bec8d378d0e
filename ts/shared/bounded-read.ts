/** Reading a file that must be small (a key, a config file), without trusting it to be. */
import { closeSync, openSync, readSync } from 'node:fs';
import { TtunError, type TtunErrorCode } from './errors.js';

/**
 * The file's bytes, read until `maxBytes` + 1 at most: a larger file (or a device such as
 * /dev/zero that never ends) is an error naming `what`, not a read that fills the memory.
 * Errors of open/read are thrown as they are (the caller words them).
 */
export function readBounded(path: string, maxBytes: number, what: string, code: TtunErrorCode): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const read = readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
      if (length > maxBytes) {
        buffer.fill(0);
        throw new TtunError(`${what} is larger than ${maxBytes} bytes: is it the right file?`, code);
      }
    }
    const bytes = Buffer.from(buffer.subarray(0, length));
    buffer.fill(0);
    return bytes;
  } finally {
    closeSync(fd);
  }
}
