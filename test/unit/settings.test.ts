// Options from the command line, TTUN_<FLAG> variables and a --config JSON file (ts/settings.ts),
// and `ttun check` (the real CLI; it creates nothing, so no root is needed).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkReport } from '../../ts/cli/check.js';
import { parseJsonText } from '../../ts/options/json-text.js';
import { envName, inEnv, OPTIONS, type OptionSpec } from '../../ts/options/option-table.js';
import { resolveSettings, type Settings } from '../../ts/options/settings.js';
import { TtunError } from '../../ts/shared/errors.js';
import { redactCredentials } from '../../ts/shared/redact.js';

const TTUN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'ttun.js');
const SECRET = 'super secret key 0123456789';
const PROXY_PASSWORD = 'pr0xy-Pa55';

/** resolveSettings with a config file held in memory. */
function settings(command: 'server' | 'client', flags: Record<string, unknown>, env: Record<string, string>, file?: string): Settings {
  const commandLine = file === undefined ? flags : { config: 'test.json', ...flags };
  return resolveSettings(command, commandLine, env, (path) => {
    assert.equal(path, 'test.json');
    return file!;
  });
}

/** The TtunError a bad configuration gives: a usage error (EBADCONFIG), one line. */
function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof TtunError, String(err));
    assert.equal(err.code, 'EBADCONFIG');
    assert.ok(!err.message.includes('\n'), err.message);
    return err.message;
  }
  assert.fail('expected an error');
}

test('precedence: flag > env > file > default, for a string, a number, a boolean and an array option', () => {
  // An array option, as the table would hold one (e.g. --route): settings.ts must handle it with no more code.
  const route: OptionSpec = { name: 'test-route', type: 'array', describe: 'test', commands: ['server', 'client'] };
  (OPTIONS as OptionSpec[]).push(route);
  try {
    const file = JSON.stringify({ cipher: 'aes-256-gcm', mtu: 1300, mptcp: true, 'test-route': ['10.9.0.0/16', 'fd09::/64'] });
    const fileOnly = settings('server', {}, {}, file);
    assert.deepEqual(
      ['cipher', 'mtu', 'mptcp', 'test-route'].map((n) => [fileOnly.get(n), fileOnly.sourceOf(n)]),
      [
        ['aes-256-gcm', 'file'],
        [1300, 'file'],
        [true, 'file'],
        [['10.9.0.0/16', 'fd09::/64'], 'file'],
      ],
    );
    const env = {
      TTUN_CIPHER: 'chacha20-poly1305',
      TTUN_MTU: '1400',
      TTUN_MPTCP: 'false',
      TTUN_TEST_ROUTE: '10.7.0.0/16, fd07::/64 10.8.0.0/16',
    };
    const withEnv = settings('server', {}, env, file);
    assert.deepEqual(
      ['cipher', 'mtu', 'mptcp', 'test-route'].map((n) => [withEnv.get(n), withEnv.sourceOf(n)]),
      [
        ['chacha20-poly1305', 'env'],
        [1400, 'env'],
        [false, 'env'],
        [['10.7.0.0/16', 'fd07::/64', '10.8.0.0/16'], 'env'],
      ],
    );
    // What yargs hands over: strings (and booleans), an array when a repeatable flag is given twice.
    const flags = { cipher: 'aes-256-gcm', mtu: '1500', mptcp: '', 'test-route': ['10.6.0.0/16', 'fd06::/64'] };
    const withFlags = settings('server', flags, env, file);
    assert.deepEqual(
      ['cipher', 'mtu', 'mptcp', 'test-route'].map((n) => [withFlags.get(n), withFlags.sourceOf(n)]),
      [
        ['aes-256-gcm', 'flag'],
        [1500, 'flag'],
        [true, 'flag'],
        [['10.6.0.0/16', 'fd06::/64'], 'flag'],
      ],
    );
    assert.deepEqual(settings('server', { 'test-route': '10.5.0.0/16' }, {}).get('test-route'), ['10.5.0.0/16']);
    const defaults = settings('server', {}, {});
    assert.deepEqual(
      ['cipher', 'mtu', 'mptcp', 'test-route', 'listen'].map((n) => [defaults.get(n), defaults.sourceOf(n)]),
      [
        ['chacha20-poly1305', 'default'],
        [1280, 'default'],
        [false, 'default'],
        [undefined, undefined],
        [':20203', 'default'],
      ],
    );
    // A string in a file reads as the environment's text does.
    assert.deepEqual(settings('server', {}, {}, '{"test-route": "10.0.0.0/8, fd00::/8"}').get('test-route'), ['10.0.0.0/8', 'fd00::/8']);
    assert.match(
      configError(() => settings('server', {}, {}, '{"test-route": [1]}')),
      /"test-route" in test.json must be an array of strings, not an array with non-strings/,
    );
  } finally {
    (OPTIONS as OptionSpec[]).splice(OPTIONS.indexOf(route), 1);
  }
});

