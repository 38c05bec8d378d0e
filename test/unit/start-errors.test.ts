// With --log-format json every line is JSON, start-up errors included: asked for by the flag, the
// environment or the config file; without it they stay the one text line they always were.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const TTUN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'ttun.js');
const KEY = 'start errors test key 0123456789';

function ttun(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [TTUN, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, TTUN_PSK: KEY, ...env } });
  return { code: r.status, lines: r.stderr.trim().split('\n') };
}

test('start-up errors are one JSON object when JSON logs are asked for, from any place', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ttun-start-errors-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'c.json');
  writeFileSync(config, JSON.stringify({ 'log-format': 'json', mtu: 10 }));
  const cases: Array<[string[], Record<string, string>, RegExp, number]> = [
    [['server', '--log-format', 'json', '--mtu', '10'], {}, /^bad --mtu: use a whole number/, 2],
    [['server', '--log-format=json', '--frob'], {}, /^unknown option --frob/, 2],
    [['client', '--mtu', '10', '-s', 'h:1'], { TTUN_LOG_FORMAT: 'json' }, /^bad --mtu: /, 2],
    [['server', '--config', config], {}, /^bad "mtu" in \S+c\.json: /, 2],
  ];
  for (const [args, env, message, exitCode] of cases) {
    const r = ttun(args, env);
    assert.equal(r.code, exitCode, r.lines.join('\n'));
    assert.equal(r.lines.length, 1, r.lines.join('\n'));
    const line = JSON.parse(r.lines[0]!) as Record<string, unknown>;
    assert.equal(line.level, 'error');
    assert.equal(line.event, 'start-failed');
    assert.equal(line.exitCode, exitCode);
    assert.match(String(line.message), message);
    assert.ok(!Number.isNaN(Date.parse(String(line.time))));
  }
  assert.deepEqual(ttun(['server', '--mtu', '10']).lines, ['ttun: bad --mtu: use a whole number from 1280 to 65519']);
});
