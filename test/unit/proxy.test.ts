// The proxy module: URL parsing and its errors, the choice between option and environment (curl's
// variables and NO_PROXY rules), redaction, and the CONNECT / SOCKS5 negotiations against scripted
// proxies on loopback, including a proxy that puts the server's first bytes in the same write as its reply.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { loadCore } from '../../ts/core/native.js';
import { Direction, MAGIC } from '../../ts/core/protocol.js';
import { connect } from '../../ts/index.js';
import { chooseProxy, noProxyMatches, openThroughProxy, type ProxyConfig, ProxyError, parseProxyUrl } from '../../ts/network/proxy.js';
import { HandshakeError, TtunError } from '../../ts/shared/errors.js';
import { redactUrl } from '../../ts/shared/redact.js';
import { clientHandshake } from '../../ts/tunnel/handshake.js';
import { ipv4Packet } from './tools/userspace.js';

const SECRET = 'pa:ss@w/rd';
const ENCODED_SECRET = encodeURIComponent(SECRET);
const target = { host: 'vpn.example.com', port: 20203 };

const badProxy = (fragment: RegExp) => (err: unknown) => {
  assert.ok(err instanceof TtunError, String(err));
  assert.equal(err.code, 'EBADPROXY');
  assert.match(err.message, fragment);
  assert.ok(!err.message.includes('pa:ss') && !err.message.includes(ENCODED_SECRET), err.message);
  assert.ok(!err.message.includes('\n'));
  return true;
};

test('proxy URLs: schemes, credentials (percent-decoded), default port, IPv6, display without credentials', () => {
  const http = parseProxyUrl(`http://alice:${ENCODED_SECRET}@proxy.corp:3128`, 'proxy');
  assert.deepEqual(http, {
    scheme: 'http',
    host: 'proxy.corp',
    port: 3128,
    username: 'alice',
    password: SECRET,
    display: 'http://proxy.corp:3128',
  });
  assert.deepEqual(parseProxyUrl('SOCKS5H://[fd00::1]', 'proxy'), {
    scheme: 'socks5h',
    host: 'fd00::1',
    port: 1080,
    username: undefined,
    password: undefined,
    display: 'socks5h://[fd00::1]:1080',
  });
  const schemeless = parseProxyUrl('10.0.0.1:8080/', 'HTTPS_PROXY');
  assert.equal(schemeless.scheme, 'http');
  assert.equal(schemeless.display, 'http://10.0.0.1:8080');
  const userOnly = parseProxyUrl('socks5://bob@gw:1081', 'proxy');
  assert.equal(userOnly.username, 'bob');
  assert.equal(userOnly.password, '');
});

test('proxy URLs ttun cannot use are EBADPROXY errors on one line, credentials replaced by ***', () => {
  assert.throws(
    () => parseProxyUrl(`ftp://u:${ENCODED_SECRET}@h:1`, 'proxy'),
    badProxy(/^bad proxy: unknown scheme: use http:\/\/, socks5:\/\/ or socks5h:\/\/$/),
  );
  assert.throws(() => parseProxyUrl('https://h:443', 'proxy'), badProxy(/TLS/));
  assert.throws(() => parseProxyUrl('socks4://h:1080', 'proxy'), badProxy(/unknown scheme/));
  assert.throws(() => parseProxyUrl(`http://u:${ENCODED_SECRET}@h:0`, 'proxy'), badProxy(/port must be 1\.\.65535/));
  assert.throws(() => parseProxyUrl('http://h:70000', 'proxy'), badProxy(/port must be 1\.\.65535/));
  assert.throws(() => parseProxyUrl('http://h:', 'proxy'), badProxy(/port must be/));
  assert.throws(() => parseProxyUrl('http://h:3128/path', 'proxy'), badProxy(/no path/));
  assert.throws(() => parseProxyUrl('http://u:%zz@h:1', 'proxy'), badProxy(/%-escape/));
  assert.throws(() => parseProxyUrl('http://:pw@h:1', 'proxy'), badProxy(/user name/));
  assert.throws(() => parseProxyUrl('http://[nothex]:1', 'proxy'), badProxy(/not an IPv6 address/));
  assert.throws(() => parseProxyUrl('http://fd00::1:1', 'proxy'), badProxy(/\[ADDR\]:PORT/));
  assert.throws(() => parseProxyUrl('http://bad host:1', 'proxy'), badProxy(/not a host name/));
  // Names the resolver takes pass: underscores (Docker Compose services), IDN.
  assert.equal(parseProxyUrl('http://squid_proxy:3128', 'proxy').host, 'squid_proxy');
  assert.equal(parseProxyUrl('http://прокси.example:3128', 'proxy').host, 'прокси.example');
  assert.throws(() => parseProxyUrl('  ', 'proxy'), badProxy(/empty/));
  assert.throws(() => parseProxyUrl(`socks5://${'u'.repeat(256)}:p@h:1`, 'proxy'), badProxy(/255 bytes/));
  // Where it came from is named when it is not the option itself.
  assert.throws(() => parseProxyUrl(`http://u:${ENCODED_SECRET}@h:x`, 'ALL_PROXY'), badProxy(/\(from ALL_PROXY\)/));
});