test('the config file is named by --config or TTUN_CONFIG; empty variables are unset', () => {
  const read = (path: string) => {
    assert.equal(path, '/etc/ttun/a.json');
    return '{"listen": ":1"}';
  };
  assert.equal(resolveSettings('server', {}, { TTUN_CONFIG: '/etc/ttun/a.json' }, read).get('listen'), ':1');
  assert.equal(resolveSettings('server', { config: '/etc/ttun/a.json' }, { TTUN_CONFIG: '/nope' }, read).sourceOf('config'), 'flag');
  assert.equal(settings('server', {}, { TTUN_MTU: '' }).sourceOf('mtu'), 'default');
  // A relative key file in a config file is next to the config file; on the command line, in the working directory.
  const relative = (file: string) => resolveSettings('server', { config: file }, {}, () => '{"psk-file": "a.key"}').get('psk-file');
  assert.equal(relative('/etc/ttun/a.json'), '/etc/ttun/a.key');
  assert.equal(relative('/etc/ttun/sub/../b.json'), '/etc/ttun/a.key');
  assert.equal(resolveSettings('server', { 'psk-file': 'a.key' }, {}).get('psk-file'), 'a.key');
  assert.match(
    configError(() => resolveSettings('server', { config: '/nonexistent/ttun.json' }, {})),
    /^cannot read the config file \(--config\): no such file$/,
  );
});

test('booleans read the same from a flag, the environment and a file: true/false, 1/0, yes/no, on/off', () => {
  for (const [text, value] of [
    ['true', true],
    ['1', true],
    ['TRUE', true],
    ['yes', true],
    ['on', true],
    ['false', false],
    ['0', false],
    ['no', false],
    ['Off', false],
  ] as const) {
    assert.equal(settings('client', {}, { TTUN_MPTCP: text }).get('mptcp'), value, text);
    assert.equal(settings('client', { mptcp: text }, {}).get('mptcp'), value, text);
    assert.equal(settings('client', {}, {}, JSON.stringify({ mptcp: text })).get('mptcp'), value, text);
  }
  // A bare --mptcp, --no-mptcp, a JSON boolean.
  assert.equal(settings('client', { mptcp: '' }, {}).get('mptcp'), true);
  assert.equal(settings('client', { mptcp: false }, {}).get('mptcp'), false);
  assert.equal(settings('client', {}, {}, '{"mptcp": true}').get('mptcp'), true);
  for (const [flags, env, file, where] of [
    [{ mptcp: 'maybe' }, {}, undefined, '--mptcp'],
    [{}, { TTUN_MPTCP: 'maybe' }, undefined, 'TTUN_MPTCP'],
    [{}, {}, '{"mptcp": "maybe"}', '"mptcp" in test.json'],
  ] as const) {
    assert.equal(
      configError(() => settings('client', flags, env, file)),
      `bad ${where}: use true or false (1/0, yes/no, on/off)`,
    );
  }
  assert.equal(
    configError(() => settings('client', {}, { TTUN_MTU: 'abc' })),
    'TTUN_MTU takes a number',
  );
  assert.equal(
    configError(() => settings('client', {}, { TTUN_STATS: '0' })),
    'TTUN_STATS takes a number of seconds above 0',
  );
  assert.equal(
    configError(() => settings('client', {}, { TTUN_LOG_FORMAT: 'xml' })),
    'bad TTUN_LOG_FORMAT: use text or json',
  );
});

