// The client through real proxies from Debian: tinyproxy (HTTP CONNECT with Basic authentication)
// and microsocks (SOCKS5 with username/password), each started by the test in the server's
// namespace on 10.200.0.1 with its configuration in a temporary directory. The ttun server listens
// on the server namespace's 127.0.0.1, which the client namespace cannot reach: every session that
// comes up went through the proxy (and the server sees it coming from 127.0.0.1).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Lab, type LogEvent, NODE_FLAGS, type NsProcess, parseEvent, TTUN, WAIT_MS } from './harness.js';

const PSK = 'proxy e2e key';
const HTTP_USER = 'alice';
const HTTP_PASS = 'tiny-S3cret-pw';
const SOCKS_USER = 'bob';
const SOCKS_PASS = 'socks-S3cret-pw';
const PROXY_HOST = '10.200.0.1';
const TINYPROXY_PORT = 3128;
const SOCKS_PORT = 1080;
const BEHIND = '127.0.0.1:20203';
const HTTP_PROXY = `http://${PROXY_HOST}:${TINYPROXY_PORT}`;
const SOCKS_PROXY = `socks5://${PROXY_HOST}:${SOCKS_PORT}`;
/** A name that only the server namespace's /etc/hosts knows (ip netns exec mounts /etc/netns/NS/hosts there). */
const INTERNAL_NAME = 'ttun-server.internal';

/** A client's up or down event for a session with `server` through `proxy` (as logged: no credentials). */
const throughProxy =
  (proxy: string, server = BEHIND) =>
  (e: LogEvent) =>
    e.proxy === proxy && String(e.peer).startsWith(`${server} `);

/** A client's up or down event for a session with `server`, connected directly. */
const direct = (server: string) => (e: LogEvent) => e.proxy === undefined && e.peer === server;

/** The server's up event for a connection from its own loopback: the proxy's. */
const fromLoopback = (e: LogEvent) => /^127\.0\.0\.1:\d+$/.test(String(e.peer));

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'ttun-proxy-'));
}

/** tinyproxy in the foreground in the server namespace, allowing CONNECT to 20203 only, with Basic authentication. */
async function startTinyproxy(lab: Lab, dir: string): Promise<NsProcess> {
  const config = join(dir, 'tinyproxy.conf');
  writeFileSync(
    config,
    [
      `Port ${TINYPROXY_PORT}`,
      `Listen ${PROXY_HOST}`,
      'Timeout 600',
      'LogLevel Info',
      'MaxClients 20',
      `BasicAuth ${HTTP_USER} ${HTTP_PASS}`,
      'ConnectPort 20203',
      '',
    ].join('\n'),
  );
  const proxy = lab.spawn(lab.server, ['tinyproxy', '-d', '-c', config]);
  await proxy.waitForLine(/Accepting connections/);
  return proxy;
}

/** microsocks in the server namespace on 10.200.0.1:1080, with a user name and password. */
async function startMicrosocks(lab: Lab): Promise<NsProcess> {
  const proxy = lab.spawn(lab.server, ['microsocks', '-i', PROXY_HOST, '-p', String(SOCKS_PORT), '-u', SOCKS_USER, '-P', SOCKS_PASS]);
  await waitForListener(lab, lab.server, SOCKS_PORT);
  return proxy;
}

