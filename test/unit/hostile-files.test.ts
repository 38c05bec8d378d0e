// Files that are not what they should be end cleanly: one line, exit 2, no stack trace, no memory
// run out: a key "file" that never ends (/dev/zero) or is far too large, a config nested 20 000
// levels deep or far too large.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseJsonText } from '../../ts/options/json-text.js';

const TTUN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'ttun.js');

function check(args: string[]) {
  const r = spawnSync(process.execPath, [TTUN, 'check', 'server', ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stderr: r.stderr, lines: r.stderr.trim().split('\n') };
}

test('hostile key and config files: one line, exit 2, nothing read past a bound', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ttun-hostile-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const big = join(dir, 'big.key');
  writeFileSync(big, 'k'.repeat(5000), { mode: 0o600 });
  const deep = join(dir, 'deep.json');
  writeFileSync(deep, `{"route": ${'['.repeat(20_000)}${']'.repeat(20_000)}}`);
  const huge = join(dir, 'huge.json');
  writeFileSync(huge, `{"dev": "${'x'.repeat(2 * 1024 * 1024)}"}`);
  const cases: Array<[string[], RegExp]> = [
    [['--psk-file', '/dev/zero'], /^ttun: the key file \(--psk-file\) is larger than 4096 bytes: is it the right file\?$/],
    [['--psk-file', big], /^ttun: the key file \(--psk-file\) is larger than 4096 bytes/],
    [
      ['-k', 'a fine key of some length', '--config', deep],
      /^ttun: bad JSON in \S+deep\.json at line 1, column \d+: nested more than 32 levels deep$/,
    ],
    [['-k', 'a fine key of some length', '--config', huge], /^ttun: the config file \(--config\) is larger than 1048576 bytes/],
  ];
  for (const [args, pattern] of cases) {
    const r = check(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.lines.length, 1, r.stderr);
    assert.match(r.lines[0]!, pattern);
    assert.ok(!r.stderr.includes('    at '), 'no stack trace');
  }
});

test('the JSON reader takes nesting up to its bound', () => {
  assert.deepEqual(parseJsonText(`${'['.repeat(32)}${']'.repeat(32)}`) !== undefined, true);
  assert.throws(() => parseJsonText(`${'['.repeat(33)}${']'.repeat(33)}`), /nested more than 32 levels deep/);
});