test('unknown keys, keys of the other command and wrong types are errors naming the key', () => {
  assert.equal(
    configError(() => settings('server', {}, {}, '{"mtu": 1400, "colour": "blue"}')),
    'unknown option "colour" in test.json',
  );
  assert.equal(
    configError(() => settings('server', {}, {}, '{"m": "aes-256-gcm"}')),
    'unknown option "m" in test.json: write "cipher"',
  );
  assert.equal(
    configError(() => settings('client', {}, {}, '{"server": "h:1", "listen": ":20203"}')),
    '"listen" in test.json is an option of ttun server, not of ttun client',
  );
  assert.equal(
    configError(() => settings('server', {}, {}, '{"server": "h:1"}')),
    '"server" in test.json is an option of ttun client, not of ttun server',
  );
  assert.equal(
    configError(() => settings('server', {}, {}, '{"mtu": "abc"}')),
    '"mtu" in test.json takes a number',
  );
  assert.equal(
    configError(() => settings('server', {}, {}, '{"mtu": true}')),
    '"mtu" in test.json must be a number, not a boolean',
  );

  assert.equal(
    configError(() => settings('server', {}, {}, '{"listen": null}')),
    '"listen" in test.json must be a string, not null',
  );
  assert.equal(
    configError(() => settings('server', {}, {}, '{"stats": -1}')),
    '"stats" in test.json takes a number of seconds above 0',
  );
  assert.equal(
    configError(() => settings('server', {}, {}, '{"log-format": "xml"}')),
    'bad "log-format" in test.json: use text or json',
  );
  assert.equal(
    configError(() => settings('server', {}, {}, '{"config": "other.json"}')),
    '"config" cannot be set in a config file (test.json)',
  );
  assert.equal(
    configError(() => settings('server', {}, {}, '[1, 2]')),
    'test.json must hold one JSON object ({"option": value, ...}), not an array with non-strings',
  );
  assert.equal(
    configError(() => settings('server', {}, {}, '{"__proto__": 1}')),
    'unknown option "__proto__" in test.json',
  );
});

test('the key in a config file is refused without repeating it', () => {
  for (const key of ['psk', 'k']) {
    const message = configError(() => settings('server', {}, {}, JSON.stringify({ [key]: SECRET })));
    assert.equal(message, `test.json must not hold the key ("${key}"): give "psk-file" in the file, or TTUN_PSK`);
    assert.ok(!message.includes(SECRET));
  }
  // TTUN_PSK is not the -k flag's variable: it stays the key of last resort (psk-source.ts).
  const fromEnv = settings('server', {}, { TTUN_PSK: SECRET });
  assert.equal(fromEnv.get('psk'), undefined);
});

test('bad JSON: one line with the file name, line and column, and no text from the file', () => {
  const cases: Array<[string, RegExp]> = [
    [
      `{\n  "listen": ":1",\n  "proxy": "http://u:${PROXY_PASSWORD}@h" }x`,
      /^bad JSON in test.json at line 3, column 37: unexpected text after/,
    ],
    [`{"mtu": 1400,}`, /^bad JSON in test.json at line 1, column 14: expected a key in double quotes$/],
    [`{"cipher": '${PROXY_PASSWORD}'}`, /^bad JSON in test.json at line 1, column 12: expected a value/],
    [`{"mtu" 1400}`, /^bad JSON in test.json at line 1, column 8: expected ':' after the key$/],
    [`{"mtu": 1400`, /^bad JSON in test.json at line 1, column 13: unexpected end of file, expected ',' or '}'$/],
    [`{"mtu": 1400, "mtu": 1500}`, /^bad JSON in test.json at line 1, column 15: "mtu" is given twice$/],
    [`{"user": "a\nb"}`, /line 1, column 12: a control character/],
    ['', /line 1, column 1: unexpected end of file, expected a value$/],
  ];
  for (const [text, pattern] of cases) {
    const message = configError(() => settings('server', {}, {}, text));
    assert.match(message, pattern, text);
    assert.ok(!message.includes(PROXY_PASSWORD), message);
  }
  // What it accepts is JSON, read as JSON.parse reads it.
  const text = '\uFEFF{"a": [1, -2.5e3, "x\\u00e9\\n", true, false, null, {}], "b": {"c": []}}';
  const parsed = parseJsonText(text) as Map<string, unknown>;
  assert.deepEqual(parsed.get('a'), [1, -2500, 'xé\n', true, false, null, new Map()]);
  assert.deepEqual(parsed.get('b'), new Map([['c', []]]));
});

