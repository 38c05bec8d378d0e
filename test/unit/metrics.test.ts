// Prometheus metrics: the exposition text for a given snapshot, the --metrics address, and the
// listener itself over loopback with userspace endpoints (no TUN, no root).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { connect, createServer, TtunError } from '../../ts/index.js';
import { escapeLabelValue, type MetricsSnapshot, parseMetricsAddress, renderMetrics } from '../../ts/observability/metrics.js';
import { ipv4Packet, userspacePair } from './tools/userspace.js';

const PSK = 'metrics unit test key';

function snapshot(overrides: Partial<MetricsSnapshot> = {}): MetricsSnapshot {
  return {
    version: '1.2.3',
    node: 'v20.0.0',
    role: 'server',
    cipher: 'aes-256-gcm',
    core: 'native',
    mptcp: false,
    sessionStartedAt: 1_700_000_000_250,
    stats: {
      txPackets: 11,
      txBytes: 1100,
      txSuperFrames: 6,
      rxPackets: 22,
      rxBytes: 2200,
      txDroppedNoSession: 5,
      txDroppedTooBig: 4,
      txDroppedUnreadable: 3,
      txDroppedQueueFull: 12,
      rxDroppedNotIp: 2,
      rxDroppedTunWrite: 1,
      sessions: 7,
      reconnects: 9,
    },
    rejections: { timeout: 1, auth: 2, 'bad-frame': 3, closed: 4, busy: 5, attach: 6 },
    pendingHandshakes: 8,
    residentMemoryBytes: 123456,
    processStartTimeSeconds: 1_699_999_999.5,
    ...overrides,
  };
}

interface Family {
  type: string;
  help: string;
  samples: Map<string, number>;
}

/**
 * Reads exposition text back, strictly: every sample must follow its family's HELP and TYPE, every
 * family is declared once, and no line is anything else. Keys of `samples` are the label part.
 */
