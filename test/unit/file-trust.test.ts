// Files root trusts: a config file that sets up/down (commands run as root) or names the key file,
// and the key file, are refused when another user owns them or could write or replace them; a
// config file holding a proxy password that others can read gets a warning. `ttun check` and a run
// say the same thing, before anything is created.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const TTUN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'ttun.js');
const NOBODY = 65534;

function ttun(args: string[]) {
  const r = spawnSync(process.execPath, [TTUN, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  return {
    code: r.status,
    stdout: r.stdout,
    lines: r.stderr
      .trim()
      .split('\n')
      .filter((l) => l !== ''),
  };
}

/** The same refusal from `ttun check server` and from `ttun server` itself, which must create nothing first. */
function refusedByBoth(args: string[], message: RegExp): void {
  const check = ttun(['check', 'server', ...args]);
  // The run would create a TUN named after this test if it got that far: a sure sign it did.
  const run = ttun(['server', ...args, '--dev', 'ttunfiletrust', '-l', '127.0.0.1:0']);
  for (const [what, r] of [
    ['check', check],
    ['run', run],
  ] as const) {
    assert.equal(r.code, 2, `${what} ${args.join(' ')}: ${r.lines.join('\n')}`);
    assert.equal(r.lines.length, 1, `${what}: one line, got:\n${r.lines.join('\n')}`);
    assert.match(r.lines[0]!, message, what);
  }
  assert.equal(check.lines[0], run.lines[0], 'check and the run say the same');
}

/** A fresh directory (removed after the test) with a key file of mode 0600 in it; the rule applies to root only. */
function rootDirWithKey(t: { after: (fn: () => void) => void }, keyName: string): { dir: string; key: string } {
  assert.equal(process.geteuid?.(), 0, 'this test needs root (the rule applies to root only); run the unit tests as root');
  const dir = mkdtempSync(join(tmpdir(), 'ttun-file-trust-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const key = join(dir, keyName);
  writeFileSync(key, 'file trust test key 0123456789abcdef\n', { mode: 0o600 });
  return { dir, key };
}

test('as root: untrusted command-running config files and key files are refused by check and run alike', (t) => {
  const { dir, key } = rootDirWithKey(t, 'office.key');
  const config = join(dir, 'office.json');
  writeFileSync(config, JSON.stringify({ up: 'true' }), { mode: 0o644 });
  const plain = join(dir, 'plain.json');
  writeFileSync(plain, JSON.stringify({ mtu: 1400 }), { mode: 0o666 });
  chmodSync(plain, 0o666);

  // Trusted as they are.
  const ok = ttun(['check', 'server', '--config', config, '--psk-file', key]);
  assert.equal(ok.code, 0, ok.lines.join('\n'));
  assert.deepEqual(ok.lines, []);

  chmodSync(config, 0o666);
  refusedByBoth(
    ['--config', config, '--psk-file', key],
    /^ttun: refusing \S+office\.json, which sets up, run as root: \S+office\.json is writable by every user \(mode 666\): chmod go-w \S+office\.json$/,
  );
  chmodSync(config, 0o664);
  refusedByBoth(['--config', config, '--psk-file', key], /writable by its group \(mode 664\)/);
  chmodSync(config, 0o644);
  chownSync(config, NOBODY, 0);
  refusedByBoth(['--config', config, '--psk-file', key], /is owned by uid 65534, not root: chown root \S+office\.json$/);
  chownSync(config, 0, 0);

  // A file that runs nothing and names no key may be anyone's to write (it still passes its own checks).
  const loose = ttun(['check', 'server', '--config', plain, '--psk-file', key]);
  assert.equal(loose.code, 0, loose.lines.join('\n'));

  // The key file, however it is named.
  chownSync(key, NOBODY, 0);
  refusedByBoth(['--psk-file', key], /^ttun: refusing \S+office\.key, which is the key file: \S+ is owned by uid 65534/);
  chownSync(key, 0, 0);
  chmodSync(key, 0o620);
  refusedByBoth(['--psk-file', key], /which is the key file: \S+ is writable by its group/);
  chmodSync(key, 0o600);

  // A directory on the way that others can write lets them replace the file; a sticky one (/tmp) does not.
  const open = join(dir, 'open');
  mkdirSync(open);
  const keyInOpen = join(open, 'k');
  writeFileSync(keyInOpen, 'file trust test key 0123456789abcdef\n', { mode: 0o600 });
  chmodSync(open, 0o777);
  refusedByBoth(['--psk-file', keyInOpen], /which is the key file: \S+\/open is writable by every user \(mode 777\): chmod go-w /);
  chmodSync(open, 0o1777);
  assert.equal(ttun(['check', 'server', '--psk-file', keyInOpen]).code, 0);

  // A config file that names the key file chooses the key: the same rule.
  const naming = join(dir, 'naming.json');
  writeFileSync(naming, JSON.stringify({ 'psk-file': key }), { mode: 0o666 });
  chmodSync(naming, 0o666);
  refusedByBoth(['--config', naming], /^ttun: refusing \S+naming\.json, which names the key file: /);
});

test('as root: a config file holding a proxy password that others can read gets a warning in ttun check (a run logs the same warnings as it starts)', (t) => {
  const { dir, key } = rootDirWithKey(t, 'k');
  const config = join(dir, 'c.json');
  writeFileSync(config, JSON.stringify({ server: 'vpn.example:20203', proxy: 'http://alice:s3cret%20pw@proxy:3128' }), { mode: 0o644 });
  const check = ttun(['check', 'client', '--config', config, '--psk-file', key]);
  assert.equal(check.code, 0, check.lines.join('\n'));
  assert.match(
    check.stdout,
    /^warning: \S+c\.json holds a proxy password and is readable by other users \(mode 644\): chmod 600 \S+c\.json$/m,
  );
  assert.ok(!check.stdout.includes('s3cret'), 'the password is never shown');
  chmodSync(config, 0o600);
  const quiet = ttun(['check', 'client', '--config', config, '--psk-file', key]);
  assert.ok(!quiet.stdout.includes('warning:'), quiet.stdout);
});
