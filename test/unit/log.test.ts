// The log lines of server and client events: JSON carries the fields a reader filters on (the
// end-to-end tests wait on them), and the text lines say what they always said.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { type LogFormat, logClientEvents, logServerEvents, stderrLogger } from '../../ts/cli/log.js';
import type { SessionEnd } from '../../ts/datapath/session-end.js';
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
    client.emit('down', '127.0.0.1:20203 via proxy http://10.200.0.1:3128', { kind: 'peer-closed', detail: '' });
  };
  const events = clientLines('json', proxied, session).map((line) => JSON.parse(line));
  assert.deepEqual(
    events.map((e) => [e.event, e.proxy, e.reason]),
    [
      ['up', 'http://10.200.0.1:3128', undefined],
      ['down', 'http://10.200.0.1:3128', 'peer-closed'],
    ],
  );
  assert.deepEqual(clientLines('text', proxied, session).map(withoutTime), [
    'ttun client: connected to 127.0.0.1:20203 via proxy http://10.200.0.1:3128, authenticated, session up (chacha20-poly1305, TCP)',
    'ttun client: disconnected from 127.0.0.1:20203 via proxy http://10.200.0.1:3128: closed by peer',
  ]);
  const direct = clientLines('json', {}, (client) => client.emit('up', '192.0.2.1:20203', { mptcp: false }));
  assert.ok(!('proxy' in JSON.parse(direct[0]!)), direct[0]);
});

test('every kind of session end has its words, the detail after them; JSON carries the kind and the detail', () => {
  const ends: Array<[SessionEnd, string]> = [
    [{ kind: 'peer-closed', detail: '' }, 'closed by peer'],
    [{ kind: 'bad-frame', detail: 'frame failed authentication' }, 'bad frame from peer: frame failed authentication'],
    [{ kind: 'connection-error', detail: 'read ECONNRESET' }, 'connection error: read ECONNRESET'],
    [{ kind: 'replaced', detail: '192.0.2.7:4000' }, 'replaced by 192.0.2.7:4000'],
    [{ kind: 'closing', detail: '' }, 'closed by this end'],
  ];
  for (const [end, words] of ends) {
    const down = (server: EventEmitter) => server.emit('down', '192.0.2.9:40112', end);
    assert.deepEqual(serverLines('text', down).map(withoutTime), [`ttun server: peer 192.0.2.9:40112 disconnected: ${words}`]);
    const event = JSON.parse(serverLines('json', down)[0]!);
    assert.deepEqual([event.reason, event.detail], [end.kind, end.detail]);
  }
});
