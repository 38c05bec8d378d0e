// --metrics end to end: the real CLI at both ends in network namespaces, real traffic (iperf3),
// every scrape checked by promtool, and a real Prometheus server scraping both ends.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Lab, NODE_FLAGS, run, TOOLS, TTUN, WAIT_MS } from './harness.js';

const PSK = 'metrics end-to-end key 6f1c';
const EXIT_USAGE = 2;
const EXIT_RUNTIME = 1;

/** Everything scraped, so that the last assertion can look for the key in all of it. */
const scraped: string[] = [];

async function scrape(lab: Lab, ns: string, url: string): Promise<string> {
  const result = await lab.exec(ns, [process.execPath, join(TOOLS, 'http-get.js'), url]);
  assert.equal(result.code, 0, `scraping ${url} in ${ns}: ${result.stderr}`);
  scraped.push(result.stdout);
  return result.stdout;
}

/** promtool (from the Prometheus project) must find nothing wrong with the text, not even a lint warning. */
async function promtoolCheck(text: string): Promise<void> {
  const result = await run('promtool', ['check', 'metrics'], { input: text });
  assert.equal(result.code, 0, `promtool check metrics failed:\n${result.stdout}${result.stderr}\non:\n${text}`);
  assert.equal(`${result.stdout}${result.stderr}`.trim(), '', 'promtool has nothing to say');
}

