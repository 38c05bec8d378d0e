// The client's reconnect loop and its failure reasons, over loopback in userspace mode (tun: false,
// no root), observed through the events API: the backoff between attempts ('reconnecting'), what
// 'failed' says at each phase of a connection, and close() during an attempt.
// The loop emits 'connecting' as an attempt starts and 'reconnecting' with what is left of the
// delay when it ends, both synchronously: the delay itself is the wait plus the attempt's length
// as seen between the two events. Closes before the server's nonce and after our authentication
// frame are covered in server-policy.test.ts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { loadCore } from '../../ts/core/native.js';
import { Direction, MAGIC } from '../../ts/core/protocol.js';
import { connect, createServer } from '../../ts/index.js';
import { SocketReader } from '../../ts/network/socket-reader.js';
import { nextBackoff, type ReconnectSchedule, TtunClient, V1_RECONNECT_SCHEDULE } from '../../ts/tunnel/client.js';

const PSK = 'client policy test key';
/**
 * How far a delay rebuilt from the events may be off: only the synchronous code between the
 * loop's clock readings and the events lies in between.
 */
const SLACK_MS = 50;

/** One attempt, from its 'connecting' to the 'reconnecting' that ended it. */
interface Attempt {
  /** What the client reported in between: 'connecting', 'failed:<reason>', 'up', 'down'. */
  events: string[];
  /** The wait 'reconnecting' announced. */
  waitMs: number;
  /** From 'connecting' to 'reconnecting'. */
  lengthMs: number;
  /** From 'up' to 'down', if a session came up. */
  sessionMs: number | undefined;
}

/** Every attempt the client makes, and a way to wait for the n-th (from 1) to end. */
function watchAttempts(client: TtunClient) {
  const ended: Attempt[] = [];
  const wakers: Array<() => void> = [];
  let startedAt = 0;
  let upAt: number | undefined;
  let events: string[] = [];
  let sessionMs: number | undefined;
  client.on('connecting', () => {
    startedAt = Date.now();
    events = ['connecting'];
    upAt = undefined;
    sessionMs = undefined;
  });
  client.on('failed', (reason) => {
    events.push(`failed:${reason}`);
  });
  client.on('up', () => {
    upAt = Date.now();
    events.push('up');
  });
  client.on('down', () => {
    sessionMs = Date.now() - upAt!;
    events.push('down');
  });
  client.on('reconnecting', (waitMs: number) => {
    ended.push({ events, waitMs, lengthMs: Date.now() - startedAt, sessionMs });
    for (const wake of wakers.splice(0)) wake();
  });
  return async (n: number): Promise<Attempt> => {
    while (ended.length < n) await new Promise<void>((resolve) => wakers.push(resolve));
    return ended[n - 1]!;
  };
}

/** That the loop's delay after `attempt` was `expectedMs`, from the wait it announced. */
function assertDelay(attempt: Attempt, expectedMs: number, what: string): void {
  const seen = JSON.stringify(attempt);
  assert.ok(attempt.waitMs <= expectedMs, `${what}: waited longer than ${expectedMs} ms: ${seen}`);
  if (attempt.waitMs > 0) {
    const delayMs = attempt.waitMs + attempt.lengthMs;
    assert.ok(Math.abs(delayMs - expectedMs) <= SLACK_MS, `${what}: delay ${delayMs} ms, expected ${expectedMs}: ${seen}`);
  } else {
    // The attempt itself outlasted the delay (a busy machine): it is at least that long.
    assert.ok(attempt.lengthMs >= expectedMs - SLACK_MS, `${what}: no wait after a ${attempt.lengthMs} ms attempt: ${seen}`);
  }
}