test('every option has a TTUN_ variable except the key and --datapath; none collides with the variables ttun already reads', () => {
  const taken = new Set(['TTUN_PSK', 'TTUN_NATIVE', 'TTUN_NATIVE_LIBRARY_PATH', 'TTUN_DATAPATH', 'TTUN_AEAD']);
  for (const spec of OPTIONS) {
    assert.equal(inEnv(spec), spec.name !== 'psk' && spec.name !== 'datapath', spec.name);
    if (inEnv(spec)) assert.ok(!taken.has(envName(spec)), envName(spec));
  }
  assert.equal(envName(OPTIONS.find((s) => s.name === 'psk-file')!), 'TTUN_PSK_FILE');
  assert.equal(envName(OPTIONS.find((s) => s.name === 'log-format')!), 'TTUN_LOG_FORMAT');
});

test('URL credentials are redacted', () => {
  assert.equal(redactCredentials(`http://user:${PROXY_PASSWORD}@proxy:3128`), 'http://***@proxy:3128');
  assert.equal(redactCredentials(`socks5h://u:p@ss@proxy:1080/x`), 'socks5h://***@proxy:1080/x');
  assert.equal(redactCredentials(`user:${PROXY_PASSWORD}@proxy:3128`), '***@proxy:3128');
  assert.equal(redactCredentials('http://proxy:3128'), 'http://proxy:3128');
  assert.equal(redactCredentials('[fd00::1]:20203'), '[fd00::1]:20203');
  assert.equal(redactCredentials('10.0.0.0/8 admin@example.com'), '10.0.0.0/8 admin@example.com');
});

