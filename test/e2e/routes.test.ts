// --route, --up and --down with the real CLI in network namespaces: routes reach networks behind
// the server through the tunnel and go at exit; the hooks see the TUN's details and never the key.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Lab } from './harness.js';

const SECRET = 'routes and hooks test key';

async function mustExec(lab: Lab, ns: string, command: string[]): Promise<string> {
  const result = await lab.exec(ns, command);
  assert.equal(result.code, 0, `${command.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/** The TTUN_* variables of an `env` dump, and whether anything in it mentions the key. */
function ttunVariables(file: string): Record<string, string> {
  const text = readFileSync(file, 'utf8');
  assert.ok(!text.includes(SECRET), `the key reached the hook's environment (${file})`);
  const entries = text
    .split('\n')
    .filter((line) => line.startsWith('TTUN_'))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const);
  return Object.fromEntries(entries);
}

/** `ttun client` to the lab's server with the key and one --route per network. */
function clientWithRoutes(lab: Lab, ...networks: string[]): string[] {
  return ['client', '-k', SECRET, '-s', lab.serverAddress(), ...networks.flatMap((network) => ['--route', network])];
}

/** A hook that records its environment and the TUN's link as it saw them. */
const recordingHook = (dir: string, name: string) => `env > ${dir}/${name}.env && ip -o link show "$TTUN_DEV" > ${dir}/${name}.link`;

test('--route: networks behind the server are reached through the tunnel, IPv4 and IPv6; the routes go at exit', {
  timeout: 120_000,
}, async () => {
  const lab = await Lab.create();
  const client = lab.clients[0]!;
  try {
    // Addresses only the server namespace holds.
    await mustExec(lab, lab.server, ['ip', 'addr', 'add', '198.51.100.1/32', 'dev', 'lo']);
    await mustExec(lab, lab.server, ['ip', '-6', 'addr', 'add', '2001:db8:5::1/128', 'dev', 'lo']);
    const server = lab.ttun(lab.server, ['server', '-k', SECRET]);
    await server.waitForEvent('listening');
    const ttunClient = lab.ttun(client, clientWithRoutes(lab, '198.51.100.0/24', '2001:db8:5::/64'));
    assert.deepEqual((await ttunClient.waitForEvent('routes')).routes, ['198.51.100.0/24', '2001:db8:5::/64']);
    assert.match(await mustExec(lab, client, ['ip', '-4', 'route', 'show', '198.51.100.0/24']), /^198\.51\.100\.0\/24 dev ttun0 /);
    assert.match(await mustExec(lab, client, ['ip', '-6', 'route', 'show', '2001:db8:5::/64']), /^2001:db8:5::\/64 dev ttun0 /);
    await ttunClient.waitForEvent('up');
    await lab.waitForPing(client, '198.51.100.1');
    await lab.waitForPing(client, '2001:db8:5::1');
    const pings = await Promise.all([lab.ping(client, '198.51.100.1', 5), lab.ping(client, '2001:db8:5::1', 5)]);
    for (const ping of pings) assert.match(ping.stdout, / 0% packet loss/, ping.stdout);

    ttunClient.kill('SIGTERM');
    assert.equal((await ttunClient.exited).code, 0);
    assert.equal(await mustExec(lab, client, ['ip', '-4', 'route', 'show', '198.51.100.0/24']), '');
    assert.equal(await mustExec(lab, client, ['ip', '-6', 'route', 'show', '2001:db8:5::/64']), '');
    assert.ok(!(await lab.links(client)).includes('ttun0'));
  } finally {
    await lab.destroy();
  }
});

test('a route that cannot be added is a one-line start-up error, and no TUN is left', { timeout: 60_000 }, async () => {
  const lab = await Lab.create();
  const client = lab.clients[0]!;
  try {
    await mustExec(lab, client, ['ip', 'route', 'add', '198.51.100.0/24', 'dev', 'lo']);
    const result = await lab.ttunOnce(client, clientWithRoutes(lab, '203.0.113.0/24', '198.51.100.0/24'));
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /^ttun: cannot add route 198\.51\.100\.0\/24 via ttun0: .*File exists\n$/);
    assert.ok(!(await lab.links(client)).includes('ttun0'));
    assert.equal(
      await mustExec(lab, client, ['ip', '-4', 'route', 'show', '203.0.113.0/24']),
      '',
      'the route added first went with the TUN',
    );
  } finally {
    await lab.destroy();
  }
});

