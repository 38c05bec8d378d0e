// One reading of every option, wherever it is set: for each option of the table, a valid and an
// invalid value given as a flag, as TTUN_<OPTION> and in a config file. `ttun check` must accept
// the valid one from every place (exit 0) and refuse the invalid one from every place (exit 2, one
// line naming that place); a run (`ttun server|client`) refuses the invalid one with the very same
// line, before it creates anything (the run and check share prepare() and the API's parse). A run
// of each valid value would start a tunnel: the end-to-end tests start runs from all three places.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type EndpointCommand, inEnv, inFile, OPTIONS, type OptionSpec } from '../../ts/options/option-table.js';
import { describeSource } from '../../ts/options/settings.js';

const TTUN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'ttun.js');
const KEY = 'option sources test key 0123456789';

/** A valid and an invalid text for each option; `null`: nothing to test (the key, the config file itself). */
const SAMPLES: Record<string, { valid: string; invalid: string } | null> = {
  config: null,
  psk: null,
  'psk-file': { valid: '<key file>', invalid: '/nonexistent/key' },
  server: { valid: 'vpn.example.com:20203', invalid: 'vpn.example.com:0' },
  proxy: { valid: 'http://proxy.example:3128', invalid: 'gopher://proxy.example' },
  listen: { valid: '127.0.0.1:20300', invalid: ':70000' },
  cipher: { valid: 'aes-256-gcm', invalid: 'rot13' },
  mtu: { valid: '1400', invalid: '1000' },
  user: { valid: 'root', invalid: 'no-such-user-ttun' },
  group: { valid: 'root', invalid: 'no-such-group-ttun' },
  mptcp: { valid: 'yes', invalid: 'maybe' },
  'super-frames': { valid: 'no', invalid: 'sometimes' },
  datapath: { valid: 'event-loop', invalid: 'teleport' },
  'log-format': { valid: 'json', invalid: 'xml' },
  'log-level': { valid: 'warn', invalid: 'verbose' },
  stats: { valid: '5', invalid: '0' },
  'handshake-timeout-ms': { valid: '5000', invalid: '-1' },
  'nonce-timeout-ms': { valid: '3000', invalid: '0' },
  'max-pending-handshakes': { valid: '16', invalid: '0' },
  'max-pending-handshakes-per-source': { valid: '4', invalid: '0' },
  dev: { valid: 'vpn7', invalid: 'no spaces allowed' },
  address: { valid: '10.9.9.1/30', invalid: '10.9.9.1' },
  route: { valid: '198.51.100.0/24', invalid: '198.51.100.1/24' },
  up: { valid: 'true', invalid: ' ' },
  down: { valid: 'true', invalid: ' ' },
  metrics: { valid: '9464', invalid: 'nowhere' },
};

function ttun(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [TTUN, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, TTUN_PSK: KEY, ...env },
    timeout: 20_000,
  });
  return { code: r.status, stderr: r.stderr, lines: r.stderr.trim().split('\n') };
}

test('every option of the table has samples here', () => {
  assert.deepEqual(
    OPTIONS.map((s) => s.name).filter((name) => !(name in SAMPLES)),
    [],
  );
});

test('flag, environment and file read every option alike, in ttun check and in a run', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ttun-sources-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'key');
  writeFileSync(keyFile, KEY, { mode: 0o600 });
  const cases = OPTIONS.flatMap((spec) => spec.commands.map((command) => [spec, command] as const));
  let checked = 0;
  for (const [spec, command] of cases) {
    const sample = SAMPLES[spec.name];
    if (!sample) continue;
    const text = (value: string) => (value === '<key file>' ? keyFile : value);
    // What else the command needs: a client its server, --group its --user.
    const needs = [
      ...(command === 'client' && spec.name !== 'server' ? ['-s', '192.0.2.1:20203'] : []),
      ...(spec.name === 'group' ? ['--user', 'root'] : []),
    ];
    const places: Array<['flag' | 'env' | 'file', (value: string) => { args: string[]; env: Record<string, string> }]> = [
      ['flag', (value) => ({ args: [`--${spec.name}`, text(value)], env: {} })],
    ];
    if (inEnv(spec)) places.push(['env', (value) => ({ args: [], env: { [envOf(spec)]: text(value) } })]);
    if (inFile(spec)) {
      places.push([
        'file',
        (value) => {
          const file = join(dir, `${command}-${spec.name}-${checked}.json`);
          writeFileSync(file, JSON.stringify({ [spec.name]: spec.type === 'array' ? [text(value)] : text(value) }));
          return { args: ['--config', file], env: {} };
        },
      ]);
    }
    for (const [place, given] of places) {
      const valid = given(sample.valid);
      const ok = ttun(['check', command, ...needs, ...valid.args], valid.env);
      assert.equal(ok.code, 0, `check ${command} accepts ${spec.name} from the ${place}: ${ok.stderr}`);
      const invalid = given(sample.invalid);
      const refused = ttun(['check', command, ...needs, ...invalid.args], invalid.env);
      assert.equal(refused.code, 2, `check ${command} refuses ${spec.name} from the ${place}: ${refused.stderr}`);
      assert.equal(refused.lines.length, 1, refused.stderr);
      if (place !== 'file' || spec.name !== 'psk-file') {
        // The line names where the value came from (a missing key file is named by its option).
        const where = place === 'flag' ? /(--|-)[a-z]/ : place === 'env' ? new RegExp(envOf(spec)) : /in \S+\.json/;
        if (!['user', 'group', 'psk-file'].includes(spec.name)) assert.match(refused.lines[0]!, where, refused.stderr);
      }
      const run = ttun([command, ...needs, ...invalid.args], invalid.env);
      // A usage error exits 2; a key file that cannot be read is a run-time failure (1); check says 2 for all.
      assert.equal(run.code, spec.name === 'psk-file' ? 1 : 2, `${command} refuses ${spec.name} from the ${place}: ${run.stderr}`);
      assert.equal(run.stderr, refused.stderr, `the run and check say the same about ${spec.name} from the ${place}`);
      checked++;
    }
  }
  assert.ok(checked > 50, `${checked} cases`);
});

function envOf(spec: OptionSpec): string {
  return describeSource(spec, 'env', undefined);
}

export type { EndpointCommand };