/** A listener on loopback; `onConnection` decides what each connection gets. */
async function listener(onConnection: (socket: net.Socket) => void): Promise<{ port: number; close: () => void }> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    onConnection(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

/** A loopback port nobody listens on (one that was just bound, then released). */
async function closedPort(): Promise<number> {
  const { port, close } = await listener(() => {});
  close();
  return port;
}

/**
 * A listener that never accepts, its accept queue already full: the kernel drops new SYNs, so a
 * connect to it stays in progress, as to a firewalled server. Another process holds it, with its
 * event loop blocked (a loop of this one would accept); it exits by itself after a minute at most.
 */
async function unresponsiveListener(): Promise<{ port: number; close: () => void }> {
  const script = `
    const server = require('node:net').createServer();
    server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      process.stdout.write(server.address().port + '\\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
      process.exit(0);
    });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  const port = Number(line.toString().trim());
  // Linux queues backlog + 1 connections; these two fill it.
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    fillers.push(socket);
    await once(socket, 'connect');
  }
  return {
    port,
    close: () => {
      for (const socket of fillers) socket.destroy();
      child.kill('SIGKILL');
    },
  };
}

/**
 * Between the client and a real ttun server: passes connections through when `passThrough`, else
 * closes them as they come; cut() ends the connection it carries, as a network failure would.
 */
class Relay {
  passThrough = false;
  private carried: net.Socket[] = [];

  private constructor(
    private readonly target: number,
    readonly port: number,
    readonly close: () => void,
  ) {}

  static async start(target: number): Promise<Relay> {
    let relay: Relay | undefined;
    const { port, close } = await listener((socket) => relay!.take(socket));
    relay = new Relay(target, port, close);
    return relay;
  }

  private take(socket: net.Socket): void {
    if (!this.passThrough) {
      socket.destroy();
      return;
    }
    const upstream = net.connect(this.target, '127.0.0.1');
    upstream.on('error', () => {});
    socket.pipe(upstream).pipe(socket);
    socket.on('close', () => upstream.destroy());
    upstream.on('close', () => socket.destroy());
    this.carried = [socket, upstream];
  }

  cut(): void {
    for (const socket of this.carried) socket.destroy();
    this.carried = [];
  }
}

test('v1 schedule, observed: 1 s, 2 s, then 4 s between attempts at a listener that closes every connection', {
  timeout: 30_000,
}, async () => {
  const closer = await listener((socket) => socket.destroy());
  const client = await connect({ psk: PSK, server: `127.0.0.1:${closer.port}`, tun: false });
  const attempt = watchAttempts(client);
  try {
    for (const [n, expectedMs] of [
      [1, 1000],
      [2, 2000],
      [3, 4000],
    ] as const) {
      const ended = await attempt(n);
      assert.deepEqual(ended.events, ['connecting', 'failed:closed']);
      assertDelay(ended, expectedMs, `attempt ${n}`);
    }
    assert.equal(client.stats().reconnects, 3);
    assert.equal(client.stats().sessions, 0);
  } finally {
    await client.close();
    closer.close();
  }
});

test('the delay doubles up to its cap, a short session leaves it there, one longer than the reset time resets it and is retried at once', {
  timeout: 30_000,
}, async () => {
  // v1's schedule (1 s to 30 s, reset after 60 s) would take minutes; the rules are the same.
  const schedule: ReconnectSchedule = { initialMs: 100, maxMs: 400, resetAfterMs: 1500 };
  const server = await createServer({ psk: PSK, listen: '127.0.0.1:0', tun: false });
  const relay = await Relay.start(server.address().port);
  const client = await TtunClient.start({ psk: PSK, server: `127.0.0.1:${relay.port}`, tun: false }, schedule);
  const attempt = watchAttempts(client);
  const refused = ['connecting', 'failed:closed'];
  const session = ['connecting', 'up', 'down'];
  try {
    for (const [n, expectedMs] of [
      [1, 100],
      [2, 200],
      [3, 400],
      [4, 400],
    ] as const) {
      const ended = await attempt(n);
      assert.deepEqual(ended.events, refused);
      assertDelay(ended, expectedMs, `refused attempt ${n}`);
    }

    // Attempt 5: a session, cut as soon as it is up.
    relay.passThrough = true;
    await once(client, 'up');
    relay.passThrough = false;
    relay.cut();
    const short = await attempt(5);
    assert.deepEqual(short.events, session);
    assert.ok(short.sessionMs! < schedule.resetAfterMs, JSON.stringify(short));
    assertDelay(short, 400, 'after a short session');
    // Attempt 6: refused; had the short session reset the schedule, this would be 200.
    const afterShort = await attempt(6);
    assert.deepEqual(afterShort.events, refused);
    assertDelay(afterShort, 400, 'refused after a short session');

    // Attempt 7: a session held past the reset time, then cut.
    relay.passThrough = true;
    await once(client, 'up');
    await delay(schedule.resetAfterMs + SLACK_MS - (Date.now() - client.sessionStartedAt!));
    assert.ok(client.connected);
    relay.passThrough = false;
    relay.cut();
    const long = await attempt(7);
    assert.deepEqual(long.events, session);
    assert.ok(long.sessionMs! > schedule.resetAfterMs, JSON.stringify(long));
    // Back to 100 ms, already spent in the session: no wait at all.
    assert.equal(long.waitMs, 0);
    // Attempt 8: refused; 100 doubled, where without the reset it would be 400 again.
    const afterLong = await attempt(8);
    assert.deepEqual(afterLong.events, refused);
    assertDelay(afterLong, 200, 'refused after a long session');
    assert.equal(client.stats().sessions, 2);
  } finally {
    await client.close();
    relay.close();
    await server.close();
  }
});

test('a shortened schedule follows the same rules as v1, the only one connect() uses', () => {
  const schedule: ReconnectSchedule = { initialMs: 100, maxMs: 400, resetAfterMs: 1500 };
  const delays: number[] = [];
  let d: number | undefined;
  for (let i = 0; i < 4; i++) {
    d = nextBackoff(d, undefined, schedule);
    delays.push(d);
  }
  assert.deepEqual(delays, [100, 200, 400, 400]);
  // Only a session longer than the reset time resets; one exactly that long does not.
  assert.equal(nextBackoff(400, 1500, schedule), 400);
  assert.equal(nextBackoff(400, 1501, schedule), 100);
  assert.equal(nextBackoff(30_000, 60_000), 30_000);
  assert.equal(nextBackoff(30_000, 60_001), 1000);
  assert.deepEqual({ ...V1_RECONNECT_SCHEDULE }, { initialMs: 1000, maxMs: 30_000, resetAfterMs: 60_000 });
  assert.ok(Object.isFrozen(V1_RECONNECT_SCHEDULE));
});

/** The client's first 'failed' (reason, message) against `port`; the loop goes on to 'reconnecting' after it. */
async function firstFailure(port: number, handshakeTimeoutMs?: number): Promise<[string, string]> {
  const client = await connect({ psk: PSK, server: `127.0.0.1:${port}`, tun: false, handshakeTimeoutMs });
  const attempt = watchAttempts(client);
  try {
    const failed = once(client, 'failed') as Promise<[string, string]>;
    const [ended, failure] = await Promise.all([attempt(1), failed]);
    assert.equal(ended.events.length, 2, JSON.stringify(ended));
    return failure;
  } finally {
    await client.close();
  }
}

/** A listener that answers each client with its own nonce, then `then(socket, clientNonce, serverNonce)`. */
function scriptedServer(then: (socket: net.Socket, clientNonce: Buffer, serverNonce: Buffer) => void) {
  return listener((socket) => {
    const reader = new SocketReader(socket);
    void reader.read(16).then(
      (clientNonce) => {
        reader.detach();
        socket.resume();
        const serverNonce = randomBytes(16);
        socket.write(serverNonce);
        then(socket, clientNonce, serverNonce);
      },
      () => socket.destroy(),
    );
  });
}

test("'failed' when the connection is refused: reason connect, naming the server", { timeout: 30_000 }, async () => {
  const port = await closedPort();
  const [reason, message] = await firstFailure(port);
  assert.equal(reason, 'connect');
  assert.match(message, new RegExp(`^cannot connect to 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
});