test('--up and --down see the TUN (name, role, MTU, addresses), never TTUN_PSK; --down runs before the TUN goes', {
  timeout: 120_000,
}, async () => {
  const lab = await Lab.create();
  const dir = mkdtempSync(join(tmpdir(), 'ttun-hooks-'));
  const client = lab.clients[0]!;
  try {
    // The key comes from TTUN_PSK, the one place it could leak into a hook from.
    const env = { TTUN_PSK: SECRET };
    const server = lab.ttun(
      lab.server,
      [
        'server',
        '--dev',
        'hsrv%d',
        '--address',
        '10.7.7.1/30',
        '-mtu',
        '1400',
        '--up',
        recordingHook(dir, 'server-up'),
        '--down',
        recordingHook(dir, 'server-down'),
      ],
      env,
    );
    await server.waitForEvent('listening');
    assert.ok(existsSync(join(dir, 'server-up.env')), '--up has run by the time the server listens');
    const ttunClient = lab.ttun(
      client,
      [
        'client',
        '-s',
        lab.serverAddress(),
        '--address',
        'fd77::2/126,10.7.7.2/30',
        '--up',
        recordingHook(dir, 'client-up'),
        '--down',
        recordingHook(dir, 'client-down'),
      ],
      env,
    );
    await ttunClient.waitForEvent('up-done');
    await ttunClient.waitForEvent('up');
    await lab.waitForPing(client, '10.7.7.1');

    const serverVariables = { TTUN_DEV: 'hsrv0', TTUN_ROLE: 'server', TTUN_MTU: '1400', TTUN_ADDRESS4: '10.7.7.1/30', TTUN_ADDRESS6: '' };
    const clientVariables = {
      TTUN_DEV: 'ttun0',
      TTUN_ROLE: 'client',
      TTUN_MTU: '1280',
      TTUN_ADDRESS4: '10.7.7.2/30',
      TTUN_ADDRESS6: 'fd77::2/126',
    };
    assert.deepEqual(ttunVariables(join(dir, 'server-up.env')), serverVariables);
    assert.deepEqual(ttunVariables(join(dir, 'client-up.env')), clientVariables);
    assert.match(readFileSync(join(dir, 'server-up.link'), 'utf8'), /^\d+: hsrv0: .*\bUP\b/);
    assert.ok(!existsSync(join(dir, 'server-down.env')), '--down has not run yet');

    for (const proc of [ttunClient, server]) {
      proc.kill('SIGTERM');
      assert.equal((await proc.exited).code, 0, proc.output);
    }
    assert.deepEqual(ttunVariables(join(dir, 'server-down.env')), serverVariables);
    assert.deepEqual(ttunVariables(join(dir, 'client-down.env')), clientVariables);
    // `ip link show` succeeded inside --down: the TUN was still there. Now it is gone.
    assert.match(readFileSync(join(dir, 'server-down.link'), 'utf8'), /^\d+: hsrv0: /);
    assert.match(readFileSync(join(dir, 'client-down.link'), 'utf8'), /^\d+: ttun0: /);
    assert.ok(!(await lab.links(lab.server)).includes('hsrv0'));
    assert.ok(!(await lab.links(client)).includes('ttun0'));
  } finally {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failing --up: exit 1, one line with its status, no TUN and no route left', { timeout: 60_000 }, async () => {
  const lab = await Lab.create();
  const dir = mkdtempSync(join(tmpdir(), 'ttun-hooks-'));
  try {
    const result = await lab.ttunOnce(lab.server, [
      'server',
      '-k',
      SECRET,
      '--dev',
      'hfail0',
      '--route',
      '198.51.100.0/24',
      '--up',
      `ip -o link show "$TTUN_DEV" > ${dir}/up.link; exit 3`,
    ]);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stderr, 'ttun: the --up command failed with exit status 3\n');
    assert.match(readFileSync(join(dir, 'up.link'), 'utf8'), /^\d+: hfail0: /, '--up ran with the TUN up');
    assert.ok(!(await lab.links(lab.server)).includes('hfail0'));
    assert.equal(await mustExec(lab, lab.server, ['ip', '-4', 'route', 'show', '198.51.100.0/24']), '');
  } finally {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failing --down is logged; ttun still removes the TUN and exits 0', { timeout: 60_000 }, async () => {
  const lab = await Lab.create();
  try {
    const server = lab.ttun(lab.server, ['server', '-k', SECRET, '--down', 'exit 5']);
    await server.waitForEvent('listening');
    server.kill('SIGTERM');
    const failed = await server.waitForEvent('hook-failed');
    assert.deepEqual([failed.hook, failed.level], ['down', 'warn']);
    assert.match(failed.message, /exit status 5$/);
    assert.equal((await server.exited).code, 0);
    assert.ok(!(await lab.links(lab.server)).includes('ttun0'));
  } finally {
    await lab.destroy();
  }
});

test('with --user, --up runs as root before the drop and --down as that user', { timeout: 60_000 }, async () => {
  const lab = await Lab.create();
  const dir = mkdtempSync(join(tmpdir(), 'ttun-hooks-'));
  // nobody must be able to write its answer here.
  chmodSync(dir, 0o777);
  try {
    const server = lab.ttun(lab.server, [
      'server',
      '-k',
      SECRET,
      '--user',
      'nobody',
      '--up',
      `id -u > ${dir}/up.uid`,
      '--down',
      `id -u > ${dir}/down.uid`,
    ]);
    // Once the server has dropped root (the --down command is then set to run as nobody).
    await server.waitForEvent('privileges', (e) => e.uid === 65534);
    server.kill('SIGTERM');
    assert.equal((await server.exited).code, 0, server.output);
    assert.equal(readFileSync(join(dir, 'up.uid'), 'utf8'), '0\n');
    assert.equal(readFileSync(join(dir, 'down.uid'), 'utf8'), '65534\n');
    assert.ok(!(await lab.links(lab.server)).includes('ttun0'));
  } finally {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