test('redaction keeps scheme and host and drops everything before the last @', () => {
  assert.equal(redactUrl('http://u:p@h:1'), 'http://***@h:1');
  assert.equal(redactUrl('u:p@x@h:1'), '***@h:1');
  assert.equal(redactUrl('socks5://h:1'), 'socks5://h:1');
});

test('the option wins over the environment; "none" means direct whatever the environment says', () => {
  const env = { HTTPS_PROXY: 'http://env-proxy:3128' };
  assert.deepEqual(chooseProxy('none', target, env), {});
  assert.deepEqual(chooseProxy(' NONE ', target, env), {});
  const chosen = chooseProxy('socks5://opt:1080', target, env);
  assert.equal(chosen.proxy?.display, 'socks5://opt:1080');
  assert.equal(chosen.from, 'option');
  assert.throws(() => chooseProxy(42, target, env), badProxy(/number/));
  assert.throws(() => chooseProxy('gopher://x', target, {}), badProxy(/unknown scheme/));
});

test('environment: https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY in that order; empty values do not count; none set is direct', () => {
  const all = { https_proxy: 'http://a:1', HTTPS_PROXY: 'http://b:1', all_proxy: 'http://c:1', ALL_PROXY: 'http://d:1' };
  assert.equal(chooseProxy(undefined, target, all).from, 'https_proxy');
  assert.equal(chooseProxy(undefined, target, { ...all, https_proxy: '' }).proxy?.host, 'b');
  assert.equal(chooseProxy(undefined, target, { all_proxy: 'http://c:1', ALL_PROXY: 'http://d:1' }).from, 'all_proxy');
  assert.equal(chooseProxy(undefined, target, { ALL_PROXY: 'socks5h://d:1' }).proxy?.display, 'socks5h://d:1');
  // http_proxy is for http:// URLs (curl); ttun's connection is not one.
  assert.deepEqual(chooseProxy(undefined, target, { http_proxy: 'http://h:1', HTTP_PROXY: 'http://h:1' }), {});
  assert.deepEqual(chooseProxy(undefined, target, {}), {});
  assert.throws(() => chooseProxy(undefined, target, { HTTPS_PROXY: `http://u:${ENCODED_SECRET}@h:nope` }), badProxy(/from HTTPS_PROXY/));
});

