// Bad input to the real CLI: one clear line on stderr, non-zero exit, no stack trace, no key.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lab, run, TTUN } from './harness.js';

const SECRET = 'super secret key 123';

async function ttun(args: string[], prefix: string[] = []) {
  const result = await run(prefix[0] ?? process.execPath, [...prefix.slice(1), ...(prefix.length ? [process.execPath] : []), TTUN, ...args]);
  return { ...result, lines: result.stderr.trim().split('\n') };
}

function assertOneLineError(result: { code: number | null; stderr: string; stdout: string; lines: string[] }, pattern: RegExp) {
  assert.notEqual(result.code, 0);
  assert.equal(result.lines.length, 1, `expected one line, got:\n${result.stderr}`);
  assert.match(result.lines[0]!, pattern);
  assert.ok(!result.stderr.includes('    at '), 'no stack trace');
  assert.ok(!result.stderr.includes(SECRET) && !result.stdout.includes(SECRET), 'the key is never echoed');
}

test('usage errors: one line, non-zero exit, key never echoed', { timeout: 60_000 }, async () => {
  assertOneLineError(await ttun(['server']), /^ttun: a pre-shared key is required: give -k KEY$/);
  assertOneLineError(await ttun(['client', '-k', SECRET]), /^ttun: the server address is required: give -s HOST:PORT$/);
  assertOneLineError(await ttun(['server', '-k', SECRET, '-m', 'rot13']), /^ttun: unknown cipher "rot13": use chacha20-poly1305 or aes-256-gcm$/);
  assertOneLineError(await ttun(['server', '-k', SECRET, '-mtu', '1000']), /^ttun: MTU "1000" is out of range: use a whole number from 1280 to 65519$/);
  assertOneLineError(await ttun(['server', '-k', SECRET, '-mtu', '65520']), /MTU "65520" is out of range/);
  assertOneLineError(await ttun(['server', '-k', SECRET, '-l', 'nowhere:port']), /^ttun: bad listen address "nowhere:port": the port must be 0\.\.65535$/);
  assertOneLineError(await ttun(['client', '-k', SECRET, '-s', '[zz]:1']), /^ttun: bad server address "\[zz\]:1"/);
  assertOneLineError(await ttun(['client', '-k', 'super', 'secret', 'key', '123', '-s', 'h:1']), /unexpected extra argument/);
  assertOneLineError(await ttun(['frobnicate']), /unknown command "frobnicate"/);
  assertOneLineError(await ttun(['server', '-k', SECRET, '--frob']), /unknown option --frob/);
});

test('--help and --version', async () => {
  const help = await run(process.execPath, [TTUN, '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /ttun server/);
  assert.match(help.stdout, /ttun client/);
  const serverHelp = await run(process.execPath, [TTUN, 'server', '--help']);
  assert.match(serverHelp.stdout, /-k, --psk/);
  assert.match(serverHelp.stdout, /--mtu/);
  assert.match(serverHelp.stdout, /-l, --listen/);
  const version = await run(process.execPath, [TTUN, '--version']);
  assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+$/);
});

test('Go-style -mtu 1400 sets MTU 1400 (not -m -t -u)', { timeout: 60_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const server = lab.ttun(lab.server, ['server', '-k', SECRET, '-mtu', '1400', '-l', ':20203']);
  await server.waitForLine(/TUN ttun0 up: .* mtu 1400/);
  const link = await lab.exec(lab.server, ['ip', 'link', 'show', 'ttun0']);
  assert.match(link.stdout, /mtu 1400/);
});

test('listen on one address only: -l HOST:PORT and -l [IPV6]:PORT', { timeout: 60_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const v4 = lab.ttun(lab.server, ['server', '-k', SECRET, '-l', '10.200.0.1:20203']);
  assert.match(await v4.waitForLine(/listening on/), /listening on 10\.200\.0\.1:20203/);
  const sockets = await lab.exec(lab.server, ['ss', '-Hltn']);
  assert.match(sockets.stdout, /10\.200\.0\.1:20203/);
  assert.doesNotMatch(sockets.stdout, /\*:20203|\[::\]:20203/);
  v4.kill('SIGINT');
  await v4.exited;
  const v6 = lab.ttun(lab.server, ['server', '-k', SECRET, '-l', '[::1]:20204']);
  assert.match(await v6.waitForLine(/listening on/), /listening on \[::1\]:20204/);
  const all = lab.ttun(lab.server, ['server', '-k', SECRET, '-l', ':20205']);
  assert.match(await all.waitForLine(/listening on/), /listening on \[::\]:20205/);
});

test('port in use and no permission for a TUN: one clear line each', { timeout: 60_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const first = lab.ttun(lab.server, ['server', '-k', SECRET]);
  await first.waitForLine(/listening on/);
  const second = lab.ttun(lab.server, ['server', '-k', SECRET]);
  const exit = await second.exited;
  assert.equal(exit.code, 1);
  assert.equal(second.lines.length, 1, second.output);
  assert.match(second.lines[0]!, /^ttun: cannot listen on :20203: the port is already in use$/);
  assert.ok(!(await lab.links(lab.server)).includes('ttun1'), 'the TUN made before the failed listen is removed');

  // Root without CAP_NET_ADMIN cannot create a TUN device.
  const noCap = await lab.exec(lab.server, ['setpriv', '--bounding-set', '-net_admin', '--inh-caps', '-net_admin', process.execPath, TTUN, 'server', '-k', SECRET, '-l', ':20210']);
  assert.equal(noCap.code, 1, noCap.stderr);
  assert.equal(noCap.stderr.trim().split('\n').length, 1, noCap.stderr);
  assert.match(noCap.stderr, /^ttun: cannot create a TUN device: permission denied \(run as root or with CAP_NET_ADMIN\)$/m);
});