/** microsocks says nothing when it is ready: wait until the port is listening. */
async function waitForListener(lab: Lab, ns: string, port: number): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    const listening = await lab.exec(ns, ['ss', '-Hltn', `sport = :${port}`]);
    if (listening.stdout.trim() !== '') return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on port ${port} in ${ns} within ${WAIT_MS} ms`);
}

async function startServer(lab: Lab, listen = BEHIND): Promise<NsProcess> {
  const server = lab.ttun(lab.server, ['server', '-k', PSK, '-l', listen]);
  await server.waitForEvent('listening');
  return server;
}

function startClient(lab: Lab, args: string[], env?: Record<string, string>): NsProcess {
  return lab.ttun(lab.clients[0]!, ['client', '-k', PSK, ...args], env);
}

async function pingsBothWays(lab: Lab): Promise<void> {
  await lab.waitForPing(lab.clients[0]!, '10.1.1.1');
  const fromClient = await lab.ping(lab.clients[0]!, '10.1.1.1');
  assert.equal(fromClient.code, 0, fromClient.stdout);
  const fromServer = await lab.ping(lab.server, '10.1.1.2');
  assert.equal(fromServer.code, 0, fromServer.stdout);
}

function assertNoSecret(...processes: NsProcess[]): void {
  for (const p of processes) {
    for (const secret of [HTTP_PASS, SOCKS_PASS]) assert.ok(!p.output.includes(secret), `a password appears in:\n${p.output}`);
  }
}

/** A fresh lab, a temporary directory, and both removed afterwards whatever happens. */
async function withLab(body: (lab: Lab, dir: string) => Promise<void>): Promise<void> {
  const lab = await Lab.create(1);
  const dir = tempDir();
  try {
    await body(lab, dir);
  } finally {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
    rmSync(join('/etc/netns', lab.server), { recursive: true, force: true });
  }
}

test('HTTP CONNECT with Basic auth (tinyproxy): the tunnel carries ping both ways; credentials never shown', {
  timeout: 120_000,
}, async () => {
  await withLab(async (lab, dir) => {
    const proxy = await startTinyproxy(lab, dir);
    const server = await startServer(lab);
    // The key from the environment, so that only the proxy password can make ttun hide its command line.
    const client = lab.ttun(
      lab.clients[0]!,
      ['client', '-s', BEHIND, '--proxy', `http://${HTTP_USER}:${HTTP_PASS}@${PROXY_HOST}:${TINYPROXY_PORT}`],
      {
        TTUN_PSK: PSK,
      },
    );
    const chosen = await client.waitForEvent('proxy');
    assert.deepEqual([chosen.proxy, chosen.from], [HTTP_PROXY, 'option']);
    const connecting = await client.waitForEvent('connecting');
    assert.deepEqual([connecting.server, connecting.proxy], [BEHIND, HTTP_PROXY]);
    await client.waitForEvent('up', throughProxy(HTTP_PROXY));
    await server.waitForEvent('up', fromLoopback);
    await proxy.waitForLine(/CONNECT 127\.0\.0\.1:20203 HTTP\/1\.1/);
    await pingsBothWays(lab);
    assertNoSecret(client, server);
    // Nor in the process list: a password in --proxy is hidden like -k's key.
    assert.ok(!readFileSync(`/proc/${client.pid}/cmdline`, 'utf8').includes(HTTP_PASS));
  });
});

test('SOCKS5 with username/password (microsocks): the tunnel carries ping both ways', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    const proxy = await startMicrosocks(lab);
    const server = await startServer(lab);
    const client = startClient(lab, ['-s', BEHIND, '--proxy', `socks5://${SOCKS_USER}:${SOCKS_PASS}@${PROXY_HOST}:${SOCKS_PORT}`]);
    await client.waitForEvent('up', throughProxy(SOCKS_PROXY));
    await server.waitForEvent('up', fromLoopback);
    await proxy.waitForLine(/connected to 127\.0\.0\.1:20203/);
    await pingsBothWays(lab);
    assertNoSecret(client, server);
  });
});