/** The value of one series (`name` or `name{labels}` exactly as exposed), or undefined if absent. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function must(text: string, series: string): number {
  const v = value(text, series);
  assert.ok(v !== undefined && Number.isFinite(v), `${series} in:\n${text}`);
  return v;
}

/** Polls `probe` until it returns something other than undefined; the last reason if it never does. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await probe();
    if (result !== undefined) return result;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('--metrics on both ends: promtool-clean, counters follow a real transfer, sessions, reconnects and rejections; Prometheus scrapes both', {
  timeout: 180_000,
}, async () => {
  const lab = await Lab.create();
  const promDir = mkdtempSync(join(tmpdir(), 'ttun-prometheus-'));
  const [clientNs] = lab.clients as [string];
  const serverMetrics = 'http://127.0.0.1:9464/metrics';
  const clientMetrics = 'http://10.200.0.2:9464/metrics';
  try {
    // A port alone serves loopback only; the client's serves every address, so the server namespace reaches it.
    const server = lab.ttun(lab.server, ['server', '-k', PSK, '--metrics', '9464']);
    await server.waitForEvent('listening');
    assert.equal((await server.waitForEvent('metrics')).url, serverMetrics);
    const client = lab.ttun(clientNs, ['client', '-k', PSK, '-s', lab.serverAddress(), '--metrics', '0.0.0.0:9464']);
    assert.equal((await client.waitForEvent('metrics')).url, 'http://0.0.0.0:9464/metrics');
    await client.waitForEvent('up');
    await server.waitForEvent('up');
    await lab.waitForPing(clientNs, '10.1.1.1');

    const unreachable = await lab.exec(clientNs, [process.execPath, join(TOOLS, 'http-get.js'), 'http://10.200.0.1:9464/metrics']);
    assert.equal(unreachable.code, 1, "the server's loopback-only metrics are not reachable from the client's side");
    assert.match(unreachable.stderr, /ECONNREFUSED/);

    // A real Prometheus scrapes both ends every second while the rest of the test runs.
    const config = join(promDir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        '  scrape_timeout: 1s',
        'scrape_configs:',
        '  - job_name: ttun',
        '    static_configs:',
        "      - targets: ['127.0.0.1:9464', '10.200.0.2:9464']",
        '',
      ].join('\n'),
    );
    const prometheus = lab.spawn(lab.server, [
      'prometheus',
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(promDir, 'data')}`,
      '--web.listen-address=127.0.0.1:9090',
    ]);

    const server0 = await scrape(lab, lab.server, serverMetrics);
    const client0 = await scrape(lab, lab.server, clientMetrics);
    await promtoolCheck(server0);
    await promtoolCheck(client0);
    assert.equal(must(server0, 'ttun_session_up'), 1);
    assert.equal(must(client0, 'ttun_session_up'), 1);
    assert.ok(Math.abs(must(server0, 'ttun_session_start_time_seconds') - Date.now() / 1000) < 60, 'session start is recent Unix time');
    assert.equal(must(server0, 'ttun_sessions_total'), 1);
    assert.equal(must(client0, 'ttun_reconnects_total'), 0);
    assert.equal(must(server0, 'ttun_handshakes_rejected_total{reason="auth"}'), 0);
    assert.match(server0, /^ttun_build_info\{version="[^"]+",role="server",cipher="chacha20-poly1305",core="native",mptcp="false",/m);
    assert.match(client0, /^ttun_build_info\{[^}]*role="client"/m);

    // A real transfer: iperf3 from client to server through the tunnel, scraped while it runs.
    const iperfServer = lab.spawn(lab.server, ['iperf3', '-s', '-B', '10.1.1.1', '-1', '--forceflush']);
    await iperfServer.waitForLine(/Server listening/);
    const iperfClient = lab.spawn(clientNs, ['iperf3', '-c', '10.1.1.1', '-t', '3', '-J']);
    const clientTx0 = must(client0, 'ttun_tx_bytes_total');
    const serverRx0 = must(server0, 'ttun_rx_bytes_total');
    const during = await until('counters moving during the transfer', async () => {
      const text = await scrape(lab, lab.server, clientMetrics);
      return iperfClient.running && must(text, 'ttun_tx_bytes_total') > clientTx0 + 1_000_000 ? text : undefined;
    });
    const serverDuring = await scrape(lab, lab.server, serverMetrics);
    assert.ok(iperfClient.running, 'both scrapes were taken during the transfer');
    await promtoolCheck(during);
    await promtoolCheck(serverDuring);
    assert.ok(must(serverDuring, 'ttun_rx_bytes_total') > serverRx0, 'the server counts while the data arrives');

    const { code } = await iperfClient.exited;
    assert.equal(code, 0, `iperf3 failed:\n${iperfClient.output}`);
    const report = JSON.parse(iperfClient.output) as { end: { sum_sent: { bytes: number }; sum_received: { bytes: number } } };
    // What iperf3's receiver got certainly crossed both TUNs; some of what its sender wrote may have
    // still been queued in its socket when the test ended, so that is not a bound.
    const crossed = report.end.sum_received.bytes;
    assert.ok(crossed > 1_000_000, `iperf3 moved ${crossed} bytes`);
    const server1 = await scrape(lab, lab.server, serverMetrics);
    const client1 = await scrape(lab, lab.server, clientMetrics);
    await promtoolCheck(server1);
    await promtoolCheck(client1);
    // IP bytes include the IP and TCP headers: at least the payload iperf3 counted.
    assert.ok(must(client1, 'ttun_tx_bytes_total') - clientTx0 >= crossed, 'client tx grew by at least what went through');
    assert.ok(must(server1, 'ttun_rx_bytes_total') - serverRx0 >= crossed, 'server rx grew by at least what went through');
    // A packet carries at most an MTU, except a super-frame (a whole TCP super-packet, at most 65519 bytes).
    const txPackets = must(client1, 'ttun_tx_packets_total') - must(client0, 'ttun_tx_packets_total');
    const superFrames = must(client1, 'ttun_tx_super_frames_total') - must(client0, 'ttun_tx_super_frames_total');
    assert.ok(superFrames > 0, 'bulk TCP to the peer’s tunnel address went in super-frames');
    assert.ok((txPackets - superFrames) * 1280 + superFrames * 65_519 >= crossed, 'no packet carried more than it can');
    assert.ok(must(server1, 'ttun_rx_packets_total') > must(server0, 'ttun_rx_packets_total'));
    // The other direction carries the ACKs.
    assert.ok(must(server1, 'ttun_tx_bytes_total') > must(server0, 'ttun_tx_bytes_total'));
    assert.ok(must(client1, 'ttun_rx_bytes_total') > must(client0, 'ttun_rx_bytes_total'));

    // The other way, an exact count: 16 MiB from the server's side, read to the end on the client's.
    const sent = 16 * 1024 * 1024;
    const transfer = await lab.transfer(lab.server, clientNs, '10.1.1.2', 16);
    assert.equal(transfer.received, transfer.sent, 'every byte arrived, unchanged');
    const server1b = await scrape(lab, lab.server, serverMetrics);
    const client1b = await scrape(lab, lab.server, clientMetrics);
    assert.ok(
      must(server1b, 'ttun_tx_bytes_total') - must(server1, 'ttun_tx_bytes_total') >= sent,
      'server tx grew by at least what was sent',
    );
    assert.ok(
      must(client1b, 'ttun_rx_bytes_total') - must(client1, 'ttun_rx_bytes_total') >= sent,
      'client rx grew by at least what was sent',
    );

    // The real scraper: Prometheus reports both targets up and has stored ttun's series.
    const query = async (promql: string) => {
      const result = await lab.exec(lab.server, [
        process.execPath,
        join(TOOLS, 'http-get.js'),
        `http://127.0.0.1:9090/api/v1/query?query=${encodeURIComponent(promql)}`,
      ]);
      if (result.code !== 0) return undefined;
      return (JSON.parse(result.stdout) as { data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } }).data
        .result;
    };
    const up = await until('Prometheus reporting both targets up', async () => {
      const r = await query('up{job="ttun"}');
      return r !== undefined && r.length === 2 && r.every((s) => s.value[1] === '1') ? r : undefined;
    });
    assert.deepEqual(up.map((s) => s.metric.instance).sort(), ['10.200.0.2:9464', '127.0.0.1:9464']);
    const roles = await until('ttun_build_info from both ends in Prometheus', async () => {
      const r = await query('ttun_build_info');
      return r !== undefined && r.length === 2 ? r.map((s) => s.metric.role).sort() : undefined;
    });
    assert.deepEqual(roles, ['client', 'server']);
    const rx = await until('ttun_rx_bytes_total in Prometheus after the transfer', async () => {
      const r = await query('ttun_rx_bytes_total{instance="127.0.0.1:9464"}');
      const v = r?.[0] === undefined ? 0 : Number(r[0].value[1]);
      return v >= crossed ? v : undefined;
    });
    assert.ok(rx >= crossed);
    prometheus.kill('SIGTERM');
    await prometheus.exited;

    // A forced reconnect: the server's end of the connection is destroyed (ss -K), the client comes back.
    const clientUpLines = client.lines.length;
    const serverUpLines = server.lines.length;
    const killed = await lab.exec(lab.server, ['ss', '-K', 'state', 'established', '( sport = :20203 )']);
    assert.equal(killed.code, 0, killed.stderr);
    await client.waitForEvent('reconnecting', () => true, { from: clientUpLines });
    await client.waitForEvent('up', () => true, { from: clientUpLines });
    await server.waitForEvent('up', () => true, { from: serverUpLines });
    const client2 = await scrape(lab, lab.server, clientMetrics);
    const server2 = await scrape(lab, lab.server, serverMetrics);
    await promtoolCheck(client2);
    assert.ok(must(client2, 'ttun_reconnects_total') >= 1, 'the reconnect is counted');
    assert.equal(must(client2, 'ttun_sessions_total'), 2);
    assert.equal(must(server2, 'ttun_sessions_total'), 2);
    assert.equal(must(client2, 'ttun_session_up'), 1);
    assert.ok(must(client2, 'ttun_tx_bytes_total') >= must(client1, 'ttun_tx_bytes_total'), 'counters carry on across sessions');

    // The client stops: the server's session is down at the next scrape.
    const serverLines = server.lines.length;
    client.kill('SIGTERM');
    assert.equal((await client.exited).code, 0);
    await server.waitForEvent('down', () => true, { from: serverLines });
    const server3 = await scrape(lab, lab.server, serverMetrics);
    await promtoolCheck(server3);
    assert.equal(must(server3, 'ttun_session_up'), 0);
    assert.equal(value(server3, 'ttun_session_start_time_seconds'), undefined, 'no start time while no session is up');

    // A client with the wrong key: rejected, and counted under reason="auth".
    const rejectedFrom = server.lines.length;
    const intruder = lab.ttun(clientNs, ['client', '-k', 'not the key at all', '-s', lab.serverAddress()]);
    await server.waitForEvent('rejected', (e) => e.reason === 'auth', { from: rejectedFrom });
    intruder.kill('SIGTERM');
    await intruder.exited;
    const server4 = await scrape(lab, lab.server, serverMetrics);
    await promtoolCheck(server4);
    assert.ok(must(server4, 'ttun_handshakes_rejected_total{reason="auth"}') >= 1);
    assert.equal(must(server4, 'ttun_handshakes_rejected_total{reason="timeout"}'), 0);
    assert.equal(must(server4, 'ttun_session_up'), 0);

    // The metrics port is taken (by the running server): one line, exit 1, no TUN left behind.
    const linksBefore = await lab.links(lab.server);
    const busy = await lab.ttunOnce(lab.server, ['server', '-k', PSK, '-l', ':20299', '--metrics', ':9464']);
    assert.equal(busy.code, EXIT_RUNTIME, busy.stderr);
    assert.deepEqual(busy.lines, ['ttun: cannot serve metrics on 127.0.0.1:9464: the port is already in use']);
    assert.deepEqual(await lab.links(lab.server), linksBefore, 'the TUN it made is gone');
    assert.equal(must(await scrape(lab, lab.server, serverMetrics), 'ttun_session_up'), 0, 'the first server still serves');

    for (const text of scraped) assert.ok(!text.includes(PSK), 'the key never appears in the metrics');
  } finally {
    await lab.destroy();
    rmSync(promDir, { recursive: true, force: true });
  }
});

test('--metrics: a bad address is a usage error (exit 2, one line); --help describes the flag on both commands', async () => {
  for (const [address, why] of [
    ['nowhere', 'expected PORT, HOST:PORT or \\[IPV6\\]:PORT'],
    [':99999', 'the port must be 0\\.\\.65535'],
    ['[::1]', 'expected PORT'],
  ] as const) {
    const result = await run(process.execPath, [TTUN, 'server', '-k', PSK, '--metrics', address]);
    assert.equal(result.code, EXIT_USAGE, result.stderr);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, new RegExp(`^ttun: bad --metrics: ${why}`));
    assert.ok(!result.stderr.includes(PSK));
  }
  const missing = await run(process.execPath, [TTUN, 'client', '-k', PSK, '-s', 'h:1', '--metrics']);
  assert.equal(missing.code, EXIT_USAGE);
  for (const command of ['server', 'client']) {
    const help = await run(process.execPath, [TTUN, command, '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--metrics\s+serve Prometheus metrics at http:\/\/HOST:PORT\/metrics/);
  }
});

test('idle connections to the metrics port cannot lock a client out: 400 held under a 300-file limit, a real client gets in within 10 s', {
  timeout: 120_000,
}, async (t) => {
  const lab = await Lab.create(2);
  t.after(() => lab.destroy());
  const server = lab.spawn(lab.server, [
    'prlimit',
    '--nofile=300:300',
    process.execPath,
    ...NODE_FLAGS,
    TTUN,
    'server',
    '-k',
    PSK,
    '--metrics',
    '0.0.0.0:9464',
    '--log-format',
    'json',
  ]);
  await server.waitForEvent('listening');
  // 400 idle connections to the metrics port from another host, each closed one opened again.
  const metricsHost = lab.serverAddress(1).split(':')[0]!;
  const holder = lab.spawn(lab.clients[1]!, [process.execPath, join(TOOLS, 'idle-holder.js'), metricsHost, '9464', '400']);
  await holder.waitForLine(/^opened ([4-9]\d\d|\d{4,})$/);
  const client = lab.ttun(lab.clients[0]!, ['client', '-k', PSK, '-s', lab.serverAddress(0)]);
  await client.waitForEvent('up', () => true, { timeoutMs: 10_000 });
  await lab.waitForPing(lab.clients[0]!, '10.1.1.1');
  assert.ok(holder.running, 'the holder kept at it the whole time');
  assert.ok(server.running, server.output);
});