function ttunCheck(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [TTUN, 'check', ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('ttun check: effective settings and their sources, the key only as its length and source, exit 0; a bad configuration exits 2 with one line', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ttun-check-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'key');
  writeFileSync(keyFile, `${SECRET}\n`, { mode: 0o600 });
  const config = join(dir, 'server.json');
  writeFileSync(config, JSON.stringify({ 'psk-file': keyFile, listen: ':20300', mtu: 1300, cipher: 'aes-256-gcm', stats: 5 }));
  const ok = ttunCheck(['server', '--config', config, '--mtu', '1500'], { TTUN_LISTEN: ':20400', TTUN_LOG_FORMAT: 'json' });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stderr, '');
  const row = (name: string) =>
    ok.stdout
      .split('\n')
      .find((l) => l.trim().startsWith(`${name} `))
      ?.trim()
      .split(/\s{2,}/);
  assert.deepEqual(row('config'), ['config', config, 'flag (--config)']);
  assert.deepEqual(row('psk-file'), ['psk-file', keyFile, `file (${config})`]);
  assert.deepEqual(row('key'), ['key', `(hidden, ${SECRET.length} bytes)`, 'from --psk-file']);
  assert.deepEqual(row('listen'), ['listen', ':20400', 'env (TTUN_LISTEN)']);
  assert.deepEqual(row('mtu'), ['mtu', '1500', 'flag (--mtu)']);
  assert.deepEqual(row('cipher'), ['cipher', 'aes-256-gcm', `file (${config})`]);
  assert.deepEqual(row('log-format'), ['log-format', 'json', 'env (TTUN_LOG_FORMAT)']);
  assert.deepEqual(row('mptcp'), ['mptcp', 'false', 'default']);
  assert.deepEqual(row('user'), ['user', '-', 'not set']);
  assert.ok(!ok.stdout.includes(SECRET));

  // The key from TTUN_PSK or -k: never printed, and neither source is a config file.
  const fromEnv = ttunCheck(['client', '-s', 'vpn.example.com:443'], { TTUN_PSK: SECRET });
  assert.equal(fromEnv.code, 0, fromEnv.stderr);
  assert.match(fromEnv.stdout, /key\s+\(hidden, 27 bytes\)\s+from TTUN_PSK/);
  assert.match(fromEnv.stdout, /server\s+vpn\.example\.com:443\s+flag \(-s\)/);
  const fromFlag = ttunCheck(['client', '-k', SECRET, '-s', 'h:1']);
  assert.equal(fromFlag.code, 0, fromFlag.stderr);
  assert.match(fromFlag.stdout, /key\s+\(hidden, 27 bytes\)\s+from -k/);
  assert.match(fromFlag.stdout, /^warning: -k puts the key in the process list/m);
  // -k on the command line wins over a psk-file from the config file (or TTUN_PSK_FILE); both as flags stay an error.
  const flagOverFile = ttunCheck(['server', '--config', config, '-k', SECRET], { TTUN_PSK_FILE: keyFile });
  assert.equal(flagOverFile.code, 0, flagOverFile.stderr);
  assert.match(flagOverFile.stdout, /key\s+\(hidden, 27 bytes\)\s+from -k/);
  for (const out of [fromEnv, fromFlag, flagOverFile]) assert.ok(!(out.stdout + out.stderr).includes(SECRET));

  // Every check the API makes (config.ts), without a TUN or socket; the key file is read.
  const bad: Array<[string[], Record<string, string>, RegExp]> = [
    [['server', '--config', config], { TTUN_MTU: '1000' }, /^ttun: bad TTUN_MTU: use a whole number from 1280 to 65519$/],
    [['server', '--config', config, '-m', 'rot13'], {}, /^ttun: bad --cipher: use one of chacha20-poly1305, aes-256-gcm/],
    [['server', '--config', config], { TTUN_LISTEN: 'nowhere:port' }, /^ttun: bad TTUN_LISTEN: the port must be 0..65535/],
    [['client', '--config', config], {}, /^ttun: "listen" in .*server\.json is an option of ttun server, not of ttun client$/],
    [['client', '-s', '[zz]:1'], { TTUN_PSK: SECRET }, /^ttun: bad -s: /],
    [['client'], { TTUN_PSK: SECRET }, /^ttun: the server address is required/],
    [['server'], {}, /^ttun: a pre-shared key is required/],
    [['server', '--psk-file', join(dir, 'missing')], {}, /^ttun: cannot read the key file \(--psk-file\): no such file$/],
    [['server', '--user', 'no-such-user-here'], { TTUN_PSK: SECRET }, /^ttun: unknown user: no such account/],
    [['server', '--user', 'root', '--group', 'no-such-group-here'], { TTUN_PSK: SECRET }, /^ttun: unknown group: no such group/],
    [['server', '--group', 'root'], { TTUN_PSK: SECRET }, /^ttun: --group needs --user/],
    [['server', '-k', SECRET, '-k', SECRET], {}, /^ttun: -k is given more than once/],
    [['server', '-k', SECRET, '--psk-file', keyFile], {}, /^ttun: give the key one way only: -k or --psk-file$/],
    [['server', '--config', join(dir, 'missing.json')], { TTUN_PSK: SECRET }, /^ttun: cannot read the config file/],
    [['frobnicator'], {}, /^ttun: cannot check "frobnicator": use ttun check server or ttun check client$/],
  ];
  for (const [args, env, pattern] of bad) {
    const result = ttunCheck(args, env);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr.trim(), pattern);
    assert.ok(!result.stderr.includes(SECRET));
  }
});

