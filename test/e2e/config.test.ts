// --config files, TTUN_<FLAG> variables and `ttun check` with the real CLI in network namespaces.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Lab, NODE_FLAGS, TTUN } from './harness.js';

const SECRET = 'config test key 0123456789abcdef';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ttun-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function writeJson(dir: string, name: string, value: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(value, null, 2), { mode: 0o600 });
  return path;
}

async function linkMtu(lab: Lab, ns: string): Promise<number> {
  const link = await lab.exec(ns, ['ip', 'link', 'show', 'ttun0']);
  assert.equal(link.code, 0, link.stderr);
  return Number(/ mtu (\d+) /.exec(link.stdout)![1]);
}

async function listeningPorts(lab: Lab, ns: string): Promise<string[]> {
  const sockets = await lab.exec(ns, ['ss', '-Hltn']);
  return [...sockets.stdout.matchAll(/:(\d+)\s/g)].map((m) => m[1]!).sort();
}

test('server and client from config files only (key from TTUN_PSK) carry ping; the environment overrides the file, a flag overrides the environment', {
  timeout: 90_000,
}, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const dir = tempDir(t);
  const serverConfig = writeJson(dir, 'server.json', {
    listen: ':20210',
    mtu: 1300,
    cipher: 'aes-256-gcm',
    mptcp: true,
    'log-format': 'json',
  });
  const clientConfig = writeJson(dir, 'client.json', {
    server: lab.serverAddress(0, 20210),
    mtu: 1300,
    cipher: 'aes-256-gcm',
    'log-format': 'json',
  });

  // Files only, but TTUN_MTU on the server (env over file) and TTUN_MPTCP=1 on the client (an env boolean).
  const server = lab.ttun(lab.server, ['server', '--config', serverConfig], { TTUN_PSK: SECRET, TTUN_MTU: '1400' });
  const listening = await server.waitForEvent('listening');
  assert.equal(listening.address, '[::]:20210', 'listen from the file');
  assert.equal(listening.cipher, 'aes-256-gcm', 'cipher from the file');
  const client = lab.ttun(lab.clients[0]!, ['client', '--config', clientConfig], { TTUN_PSK: SECRET, TTUN_MPTCP: '1' });
  const up = await client.waitForEvent('up');
  assert.deepEqual([up.cipher, up.mptcp], ['aes-256-gcm', true], 'mptcp from TTUN_MPTCP, on both ends');
  await lab.waitForPing(lab.clients[0]!, '10.1.1.1');
  assert.equal((await lab.ping(lab.server, 'fc11::2')).code, 0);
  assert.equal(await linkMtu(lab, lab.server), 1400, 'TTUN_MTU over the file');
  assert.equal(await linkMtu(lab, lab.clients[0]!), 1300, 'mtu from the file');
  for (const line of [...server.lines, ...client.lines]) assert.ok(!line.includes(SECRET), line);
  client.kill('SIGTERM');
  server.kill('SIGTERM');
  assert.equal((await client.exited).code, 0);
  assert.equal((await server.exited).code, 0);

  // A flag over the environment over the file, for the MTU and the listen port; and the log format
  // from the environment over the file's: this server logs text lines.
  const overridden = lab.ttun(lab.server, ['server', '--config', serverConfig, '--mtu', '1500', '-l', ':20212'], {
    TTUN_PSK: SECRET,
    TTUN_MTU: '1400',
    TTUN_LISTEN: ':20211',
    TTUN_LOG_FORMAT: 'text',
  });
  assert.match(await overridden.waitForLine(/listening on/), /listening on \[::\]:20212 \(aes-256-gcm\)$/);
  assert.equal(await linkMtu(lab, lab.server), 1500);
  assert.deepEqual(await listeningPorts(lab, lab.server), ['20212']);
  const envOnly = lab.ttun(lab.clients[0]!, ['client', '--config', clientConfig], {
    TTUN_PSK: SECRET,
    TTUN_SERVER: lab.serverAddress(0, 20212),
  });
  // Without TTUN_MPTCP this client is back to the default, plain TCP.
  const plainUp = await envOnly.waitForEvent('up');
  assert.deepEqual([plainUp.cipher, plainUp.mptcp], ['aes-256-gcm', false]);
  await lab.waitForPing(lab.clients[0]!, '10.1.1.1');
});