test('NO_PROXY bypasses the environment proxy (and is reported), never the option', () => {
  const env = { HTTPS_PROXY: 'http://p:3128', NO_PROXY: 'example.com' };
  assert.deepEqual(chooseProxy(undefined, target, env), { bypass: { variable: 'HTTPS_PROXY', noProxy: 'NO_PROXY' } });
  assert.deepEqual(chooseProxy(undefined, target, { ...env, no_proxy: 'other.org' }).from, 'HTTPS_PROXY');
  assert.equal(chooseProxy('http://p:3128', target, env).proxy?.host, 'p');
  // A malformed proxy variable that NO_PROXY bypasses is never read (as curl).
  assert.deepEqual(chooseProxy(undefined, target, { HTTPS_PROXY: 'ftp://x', NO_PROXY: '*' }).bypass?.variable, 'HTTPS_PROXY');
});

test('NO_PROXY matching: *, domains with and without a leading dot, ports, IP addresses, CIDR, IPv6', () => {
  const cases: Array<[string, string, number, boolean]> = [
    ['*', 'anything.net', 1, true],
    ['example.com', 'example.com', 1, true],
    ['example.com', 'vpn.example.com', 1, true],
    ['example.com', 'VPN.Example.COM.', 1, true],
    ['example.com', 'badexample.com', 1, false],
    ['.example.com', 'vpn.example.com', 1, true],
    ['.example.com', 'example.com', 1, true],
    ['*.example.com', 'a.b.example.com', 1, true],
    ['.example.com', 'example.org', 1, false],
    ['localhost, vpn.example.com:20203', 'vpn.example.com', 20203, true],
    ['vpn.example.com:20203', 'vpn.example.com', 443, false],
    ['10.0.0.5', '10.0.0.5', 1, true],
    ['10.0.0.5', '10.0.0.50', 1, false],
    ['10.0.0.0/8', '10.200.3.4', 1, true],
    ['10.0.0.0/8', '11.0.0.1', 1, false],
    ['10.0.0.0/8', 'ten.example.com', 1, false],
    ['192.168.1.1:22', '192.168.1.1', 22, true],
    ['192.168.1.1:22', '192.168.1.1', 23, false],
    ['fd00::/8', 'fd12::3', 1, true],
    ['::1', '0:0::1', 1, true],
    ['[::1]:20203', '::1', 20203, true],
    ['[::1]:20203', '::1', 20204, false],
    ['fd00::/8', '10.0.0.1', 1, false],
    ['  ,  ', 'example.com', 1, false],
    ['other.org example.com', 'example.com', 1, true],
  ];
  for (const [list, host, port, expected] of cases) {
    assert.equal(noProxyMatches(list, host, port), expected, `NO_PROXY=${JSON.stringify(list)} for ${host}:${port}`);
  }
});

/** A scripted proxy on loopback: `script` gets each accepted socket. */
async function scriptedProxy(script: (socket: net.Socket) => void): Promise<{ port: number; close: () => void }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    script(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** Collects bytes until `complete` says the request is whole, then calls `answer` with them. */
function onRequest(socket: net.Socket, complete: (bytes: Buffer) => boolean, answer: (bytes: Buffer) => void): void {
  let bytes = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    bytes = Buffer.concat([bytes, chunk]);
    if (!complete(bytes)) return;
    socket.off('data', onData);
    answer(bytes);
  };
  socket.on('data', onData);
}

