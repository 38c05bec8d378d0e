// Several ttun instances on one host: --dev and --address keep two servers (ports 20203 and
// 20204), each with its own client, apart, and both carry traffic at the same time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lab, NODE_FLAGS, type NsProcess, run, TTUN } from './harness.js';

const KEYS = ['first instance key', 'second instance key'];

/** Both instances: server i listens on 20203 + i with its own TUN name and addresses; client i (own namespace) connects to it. */
const INSTANCES = [
  { port: 20203, dev: 'tta', server: '10.1.1.1/30,fc11::1/126', client: '10.1.1.2/30,fc11::2/126', peer4: '10.1.1.1', peer6: 'fc11::1' },
  { port: 20204, dev: 'ttb', server: '10.1.2.1/30,fc12::1/126', client: '10.1.2.2/30,fc12::2/126', peer4: '10.1.2.1', peer6: 'fc12::1' },
];

/** iperf3 through one instance's tunnel: its server bound to that instance's address, a 3 s TCP run from its client. */
async function transfer(lab: Lab, client: string, address: string, port: number): Promise<number> {
  const server: NsProcess = lab.spawn(lab.server, ['iperf3', '-s', '-1', '--forceflush', '-B', address, '-p', String(port)]);
  await server.waitForLine(/Server listening on/);
  const result = await lab.exec(client, ['iperf3', '-c', address, '-p', String(port), '-t', '3', '-J'], 30_000);
  assert.equal(result.code, 0, result.stderr || result.stdout);
  return (JSON.parse(result.stdout) as { end: { sum_received: { bytes: number } } }).end.sum_received.bytes;
}

test('two servers (ports 20203 and 20204, own --dev and --address), each with its own client, carry traffic at once', {
  timeout: 180_000,
}, async () => {
  const lab = await Lab.create(2);
  try {
    const servers = INSTANCES.map((inst, i) =>
      lab.ttun(lab.server, ['server', '-k', KEYS[i]!, '-l', `:${inst.port}`, '--dev', inst.dev, '--address', inst.server]),
    );
    for (const [i, server] of servers.entries()) {
      const inst = INSTANCES[i]!;
      const tun = await server.waitForEvent('tun');
      assert.deepEqual([tun.name, `${tun.ipv4},${tun.ipv6}`, tun.mtu], [inst.dev, inst.server, 1280]);
      assert.equal((await server.waitForEvent('listening')).address, `[::]:${inst.port}`);
    }
    const clients = INSTANCES.map((inst, i) =>
      lab.ttun(lab.clients[i]!, ['client', '-k', KEYS[i]!, '-s', lab.serverAddress(i, inst.port), '--address', inst.client]),
    );
    for (const [i, client] of clients.entries()) {
      await client.waitForEvent('up');
      await servers[i]!.waitForEvent('up');
      await lab.waitForPing(lab.clients[i]!, INSTANCES[i]!.peer4);
    }
    const serverAddresses = await lab.exec(lab.server, ['ip', '-o', 'addr', 'show']);
    assert.match(serverAddresses.stdout, /: tta +inet 10\.1\.1\.1\/30 /);
    assert.match(serverAddresses.stdout, /: ttb +inet 10\.1\.2\.1\/30 /);
    assert.match(serverAddresses.stdout, /: ttb +inet6 fc12::1\/126 /);

    // Everything at once: a TCP transfer and pings of both families through each tunnel.
    const [bytesA, bytesB, ...pings] = await Promise.all([
      transfer(lab, lab.clients[0]!, INSTANCES[0]!.peer4, 5301),
      transfer(lab, lab.clients[1]!, INSTANCES[1]!.peer4, 5302),
      ...INSTANCES.flatMap((inst, i) => [lab.ping(lab.clients[i]!, inst.peer4, 20), lab.ping(lab.clients[i]!, inst.peer6, 20)]),
    ]);
    assert.ok((bytesA as number) > 1_000_000, `instance A carried ${bytesA} bytes`);
    assert.ok((bytesB as number) > 1_000_000, `instance B carried ${bytesB} bytes`);
    for (const ping of pings as Array<{ stdout: string }>) assert.match(ping.stdout, / 0% packet loss/, ping.stdout);

    // Each client reaches only its own server: instance B's address is not routed in client A's namespace.
    assert.notEqual((await lab.exec(lab.clients[0]!, ['ping', '-c', '1', '-W', '1', INSTANCES[1]!.peer4])).code, 0);

    for (const proc of [...clients, ...servers]) {
      proc.kill('SIGTERM');
      assert.equal((await proc.exited).code, 0, proc.output);
    }
    const links = await lab.links(lab.server);
    assert.ok(!links.includes('tta') && !links.includes('ttb'), links.join(' '));
  } finally {
    await lab.destroy();
  }
});

