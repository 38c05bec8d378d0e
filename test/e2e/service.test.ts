// ttun as a long-running service, end to end with the real CLI in network namespaces: `ttun status`
// through each instance's control socket (root only), systemd's notifications received on a real
// unix datagram socket, and --log-level.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Lab, type NsProcess, notifyReceiver, TTUN, until } from './harness.js';

const PSK = 'service end-to-end key 3b9e7d';
const NOBODY = 65534;

interface Report {
  role: string;
  dev: string;
  socket: string;
  session: { peer: string; ageSeconds: number } | null;
  rx: { bytes: number; packets: number };
  tx: { bytes: number; packets: number };
  reconnects: number;
  rejections?: Record<string, number>;
  lastError: { message: string } | null;
}

/** `ttun status ARGS` inside namespace `ns`. */
async function status(lab: Lab, ns: string, args: string[]) {
  return lab.exec(ns, [process.execPath, TTUN, 'status', ...args]);
}

async function statusJson(lab: Lab, ns: string, dev: string): Promise<Report> {
  const r = await status(lab, ns, ['--dev', dev, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const reports = JSON.parse(r.stdout) as Report[];
  assert.equal(reports.length, 1, r.stdout);
  return reports[0]!;
}

test('ttun status: both ends through their control sockets, text and JSON, root only, gone with the instance', {
  timeout: 120_000,
}, async () => {
  const lab = await Lab.create();
  try {
    const [clientNs] = lab.clients as [string];
    const { server, client } = await lab.tunnel(PSK, { args: ['--dev', 'svc0'] });
    await until('control sockets', async () => (await status(lab, lab.server, ['--dev', 'svc0'])).code === 0);
    await until('client control socket', async () => (await status(lab, clientNs, ['--dev', 'svc0'])).code === 0);
    await lab.ping(clientNs, '10.1.1.1', 5);

    const s = await statusJson(lab, lab.server, 'svc0');
    assert.equal(s.role, 'server');
    assert.equal(s.dev, 'svc0');
    assert.equal(s.socket, `/run/ttun/netns-${lab.server}/svc0.sock`);
    assert.match(s.session?.peer ?? '', /^10\.200\.0\.2:\d+$/);
    assert.ok(s.rx.packets >= 5 && s.tx.packets >= 5, JSON.stringify(s));
    const c = await statusJson(lab, clientNs, 'svc0');
    assert.equal(c.role, 'client');
    assert.equal(c.session?.peer, lab.serverAddress());
    assert.equal(c.reconnects, 0);

    // A connection that is no ttun peer: a rejection by kind, and the last error, at the server.
    const junk = await lab.exec(clientNs, [
      process.execPath,
      '-e',
      `const s=require('net').connect(20203,'10.200.0.1',()=>s.end(Buffer.alloc(200,7)));s.on('close',()=>{});s.on('error',()=>{})`,
    ]);
    assert.equal(junk.code, 0, junk.stderr);
    await until('the rejection counted', async () => {
      const r = await statusJson(lab, lab.server, 'svc0');
      return Object.values(r.rejections ?? {}).reduce((a, b) => a + b, 0) === 1 && r.lastError !== null;
    });
    const text = await status(lab, lab.server, []);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^ttun server on svc0: pid \d+/m);
    assert.match(text.stdout, /^ {2}session +up with 10\.200\.0\.2:\d+ for \d+s$/m);
    assert.match(text.stdout, /^ {2}rejected +(auth|bad-frame|closed|timeout) 1$/m);
    assert.match(text.stdout, /^ {2}last error +\S+ peer 10\.200\.0\.2:\d+ rejected: /m);
    assert.ok(!text.stdout.includes(PSK) && !text.stdout.includes(PSK.slice(0, 12)));

    // Only root (the socket's owner) can read it.
    const socket = s.socket;
    assert.equal(statSync(socket).mode & 0o777, 0o600);
    // From the host namespace (`ip netns exec` itself needs root), as an ordinary user: refused, and said why.
    const asNobody = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [TTUN, 'status', '--dev', 'svc0'], { uid: NOBODY, gid: NOBODY });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(asNobody.code, 1, asNobody.stderr);
    assert.equal(asNobody.stdout, '');
    assert.match(
      asNobody.stderr,
      /^ttun: cannot read svc0 \(netns-tt\S+\)'s status: only root or the user ttun runs as may \(try sudo ttun status\)\n$/,
    );

    // Gone with the instance: the socket is removed, and status says none runs.
    client.kill('SIGTERM');
    server.kill('SIGTERM');
    await Promise.all([client.exited, server.exited]);
    assert.ok(!existsSync(socket), 'the control socket is removed at exit');
    const none = await status(lab, lab.server, ['--dev', 'svc0']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^ttun: no ttun instance is running on svc0 \(no control socket answers in \/run\/ttun\/netns-\S+\)\n$/);
  } finally {
    await lab.destroy();
  }
});

async function datagram(received: string[], matches: (d: string) => boolean, what: string): Promise<string> {
  await until(what, async () => received.some(matches));
  return received.find(matches)!;
}