async function negotiate(proxy: ProxyConfig, to = target, timeoutMs = 3000): Promise<Buffer> {
  const socket = net.connect(proxy.port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  try {
    return await openThroughProxy(socket, proxy, to, timeoutMs);
  } finally {
    socket.destroy();
  }
}

const headerDone = (b: Buffer) => b.includes('\r\n\r\n');

test('HTTP CONNECT: the exact request with Basic auth; bytes after the 200 in the same write are handed back whole', async () => {
  const behind = Buffer.from('0123456789abcdef and the rest of the first segment');
  let request = '';
  const proxy = await scriptedProxy((socket) =>
    onRequest(socket, headerDone, (bytes) => {
      request = bytes.toString('latin1');
      socket.write(Buffer.concat([Buffer.from('HTTP/1.1 200 Connection established\r\nProxy-agent: test\r\n\r\n'), behind]));
    }),
  );
  try {
    const leftover = await negotiate(parseProxyUrl(`http://alice:${ENCODED_SECRET}@127.0.0.1:${proxy.port}`, 'proxy'));
    assert.deepEqual(leftover, behind);
    const basic = Buffer.from(`alice:${SECRET}`).toString('base64');
    assert.equal(
      request,
      `CONNECT vpn.example.com:20203 HTTP/1.1\r\nHost: vpn.example.com:20203\r\nProxy-Authorization: Basic ${basic}\r\n\r\n`,
    );
    const v6 = await negotiate(parseProxyUrl(`http://127.0.0.1:${proxy.port}`, 'proxy'), { host: 'fd00::1', port: 5 });
    assert.deepEqual(v6, behind);
    assert.equal(request, 'CONNECT [fd00::1]:5 HTTP/1.1\r\nHost: [fd00::1]:5\r\n\r\n');
  } finally {
    proxy.close();
  }
});

test('HTTP CONNECT refusals: the status line quoted; 401/407 are authentication failures; never the password', async () => {
  let reply = '';
  const proxy = await scriptedProxy((socket) => onRequest(socket, headerDone, () => socket.end(reply)));
  const withPassword = parseProxyUrl(`http://alice:${ENCODED_SECRET}@127.0.0.1:${proxy.port}`, 'proxy');
  const without = parseProxyUrl(`http://127.0.0.1:${proxy.port}`, 'proxy');
  const failsWith = (reason: string, message: RegExp) => (err: unknown) => {
    assert.ok(err instanceof ProxyError, String(err));
    assert.equal(err.reason, reason);
    assert.match(err.message, message);
    assert.ok(!err.message.includes('pa:ss') && !err.message.includes('alice'), err.message);
    return true;
  };
  try {
    reply = 'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n';
    await assert.rejects(
      negotiate(withPassword),
      failsWith('proxy', /^proxy http:\/\/127\.0\.0\.1:\d+ refused the connection to vpn\.example\.com:20203: 403 Forbidden$/),
    );
    reply = 'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="x"\r\n\r\n';
    await assert.rejects(negotiate(without), failsWith('proxy-auth', /requires authentication \(407 Proxy Authentication Required\)/));
    await assert.rejects(negotiate(withPassword), failsWith('proxy-auth', /rejected the user name or password \(407/));
    reply = 'HTTP/1.0 401 Unauthorized\r\n\r\n';
    await assert.rejects(negotiate(withPassword), failsWith('proxy-auth', /rejected the user name or password \(401 Unauthorized\)/));
    reply = 'SSH-2.0-OpenSSH_9.2\r\n\r\n';
    await assert.rejects(negotiate(without), failsWith('proxy', /did not answer as an HTTP proxy: "SSH-2\.0-OpenSSH_9\.2"/));
    reply = 'HTTP/1.1 200 OK\r\n';
    await assert.rejects(negotiate(without), failsWith('proxy', /closed the connection before it was set up/));
  } finally {
    proxy.close();
  }
});

test('a proxy that closes right behind its 200 and a few server bytes: the handshake sees the close at once, not a timeout', async () => {
  const core = loadCore();
  const proxy = await scriptedProxy((socket) => onRequest(socket, headerDone, () => socket.end('HTTP/1.1 200 OK\r\n\r\nabcde')));
  const socket = net.connect(proxy.port, '127.0.0.1');
  socket.on('error', () => {});
  try {
    await once(socket, 'connect');
    const leftover = await openThroughProxy(socket, parseProxyUrl(`http://127.0.0.1:${proxy.port}`, 'proxy'), target, 3000);
    assert.equal(leftover.toString(), 'abcde');
    // Let the end arrive while nobody listens, as between the proxy's reply and the handshake.
    await new Promise((r) => setTimeout(r, 50));
    const params = { core, cipher: 'chacha20-poly1305' as const, pskKey: core.pskKey(Buffer.from('k')), timeoutMs: 5000 };
    const started = Date.now();
    await assert.rejects(
      clientHandshake(socket, params, leftover),
      (err: unknown) => err instanceof HandshakeError && err.reason === 'closed',
    );
    assert.ok(Date.now() - started < 1000);
  } finally {
    socket.destroy();
    proxy.close();
  }
});

test('a proxy that never answers fails within the deadline', async () => {
  const proxy = await scriptedProxy(() => {});
  try {
    const started = Date.now();
    await assert.rejects(
      negotiate(parseProxyUrl(`socks5h://127.0.0.1:${proxy.port}`, 'proxy'), target, 300),
      /did not complete the connection within 0\.3 s/,
    );
    assert.ok(Date.now() - started < 2000);
  } finally {
    proxy.close();
  }
});

/** A SOCKS5 proxy script: checks the greeting and auth, records the CONNECT request, answers `reply` (+ bytes behind it). */
function socks5Script(options: {
  expectAuth: boolean;
  authStatus?: number;
  reply: Buffer;
  record: (request: Buffer, auth?: Buffer) => void;
}) {
  return (socket: net.Socket) => {
    onRequest(
      socket,
      (b) => b.length >= 2 && b.length >= 2 + b[1]!,
      (greeting) => {
        assert.deepEqual([...greeting], options.expectAuth ? [5, 2, 0, 2] : [5, 1, 0]);
        const ask = (request: Buffer, auth?: Buffer) => {
          options.record(request, auth);
          socket.write(options.reply);
        };
        const connectRequest = (auth?: Buffer) =>
          onRequest(
            socket,
            (b) => b.length >= 5 && b.length >= (b[3] === 1 ? 10 : b[3] === 4 ? 22 : 7 + b[4]!),
            (request) => ask(request, auth),
          );
        if (!options.expectAuth) {
          socket.write(Buffer.from([5, 0]));
          connectRequest();
          return;
        }
        socket.write(Buffer.from([5, 2]));
        onRequest(
          socket,
          (b) => b.length >= 2 && b.length >= 3 + b[1]! && b.length >= 3 + b[1]! + b[2 + b[1]!]!,
          (auth) => {
            socket.write(Buffer.from([1, options.authStatus ?? 0]));
            if ((options.authStatus ?? 0) === 0) connectRequest(auth);
          },
        );
      },
    );
  };
}

test('SOCKS5: username/password (RFC 1929), socks5h sends the name, socks5 an address; bytes behind the reply handed back', async () => {
  const behind = Buffer.from('server nonce 16b and more');
  let request = Buffer.alloc(0);
  let auth: Buffer | undefined;
  // The reply carries a bound name (address type 3), which must be read off exactly.
  const reply = Buffer.concat([Buffer.from([5, 0, 0, 3, 4]), Buffer.from('bind'), Buffer.from([0x4e, 0x2b]), behind]);
  const proxy = await scriptedProxy(
    socks5Script({
      expectAuth: true,
      reply,
      record: (r, a) => {
        request = Buffer.from(r);
        auth = a;
      },
    }),
  );
  try {
    const url = `socks5h://bob:${ENCODED_SECRET}@127.0.0.1:${proxy.port}`;
    assert.deepEqual(await negotiate(parseProxyUrl(url, 'proxy')), behind);
    const name = Buffer.from(target.host);
    assert.deepEqual(request, Buffer.concat([Buffer.from([5, 1, 0, 3, name.length]), name, Buffer.from([0x4e, 0xeb])]));
    const secret = Buffer.from(SECRET);
    assert.deepEqual(auth, Buffer.concat([Buffer.from([1, 3]), Buffer.from('bob'), Buffer.from([secret.length]), secret]));
    // socks5:// resolves here: localhost goes out as 127.0.0.1 (or ::1, by the resolver's choice).
    const local = parseProxyUrl(`socks5://bob:x@127.0.0.1:${proxy.port}`, 'proxy');
    assert.deepEqual(await negotiate(local, { host: 'localhost', port: 1 }), behind);
    assert.ok(
      request.equals(Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, 0, 1])) ||
        request.equals(Buffer.concat([Buffer.from([5, 1, 0, 4]), Buffer.alloc(15), Buffer.from([1, 0, 1])])),
      request.toString('hex'),
    );
    assert.deepEqual(await negotiate(local, { host: 'fd00::102:304', port: 258 }), behind);
    assert.deepEqual(request, Buffer.from([5, 1, 0, 4, 0xfd, ...Array(11).fill(0), 1, 2, 3, 4, 1, 2]));
  } finally {
    proxy.close();
  }
});