test('a --dev name already in use is a one-line runtime error naming the device', { timeout: 60_000 }, async () => {
  const lab = await Lab.create();
  try {
    const first = lab.ttun(lab.server, ['server', '-k', KEYS[0]!, '--dev', 'ttbusy']);
    await first.waitForEvent('listening');
    const second = await lab.ttunOnce(lab.server, ['server', '-k', KEYS[1]!, '-l', ':20204', '--dev', 'ttbusy']);
    assert.equal(second.code, 1, second.stderr);
    assert.deepEqual(second.lines, ['ttun: cannot create TUN device ttbusy: a network device of that name already exists']);
    // Any kind of device counts, not only another TUN.
    const veth = await lab.ttunOnce(lab.server, ['server', '-k', KEYS[1]!, '-l', ':20204', '--dev', lab.serverVeths[0]!]);
    assert.equal(veth.code, 1, veth.stderr);
    assert.deepEqual(veth.lines, [`ttun: cannot create TUN device ${lab.serverVeths[0]}: a network device of that name already exists`]);
    // The first instance is untouched.
    assert.ok(first.running);
    first.kill('SIGTERM');
    assert.equal((await first.exited).code, 0);
  } finally {
    await lab.destroy();
  }
});

test('malformed --address, --dev, --route, --up: one line, exit 2; only --route may be repeated', { timeout: 60_000 }, async () => {
  const ttun = async (args: string[]) => {
    const result = await run(process.execPath, [...NODE_FLAGS, TTUN, ...args]);
    return { code: result.code, lines: result.stderr.trim().split('\n') };
  };
  const cases: Array<[string[], RegExp]> = [
    [['--address', '10.1.1.1'], /^ttun: bad --address: expected ADDRESS\/PREFIX/],
    [['--address', '10.1.1.1/33'], /^ttun: bad --address: the prefix must be 0\.\.32$/],
    [['--address', '10.1.1.1/30,10.1.2.1/30'], /give at most one IPv4 and one IPv6 address$/],
    [['--address', 'fc11::zz/126'], /^ttun: bad --address: the address is not an IP address$/],
    [['--address', '127.0.0.2/8'], /cannot be a TUN address$/],
    [['--dev', 'has space'], /^ttun: bad --dev: use up to 15 letters/],
    [['--dev', 'much-too-long-name'], /^ttun: bad --dev: use up to 15/],
    [['--route', '198.51.100.1/24'], /^ttun: bad --route: host bits are set; the network is 198\.51\.100\.0\/24$/],
    [['--route', '198.51.100.0/24', '--route', 'nowhere'], /^ttun: bad --route: expected ADDRESS\/PREFIX/],
    [['--up', ''], /^ttun: bad --up: give a shell command line$/],
    [['--dev', 'a', '--dev', 'b'], /^ttun: --dev is given more than once/],
    [['--address', '10.9.9.1/30', '--address', '10.9.9.5/30'], /^ttun: --address is given more than once/],
    [['--up', 'true', '--up', 'false'], /^ttun: --up is given more than once/],
  ];
  for (const [args, pattern] of cases) {
    for (const command of [['server'], ['client', '-s', 'h:1']]) {
      const result = await ttun([...command, '-k', KEYS[0]!, ...args]);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.lines.join('\n')}`);
      assert.equal(result.lines.length, 1, result.lines.join('\n'));
      assert.match(result.lines[0]!, pattern);
      assert.ok(!result.lines[0]!.includes(KEYS[0]!));
    }
  }
});
