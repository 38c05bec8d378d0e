// Bad input to the real CLI: one clear line on stderr, non-zero exit, no stack trace, no key.
import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { Lab, type LogEvent, notifyReceiver, parseEvent, ROOT, run, TTUN, until, WAIT_MS } from './harness.js';

const SECRET = 'super secret key 123';

async function ttun(args: string[], prefix: string[] = []) {
  const result = await run(prefix[0] ?? process.execPath, [
    ...prefix.slice(1),
    ...(prefix.length ? [process.execPath] : []),
    TTUN,
    ...args,
  ]);
  return { ...result, lines: result.stderr.trim().split('\n') };
}

const EXIT_USAGE = 2;
const EXIT_RUNTIME = 1;

function assertOneLineError(
  result: { code: number | null; stderr: string; stdout: string; lines: string[] },
  pattern: RegExp,
  code = EXIT_USAGE,
) {
  assert.equal(result.code, code, `exit code for: ${result.stderr}`);
  assert.equal(result.lines.length, 1, `expected one line, got:\n${result.stderr}`);
  assert.match(result.lines[0]!, pattern);
  assert.ok(!result.stderr.includes('    at '), 'no stack trace');
  assert.ok(!result.stderr.includes(SECRET) && !result.stdout.includes(SECRET), 'the key is never echoed');
}