test('SOCKS5 failures: rejected password, no acceptable method, reply codes in words, not SOCKS5', async () => {
  const failsWith = (reason: string, message: RegExp) => (err: unknown) => {
    assert.ok(err instanceof ProxyError, String(err));
    assert.equal(err.reason, reason, err.message);
    assert.match(err.message, message);
    assert.ok(!err.message.includes('pa:ss'), err.message);
    return true;
  };
  const record = () => {};
  const wrongPassword = await scriptedProxy(socks5Script({ expectAuth: true, authStatus: 1, reply: Buffer.alloc(0), record }));
  const refused = await scriptedProxy(socks5Script({ expectAuth: false, reply: Buffer.from([5, 2, 0, 1, 0, 0, 0, 0, 0, 0]), record }));
  const noMethod = await scriptedProxy((socket) =>
    onRequest(
      socket,
      (b) => b.length >= 3,
      () => socket.write(Buffer.from([5, 0xff])),
    ),
  );
  const http = await scriptedProxy((socket) =>
    onRequest(
      socket,
      (b) => b.length >= 3,
      () => socket.write('HTTP/1.1 400 Bad Request\r\n\r\n'),
    ),
  );
  try {
    await assert.rejects(
      negotiate(parseProxyUrl(`socks5h://bob:${ENCODED_SECRET}@127.0.0.1:${wrongPassword.port}`, 'proxy')),
      failsWith('proxy-auth', /^SOCKS5 proxy socks5h:\/\/127\.0\.0\.1:\d+ rejected the user name or password$/),
    );
    await assert.rejects(
      negotiate(parseProxyUrl(`socks5h://127.0.0.1:${refused.port}`, 'proxy')),
      failsWith('proxy', /could not connect to vpn\.example\.com:20203: connection not allowed by ruleset$/),
    );
    await assert.rejects(
      negotiate(parseProxyUrl(`socks5h://127.0.0.1:${noMethod.port}`, 'proxy')),
      failsWith('proxy-auth', /requires authentication/),
    );
    await assert.rejects(
      negotiate(parseProxyUrl(`socks5h://127.0.0.1:${http.port}`, 'proxy')),
      failsWith('proxy', /is not a SOCKS5 proxy \(it answered version 72\)/),
    );
    await assert.rejects(
      negotiate(parseProxyUrl(`socks5://127.0.0.1:${http.port}`, 'proxy'), { host: 'no-such-host.invalid', port: 1 }),
      failsWith('proxy', /cannot resolve no-such-host\.invalid here .*socks5h:\/\/ the proxy resolves it/),
    );
  } finally {
    for (const p of [wrongPassword, refused, noMethod, http]) p.close();
  }
});