test('ttun check: valid and invalid configurations, exit 0 / 2, the key never shown, nothing created', { timeout: 60_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const dir = tempDir(t);
  const keyFile = join(dir, 'server.key');
  writeFileSync(keyFile, `${SECRET}\n`, { mode: 0o600 });
  const good = writeJson(dir, 'good.json', { 'psk-file': keyFile, listen: ':20220', mtu: 1400, user: 'nobody' });
  const bad = writeJson(dir, 'bad.json', { 'psk-file': keyFile, listen: ':20220', mtu: 1000 });
  const badJson = join(dir, 'broken.json');
  writeFileSync(badJson, `{"psk-file": "${keyFile}",\n "mtu": 1400\n "listen": ":1"}`);
  const links = await lab.links(lab.server);
  const check = (args: string[], env: Record<string, string> = {}) =>
    lab.exec(lab.server, [
      'env',
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      process.execPath,
      ...NODE_FLAGS,
      TTUN,
      'check',
      ...args,
    ]);

  const valid = await check(['server', '--config', good], { TTUN_CIPHER: 'aes-256-gcm' });
  assert.equal(valid.code, 0, valid.stderr);
  assert.match(valid.stdout, /^ttun server: the configuration is valid/);
  assert.match(valid.stdout, /^ {2}key\s+\(hidden, 32 bytes\)\s+from --psk-file$/m);
  assert.match(valid.stdout, /^ {2}psk-file\s+\S+server\.key\s+file \(\S+good\.json\)$/m);
  assert.match(valid.stdout, /^ {2}cipher\s+aes-256-gcm\s+env \(TTUN_CIPHER\)$/m);
  assert.match(valid.stdout, /^ {2}user\s+nobody\s+file/m);
  assert.ok(!valid.stdout.includes(SECRET) && !valid.stderr.includes(SECRET));

  const fromEnvKey = await check(['client', '-s', 'vpn.example.com:20203'], { TTUN_PSK: SECRET });
  assert.equal(fromEnvKey.code, 0, fromEnvKey.stderr);
  assert.match(fromEnvKey.stdout, /key\s+\(hidden, 32 bytes\)\s+from TTUN_PSK/);
  assert.ok(!fromEnvKey.stdout.includes(SECRET));

  for (const [args, pattern] of [
    [['server', '--config', bad], /^ttun: bad "mtu" in \S+: use a whole number from 1280 to 65519$/],
    [['client', '--config', good], /^ttun: "listen" in \S+good\.json is an option of ttun server, not of ttun client$/],
    [['server', '--config', badJson], /^ttun: bad JSON in \S+broken\.json at line 3, column 2: expected ',' or '}'$/],
  ] as const) {
    const result = await check([...args]);
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stdout, '');
    assert.match(result.stderr.trim(), pattern);
    assert.equal(result.stderr.trim().split('\n').length, 1);
  }
  // Checking created nothing: no TUN, no listener.
  assert.deepEqual(await lab.links(lab.server), links);
  assert.deepEqual(await listeningPorts(lab, lab.server), []);

  // Running with the bad file fails the same way, before the TUN exists.
  const run = lab.ttun(lab.server, ['server', '--config', bad, '--log-format', 'text']);
  assert.equal((await run.exited).code, 2);
  assert.deepEqual(run.lines, [`ttun: bad "mtu" in ${bad}: use a whole number from 1280 to 65519`]);
  assert.deepEqual(await lab.links(lab.server), links);
});