test("usage errors: one line, exit 2 (1 for what is not the command line's fault), key never echoed", { timeout: 60_000 }, async () => {
  assertOneLineError(await ttun(['server']), /^ttun: a pre-shared key is required: give --psk-file PATH, TTUN_PSK, or -k KEY$/);
  assertOneLineError(await ttun(['client', '-s', 'h:1']), /^ttun: a pre-shared key is required/);
  assertOneLineError(
    await ttun(['server', '--psk-file', '/nonexistent/key']),
    /^ttun: cannot read the key file \(--psk-file\): no such file$/,
    EXIT_RUNTIME,
  );
  // A repeated option is a usage error that names the option, never its values (one may be the key).
  assertOneLineError(await ttun(['server', '-k', SECRET, '-k', SECRET]), /^ttun: -k is given more than once \(see ttun --help\)$/);
  assertOneLineError(await ttun(['server', '--psk', SECRET, '-k=other']), /^ttun: -k is given more than once/);
  assertOneLineError(
    await ttun(['server', '--psk-file', '/etc/hostname', '--psk-file', '/etc/hosts']),
    /^ttun: --psk-file is given more than once/,
  );
  assertOneLineError(await ttun(['client', '-k', SECRET, '-s', 'a:1', '--server', 'b:2']), /^ttun: -s is given more than once/);
  assertOneLineError(
    await ttun(['server', '-k', SECRET, '--psk-file', '/etc/hostname']),
    /^ttun: give the key one way only: -k or --psk-file$/,
  );
  assertOneLineError(await ttun(['client', '-k', SECRET]), /^ttun: the server address is required: give -s HOST:PORT$/);
  assertOneLineError(await ttun(['client', '-k', SECRET, '-s', '']), /^ttun: the server address is required/);
  assertOneLineError(
    await ttun(['server', '-k', SECRET, '-m', 'rot13']),
    /^ttun: bad --cipher: use one of chacha20-poly1305, aes-256-gcm \(see ttun --help\)$/,
  );
  assertOneLineError(await ttun(['server', '-k', SECRET, '-mtu', '1000']), /^ttun: bad --mtu: use a whole number from 1280 to 65519$/);
  assertOneLineError(await ttun(['server', '-k', SECRET, '-mtu', '65520']), /^ttun: bad --mtu: use a whole number from 1280 to 65519$/);
  assertOneLineError(await ttun(['server', '-k', SECRET, '-l', 'nowhere:port']), /^ttun: bad -l: the port must be 0\.\.65535$/);
  assertOneLineError(await ttun(['client', '-k', SECRET, '-s', '[zz]:1']), /^ttun: bad -s: what is in \[brackets\] is not an IPv6 address/);
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

test('ttun help, ttun help COMMAND and ttun -v work; numbers show as numbers; examples are whole commands', async () => {
  const help = await run(process.execPath, [TTUN, 'help']);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /Commands:[\s\S]*ttun server/);
  const version = await run(process.execPath, [TTUN, '-v']);
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout.trim(), JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  for (const command of ['server', 'client', 'check', 'genpsk']) {
    const r = await run(process.execPath, [TTUN, 'help', command]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^ttun ${command}`, 'm'));
    // After "Examples:", a comment line and then the command, whole on its line and within 80 columns.
    const examples = r.stdout
      .slice(r.stdout.indexOf('Examples:'))
      .split('\n')
      .slice(1)
      .filter((l) => l.trim() !== '');
    assert.ok(examples.length >= 2, `${command} has examples:\n${r.stdout}`);
    for (const line of examples) {
      assert.match(line, /^ {2}(# |sudo |ttun )/, `an example line is a comment or a whole command: ${JSON.stringify(line)}`);
      assert.ok(line.length <= 80, `fits 80 columns: ${line}`);
    }
  }
  const server = await run(process.execPath, [TTUN, 'help', 'server']);
  assert.match(server.stdout, /--mtu\b.*\n?.*\[number\]/);
  assert.match(server.stdout, /--handshake-timeout-ms\b[^[]*\[number\]/);
  assert.match(server.stdout, /--cipher\b[\s\S]*?\[choices: "chacha20-poly1305", "aes-256-gcm"\]/);
});

test('shell completion offers the cipher names after --cipher', async () => {
  const r = await run(process.execPath, [TTUN, '--get-yargs-completions', 'ttun', 'client', '--cipher', '']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n').sort(), ['aes-256-gcm', 'chacha20-poly1305']);
});

test('genpsk -o FILE writes a 0600 key file, refuses to overwrite without --force', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ttun-genpsk-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'ttun.key');
  const made = await run(process.execPath, [TTUN, 'genpsk', '-o', file]);
  assert.equal(made.code, 0, made.stderr);
  assert.equal(made.stdout, '', 'the key is not printed');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const key = readFileSync(file, 'utf8');
  assert.match(key, /^[A-Za-z0-9+/]{43}=\n$/);
  const again = await ttun(['genpsk', '-o', file]);
  assert.equal(again.code, EXIT_USAGE);
  assert.deepEqual(again.lines, [`ttun: ${file} exists: give --force to replace it`]);
  assert.equal(readFileSync(file, 'utf8'), key, 'the old key is kept');
  chmodSync(file, 0o644);
  const forced = await run(process.execPath, [TTUN, 'genpsk', '-o', file, '--force']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.notEqual(readFileSync(file, 'utf8'), key);
  assert.equal(statSync(file).mode & 0o777, 0o600, 'a replaced file is 0600 too');
  assert.deepEqual(readdirSync(dir), ['ttun.key'], 'no temporary file left');
  const nowhere = await ttun(['genpsk', '-o', join(dir, 'no', 'such', 'dir', 'key')]);
  assert.equal(nowhere.code, EXIT_RUNTIME);
  assert.equal(nowhere.lines.length, 1);
  assert.match(nowhere.lines[0]!, /^ttun: cannot write the key to .*: /);
});

test('Go-style -mtu 1400 sets MTU 1400 (not -m -t -u)', { timeout: 60_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const server = lab.ttun(lab.server, ['server', '-k', SECRET, '-mtu', '1400', '-l', ':20203']);
  assert.equal((await server.waitForEvent('tun')).mtu, 1400);
  const link = await lab.exec(lab.server, ['ip', 'link', 'show', 'ttun0']);
  assert.match(link.stdout, /mtu 1400/);
});

test('listen on one address only: -l HOST:PORT and -l [IPV6]:PORT', { timeout: 60_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const v4 = lab.ttun(lab.server, ['server', '-k', SECRET, '-l', '10.200.0.1:20203']);
  assert.equal((await v4.waitForEvent('listening')).address, '10.200.0.1:20203');
  const sockets = await lab.exec(lab.server, ['ss', '-Hltn']);
  assert.match(sockets.stdout, /10\.200\.0\.1:20203/);
  assert.doesNotMatch(sockets.stdout, /\*:20203|\[::\]:20203/);
  v4.kill('SIGINT');
  await v4.exited;
  const v6 = lab.ttun(lab.server, ['server', '-k', SECRET, '-l', '[::1]:20204']);
  assert.equal((await v6.waitForEvent('listening')).address, '[::1]:20204');
  const all = lab.ttun(lab.server, ['server', '-k', SECRET, '-l', ':20205']);
  assert.equal((await all.waitForEvent('listening')).address, '[::]:20205');
});

test('-s takes a name as the system resolves it: a Docker Compose-style name with an underscore connects', {
  timeout: 60_000,
}, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const clientNs = lab.clients[0]!;
  // ip netns exec puts /etc/netns/NS/hosts over /etc/hosts for what it runs: the name exists only there.
  const hostsDir = join('/etc/netns', clientNs);
  mkdirSync(hostsDir, { recursive: true });
  t.after(() => rmSync(hostsDir, { recursive: true, force: true }));
  writeFileSync(join(hostsDir, 'hosts'), `127.0.0.1 localhost\n${lab.serverAddress().split(':')[0]} tunnel_server\n`);
  const server = lab.ttun(lab.server, ['server', '-k', SECRET]);
  await server.waitForEvent('listening');
  const client = lab.ttun(clientNs, ['client', '-k', SECRET, '-s', 'tunnel_server:20203']);
  await client.waitForEvent('up');
  await lab.waitForPing(clientNs, '10.1.1.1');
  // And the refusals: port 0, a URL.
  assertOneLineError(await ttun(['client', '-k', SECRET, '-s', '10.0.0.1:0']), /^ttun: bad -s: the port must be 1\.\.65535$/);
  assertOneLineError(await ttun(['client', '-k', SECRET, '-s', 'tcp://h:1']), /^ttun: bad -s: give HOST:PORT, not a URL$/);
});

test('port in use and no permission for a TUN: one clear line each', { timeout: 60_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const first = lab.ttun(lab.server, ['server', '-k', SECRET]);
  await first.waitForEvent('listening');
  const second = lab.ttun(lab.server, ['server', '-k', SECRET, '--log-format', 'text']);
  const exit = await second.exited;
  assert.equal(exit.code, 1);
  assert.equal(second.lines.length, 1, second.output);
  assert.match(second.lines[0]!, /^ttun: cannot listen on :20203: the port is already in use$/);
  // With JSON logs, the same failure is one JSON object.
  const json = lab.ttun(lab.server, ['server', '-k', SECRET, '--log-format', 'json']);
  assert.equal((await json.exited).code, 1);
  const failed = json.events('start-failed');
  assert.equal(json.lines.length, 1, json.output);
  assert.deepEqual(
    [failed[0]?.level, failed[0]?.message, failed[0]?.exitCode],
    ['error', 'cannot listen on :20203: the port is already in use', 1],
  );
  assert.ok(!(await lab.links(lab.server)).includes('ttun1'), 'the TUN made before the failed listen is removed');

  // Root without CAP_NET_ADMIN cannot create a TUN device.
  const noCap = await lab.exec(lab.server, [
    'setpriv',
    '--bounding-set',
    '-net_admin',
    '--inh-caps',
    '-net_admin',
    process.execPath,
    TTUN,
    'server',
    '-k',
    SECRET,
    '-l',
    ':20210',
  ]);
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

test('the key from --psk-file or TTUN_PSK works like -k; -k warns and is hidden from the process list; short keys warn', {
  timeout: 90_000,
}, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const dir = mkdtempSync(join(tmpdir(), 'ttun-key-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'key');
  writeFileSync(keyFile, `${SECRET}\n`, { mode: 0o600 });
  // Server takes the key with -k, client from the file (trailing newline ignored): they must agree.
  const server = lab.ttun(lab.server, ['server', '-k', SECRET]);
  // The warning is about the key, so it comes before any other start-up line (and in CI it once
  // came after "listening on", which a check made right after that line did not see).
  const warning = await server.waitForEvent('key');
  await server.waitForEvent('listening');
  assert.equal(warning.level, 'warn');
  assert.match(warning.message, /^-k puts the key in the process list/);
  assert.match(warning.message, /sudo/);
  const order = server.events().map((e) => e.event);
  assert.ok(order.indexOf('key') < order.indexOf('tun'), server.output);
  const cmdline = readFileSync(`/proc/${server.pid}/cmdline`, 'utf8');
  assert.ok(!cmdline.includes(SECRET), `key visible in the process list: ${cmdline}`);
  const client = lab.ttun(lab.clients[0]!, ['client', '--psk-file', keyFile, '-s', lab.serverAddress()]);
  await client.waitForEvent('up');
  assert.deepEqual(
    client.events().filter((e) => e.level !== 'info'),
    [],
    'no warning: the key came from a file',
  );
  client.kill('SIGINT');
  await client.exited;
  // And from the environment.
  const envClient = lab.ttun(lab.clients[0]!, ['client', '-s', lab.serverAddress()], { TTUN_PSK: SECRET });
  await envClient.waitForEvent('up');
  await lab.waitForPing(lab.clients[0]!, '10.1.1.1');
  for (const line of [...server.lines, ...client.lines, ...envClient.lines]) assert.ok(!line.includes(SECRET), line);
  envClient.kill('SIGINT');
  await envClient.exited;
  const short = lab.ttun(lab.clients[0]!, ['client', '-k', 'short', '-s', lab.serverAddress()]);
  // -k warns too: the warning about the length is one of the key's events.
  const shortWarning = await short.waitForEvent('key', (e) => /the key is only 5 bytes/.test(e.message));
  assert.equal(shortWarning.level, 'warn');
});

test('--user drops root after the TUN and the port are set up; the tunnel keeps working and reconnects', { timeout: 90_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const server = lab.ttun(lab.server, ['server', '-k', SECRET, '--user', 'nobody']);
  const nobody = (e: LogEvent) => e.uid === 65534 && e.gid === 65534;
  await server.waitForEvent('privileges', nobody);
  const client = lab.ttun(lab.clients[0]!, ['client', '-k', SECRET, '-s', lab.serverAddress(), '--user', 'nobody']);
  await client.waitForEvent('privileges', nobody);
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
  await client.waitForEvent('down', () => true, { timeoutMs: 15_000, from: mark });
  const again = lab.ttun(lab.server, ['server', '-k', SECRET]);
  await again.waitForEvent('listening');
  await client.waitForEvent('up', () => true, { from: mark });
  await lab.waitForPing(lab.clients[0]!, '10.1.1.1');
  // Closing as nobody still removes the TUN (the device goes with its last file descriptor).
  client.kill('SIGTERM');
  assert.equal((await client.exited).code, 0);
  assert.ok(!(await lab.links(lab.clients[0]!)).includes('ttun0'));
});

test('an unknown --user or --group, or --group alone: one line, exit 2, and no TUN or socket was ever made', {
  timeout: 90_000,
}, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const ns = lab.server;
  // Every link the namespace gains, as it happens. A fence is a veth pair added and removed: once
  // the monitor has printed it, it has printed everything before it. The first fence is retried
  // until the monitor, started in the background, is listening.
  const monitor = lab.spawn(ns, ['ip', '-o', 'monitor', 'link']);
  let fences = 0;
  const fence = async (waitMs: number) => {
    const name = `fence${fences++}`;
    const from = monitor.lines.length;
    await lab.exec(ns, ['ip', 'link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`]);
    await lab.exec(ns, ['ip', 'link', 'del', name]);
    return monitor.waitForLine(new RegExp(`Deleted .*\\b${name}\\b`), waitMs, from).then(
      () => true,
      () => false,
    );
  };
  const deadline = Date.now() + WAIT_MS;
  while (!(await fence(500))) assert.ok(Date.now() < deadline, 'ip monitor never started');
  const cases: Array<[string[], RegExp]> = [
    [['--user', 'no-such-user-ttun'], /^ttun: unknown user: no such account on this system$/],
    [['--user', 'root', '--group', 'no-such-group-ttun'], /^ttun: unknown group: no such group on this system$/],
    [['--group', 'root'], /^ttun: --group needs --user: give the user to run as too$/],
  ];
  for (const [i, [args, pattern]] of cases.entries()) {
    const mark = monitor.lines.length;
    // strace sees every socket the process binds and every TUN it asks the kernel for.
    const trace = join(tmpdir(), `ttun-user-trace-${process.pid}-${i}`);
    t.after(() => rmSync(trace, { force: true }));
    const result = await lab.exec(ns, [
      'strace',
      '-f',
      '-qq',
      '-o',
      trace,
      '-e',
      'trace=bind,listen,ioctl',
      process.execPath,
      TTUN,
      'server',
      '-k',
      SECRET,
      ...args,
    ]);
    const lines = result.stderr.trim().split('\n');
    assert.equal(result.code, EXIT_USAGE, result.stderr);
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, pattern);
    const calls = readFileSync(trace, 'utf8');
    assert.doesNotMatch(calls, /bind\(\d+, \{sa_family=AF_INET6?/, 'no TCP/IP socket was bound');
    assert.doesNotMatch(calls, /listen\(/, 'nothing listened');
    assert.doesNotMatch(calls, /TUNSETIFF/, 'no TUN was asked for');
    assert.ok(await fence(WAIT_MS));
    assert.deepEqual(
      monitor.lines.slice(mark).filter((line) => !/\bfence\d+p?\b/.test(line)),
      [],
      'the namespace gained no link',
    );
  }
});

test('--log-format json, --stats and SIGUSR1: one JSON object per line with events, rates and counters', { timeout: 60_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const server = lab.ttun(lab.server, ['server', '--log-format', 'json', '--stats', '1'], { TTUN_PSK: SECRET });
  await server.waitForEvent('listening');
  const client = lab.ttun(lab.clients[0]!, ['client', '-s', lab.serverAddress()], { TTUN_PSK: SECRET });
  await client.waitForEvent('up');
  await lab.ping(lab.clients[0]!, '10.1.1.1', 10);
  const stats = await server.waitForEvent('stats', (e) => Number(e.rxPacketsPerSecond) > 0);
  assert.equal(stats.role, 'server');
  assert.ok(Number(stats.rxBytesPerSecond) > 0 && Number(stats.txPacketsPerSecond) > 0, JSON.stringify(stats));
  process.kill(server.pid, 'SIGUSR1');
  const counters = (await server.waitForEvent('counters')) as LogEvent & Record<string, number>;
  assert.ok(counters.rxPackets >= 10 && counters.txPackets >= 10 && counters.sessions === 1, JSON.stringify(counters));
  assert.ok(counters.rssMB > 10 && counters.heapUsedMB > 0 && counters.heapTotalMB >= counters.heapUsedMB, JSON.stringify(counters));
  // Every line is one JSON object with the common fields, not only the ones waited for.
  for (const line of server.lines) {
    const entry = parseEvent(line);
    assert.ok(entry?.time && entry.level && entry.role === 'server' && entry.message, line);
  }
  assert.ok(server.events('up').length > 0);
});

test('--log-format text: one line per event as the README shows it, warnings tagged, never the key', { timeout: 60_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const text = ['--log-format', 'text'];
  const server = lab.ttun(lab.server, ['server', '-k', SECRET, ...text]);
  await server.waitForLine(/ ttun server: listening on \[::\]:20203 \(chacha20-poly1305\)$/);
  assert.match(server.output, / ttun server WARN: -k puts the key in the process list/);
  assert.match(server.output, / ttun server: TUN ttun0 up: 10\.1\.1\.1\/30 fc11::1\/126 mtu 1280$/m);

  const wrong = lab.ttun(lab.clients[0]!, ['client', '-k', 'not the key', '-s', lab.serverAddress(), ...text]);
  await server.waitForLine(/ ttun server WARN: peer 10\.200\.0\.2:\d+ rejected: wrong PSK or cipher \(.+\)$/);
  await wrong.waitForLine(/ ttun client WARN: closed during handshake: .*wrong PSK or cipher\?/);
  await wrong.waitForLine(/ ttun client: reconnecting in [\d.]+ s$/);
  wrong.kill('SIGTERM');
  await wrong.exited;

  const mark = server.lines.length;
  const client = lab.ttun(lab.clients[0]!, ['client', '-s', lab.serverAddress(), ...text], { TTUN_PSK: SECRET });
  await client.waitForLine(/ ttun client: connecting to 10\.200\.0\.1:20203$/);
  await client.waitForLine(/ ttun client: connected to 10\.200\.0\.1:20203, authenticated, session up \(chacha20-poly1305, TCP\)$/);
  await server.waitForLine(/ ttun server: peer 10\.200\.0\.2:\d+ connected$/, undefined, mark);
  await server.waitForLine(/ ttun server: peer 10\.200\.0\.2:\d+ authenticated, session up \(chacha20-poly1305, TCP\)$/, undefined, mark);
  server.kill('SIGTERM');
  await server.waitForLine(/ ttun server: SIGTERM: shutting down$/);
  await client.waitForLine(/ ttun client: disconnected from 10\.200\.0\.1:20203: .+$/);
  await client.waitForLine(/ ttun client: reconnecting (now|in [\d.]+ s)$/);
  for (const proc of [server, wrong, client]) {
    for (const line of proc.lines) {
      assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ttun (server|client)( WARN| ERROR)?: \S/, line);
      assert.ok(!line.includes(SECRET) && !line.includes('not the key'), line);
    }
  }
});

test('completion prints a shell completion script', async () => {
  const result = await run(process.execPath, [TTUN, 'completion']);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /ttun/);
  assert.match(result.stdout, /complete -o bashdefault -o default -F|compdef/);
});