test('a client through a proxy whose 200 and the server nonce share one write completes the handshake and gets packets', {
  timeout: 20_000,
}, async () => {
  const core = loadCore();
  const psk = 'proxy unit test key';
  const pskKey = core.pskKey(Buffer.from(psk));
  const cipher = 'chacha20-poly1305';
  const packet = ipv4Packet(4242, 60);
  let verified = false;
  let connectLine = '';
  // Proxy and ttun server in one script: the server nonce needs no client nonce to be chosen, so it can ride with the 200.
  const proxy = await scriptedProxy((socket) =>
    onRequest(socket, headerDone, (head) => {
      connectLine = head.toString('latin1').split('\r\n')[0]!;
      const ns = Buffer.alloc(16, 0x5a);
      socket.write(Buffer.concat([Buffer.from('HTTP/1.1 200 Connection established\r\n\r\n'), ns]));
      onRequest(
        socket,
        (b) => b.length >= 16 + 2 + 24,
        (bytes) => {
          const sessionKey = core.sessionKey(pskKey, bytes.subarray(0, 16), ns);
          const magic = core.openFrame(cipher, sessionKey, Direction.ClientToServer, 0, bytes.subarray(18, 42));
          verified = magic?.equals(MAGIC) === true;
          socket.write(
            Buffer.concat([
              core.sealFrame(cipher, sessionKey, Direction.ServerToClient, 0, MAGIC),
              core.sealFrame(cipher, sessionKey, Direction.ServerToClient, 1, packet),
            ]),
          );
        },
      );
    }),
  );
  const client = await connect({ psk, server: 'ttun.invalid:20203', tun: false, proxy: `http://127.0.0.1:${proxy.port}` });
  try {
    assert.deepEqual(client.proxy, { url: `http://127.0.0.1:${proxy.port}`, from: 'option' });
    const [peer] = (await once(client, 'up')) as [string];
    assert.equal(peer, `ttun.invalid:20203 via proxy http://127.0.0.1:${proxy.port}`);
    assert.ok(verified, "the client's authentication frame was made with the nonce that came with the 200");
    assert.equal(connectLine, 'CONNECT ttun.invalid:20203 HTTP/1.1');
    const { value } = await client.packets().next();
    assert.deepEqual(value, packet);
  } finally {
    await client.close();
    proxy.close();
  }
});