test('systemd: READY=1 once listening (server) or with the TUN up (client), STATUS= as sessions come and go, WATCHDOG=1, STOPPING=1', {
  timeout: 120_000,
}, async () => {
  const lab = await Lab.create();
  const dir = mkdtempSync(join(tmpdir(), 'ttun-notify-'));
  const serverSocket = join(dir, 'notify.sock');
  const serverNotify = notifyReceiver(serverSocket);
  // The client's address is an abstract one, as systemd may give (abstract names are per network namespace).
  const clientNotify = notifyReceiver(`@ttun-test-notify-${process.pid}`, lab.clients[0]);
  try {
    await Promise.all([serverNotify.ready, clientNotify.ready]);
    const [clientNs] = lab.clients as [string];
    const envFile = join(dir, 'up-env');
    const server = lab.ttun(lab.server, ['server', '-k', PSK, '--up', `env > ${envFile}`], {
      NOTIFY_SOCKET: serverSocket,
      WATCHDOG_USEC: '300000',
    });
    const ready = await datagram(serverNotify.lines, (d) => d.startsWith('READY=1'), 'READY=1 from the server');
    assert.match(ready, /^READY=1\nSTATUS=listening on \[::\]:20203, waiting for a peer$/);
    // Ready means listening: the port takes a connection now.
    await new Promise<void>((resolve, reject) => {
      lab
        .exec(lab.server, [process.execPath, '-e', "require('net').connect(20203,'127.0.0.1',function(){this.destroy()})"])
        .then((r) => (r.code === 0 ? resolve() : reject(new Error(r.stderr))), reject);
    });
    await server.waitForEvent('listening');
    // The watchdog, fed at half the period asked for.
    await until('three WATCHDOG=1', async () => serverNotify.lines.filter((d) => d === 'WATCHDOG=1').length >= 3);
    // The --up hook does not speak for the service.
    const hookEnv = readFileSync(envFile, 'utf8');
    assert.ok(!/^(NOTIFY_SOCKET|WATCHDOG_USEC|WATCHDOG_PID)=/m.test(hookEnv), hookEnv);

    const client = lab.ttun(clientNs, ['client', '-k', PSK, '-s', lab.serverAddress()], {
      NOTIFY_SOCKET: `@ttun-test-notify-${process.pid}`,
    });
    const clientReady = await datagram(clientNotify.lines, (d) => d.startsWith('READY=1'), 'READY=1 from the client');
    assert.match(clientReady, /^READY=1\nSTATUS=(connecting to|connected to) 10\.200\.0\.1:20203$/);
    await client.waitForEvent('up');
    await datagram(serverNotify.lines, (d) => /^STATUS=session up with 10\.200\.0\.2:\d+$/.test(d), 'STATUS=session up');
    await datagram(clientNotify.lines, (d) => d === 'STATUS=connected to 10.200.0.1:20203', 'STATUS=connected');
    assert.equal(clientNotify.lines.filter((d) => d.startsWith('WATCHDOG')).length, 0, 'no watchdog unless asked');

    client.kill('SIGTERM');
    await datagram(serverNotify.lines, (d) => /^STATUS=waiting for a peer \(10\.200\.0\.2:\d+ disconnected: /.test(d), 'STATUS=waiting');
    await datagram(clientNotify.lines, (d) => d.startsWith('STOPPING=1'), 'STOPPING=1 from the client');
    server.kill('SIGTERM');
    await datagram(serverNotify.lines, (d) => d.startsWith('STOPPING=1'), 'STOPPING=1 from the server');
    assert.equal((await server.exited).code, 0);
    assert.equal(serverNotify.lines.filter((d) => d.startsWith('READY=1')).length, 1, 'READY=1 once');
  } finally {
    serverNotify.stop();
    clientNotify.stop();
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

function levels(proc: NsProcess): string[] {
  return proc.events().map((e) => String(e.level));
}

test('--log-level: warn writes warnings and errors only, debug adds debug lines; JSON throughout', { timeout: 60_000 }, async () => {
  const lab = await Lab.create();
  try {
    // -k always warns (the key is in the process list): a warning to see.
    const quiet = lab.ttun(lab.server, ['server', '-k', PSK, '--log-level', 'warn', '--dev', 'lvl0']);
    await quiet.waitForEvent('key');
    await until('the control socket', async () => (await status(lab, lab.server, ['--dev', 'lvl0'])).code === 0);
    quiet.kill('SIGTERM');
    assert.equal((await quiet.exited).code, 0);
    assert.deepEqual([...new Set(levels(quiet))], ['warn'], quiet.output);
    assert.equal(quiet.events('listening').length, 0);

    const chatty = lab.ttun(lab.server, ['server', '-k', PSK, '--log-level', 'debug', '--dev', 'lvl0']);
    const debug = await chatty.waitForEvent('control');
    assert.equal(debug.level, 'debug');
    await chatty.waitForEvent('listening');
    chatty.kill('SIGTERM');
    assert.equal((await chatty.exited).code, 0);
    for (const line of chatty.lines) assert.doesNotThrow(() => JSON.parse(line), line);

    const bad = await lab.ttunOnce(lab.server, ['server', '-k', PSK, '--log-level', 'verbose']);
    assert.equal(bad.code, 2);
    assert.deepEqual(bad.lines, ['ttun: bad --log-level: use one of debug, info, warn, error (see ttun --help)']);
  } finally {
    await lab.destroy();
  }
});
