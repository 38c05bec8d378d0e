// Bad input to the real CLI: one clear line on stderr, non-zero exit, no stack trace, no key.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, ROOT, run, TTUN } from './harness.js';

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
  assertOneLineError(await ttun(['server']), /^ttun: a pre-shared key is required: give --psk-file PATH, TTUN_PSK, or -k KEY$/);
  assertOneLineError(await ttun(['server', '--psk-file', '/nonexistent/key']), /^ttun: cannot read the key file \/nonexistent\/key: no such file$/);
  assertOneLineError(await ttun(['server', '-k', SECRET, '--psk-file', '/etc/hostname']), /^ttun: give the key one way only: -k or --psk-file$/);
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

test('genpsk prints a fresh 32-byte base64 key each time', async () => {
  const a = await run(process.execPath, [TTUN, 'genpsk']);
  const b = await run(process.execPath, [TTUN, 'genpsk']);
  assert.equal(a.code, 0);
  assert.equal(Buffer.from(a.stdout.trim(), 'base64').length, 32);
  assert.match(a.stdout, /^[A-Za-z0-9+/]{43}=\n$/);
  assert.notEqual(a.stdout, b.stdout);
});

test('the key from --psk-file or TTUN_PSK works like -k; -k warns and is hidden from the process list; short keys warn', { timeout: 90_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const dir = mkdtempSync(join(tmpdir(), 'ttun-key-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'key');
  writeFileSync(keyFile, `${SECRET}\n`, { mode: 0o600 });
  // Server takes the key with -k, client from the file (trailing newline ignored): they must agree.
  const server = lab.ttun(lab.server, ['server', '-k', SECRET]);
  await server.waitForLine(/listening on/);
  assert.ok(server.lines.some((l) => /WARN: -k puts the key in the process list/.test(l)), server.output);
  const cmdline = readFileSync(`/proc/${server.pid}/cmdline`, 'utf8');
  assert.ok(!cmdline.includes(SECRET), `key visible in the process list: ${cmdline}`);
  const client = lab.ttun(lab.clients[0]!, ['client', '--psk-file', keyFile, '-s', lab.serverAddress()]);
  await client.waitForLine(/session up/);
  assert.ok(!client.output.includes('WARN'), client.output);
  client.kill('SIGINT');
  await client.exited;
  // And from the environment.
  const envClient = lab.ttun(lab.clients[0]!, ['client', '-s', lab.serverAddress()], { TTUN_PSK: SECRET });
  await envClient.waitForLine(/session up/);
  await lab.waitForPing(lab.clients[0]!, '10.1.1.1');
  for (const line of [...server.lines, ...client.lines, ...envClient.lines]) assert.ok(!line.includes(SECRET), line);
  envClient.kill('SIGINT');
  await envClient.exited;
  const short = lab.ttun(lab.clients[0]!, ['client', '-k', 'short', '-s', lab.serverAddress()]);
  await short.waitForLine(/WARN: the key is only 5 bytes/);
});

test('--user drops root after the TUN and the port are set up; the tunnel keeps working and reconnects', { timeout: 90_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const server = lab.ttun(lab.server, ['server', '-k', SECRET, '--user', 'nobody']);
  await server.waitForLine(/running as user nobody/);
  const client = lab.ttun(lab.clients[0]!, ['client', '-k', SECRET, '-s', lab.serverAddress(), '--user', 'nobody']);
  await client.waitForLine(/running as user nobody/);
  await lab.waitForPing(lab.clients[0]!, '10.1.1.1');
  for (const proc of [server, client]) {
    const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
    const uid = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status)!;
    assert.deepEqual(uid.slice(1), ['65534', '65534', '65534'], 'real, effective and saved uid are nobody');
    assert.match(status, /^CapEff:\s+0+$/m, 'no capabilities left');
  }
  // The unprivileged client still reconnects (its TUN survives) when the session is cut.
  const mark = client.lines.length;
  server.kill('SIGKILL');
  await client.waitForLine(/disconnected/, 15_000, mark);
  const again = lab.ttun(lab.server, ['server', '-k', SECRET]);
  await again.waitForLine(/listening on/);
  await client.waitForLine(/session up/, 30_000, mark);
  await lab.waitForPing(lab.clients[0]!, '10.1.1.1');
  // Closing as nobody still removes the TUN (the device goes with its last file descriptor).
  client.kill('SIGTERM');
  assert.equal((await client.exited).code, 0);
  assert.ok(!(await lab.links(lab.clients[0]!)).includes('ttun0'));
});

test('--log-format json, --stats and SIGUSR1: one JSON object per line with events, rates and counters', { timeout: 60_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const server = lab.ttun(lab.server, ['server', '--log-format', 'json', '--stats', '1'], { TTUN_PSK: SECRET });
  await server.waitForLine(/"event":"listening"/);
  const client = lab.ttun(lab.clients[0]!, ['client', '-s', lab.serverAddress()], { TTUN_PSK: SECRET });
  await client.waitForLine(/session up/);
  await lab.ping(lab.clients[0]!, '10.1.1.1', 10);
  const stats = JSON.parse(await server.waitForLine(/"event":"stats".*"rxPacketsPerSecond":[1-9]/, 5000));
  assert.equal(stats.role, 'server');
  assert.ok(stats.rxBytesPerSecond > 0 && stats.txPacketsPerSecond > 0, JSON.stringify(stats));
  process.kill(server.pid, 'SIGUSR1');
  const counters = JSON.parse(await server.waitForLine(/"event":"counters"/));
  assert.ok(counters.rxPackets >= 10 && counters.txPackets >= 10 && counters.sessions === 1, JSON.stringify(counters));
  assert.ok(counters.rssMB > 10 && counters.heapUsedMB > 0 && counters.heapTotalMB >= counters.heapUsedMB, JSON.stringify(counters));
  for (const line of server.lines) {
    const entry = JSON.parse(line);
    assert.ok(entry.time && entry.level && entry.event && entry.message, line);
  }
  assert.ok(server.lines.some((l) => JSON.parse(l).event === 'up'));
});

test('completion prints a shell completion script', async () => {
  const result = await run(process.execPath, [TTUN, 'completion']);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /ttun/);
  assert.match(result.stdout, /complete -o bashdefault -o default -F|compdef/);
});

test('the systemd units verify, and their privilege model works: CAP_NET_ADMIN and no other capability runs a tunnel', { timeout: 60_000 }, async (t) => {
  const units = join(ROOT, 'contrib', 'systemd');
  const verify = await run('systemd-analyze', ['verify', join(units, 'ttun-server.service'), join(units, 'ttun-client.service')]);
  assert.equal(verify.code, 0, verify.stderr);
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  // What the units ask systemd for: CapabilityBoundingSet=CAP_NET_ADMIN, NoNewPrivileges=yes.
  const onlyNetAdmin = ['setpriv', '--bounding-set=-all,+net_admin', '--inh-caps=-all', '--no-new-privs'];
  const server = lab.spawn(lab.server, [...onlyNetAdmin, process.execPath, TTUN, 'server'], { TTUN_PSK: SECRET });
  await server.waitForLine(/listening on/);
  const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
  assert.match(status, /^CapEff:\s+0000000000001000$/m, 'CAP_NET_ADMIN (bit 12) only');
  assert.match(status, /^NoNewPrivs:\s+1$/m);
  const client = lab.spawn(lab.clients[0]!, [...onlyNetAdmin, process.execPath, TTUN, 'client', '-s', lab.serverAddress()], { TTUN_PSK: SECRET });
  await client.waitForLine(/session up/);
  await lab.waitForPing(lab.clients[0]!, '10.1.1.1');
});