test('through a refusing proxy the client emits failed (proxy) with the status line, no credentials, and tries again through it', {
  timeout: 20_000,
}, async () => {
  let attempts = 0;
  const proxy = await scriptedProxy((socket) =>
    onRequest(socket, headerDone, () => {
      attempts += 1;
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
    }),
  );
  const client = await connect({
    psk: 'k',
    server: '192.0.2.1:20203',
    tun: false,
    proxy: `http://u:${ENCODED_SECRET}@127.0.0.1:${proxy.port}`,
  });
  const events: string[] = [];
  client.on('connecting', (server, via) => events.push(`connecting ${server} ${via}`));
  client.on('failed', (reason, message) => events.push(`failed ${reason} ${message}`));
  try {
    await once(client, 'reconnecting');
    await once(client, 'failed');
    assert.equal(attempts, 2);
    assert.equal(events[0], `connecting 192.0.2.1:20203 http://127.0.0.1:${proxy.port}`);
    assert.equal(events[1], `failed proxy proxy http://127.0.0.1:${proxy.port} refused the connection to 192.0.2.1:20203: 403 Forbidden`);
    assert.ok(events.every((e) => !e.includes('pa:ss') && !e.includes(ENCODED_SECRET)));
  } finally {
    await client.close();
    proxy.close();
  }
});

test('an unreachable proxy is a connect failure naming the proxy', { timeout: 20_000 }, async () => {
  const closed = net.createServer().listen(0, '127.0.0.1');
  await once(closed, 'listening');
  const port = (closed.address() as net.AddressInfo).port;
  closed.close();
  const client = await connect({ psk: 'k', server: '192.0.2.1:20203', tun: false, proxy: `socks5://127.0.0.1:${port}` });
  try {
    const [reason, message] = (await once(client, 'failed')) as [string, string];
    assert.equal(reason, 'connect');
    assert.match(message, new RegExp(`^cannot connect to proxy socks5://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
  } finally {
    await client.close();
  }
});

test('connect() rejects a bad proxy URL with EBADPROXY before anything starts', async () => {
  await assert.rejects(connect({ psk: 'k', server: 'h:1', tun: false, proxy: 'socks4://h' }), badProxy(/unknown scheme/));
});