function parseExposition(text: string): Map<string, Family> {
  assert.ok(text.endsWith('\n'), 'the text ends with a newline');
  const families = new Map<string, Family>();
  let current: string | undefined;
  for (const line of text.slice(0, -1).split('\n')) {
    const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (help) {
      assert.ok(!families.has(help[1]!), `${help[1]} declared once`);
      families.set(help[1]!, { type: '', help: help[2]!, samples: new Map() });
      current = help[1];
      continue;
    }
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$/.exec(line);
    if (type) {
      assert.equal(type[1], current, `TYPE right after HELP for ${type[1]}`);
      families.get(type[1]!)!.type = type[2]!;
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    assert.ok(sample, `a sample line: ${JSON.stringify(line)}`);
    assert.equal(sample[1], current, `sample ${sample[1]} inside its own family`);
    assert.notEqual(families.get(current!)!.type, '', `${current} has a TYPE before its samples`);
    families.get(current!)!.samples.set(sample[2] ?? '', Number(sample[3]));
  }
  return families;
}

test('renders every family with HELP and TYPE, conventional names, and the values of the snapshot', () => {
  const families = parseExposition(renderMetrics(snapshot()));
  for (const [name, family] of families) {
    assert.match(name, /^(ttun|process)_/);
    if (family.type === 'counter') assert.match(name, /_total$/, `counter ${name} ends in _total`);
    else assert.doesNotMatch(name, /_total$/, `gauge ${name} does not end in _total`);
    assert.ok(family.help.length > 10, `${name} has a HELP text`);
  }
  const value = (name: string, labels = '') => families.get(name)?.samples.get(labels);
  assert.equal(value('ttun_session_up'), 1);
  assert.equal(value('ttun_session_start_time_seconds'), 1_700_000_000.25);
  assert.equal(value('ttun_sessions_total'), 7);
  assert.equal(value('ttun_rx_bytes_total'), 2200);
  assert.equal(value('ttun_rx_packets_total'), 22);
  assert.equal(value('ttun_tx_bytes_total'), 1100);
  assert.equal(value('ttun_tx_packets_total'), 11);
  assert.equal(value('ttun_tx_super_frames_total'), 6);
  assert.equal(value('ttun_dropped_packets_total', '{reason="not-ip"}'), 2);
  assert.equal(value('ttun_dropped_packets_total', '{reason="tun-refused"}'), 1);
  assert.equal(value('ttun_dropped_packets_total', '{reason="too-big"}'), 4);
  assert.equal(value('ttun_dropped_packets_total', '{reason="unreadable"}'), 3);
  assert.equal(value('ttun_dropped_packets_total', '{reason="no-session"}'), 5);
  assert.equal(value('ttun_dropped_packets_total', '{reason="queue-full"}'), 12);
  assert.deepEqual(
    [...families.get('ttun_handshakes_rejected_total')!.samples],
    [
      ['{reason="timeout"}', 1],
      ['{reason="auth"}', 2],
      ['{reason="bad-frame"}', 3],
      ['{reason="closed"}', 4],
      ['{reason="busy"}', 5],
      ['{reason="attach"}', 6],
    ],
  );
  assert.equal(value('ttun_pending_handshakes'), 8);
  assert.equal(value('process_resident_memory_bytes'), 123456);
  assert.equal(value('process_start_time_seconds'), 1_699_999_999.5);
  assert.equal(
    value('ttun_build_info', `{version="1.2.3",role="server",cipher="aes-256-gcm",core="native",mptcp="false",node="v20.0.0"}`),
    1,
  );
  // Reconnects are the client's; the server has none to report.
  assert.equal(families.has('ttun_reconnects_total'), false);
});

test('a client reports reconnects and no server families; no session means up 0 and no start time sample', () => {
  const text = renderMetrics(
    snapshot({ role: 'client', rejections: undefined, pendingHandshakes: undefined, sessionStartedAt: undefined }),
  );
  const families = parseExposition(text);
  assert.equal(families.get('ttun_reconnects_total')!.samples.get(''), 9);
  assert.equal(families.has('ttun_handshakes_rejected_total'), false);
  assert.equal(families.has('ttun_pending_handshakes'), false);
  assert.equal(families.get('ttun_session_up')!.samples.get(''), 0);
  assert.equal(families.get('ttun_session_start_time_seconds')!.samples.size, 0);
  assert.match(text, /^ttun_build_info\{[^}]*role="client"/m);
});

test('label values escape backslash, double quote and newline', () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  assert.equal(escapeLabelValue('plain-1.0'), 'plain-1.0');
  const text = renderMetrics(snapshot({ version: '0.1.0"}\nttun_fake 1 \\' }));
  assert.match(text, /^ttun_build_info\{version="0\.1\.0\\"\}\\nttun_fake 1 \\\\",role="server",/m);
  // The injected text stays inside the label value: no line starts with it.
  assert.doesNotMatch(text, /^ttun_fake/m);
  parseExposition(text);
});

test('--metrics addresses: a port alone is loopback; 0.0.0.0 and [::] are every address', () => {
  assert.deepEqual(parseMetricsAddress('9464'), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(parseMetricsAddress(':9464'), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(parseMetricsAddress(' :9464 '), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(parseMetricsAddress('0.0.0.0:9464'), { host: '0.0.0.0', port: 9464 });
  assert.deepEqual(parseMetricsAddress('[::]:9464'), { host: '::', port: 9464 });
  assert.deepEqual(parseMetricsAddress('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseMetricsAddress('192.0.2.7:9100'), { host: '192.0.2.7', port: 9100 });
  assert.deepEqual(parseMetricsAddress('localhost:9464'), { host: 'localhost', port: 9464 });
  for (const bad of ['', ' ', 'localhost', '::1', '[::1]', '192.0.2.7', ':99999', '70000', 'host:port', '[zz]:1', 'a b:1', ':']) {
    assert.throws(
      () => parseMetricsAddress(bad),
      (err: unknown) => err instanceof TtunError && err.code === 'EBADADDR' && err.option === 'metrics',
      `rejects ${JSON.stringify(bad)}`,
    );
  }
  assert.throws(() => parseMetricsAddress(undefined), { code: 'EBADADDR', option: 'metrics' });
});

async function scrape(port: number, init: RequestInit = {}, path = '/metrics'): Promise<{ status: number; type: string; text: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, init);
  return { status: response.status, type: response.headers.get('content-type') ?? '', text: await response.text() };
}

function sample(text: string, line: string): number {
  const match = new RegExp(`^${line.replace(/[{}"[\]]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
  assert.ok(match, `${line} in:\n${text}`);
  return Number(match[1]);
}

test('the metrics option serves live counters at /metrics and close() stops it', { timeout: 30_000 }, async () => {
  const { server, client, close } = await userspacePair(PSK, { server: { metrics: '127.0.0.1:0' }, client: { metrics: '0' } });
  const serverPort = server.metricsAddress()!.port;
  const clientPort = client.metricsAddress()!.port;
  try {
    assert.equal(server.metricsAddress()!.address, '127.0.0.1');
    assert.equal(client.metricsAddress()!.address, '127.0.0.1', 'a port alone binds loopback');

    const before = await scrape(serverPort);
    assert.equal(before.status, 200);
    assert.equal(before.type, 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(sample(before.text, 'ttun_session_up'), 1);
    assert.ok(Math.abs(sample(before.text, 'ttun_session_start_time_seconds') - server.sessionStartedAt! / 1000) < 0.001);
    assert.equal(sample(before.text, 'ttun_rx_bytes_total'), 0);
    assert.ok(!before.text.includes(PSK), 'the key is not in the metrics');

    // Read at scrape time: packets sent now show in the next scrape.
    const received = server.packets()[Symbol.asyncIterator]();
    client.send([ipv4Packet(1, 100), ipv4Packet(2, 900)]);
    await received.next();
    await received.next();
    const after = await scrape(serverPort);
    assert.equal(sample(after.text, 'ttun_rx_bytes_total'), 1000);
    assert.equal(sample(after.text, 'ttun_rx_packets_total'), 2);
    const clientText = (await scrape(clientPort)).text;
    assert.equal(sample(clientText, 'ttun_tx_bytes_total'), 1000);
    assert.equal(sample(clientText, 'ttun_reconnects_total'), 0);
    assert.match(clientText, /^ttun_build_info\{[^}]*role="client"[^}]*core="(native|wasm)"/m);

    // A client with the wrong key is rejected, and counted by reason.
    const intruder = await connect({ psk: 'not the key', server: `127.0.0.1:${server.address().port}`, tun: false });
    const [, reason] = await once(server, 'rejected');
    await intruder.close();
    assert.equal(reason, 'auth');
    assert.equal(server.rejections().auth, 1);
    const rejected = (await scrape(serverPort)).text;
    assert.equal(sample(rejected, 'ttun_handshakes_rejected_total{reason="auth"}'), 1);
    assert.equal(sample(rejected, 'ttun_handshakes_rejected_total{reason="timeout"}'), 0);
    assert.equal(sample(rejected, 'ttun_session_up'), 1, 'the live session is untouched');

    const head = await fetch(`http://127.0.0.1:${serverPort}/metrics`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal((await head.text()).length, 0);
    assert.equal((await scrape(serverPort, {}, '/')).status, 404);
    assert.equal((await scrape(serverPort, { method: 'POST', body: 'x' })).status, 405);

    // The client goes: the server's session is down at the next scrape.
    const down = once(server, 'down');
    await client.close();
    await down;
    const gone = (await scrape(serverPort)).text;
    assert.equal(sample(gone, 'ttun_session_up'), 0);
    assert.doesNotMatch(gone, /^ttun_session_start_time_seconds /m);
  } finally {
    await close();
  }
  for (const port of [serverPort, clientPort]) {
    await assert.rejects(fetch(`http://127.0.0.1:${port}/metrics`), 'nothing listens after close()');
  }
});

test('a metrics port in use or a bad metrics address fails the start with a one-line TtunError', { timeout: 30_000 }, async () => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const { port } = blocker.address() as net.AddressInfo;
  try {
    for (const start of [
      () => createServer({ psk: PSK, listen: '127.0.0.1:0', tun: false, metrics: `127.0.0.1:${port}` }),
      () => connect({ psk: PSK, server: '127.0.0.1:1', tun: false, metrics: String(port) }),
    ]) {
      await assert.rejects(start(), (err: unknown) => {
        assert.ok(err instanceof TtunError);
        assert.equal(err.code, 'EADDRINUSE');
        assert.equal(err.message, `cannot serve metrics on 127.0.0.1:${port}: the port is already in use`);
        return true;
      });
    }
    await assert.rejects(
      createServer({ psk: PSK, listen: '127.0.0.1:0', tun: false, metrics: 'nowhere' }),
      (err: unknown) => err instanceof TtunError && err.code === 'EBADADDR',
    );
  } finally {
    blocker.close();
  }
});
