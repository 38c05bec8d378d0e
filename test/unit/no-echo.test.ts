// A key must never come back in an error, however it was mistyped: joined to its flag (-kKEY),
// given to another option, to --psk-file or --config, in the environment or in a config file.
// Every option of both commands gets a sentinel key (a `ttun genpsk` key, which no option
// accepts), through each place it can be set, in `ttun check` and in a run (which fails before it
// creates anything): the command must fail with one line that does not contain the key.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { envName, flagName, inEnv, inFile, optionsOf } from '../../ts/options/option-table.js';

const TTUN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'ttun.js');
const SENTINEL = 'q8Zx/4kP+Yt2Lm9Wn0Rb7Hd1Cf6Vs3Ja5Ge8Tu2Ik4=';
const GOOD_KEY = 'a key that is long enough to be fine';
// Options whose value is a command line to run, or the key itself: a key there is not a mistake ttun can see.
const NOT_CHECKED = new Set(['up', 'down', 'psk']);

function ttun(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [TTUN, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, TTUN_PSK: GOOD_KEY, ...env },
    timeout: 20_000,
  });
  return { code: result.status, out: `${result.stdout}${result.stderr}`, lines: result.stderr.trim().split('\n') };
}

function assertNoEcho(what: string, result: { code: number | null; out: string; lines: string[] }) {
  assert.ok(result.code !== 0 && result.code !== null, `${what}: fails (exit ${result.code}): ${result.out}`);
  assert.equal(result.lines.length, 1, `${what}: one line: ${result.out}`);
  assert.ok(!result.out.includes(SENTINEL), `${what}: the key is echoed: ${result.out}`);
  // Nor a good part of it (a message that quotes 40 characters of a value would).
  assert.ok(!result.out.includes(SENTINEL.slice(0, 12)), `${what}: part of the key is echoed: ${result.out}`);
}

test('-kKEY, -sKEY and other values joined to a one-letter flag are not echoed', () => {
  for (const args of [
    ['server', `-k${SENTINEL}`],
    ['client', `-s${SENTINEL}`],
    ['server', `-l${SENTINEL}`],
    ['server', `-m${SENTINEL}`],
  ]) {
    assertNoEcho(args.join(' '), ttun(args));
  }
  assertNoEcho('a stray word', ttun(['server', '-k', GOOD_KEY, SENTINEL]));
  assertNoEcho('--psk=KEY with a missing -s', ttun(['client', `--psk=${SENTINEL}`]));
});

test('a key given to any option, by flag, environment or config file, in check and in a run: never echoed', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ttun-no-echo-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let checked = 0;
  for (const command of ['server', 'client'] as const) {
    // A client needs -s; given unless -s is the option under test.
    const base = (name: string) => (command === 'client' && name !== 'server' ? ['-s', '192.0.2.1:20203'] : []);
    for (const spec of optionsOf(command).filter((s) => !NOT_CHECKED.has(s.name))) {
      // --group is only looked at with --user.
      const extra = spec.name === 'group' ? ['--user', 'root'] : [];
      const flag = `--${spec.name}`;
      for (const mode of [['check', command], [command]]) {
        assertNoEcho(`${mode.join(' ')} ${flag} KEY`, ttun([...mode, ...base(spec.name), ...extra, flag, SENTINEL]));
        assertNoEcho(`${mode.join(' ')} ${flag}=KEY`, ttun([...mode, ...base(spec.name), ...extra, `${flag}=${SENTINEL}`]));
        if (inEnv(spec)) {
          assertNoEcho(
            `${mode.join(' ')} ${envName(spec)}=KEY`,
            ttun([...mode, ...base(spec.name), ...extra], { [envName(spec)]: SENTINEL }),
          );
        }
        if (inFile(spec)) {
          const file = join(dir, `${command}-${spec.name}.json`);
          writeFileSync(file, JSON.stringify({ [spec.name]: spec.type === 'array' ? [SENTINEL] : SENTINEL }));
          assertNoEcho(`${mode.join(' ')} "${spec.name}" in a file`, ttun([...mode, ...base(spec.name), ...extra, '--config', file]));
        }
        checked++;
      }
      assert.ok(flagName(spec));
    }
  }
  assert.ok(checked > 40, `checked ${checked} option and mode pairs`);
});
