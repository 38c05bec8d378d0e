// The loader's list of platform packages matches package.json's napi.targets and packages/.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseTriple } from '@napi-rs/cli';
import { SHIPPED } from '../../ts/native.js';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');

test('the loader knows exactly the platforms in napi.targets, each with its package folder', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { napi: { targets: string[] } };
  const platforms = pkg.napi.targets.map((t) => parseTriple(t).platformArchABI);
  assert.deepEqual([...SHIPPED].sort(), [...platforms].sort());
  for (const p of platforms) {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'packages', p, 'package.json'), 'utf8')) as { name: string; version: string };
    assert.equal(manifest.name, `ttun-${p}`);
    assert.ok(existsSync(join(ROOT, 'packages', p, 'README.md')));
  }
});
