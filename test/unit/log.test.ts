// The log lines of server and client events: JSON carries the fields a reader filters on (the
// end-to-end tests wait on them), and the text lines say what they always said.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { type LogFormat, logClientEvents, logServerEvents, stderrLogger } from '../../ts/cli/log.js';
import type { TtunClient } from '../../ts/tunnel/client.js';
import type { TtunServer } from '../../ts/tunnel/server.js';

/** What `emit` makes the logger write to stderr, line by line. */
function linesOf(emit: () => void): string[] {
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => {
    written.push(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    emit();
  } finally {
    process.stderr.write = write;
  }
  return written.join('').split('\n').filter(Boolean);
}

/** An endpoint as the loggers see it: its events and the properties they read. */
function endpoint<T>(properties: Record<string, unknown>): T & EventEmitter {
  return Object.assign(new EventEmitter(), { cipher: 'chacha20-poly1305', mptcp: false, ...properties }) as unknown as T & EventEmitter;
}

function serverLines(format: LogFormat, emit: (server: EventEmitter) => void): string[] {
  const server = endpoint<TtunServer>({});
  logServerEvents(server, stderrLogger('server', format));
  return linesOf(() => emit(server));
}

function clientLines(format: LogFormat, properties: Record<string, unknown>, emit: (client: EventEmitter) => void): string[] {
  const client = endpoint<TtunClient>(properties);
  logClientEvents(client, stderrLogger('client', format));
  return linesOf(() => emit(client));
}

const withoutTime = (line: string) => line.replace(/^\S+ /, '');

test('a rejection: the JSON event has the reason and the handshake detail; the text line is unchanged', () => {
  const reject = (server: EventEmitter) => server.emit('rejected', '192.0.2.9:40112', 'timeout', 'no client nonce within 5 s');
  const [json] = serverLines('json', reject);
  const event = JSON.parse(json!);
  assert.deepEqual(
    { event: event.event, level: event.level, peer: event.peer, reason: event.reason, detail: event.detail },
    { event: 'rejected', level: 'warn', peer: '192.0.2.9:40112', reason: 'timeout', detail: 'no client nonce within 5 s' },
  );
  assert.deepEqual(serverLines('text', reject).map(withoutTime), [
    'ttun server WARN: peer 192.0.2.9:40112 rejected: handshake timeout (no client nonce within 5 s)',
  ]);
});

test("a client's failed attempt: reason and detail in JSON, the same text line as before", () => {
  const fail = (client: EventEmitter) =>
    client.emit('failed', 'proxy-auth', 'SOCKS5 proxy socks5://gw:1080 rejected the user name or password');
  const event = JSON.parse(clientLines('json', {}, fail)[0]!);
  assert.deepEqual(
    [event.event, event.reason, event.detail],
    ['failed', 'proxy-auth', 'SOCKS5 proxy socks5://gw:1080 rejected the user name or password'],
  );
  assert.deepEqual(clientLines('text', {}, fail).map(withoutTime), [
    'ttun client WARN: proxy authentication failed: SOCKS5 proxy socks5://gw:1080 rejected the user name or password',
  ]);
});

test("a client's session through a proxy: up and down name the proxy as a field; a direct one has none", () => {
  const proxied = { proxy: { url: 'http://10.200.0.1:3128', from: 'option' } };
  const session = (client: EventEmitter) => {
    client.emit('up', '127.0.0.1:20203 via proxy http://10.200.0.1:3128', { mptcp: false });
    client.emit('down', '127.0.0.1:20203 via proxy http://10.200.0.1:3128', 'closed by peer');
  };
  const events = clientLines('json', proxied, session).map((line) => JSON.parse(line));
  assert.deepEqual(
    events.map((e) => [e.event, e.proxy]),
    [
      ['up', 'http://10.200.0.1:3128'],
      ['down', 'http://10.200.0.1:3128'],
    ],
  );
  assert.deepEqual(clientLines('text', proxied, session).map(withoutTime), [
    'ttun client: connected to 127.0.0.1:20203 via proxy http://10.200.0.1:3128, authenticated, session up (chacha20-poly1305, TCP)',
    'ttun client: disconnected from 127.0.0.1:20203 via proxy http://10.200.0.1:3128: closed by peer',
  ]);
  const direct = clientLines('json', {}, (client) => client.emit('up', '192.0.2.1:20203', { mptcp: false }));
  assert.ok(!('proxy' in JSON.parse(direct[0]!)), direct[0]);
});