test("'failed' when the connection is never accepted: reason connect, timed out at the handshake deadline", {
  timeout: 30_000,
}, async () => {
  const silent = await unresponsiveListener();
  try {
    const [reason, message] = await firstFailure(silent.port, 300);
    assert.equal(reason, 'connect');
    assert.match(message, new RegExp(`^cannot connect to 127\\.0\\.0\\.1:${silent.port}: timed out$`));
  } finally {
    silent.close();
  }
});

test("'failed' when the server accepts and says nothing: a timeout waiting for its nonce", { timeout: 30_000 }, async () => {
  const mute = await listener(() => {});
  try {
    const [reason, message] = await firstFailure(mute.port, 300);
    assert.equal(reason, 'timeout');
    assert.equal(message, "handshake timed out after 0.3 s waiting for the server's nonce");
  } finally {
    mute.close();
  }
});

test("'failed' when the server sends its nonce and nothing more: a timeout waiting for its authentication frame", {
  timeout: 30_000,
}, async () => {
  const stalling = await scriptedServer(() => {});
  try {
    const [reason, message] = await firstFailure(stalling.port, 300);
    assert.equal(reason, 'timeout');
    assert.equal(message, "handshake timed out after 0.3 s waiting for the server's authentication frame");
  } finally {
    stalling.close();
  }
});

test("'failed' when the server's frame has a length no v1 peer sends: bad-frame", { timeout: 30_000 }, async () => {
  const odd = await scriptedServer((socket) => socket.write(Buffer.from([0, 5, 1, 2, 3, 4, 5])));
  try {
    const [reason, message] = await firstFailure(odd.port);
    assert.equal(reason, 'bad-frame');
    assert.match(message, /^bad handshake frame: length 5, expected 24$/);
  } finally {
    odd.close();
  }
});

test("'failed' when the server's frame does not open under our key: auth", { timeout: 30_000 }, async () => {
  const core = loadCore();
  const otherKey = core.pskKey(Buffer.from('the server has another key'));
  const impostor = await scriptedServer((socket, clientNonce, serverNonce) => {
    const sessionKey = core.sessionKey(otherKey, clientNonce, serverNonce);
    socket.write(core.sealFrame('chacha20-poly1305', sessionKey, Direction.ServerToClient, 0, MAGIC));
  });
  try {
    const [reason, message] = await firstFailure(impostor.port);
    assert.equal(reason, 'auth');
    assert.equal(message, 'authentication failed: wrong PSK or cipher');
  } finally {
    impostor.close();
  }
});

test('close() while a connection attempt is still in progress returns, and reports no failure', { timeout: 30_000 }, async () => {
  const silent = await unresponsiveListener();
  // A deadline far beyond the test's: only close() can end this attempt.
  const client = await connect({ psk: PSK, server: `127.0.0.1:${silent.port}`, tun: false, handshakeTimeoutMs: 60_000 });
  const failures: string[] = [];
  client.on('failed', (reason: string, message: string) => failures.push(`${reason}: ${message}`));
  try {
    await once(client, 'connecting');
    // One turn of the event loop: the connect has been issued, and the kernel holds it.
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(!client.connected);
    await client.close();
    assert.deepEqual(failures, []);
    assert.equal(client.stats().reconnects, 0);
  } finally {
    silent.close();
  }
});
