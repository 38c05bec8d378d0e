// The README's runnable examples run as a user would run them, importing the package by name.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = join(fileURLToPath(import.meta.url), '../../../..');

test('examples/userspace-echo.mjs: echo requests cross the tunnel and come back answered', { timeout: 30_000 }, async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, 'examples/userspace-echo.mjs'), '4'], { cwd: ROOT });
  const seqs = [...stdout.matchAll(/reply from 10\.1\.1\.1: icmp_seq=(\d+) time=[\d.]+ ms/g)].map((m) => Number(m[1]));
  assert.deepEqual(seqs, [1, 2, 3, 4], stdout);
  const counters = JSON.parse(/counters: (.*)/.exec(stdout)![1]!);
  assert.equal(counters.txPackets, 4);
  assert.equal(counters.rxPackets, 4);
  assert.equal(counters.txBytes, 4 * 60);
});
