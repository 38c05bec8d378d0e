// scripts/check-module-cycles.mjs (run by `npm run lint`) on small made-up crates: it must find a
// cycle however the modules name each other, and must not see one where there is none.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const SCRIPT = join(ROOT, 'scripts', 'check-module-cycles.mjs');

/** Runs the checker on one crate made of `files` (paths under src/). */
function check(files: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const root = mkdtempSync(join(tmpdir(), 'ttun-cycles-'));
  try {
    for (const [path, text] of Object.entries(files)) {
      const file = join(root, 'crates', 'demo', 'src', path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
    }
    const run = spawnSync(process.execPath, [SCRIPT, '--root', root, '--edges'], { encoding: 'utf8' });
    return { status: run.status, stdout: run.stdout, stderr: run.stderr };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('two sibling modules that use each other are a cycle', () => {
  const run = check({
    'lib.rs': 'mod a;\nmod b;\n',
    'a.rs': 'use super::b::B;\npub struct A;\n',
    'b.rs': 'use crate::a::{self, A};\npub struct B;\n',
  });
  assert.equal(run.status, 1);
  assert.match(run.stderr, /crate::a uses crate::b/);
  assert.match(run.stderr, /crate::b uses crate::a/);
});

test('a longer loop, through a parent item and a path written in the code, is a cycle', () => {
  const run = check({
    'lib.rs': 'mod outer;\n',
    'outer/mod.rs': 'mod first;\nmod second;\npub struct Shared;\nfn f() { let _ = first::make(); }\n',
    'outer/first.rs': 'pub fn make() -> super::second::Thing { todo!() }\n',
    'outer/second.rs': 'use super::{Shared};\npub struct Thing;\n',
  });
  assert.equal(run.status, 1);
  assert.match(run.stderr, /crate::outer uses crate::outer::first/);
  assert.match(run.stderr, /crate::outer::second uses crate::outer\b/);
});

test('layers, re-exports from the root, comments and inline test modules are no cycle', () => {
  const run = check({
    'lib.rs': 'pub mod error;\npub mod frame;\npub use error::Error;\npub use frame::Frame;\n',
    'error.rs': '// crate::frame would be a cycle, but this is a comment\npub struct Error;\n',
    'frame.rs': [
      'use crate::error::Error;',
      'pub struct Frame(Error);',
      'const NOTE: &str = "super::super::frame";',
      '#[cfg(test)]',
      'mod tests {',
      '    use super::*;',
      '    fn f() -> self::super::Frame { todo!() }',
      '}',
      '',
    ].join('\n'),
  });
  assert.equal(run.stderr, '');
  assert.equal(run.status, 0);
  assert.match(run.stdout, /crate -> crate::error, crate::frame/);
  assert.match(run.stdout, /crate::frame -> crate::error\n/);
});

test("this checkout's crates have no module cycles", () => {
  const run = spawnSync(process.execPath, [SCRIPT], { encoding: 'utf8' });
  assert.equal(run.stderr, '');
  assert.equal(run.status, 0);
});
