import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hookEnvironment, runHook } from '../../ts/host/hooks.js';
import { addRouteCommand } from '../../ts/host/routes.js';
import { createServer } from '../../ts/index.js';
import { parseCidr, parseDevName, parseHookCommand, parseRoutes, parseTunAddresses, peerTunnelAddress } from '../../ts/options/values.js';
import { TtunError } from '../../ts/shared/errors.js';

/** A one-line TtunError with this code. */
const fails = (code: string) => (err: unknown) => err instanceof TtunError && err.code === code && !err.message.includes('\n');

test('--address defaults to the role’s v1 addresses', () => {
  assert.deepEqual(parseTunAddresses(undefined, 'server'), {
    ipv4: { family: 4, address: '10.1.1.1', prefix: 30 },
    ipv6: { family: 6, address: 'fc11::1', prefix: 126 },
  });
  assert.equal(parseTunAddresses(undefined, 'client').ipv4?.address, '10.1.1.2');
  assert.equal(parseTunAddresses(undefined, 'client').ipv6?.address, 'fc11::2');
});

test('--address takes one IPv4 and/or one IPv6, in either order', () => {
  assert.deepEqual(parseTunAddresses('10.2.2.1/30,fc22::1/64', 'server'), {
    ipv4: { family: 4, address: '10.2.2.1', prefix: 30 },
    ipv6: { family: 6, address: 'fc22::1', prefix: 64 },
  });
  assert.deepEqual(parseTunAddresses('fc22::1/64, 10.2.2.1/30', 'client'), parseTunAddresses('10.2.2.1/30,fc22::1/64', 'client'));
  assert.deepEqual(parseTunAddresses('10.2.2.1/32', 'server'), { ipv4: { family: 4, address: '10.2.2.1', prefix: 32 } });
  assert.deepEqual(parseTunAddresses('fd00::5/128', 'server'), { ipv6: { family: 6, address: 'fd00::5', prefix: 128 } });
});

test('bad --address values are one-line usage errors', () => {
  const bad = [
    '',
    '10.2.2.1',
    '10.2.2.1/33',
    '10.2.2.1/-1',
    '10.2.2.1/0',
    '10.2.2/24',
    '256.1.1.1/24',
    'fc22::1/129',
    'fe80::1%eth0/64',
    'example.com/24',
    '10.2.2.1/30,10.3.3.1/30',
    'fc22::1/64,fc33::1/64',
    '10.2.2.1/30,',
    '0.0.0.0/8',
    '127.0.0.2/8',
    '224.0.0.1/24',
    '::/64',
    '::1/128',
    'ff02::1/64',
  ];
  for (const value of bad) assert.throws(() => parseTunAddresses(value, 'server'), fails('EBADTUNADDR'), value);
  assert.throws(() => parseTunAddresses(42, 'server'), fails('EBADTUNADDR'));
});

test("the peer's tunnel address (super-frames): the other host of a two-host network, none for a wider one", () => {
  const peer = (text: string) => peerTunnelAddress(parseCidr(text, 'address', 'EBADTUNADDR'));
  // v1's own pairs, both ways.
  assert.equal(peer('10.1.1.1/30'), '10.1.1.2');
  assert.equal(peer('10.1.1.2/30'), '10.1.1.1');
  assert.equal(peer('fc11::1/126'), 'fc11::2');
  assert.equal(peer('fc11::2/126'), 'fc11::1');
  assert.equal(peer('192.0.2.6/30'), '192.0.2.5');
  // /31 and /127: the other address.
  assert.equal(peer('192.0.2.8/31'), '192.0.2.9');
  assert.equal(peer('fd00:1::ff/127'), 'fd00:1::fe');
  // A /30's network or broadcast address has no one peer; nor has a wider network.
  assert.equal(peer('10.1.1.3/30'), undefined);
  assert.equal(peer('10.1.1.1/24'), undefined);
  assert.equal(peer('fc11::1/64'), undefined);
});

test('CIDRs: the prefix is required and bounded by the family', () => {
  assert.deepEqual(parseCidr(' 2001:db8::/32 ', 'route', 'EBADROUTE'), { family: 6, address: '2001:db8::', prefix: 32 });
  assert.deepEqual(parseCidr('0.0.0.0/0', 'route', 'EBADROUTE'), { family: 4, address: '0.0.0.0', prefix: 0 });
  for (const value of ['1.2.3.4/', '/24', '1.2.3.4/24/1', '1.2.3.4/1000', '::/129']) {
    assert.throws(() => parseCidr(value, 'route', 'EBADROUTE'), fails('EBADROUTE'), value);
  }
});

test('--route: networks of either family, repeatable; host bits are refused with the network named', () => {
  assert.deepEqual(parseRoutes(undefined), []);
  assert.deepEqual(
    parseRoutes(['198.51.100.0/24', '2001:db8:5::/64', '0.0.0.0/1']).map((r) => `${r.address}/${r.prefix}`),
    ['198.51.100.0/24', '2001:db8:5::/64', '0.0.0.0/1'],
  );
  assert.deepEqual(parseRoutes('192.0.2.128/25'), [{ family: 4, address: '192.0.2.128', prefix: 25 }]);
  assert.throws(
    () => parseRoutes(['198.51.100.7/24']),
    (err: unknown) => fails('EBADROUTE')(err) && /198\.51\.100\.0\/24/.test((err as Error).message),
  );
  assert.throws(
    () => parseRoutes(['2001:db8:5::1/64']),
    (err: unknown) => fails('EBADROUTE')(err) && /2001:db8:5::\/64/.test((err as Error).message),
  );
  assert.throws(
    () => parseRoutes(['2001:db8:5:1::/48']),
    (err: unknown) => /2001:db8:5::\/48/.test((err as Error).message),
  );
  for (const bad of [['198.51.100.0'], ['nonsense/8'], [''], [7], 'a/b'] as unknown[])
    assert.throws(() => parseRoutes(bad), fails('EBADROUTE'));
  assert.throws(() => parseRoutes({}), fails('EBADROUTE'));
});