test('socks5h: a server name only the proxy can resolve works; socks5 (resolved here) says why it cannot', {
  timeout: 120_000,
}, async () => {
  await withLab(async (lab) => {
    mkdirSync(join('/etc/netns', lab.server), { recursive: true });
    writeFileSync(join('/etc/netns', lab.server, 'hosts'), `127.0.0.1 localhost\n127.0.0.1 ${INTERNAL_NAME}\n`);
    const proxy = await startMicrosocks(lab);
    const server = await startServer(lab);
    const target = `${INTERNAL_NAME}:20203`;
    const local = startClient(lab, ['-s', target, '--proxy', `socks5://${SOCKS_USER}:${SOCKS_PASS}@${PROXY_HOST}:${SOCKS_PORT}`]);
    const unresolved = await local.waitForEvent('failed', (e) => e.reason === 'proxy');
    assert.match(
      String(unresolved.detail),
      new RegExp(`^cannot resolve ${INTERNAL_NAME} here \\(\\w+\\); with socks5h:// the proxy resolves it$`),
    );
    local.kill();
    await local.exited;
    const remote = startClient(lab, ['-s', target, '--proxy', `socks5h://${SOCKS_USER}:${SOCKS_PASS}@${PROXY_HOST}:${SOCKS_PORT}`]);
    await remote.waitForEvent('up', throughProxy(`socks5h://${PROXY_HOST}:${SOCKS_PORT}`, target));
    await server.waitForEvent('up', fromLoopback);
    // The proxy was given the name, not an address.
    await proxy.waitForLine(new RegExp(`connected to ${INTERNAL_NAME}:20203`));
    await pingsBothWays(lab);
    assertNoSecret(local, remote, server);
  });
});

test('with --mptcp the connection to the proxy is the MPTCP one (a proxy made MPTCP-capable with mptcpize)', {
  timeout: 120_000,
}, async () => {
  await withLab(async (lab) => {
    const proxy = lab.spawn(lab.server, [
      'mptcpize',
      'run',
      'microsocks',
      '-i',
      PROXY_HOST,
      '-p',
      String(SOCKS_PORT),
      '-u',
      SOCKS_USER,
      '-P',
      SOCKS_PASS,
    ]);
    await waitForListener(lab, lab.server, SOCKS_PORT);
    await startServer(lab);
    const client = startClient(lab, [
      '-s',
      BEHIND,
      '--mptcp',
      '--proxy',
      `socks5://${SOCKS_USER}:${SOCKS_PASS}@${PROXY_HOST}:${SOCKS_PORT}`,
    ]);
    assert.equal((await client.waitForEvent('up', throughProxy(SOCKS_PROXY))).mptcp, true);
    await proxy.waitForLine(/connected to 127\.0\.0\.1:20203/);
    await pingsBothWays(lab);
  });
});

test('a wrong or missing password is one line per attempt (HTTP 401/407, SOCKS5 auth failure), the client keeps trying, the password appears nowhere', {
  timeout: 120_000,
}, async () => {
  await withLab(async (lab, dir) => {
    await startTinyproxy(lab, dir);
    await startMicrosocks(lab);
    await startServer(lab);
    const wrongHttp = `wrong-${HTTP_PASS}`;
    const wrongSocks = `wrong-${SOCKS_PASS}`;
    const http = startClient(lab, ['-s', BEHIND, '--proxy', `http://${HTTP_USER}:${wrongHttp}@${PROXY_HOST}:${TINYPROXY_PORT}`]);
    const socks = startClient(lab, ['-s', BEHIND, '--proxy', `socks5://${SOCKS_USER}:${wrongSocks}@${PROXY_HOST}:${SOCKS_PORT}`]);
    const httpNone = startClient(lab, ['-s', BEHIND, '--proxy', `http://${PROXY_HOST}:${TINYPROXY_PORT}`]);
    const socksNone = startClient(lab, ['-s', BEHIND, '--proxy', `socks5://${PROXY_HOST}:${SOCKS_PORT}`]);
    // The detail says which proxy refused whom and why. tinyproxy answers a CONNECT with bad or
    // missing credentials 401 rather than 407; both mean the same here.
    const refusals: Array<[NsProcess, RegExp]> = [
      [http, /^proxy http:\/\/10\.200\.0\.1:3128 rejected the user name or password \(40[17] [A-Za-z ]+\)$/],
      [socks, /^SOCKS5 proxy socks5:\/\/10\.200\.0\.1:1080 rejected the user name or password$/],
      [httpNone, /^proxy http:\/\/10\.200\.0\.1:3128 requires authentication \(40[17] [A-Za-z ]+\): put user:password@ in the proxy URL$/],
      [socksNone, /^SOCKS5 proxy socks5:\/\/10\.200\.0\.1:1080 requires authentication: put user:password@ in the proxy URL$/],
    ];
    const refused = (e: LogEvent) => e.reason === 'proxy-auth';
    for (const [client, detail] of refusals) {
      const failed = await client.waitForEvent('failed', refused);
      assert.equal(failed.level, 'warn');
      assert.match(String(failed.detail), detail);
      // One event per attempt: the refusal, the wait, the next attempt's refusal.
      const first = client.lines.findIndex((l) => {
        const e = parseEvent(l);
        return e?.event === 'failed' && refused(e);
      });
      await client.waitForEvent('reconnecting', () => true, { from: first });
      await client.waitForEvent('failed', refused, { from: first + 1 });
      assert.ok(client.running, 'a refused attempt is not fatal');
      assert.ok(!client.output.includes(wrongHttp) && !client.output.includes(wrongSocks), client.output);
      assert.deepEqual(client.events('up'), [], client.output);
    }
    assertNoSecret(http, socks);
  });
});

