// Publishing cannot go out half-made: a plain `npm publish` in the checkout is refused by
// prepublishOnly (scripts/publish.mjs --check), because the checkout's package.json lists no
// platform packages. The real publish of all nine is run against a local registry by
// scripts/test-platforms.sh.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');

test('npm publish in the checkout is refused, naming the platform packages it lacks and how to publish', async () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
    scripts: Record<string, string>;
    napi: { packageName: string };
  };
  assert.equal(pkg.scripts.prepublishOnly, 'node scripts/publish.mjs --check');
  const result = await promisify(execFile)('npm', ['publish', '--dry-run'], { cwd: ROOT, encoding: 'utf8' }).then(
    () => ({ code: 0, stderr: '' }),
    (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
  );
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /publish: refused: package\.json does not list /);
  assert.ok(result.stderr.includes(`${pkg.napi.packageName}-linux-x64-gnu@${pkg.version}`), result.stderr);
  assert.ok(result.stderr.includes('./build.sh && node scripts/publish.mjs'), result.stderr);
});