test('--route on Windows says to use --up instead', () => {
  assert.throws(
    () => parseRoutes(['198.51.100.0/24'], 'win32'),
    (err: unknown) => fails('EBADROUTE')(err) && /the up command/.test((err as Error).message),
  );
  assert.deepEqual(parseRoutes([], 'win32'), []);
});

test('--dev: Linux interface names, %d for a number; macOS utunN', () => {
  assert.equal(parseDevName(undefined), undefined);
  for (const good of ['ttun7', 'vpn%d', 'wg-office.2', 'a', 'x'.repeat(15), 'tun_%d_x']) assert.equal(parseDevName(good, 'linux'), good);
  for (const bad of ['', 'x'.repeat(16), 'has space', 'a/b', 'a:b', '.', '..', 'a%d%d', 'a%s', 'ü', 5]) {
    assert.throws(() => parseDevName(bad, 'linux'), fails('EBADDEV'), String(bad));
  }
  assert.equal(parseDevName('utun9', 'darwin'), 'utun9');
  assert.throws(() => parseDevName('ttun0', 'darwin'), fails('EBADDEV'));
});

test('--up/--down: a non-empty command line', () => {
  assert.equal(parseHookCommand(undefined, 'up'), undefined);
  assert.equal(parseHookCommand('ip link show "$TTUN_DEV"', 'down'), 'ip link show "$TTUN_DEV"');
  for (const bad of ['', '   ', 'a\0b', 3]) assert.throws(() => parseHookCommand(bad, 'up'), fails('EBADHOOK'));
});

test('route commands: ip on Linux, route on macOS', () => {
  assert.deepEqual(addRouteCommand({ family: 4, address: '198.51.100.0', prefix: 24 }, 'vpn0', 'linux'), [
    'ip',
    ['-4', 'route', 'add', '198.51.100.0/24', 'dev', 'vpn0'],
  ]);
  assert.deepEqual(addRouteCommand({ family: 6, address: '2001:db8:5::', prefix: 64 }, 'utun3', 'darwin'), [
    'route',
    ['-n', 'add', '-inet6', '2001:db8:5::/64', '-interface', 'utun3'],
  ]);
});

const tun = { name: 'vpn3', mtu: 1400, ipv4: '10.2.2.1/30', ipv6: undefined, routes: [] };

test('hook environment: the TUN’s details, no inherited TTUN_* or proxy variable, the rest kept', () => {
  const env = hookEnvironment(tun, 'client', {
    PATH: '/bin',
    TTUN_PSK: 'secret',
    ttun_other: 'x',
    TTUN_DEV: 'stale',
    HOME: '/root',
    HTTPS_PROXY: 'http://user:secret@proxy:3128',
    https_proxy: 'http://user:secret@proxy:3128',
    ALL_PROXY: 'socks5h://u:p@gw:1080',
    no_proxy: 'localhost',
  });
  assert.deepEqual(env, {
    PATH: '/bin',
    HOME: '/root',
    TTUN_DEV: 'vpn3',
    TTUN_ROLE: 'client',
    TTUN_MTU: '1400',
    TTUN_ADDRESS4: '10.2.2.1/30',
    TTUN_ADDRESS6: '',
  });
});

test('runHook runs through the shell with that environment and reports a failure in one line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ttun-hook-'));
  const out = join(dir, 'env');
  await runHook(
    'up',
    `printf '%s|%s|%s' "$TTUN_DEV" "$TTUN_ROLE" "\${TTUN_PSK-unset}" > '${out}'`,
    hookEnvironment(tun, 'server', { TTUN_PSK: 'k' }),
  );
  assert.equal(readFileSync(out, 'utf8'), 'vpn3|server|unset');
  await assert.rejects(
    runHook('up', 'exit 7', {}),
    (err: unknown) => fails('EHOOK')(err) && /--up .*exit status 7/.test((err as Error).message),
  );
  await assert.rejects(
    runHook('down', 'kill -TERM $$', {}),
    (err: unknown) => fails('EHOOK')(err) && /--down .*SIGTERM/.test((err as Error).message),
  );
});

test('TUN options in userspace mode (tun: false) are refused before anything starts', async () => {
  for (const option of [{ dev: 'x0' }, { address: '10.2.2.1/30' }, { route: ['198.51.100.0/24'] }, { up: 'true' }, { down: 'true' }]) {
    await assert.rejects(
      createServer({ psk: 'userspace key', listen: '127.0.0.1:0', tun: false, ...option }),
      (err: unknown) => fails('EBADOPTION')(err) && (err as Error).message.startsWith(`${Object.keys(option)[0]} needs a TUN device`),
    );
  }
});
