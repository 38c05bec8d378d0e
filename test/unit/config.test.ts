import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCipher, parseHostPort, parseMtu, parsePsk } from '../../ts/options/values.js';
import { TtunError } from '../../ts/shared/errors.js';
import { nextBackoff, reconnectWait } from '../../ts/tunnel/client.js';

const listen = (v: string) => parseHostPort(v, 'listen address', { hostRequired: false });
const server = (v: string) => parseHostPort(v, 'server address', { hostRequired: true });

test('listen addresses: every address, one IPv4, one IPv6', () => {
  assert.deepEqual(listen(':20203'), { host: undefined, port: 20203 });
  assert.deepEqual(listen('192.0.2.1:20203'), { host: '192.0.2.1', port: 20203 });
  assert.deepEqual(listen('[::1]:20203'), { host: '::1', port: 20203 });
  assert.deepEqual(listen(':0'), { host: undefined, port: 0 });
});

test('server addresses: host:port, [v6]:port, default port', () => {
  assert.deepEqual(server('vpn.example.com:443'), { host: 'vpn.example.com', port: 443 });
  assert.deepEqual(server('[fd00::1]:20203'), { host: 'fd00::1', port: 20203 });
  assert.deepEqual(server('fd00::1'), { host: 'fd00::1', port: 20203 });
  assert.deepEqual(server('10.0.0.1'), { host: '10.0.0.1', port: 20203 });
});

test('bad addresses give one-line TtunErrors naming the value', () => {
  for (const bad of ['', ':20203', 'host:99999', 'host:abc', '[nothex]:1', 'a b:1', '1.2.3.4:']) {
    assert.throws(
      () => server(bad),
      (err: unknown) => err instanceof TtunError && !err.message.includes('\n') && err.code === 'EBADADDR',
      bad,
    );
  }
});

test('host names as the resolver takes them; port 0 and URLs refused for a server', () => {
  assert.deepEqual(server('my_server:20203'), { host: 'my_server', port: 20203 });
  assert.deepEqual(server('bücher.example:1'), { host: 'bücher.example', port: 1 });
  const refused = (text: string, message: RegExp) =>
    assert.throws(
      () => server(text),
      (err: TtunError) => err.code === 'EBADADDR' && message.test(err.message),
      text,
    );
  refused('10.0.0.1:0', /the port must be 1\.\.65535/);
  refused('tcp://h:1', /give HOST:PORT, not a URL/);
  refused('http://vpn.example.com:20203', /give HOST:PORT, not a URL/);
  refused('h/x:1', /not a host name/);
  // A listen address takes port 0: any free port.
  assert.deepEqual(listen('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
});

test('MTU range is 1280..65519', () => {
  assert.equal(parseMtu(undefined), 1280);
  assert.equal(parseMtu('1400'), 1400);
  assert.equal(parseMtu(65519), 65519);
  for (const bad of [1279, 65520, '1e4', 'abc', 1400.5, '']) assert.throws(() => parseMtu(bad), TtunError);
});

test('ciphers: the two v1 names only', () => {
  assert.equal(parseCipher(undefined), 'chacha20-poly1305');
  assert.equal(parseCipher('aes-256-gcm'), 'aes-256-gcm');
  assert.throws(() => parseCipher('aes-128-gcm'), { code: 'EBADCIPHER', option: 'cipher' });
});

test('PSK: required; error messages never contain it', () => {
  assert.throws(() => parsePsk(''), { code: 'ENOPSK' });
  assert.deepEqual(parsePsk('päss'), Buffer.from('päss', 'utf8'));
  assert.throws(
    () => parsePsk(12345 as unknown as string),
    (err: Error) => !err.message.includes('12345'),
  );
});

test('reconnect backoff: 1 s doubling to 30 s, reset after a session over 60 s', () => {
  const delays: number[] = [];
  let d: number | undefined;
  for (let i = 0; i < 7; i++) {
    d = nextBackoff(d, undefined);
    delays.push(d);
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  assert.equal(nextBackoff(30000, 59_000), 30000);
  assert.equal(nextBackoff(30000, 61_000), 1000);
});

test('reconnect wait: the backoff spaces attempt starts; a session longer than the delay is retried at once', () => {
  assert.equal(reconnectWait(1000, 20), 980); // connection refused at once: wait out the delay
  assert.equal(reconnectWait(30000, 5_000), 25000);
  assert.equal(reconnectWait(30000, 59_000), 0); // a 59 s session: no further dead wait
  assert.equal(reconnectWait(2000, 2000), 0);
});