test('ttun check redacts credentials in URL values', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ttun-check-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // A URL-valued option as the proxy option will be one: the report must not show its password.
  const proxy: OptionSpec = { name: 'test-proxy', type: 'string', describe: 'test', commands: ['client'] };
  (OPTIONS as OptionSpec[]).push(proxy);
  try {
    const config = join(dir, 'client.json');
    writeFileSync(config, JSON.stringify({ 'test-proxy': `http://admin:${PROXY_PASSWORD}@proxy.example:3128`, server: 'h:1' }));
    const s = resolveSettings('client', { config }, {});
    const report = checkReport(s, { from: 'TTUN_PSK', bytes: 27, warnings: [] });
    assert.match(report, /test-proxy\s+http:\/\/\*\*\*@proxy\.example:3128\s+file/);
    assert.ok(!report.includes(PROXY_PASSWORD) && !report.includes('admin'), report);
  } finally {
    (OPTIONS as OptionSpec[]).splice(OPTIONS.indexOf(proxy), 1);
  }
});

test('the server admission limits and the handshake deadlines are options too; ttun check applies the API checks to them', () => {
  const env = { TTUN_PSK: SECRET, TTUN_NONCE_TIMEOUT_MS: '2500' };
  const ok = ttunCheck(
    ['server', '--max-pending-handshakes', '16', '--max-pending-handshakes-per-source', '4', '--handshake-timeout-ms', '8000'],
    env,
  );
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /max-pending-handshakes\s+16\s+flag \(--max-pending-handshakes\)/);
  assert.match(ok.stdout, /max-pending-handshakes-per-source\s+4\s+flag/);
  assert.match(ok.stdout, /nonce-timeout-ms\s+2500\s+env \(TTUN_NONCE_TIMEOUT_MS\)/);
  assert.match(ok.stdout, /handshake-timeout-ms\s+8000\s+flag/);
  // A per-source bound above the total is the API's error, so the CLI's too: one line, exit 2.
  const over = ttunCheck(['server', '--max-pending-handshakes', '4', '--max-pending-handshakes-per-source', '8'], env);
  assert.equal(over.code, 2);
  assert.equal(over.stderr.trim().split('\n').length, 1);
  assert.match(over.stderr, /^ttun: bad --max-pending-handshakes-per-source: it cannot exceed .* \(4\)$/m);
  // Only the server has them.
  const client = ttunCheck(['client', '-s', 'vpn.example.com:443', '--max-pending-handshakes', '4'], env);
  assert.equal(client.code, 2);
  assert.match(client.stderr, /unknown option --max-pending-handshakes/);
});

test('ttun check shows values the API settles: the per-source default, a proxy from the environment', () => {
  const server = ttunCheck(['server', '-k', SECRET]);
  assert.equal(server.code, 0, server.stderr);
  assert.match(server.stdout, /^ {2}max-pending-handshakes-per-source +8 +default$/m);
  const fewer = ttunCheck(['server', '-k', SECRET, '--max-pending-handshakes', '4']);
  assert.match(fewer.stdout, /^ {2}max-pending-handshakes-per-source +4 +default$/m);
  const proxied = ttunCheck(['client', '-k', SECRET, '-s', 'vpn.example.com:20203'], { HTTPS_PROXY: 'http://u:pass word@proxy:3128' });
  assert.equal(proxied.code, 0, proxied.stderr);
  assert.match(proxied.stdout, /^ {2}proxy +http:\/\/proxy:3128 +env \(HTTPS_PROXY\)$/m);
  assert.ok(!proxied.stdout.includes('pass word'));
  const bypassed = ttunCheck(['client', '-k', SECRET, '-s', 'vpn.example.com:20203'], {
    HTTPS_PROXY: 'http://proxy:3128',
    NO_PROXY: 'example.com',
  });
  assert.match(bypassed.stdout, /^ {2}proxy +none +env \(NO_PROXY covers the server\)$/m);
});