test('a proxy refusing the target: the status line (HTTP) or the SOCKS5 reply in words', { timeout: 120_000 }, async () => {
  await withLab(async (lab, dir) => {
    await startTinyproxy(lab, dir);
    await startMicrosocks(lab);
    // tinyproxy allows CONNECT to port 20203 only; nothing listens on 20209 for microsocks.
    const http = startClient(lab, ['-s', '127.0.0.1:20204', '--proxy', `http://${HTTP_USER}:${HTTP_PASS}@${PROXY_HOST}:${TINYPROXY_PORT}`]);
    const socks = startClient(lab, [
      '-s',
      '127.0.0.1:20209',
      '--proxy',
      `socks5://${SOCKS_USER}:${SOCKS_PASS}@${PROXY_HOST}:${SOCKS_PORT}`,
    ]);
    const httpFailed = await http.waitForEvent('failed', (e) => e.reason === 'proxy');
    assert.match(
      String(httpFailed.detail),
      /^proxy http:\/\/10\.200\.0\.1:3128 refused the connection to 127\.0\.0\.1:20204: 403 Access violation$/,
    );
    const socksFailed = await socks.waitForEvent('failed', (e) => e.reason === 'proxy');
    assert.match(
      String(socksFailed.detail),
      /^SOCKS5 proxy socks5:\/\/10\.200\.0\.1:1080 could not connect to 127\.0\.0\.1:20209: connection refused$/,
    );
    assertNoSecret(http, socks);
  });
});

test('an unreachable proxy: connect failed, naming the proxy, and the client retries', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    const client = startClient(lab, ['-s', BEHIND, '--proxy', `http://${HTTP_USER}:${HTTP_PASS}@${PROXY_HOST}:3999`]);
    const failed = await client.waitForEvent('failed');
    assert.equal(failed.reason, 'connect');
    assert.match(String(failed.detail), /^cannot connect to proxy http:\/\/10\.200\.0\.1:3999: connect ECONNREFUSED 10\.200\.0\.1:3999$/);
    // The first delay: 1 s, less the moment the refused connect took.
    await client.waitForEvent('reconnecting', (e) => Number(e.delayMs) > 500 && Number(e.delayMs) <= 1000);
    assert.ok(client.running);
    assertNoSecret(client);
  });
});