/** The [Service] settings of a unit file: each key with all its values, in order. */
function serviceSettings(path: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  let section = '';
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (/^\s*(#|$)/.test(line)) continue;
    const header = /^\[(.+)\]$/.exec(line.trim());
    if (header) {
      section = header[1]!;
      continue;
    }
    const [key, ...value] = line.split('=');
    if (section === 'Service') settings.set(key!.trim(), [...(settings.get(key!.trim()) ?? []), value.join('=').trim()]);
  }
  return settings;
}

/**
 * An ExecStart= value as systemd splits it into argv: words, '…' and "…" quoting, $$ for a
 * literal $. (Enough for these units, which leave every other expansion to sh.)
 */
function execArgv(value: string): string[] {
  assert.ok(!/\$(?!\$)|\$\$\$/.test(value.replace(/\$\$/g, '')), `ExecStart leaves no $ to systemd: ${value}`);
  const words: string[] = [];
  for (const match of value.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)) words.push((match[1] ?? match[2] ?? match[3]!).replace(/\$\$/g, '$'));
  return words;
}

test('the systemd units and templates verify and run as an unprivileged user with CAP_NET_ADMIN only; their own ExecStart runs a tunnel that way', {
  timeout: 120_000,
}, async (t) => {
  const units = join(ROOT, 'contrib', 'systemd');
  // The templates are verified and run as instances: what `systemctl start ttun-server@hq` loads.
  const instances = { server: 'hq', client: 'branch' };
  const pairs = [
    { server: 'ttun-server.service', client: 'ttun-client.service', instance: undefined },
    { server: 'ttun-server@hq.service', client: 'ttun-client@branch.service', instance: instances },
  ];
  const files = pairs.flatMap((pair) => [join(units, pair.server), join(units, pair.client)]);
  const verify = await run('systemd-analyze', ['verify', ...files]);
  assert.equal(verify.code, 0, verify.stderr);
  /** A unit's file: an instance's is its template's. */
  const unitFile = (file: string) => file.replace(/@[^.]+\.service$/, '@.service');
  const settings = new Map(files.map((file) => [file, serviceSettings(unitFile(file))]));
  for (const file of files) {
    const unit = settings.get(file)!;
    const one = (key: string) => (unit.get(key) ?? []).join(' ');
    // Not uid 0 (which owns root's files and may signal root's processes even without
    // capabilities): a user of its own, holding CAP_NET_ADMIN and nothing else.
    assert.equal(one('User'), '', `${file}: no User=`);
    assert.equal(one('DynamicUser'), 'yes');
    assert.equal(one('AmbientCapabilities'), 'CAP_NET_ADMIN');
    assert.equal(one('CapabilityBoundingSet'), 'CAP_NET_ADMIN');
    assert.equal(one('NoNewPrivileges'), 'yes');
    assert.equal(one('RestartPreventExitStatus'), '2', 'a usage error is not retried forever');
    assert.equal(one('ProtectProc'), 'invisible');
    assert.equal(one('DeviceAllow'), '/dev/net/tun rw');
    assert.match(one('RestrictAddressFamilies'), /AF_NETLINK/);
    assert.match(one('ExecStart'), /--disable-sigusr1/);
    assert.doesNotMatch(one('ExecStart'), / -k /, 'the key never goes on a command line');
    assert.match(one('ExecStart'), /--psk-file "\$\$CREDENTIALS_DIRECTORY\/psk"/, 'the key is a credential');
    if (file.includes('@')) {
      // Each instance its own JSON file and key: read by systemd (as root) and handed over as credentials.
      assert.deepEqual(unit.get('LoadCredential'), ['config:/etc/ttun/%i.json', 'psk:/etc/ttun/%i.key']);
      assert.match(one('ExecStart'), /--config "\$\$CREDENTIALS_DIRECTORY\/config"/);
    }
    const security = await run('systemd-analyze', ['security', '--offline=true', file]);
    const exposure = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(security.stdout)?.[1]);
    assert.ok(
      exposure <= 2.5,
      `systemd-analyze security ${file}: ${exposure}\n${security.stdout
        .split('\n')
        .filter((l) => l.startsWith('✗'))
        .join('\n')}`,
    );
  }

  // No systemd as PID 1 here, so the units' privilege model is rebuilt with setpriv around each
  // unit's own ExecStart: a uid that is not root and owns nothing (as DynamicUser makes one), no
  // supplementary groups, CAP_NET_ADMIN ambient and in the bounding set and nothing else, no new
  // privileges, the environment systemd gives (PATH, CREDENTIALS_DIRECTORY with each
  // LoadCredential= file under its name, the client's EnvironmentFile variable).
  const uid = 61_877;
  const dir = mkdtempSync(join(tmpdir(), 'ttun-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  // Stands in for /etc/ttun: the plain units' key, and each instance's JSON file and key.
  const etc = join(dir, 'etc-ttun');
  mkdirSync(etc, { mode: 0o700 });
  writeFileSync(join(etc, 'psk'), `${SECRET}\n`, { mode: 0o600 });
  writeFileSync(join(etc, `${instances.server}.key`), `${SECRET}\n`, { mode: 0o600 });
  writeFileSync(join(etc, `${instances.client}.key`), `${SECRET}\n`, { mode: 0o600 });
  // What makes the instances observably theirs: another port, another MTU.
  writeFileSync(join(etc, `${instances.server}.json`), JSON.stringify({ listen: ':20204', mtu: 1400 }), { mode: 0o600 });
  /** A credentials directory as systemd makes it for `file`: each LoadCredential=NAME:PATH copied, owned by the service's user. */
  const credentialsFor = (file: string, name: string) => {
    const credentials = join(dir, `credentials-${name}`);
    mkdirSync(credentials, { mode: 0o500 });
    const instance = /@([^.]+)\.service$/.exec(file)?.[1];
    for (const entry of settings.get(file)!.get('LoadCredential') ?? []) {
      const [credential, path] = entry.split(/:(.*)/) as [string, string];
      const source = path.replace(/%i/g, instance ?? '').replace(/^\/etc\/ttun\//, `${etc}/`);
      writeFileSync(join(credentials, credential), readFileSync(source), { mode: 0o400 });
      chownSync(join(credentials, credential), uid, uid);
    }
    chownSync(credentials, uid, uid);
    return credentials;
  };
  const bin = join(dir, 'bin');
  mkdirSync(bin, { mode: 0o755 });
  symlinkSync(TTUN, join(bin, 'ttun'));
  // /dev/net/tun is 0600 on this machine; udev, which comes with systemd, makes it 0666 on the hosts
  // the units are for. Each process gets such a node in its own mount namespace (ip netns exec
  // makes one), bound over /dev/net/tun there.
  const tunNode = join(dir, 'tun');
  assert.equal((await run('mknod', ['-m', '666', tunNode, 'c', '10', '200'])).code, 0);
  /**
   * What systemd makes for the unit's Type=notify and RuntimeDirectory=: a notification socket
   * (a real datagram socket), WATCHDOG_USEC from WatchdogSec=, and /run/<RuntimeDirectory> owned
   * by the service's user with RuntimeDirectoryMode=, named in RUNTIME_DIRECTORY.
   */
  const serviceManagerFor = async (file: string, name: string) => {
    const unit = settings.get(file)!;
    assert.deepEqual(unit.get('Type'), ['notify'], `${file}: Type=notify`);
    const instance = /@([^.]+)\.service$/.exec(file)?.[1] ?? '';
    const runtime = join('/run', unit.get('RuntimeDirectory')![0]!.replace(/%i/g, instance));
    mkdirSync(dirname(runtime), { recursive: true, mode: 0o755 });
    mkdirSync(runtime, { mode: Number.parseInt(unit.get('RuntimeDirectoryMode')![0]!, 8) });
    chownSync(runtime, uid, uid);
    t.after(() => rmSync(runtime, { recursive: true, force: true }));
    const socket = join(dir, `notify-${name}.sock`);
    const receiver = notifyReceiver(socket);
    t.after(() => receiver.stop());
    await receiver.ready;
    const watchdogUsec = Number(unit.get('WatchdogSec')![0]) * 1_000_000;
    return { receiver, runtime, env: [`NOTIFY_SOCKET=${socket}`, `WATCHDOG_USEC=${watchdogUsec}`, `RUNTIME_DIRECTORY=${runtime}`] };
  };
  const asUnit = (file: string, credentials: string, extraEnv: string[]) => [
    'sh',
    '-c',
    'mount --bind "$0" /dev/net/tun && exec "$@"',
    tunNode,
    'setpriv',
    `--reuid=${uid}`,
    `--regid=${uid}`,
    '--clear-groups',
    '--inh-caps=-all,+net_admin',
    '--ambient-caps=-all,+net_admin',
    '--bounding-set=-all,+net_admin',
    '--no-new-privs',
    'env',
    '-i',
    `PATH=${bin}:${dirname(process.execPath)}:/usr/bin:/bin`,
    `CREDENTIALS_DIRECTORY=${credentials}`,
    ...extraEnv,
    ...execArgv(settings.get(file)!.get('ExecStart')![0]!),
  ];
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  for (const [i, pair] of pairs.entries()) {
    const serverFile = join(units, pair.server);
    const clientFile = join(units, pair.client);
    const port = pair.instance ? 20204 : 20203;
    if (pair.instance) {
      writeFileSync(join(etc, `${pair.instance.client}.json`), JSON.stringify({ server: lab.serverAddress(0, port), mtu: 1400 }), {
        mode: 0o600,
      });
    }
    // JSON log events to wait on: chosen through the environment, so the units' ExecStart runs as written.
    const jsonLogs = 'TTUN_LOG_FORMAT=json';
    const serverManager = await serviceManagerFor(serverFile, `server${i}`);
    const server = lab.spawn(lab.server, asUnit(serverFile, credentialsFor(serverFile, `server${i}`), [jsonLogs, ...serverManager.env]));
    assert.equal((await server.waitForEvent('listening')).address, `[::]:${port}`);
    const clientManager = await serviceManagerFor(clientFile, `client${i}`);
    const clientEnv = [jsonLogs, ...clientManager.env, ...(pair.instance ? [] : [`TTUN_SERVER=${lab.serverAddress()}`])];
    const client = lab.spawn(lab.clients[0]!, asUnit(clientFile, credentialsFor(clientFile, `client${i}`), clientEnv));
    await client.waitForEvent('up');
    // systemd would now have each unit started: READY=1 came, from the process itself.
    for (const manager of [serverManager, clientManager]) {
      await until('READY=1', () => manager.receiver.lines.some((d) => d.startsWith('READY=1')));
      // Its control socket is in its runtime directory, the service user's alone; root reads it.
      const status = await run(process.execPath, [TTUN, 'status', '--dev', 'ttun0', '--json']);
      assert.equal(status.code, 0, status.stderr);
      const socket = join(manager.runtime, 'ttun0.sock');
      const report = (JSON.parse(status.stdout) as Array<{ socket: string; session: unknown }>).find((r) => r.socket === socket);
      assert.ok(report?.session, `${socket} in ${status.stdout}`);
      assert.equal(statSync(socket).uid, uid);
    }
    await lab.waitForPing(lab.clients[0]!, '10.1.1.1');
    assert.equal((await lab.ping(lab.server, 'fc11::2')).code, 0);
    const mtu = pair.instance ? 1400 : 1280;
    for (const ns of [lab.server, lab.clients[0]!])
      assert.match((await lab.exec(ns, ['ip', 'link', 'show', 'ttun0'])).stdout, new RegExp(`mtu ${mtu} `));
    for (const proc of [server, client]) {
      const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
      assert.match(status, /^Name:\s+node$/m, 'the pid is node itself (every step execs)');
      assert.match(status, new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
      assert.match(status, /^Groups:\s*$/m);
      for (const set of ['CapEff', 'CapPrm', 'CapAmb', 'CapBnd'])
        assert.match(status, new RegExp(`^${set}:\\s+0000000000001000$`, 'm'), `${set}: CAP_NET_ADMIN (bit 12) only`);
      assert.match(status, /^NoNewPrivs:\s+1$/m);
      assert.ok(!proc.output.includes(SECRET), proc.output);
      assert.deepEqual(
        proc.events().filter((e) => e.level !== 'info'),
        [],
        proc.output,
      );
    }
    // The next pair gets the same addresses and the name ttun0 again.
    for (const proc of [client, server]) {
      proc.kill('SIGTERM');
      assert.equal((await proc.exited).code, 0, proc.output);
    }
  }
});
