// scripts/check-ts-layers.mjs (run by `npm run lint`) on small made-up trees: an import that runs
// up the layers, or into the CLI, fails; imports down the layers and inside a folder pass.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const SCRIPT = join(ROOT, 'scripts', 'check-ts-layers.mjs');

function check(files: Record<string, string>): { status: number | null; stderr: string } {
  const root = mkdtempSync(join(tmpdir(), 'ttun-layers-'));
  try {
    for (const [path, text] of Object.entries(files)) {
      const file = join(root, 'ts', path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
    }
    const run = spawnSync(process.execPath, [SCRIPT, '--root', root], { encoding: 'utf8' });
    return { status: run.status, stderr: run.stderr };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('imports down the layers and within a folder pass', () => {
  const run = check({
    'shared/errors.ts': 'export class E {}\n',
    'options/values.ts': "import { E } from '../shared/errors.js';\nimport { t } from './table.js';\n",
    'options/table.ts': 'export const t = 1;\n',
    'tunnel/client.ts': "import type { E } from '../shared/errors.js';\nimport { t } from '../options/table.js';\n",
    'index.ts': "export * from './tunnel/client.js';\n",
    'cli/cli.ts': "import { t } from '../index.js';\n",
  });
  assert.equal(run.status, 0, run.stderr);
});

test('an import up the layers fails, type-only too, naming the file and both folders', () => {
  const run = check({
    'options/values.ts': "import type { Client } from '../tunnel/client.js';\n",
    'tunnel/client.ts': 'export class Client {}\n',
  });
  assert.equal(run.status, 1);
  assert.match(run.stderr, /ts\/options\/values\.ts imports \.\.\/tunnel\/client\.js: ts\/options may not import ts\/tunnel/);
});

test('nothing imports the CLI, not even the API', () => {
  const run = check({ 'index.ts': "export { main } from './cli/cli.js';\n", 'cli/cli.ts': 'export const main = 1;\n' });
  assert.equal(run.status, 1);
  assert.match(run.stderr, /ts\/index\.ts imports \.\/cli\/cli\.js/);
});

test('a folder outside the layers is named', () => {
  const run = check({ 'misc/thing.ts': 'export const x = 1;\n' });
  assert.equal(run.status, 1);
  assert.match(run.stderr, /folder ts\/misc is in no layer/);
});