test('HTTPS_PROXY is honoured; NO_PROXY bypasses it; --proxy none ignores it', { timeout: 120_000 }, async () => {
  await withLab(async (lab, dir) => {
    const proxy = await startTinyproxy(lab, dir);
    const hidden = await startServer(lab);
    const viaEnv = startClient(lab, ['-s', BEHIND], { HTTPS_PROXY: `http://${HTTP_USER}:${HTTP_PASS}@${PROXY_HOST}:${TINYPROXY_PORT}` });
    const chosen = await viaEnv.waitForEvent('proxy');
    assert.deepEqual([chosen.proxy, chosen.from], [HTTP_PROXY, 'HTTPS_PROXY']);
    await viaEnv.waitForEvent('up', throughProxy(HTTP_PROXY));
    await proxy.waitForLine(/CONNECT 127\.0\.0\.1:20203/);
    await pingsBothWays(lab);
    assertNoSecret(viaEnv, hidden);
    viaEnv.kill();
    hidden.kill();
    await Promise.all([viaEnv.exited, hidden.exited]);

    // A server the client reaches directly, and a proxy variable naming a port where nothing listens:
    // a session can only come up if the client ignores it.
    await startServer(lab, `${PROXY_HOST}:20203`);
    const deadProxy = { HTTPS_PROXY: `http://${PROXY_HOST}:3999` };
    const bypassed = startClient(lab, ['-s', `${PROXY_HOST}:20203`], { ...deadProxy, NO_PROXY: 'localhost,10.200.0.0/24' });
    const bypass = await bypassed.waitForEvent('proxy');
    assert.deepEqual([bypass.proxy, bypass.variable, bypass.noProxy], [undefined, 'HTTPS_PROXY', 'NO_PROXY']);
    await bypassed.waitForEvent('up', direct(`${PROXY_HOST}:20203`));
    assert.ok(!bypassed.output.includes('3999'), bypassed.output);
    bypassed.kill();
    await bypassed.exited;
    const none = startClient(lab, ['-s', `${PROXY_HOST}:20203`, '--proxy', 'none'], deadProxy);
    await none.waitForEvent('up', direct(`${PROXY_HOST}:20203`));
    assert.deepEqual(none.events('proxy'), [], none.output);
    assert.ok(!none.output.includes('3999'), none.output);
    await pingsBothWays(lab);
  });
});

test('reconnects go through the proxy again: server restarted, a second CONNECT and a new session', { timeout: 120_000 }, async () => {
  await withLab(async (lab, dir) => {
    const proxy = await startTinyproxy(lab, dir);
    const first = await startServer(lab);
    const client = startClient(lab, ['-s', BEHIND, '--proxy', `http://${HTTP_USER}:${HTTP_PASS}@${PROXY_HOST}:${TINYPROXY_PORT}`]);
    await client.waitForEvent('up', throughProxy(HTTP_PROXY));
    await pingsBothWays(lab);
    const connects = () => proxy.lines.filter((l) => /Request .*CONNECT 127\.0\.0\.1:20203/.test(l)).length;
    assert.equal(connects(), 1);
    const before = client.lines.length;
    first.kill();
    await first.exited;
    await client.waitForEvent('down', throughProxy(HTTP_PROXY), { from: before });
    const second = await startServer(lab);
    await client.waitForEvent('up', throughProxy(HTTP_PROXY), { from: before });
    await second.waitForEvent('up', fromLoopback);
    assert.ok(connects() >= 2, proxy.output);
    await pingsBothWays(lab);
    assertNoSecret(client);
  });
});

/** The real CLI outside any namespace (it must stop before it needs one), with `env` added. */
function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...NODE_FLAGS, TTUN, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('a proxy URL ttun cannot use exits 2 with one line, from --proxy or from HTTPS_PROXY, without the password', async () => {
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [['--proxy', `http://${HTTP_USER}:${HTTP_PASS}@proxy:31x8`], {}, /^ttun: bad --proxy: the port must be 1\.\.65535$/],
    [['--proxy', `socks4://${HTTP_USER}:${HTTP_PASS}@proxy:1080`], {}, /^ttun: bad --proxy: unknown scheme/],
    [[], { HTTPS_PROXY: `https://${HTTP_USER}:${HTTP_PASS}@proxy:443` }, /^ttun: bad proxy \(from HTTPS_PROXY\): ttun does not speak TLS/],
  ];
  for (const [args, env, pattern] of cases) {
    const result = await cli(['client', '-k', PSK, '-s', BEHIND, ...args], env);
    assert.equal(result.code, 2, result.stderr);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, pattern);
    assert.ok(!result.stderr.includes(HTTP_PASS));
  }
});
