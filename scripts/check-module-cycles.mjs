#!/usr/bin/env node
// Fails when two Rust modules of one crate use each other, directly or round a longer loop: a
// module should build on the ones below it, never on one that builds on it. `npm run lint` runs
// this for every crate under crates/; `--edges` prints each crate's edges as well, `--root DIR`
// checks the crates under DIR/crates instead of this checkout's.
//
// An edge is any path in the code that names another module or an item in it: `use` lists
// (braces expanded), `crate::…`, `super::…`, `self::…`, and a child module's name at the start of
// a path in its parent (`device::os::OsDevice`). A path ends at the deepest module it names, so
// an item of a parent module (`super::SomeType`) is an edge to the parent itself. A module that
// only declares a child (`mod child;`) does not use it. Inline modules (`mod tests { … }`) count
// as part of their file: one file is what a maintainer reads as one module.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const rootAt = process.argv.indexOf('--root');
const root = rootAt === -1 ? join(dirname(fileURLToPath(import.meta.url)), '..') : process.argv[rootAt + 1];
const printEdges = process.argv.includes('--edges');

/** Every module file of a crate: path (['tun', 'device']) -> file, from the `mod` tree on disk. */
function moduleFiles(srcDir) {
  const files = new Map();
  const visit = (file, path) => {
    files.set(path.join('::'), { file, path });
    const text = stripComments(readFileSync(file, 'utf8'));
    // Children live beside lib.rs / mod.rs, or in a folder named after any other file.
    const isDirOwner = ['lib.rs', 'main.rs', 'mod.rs'].includes(basename(file));
    const childDir = isDirOwner ? dirname(file) : join(dirname(file), basename(file, '.rs'));
    for (const m of text.matchAll(/(?:^|[;}\]\s])(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;/g)) {
      const name = m[1];
      const flat = join(childDir, `${name}.rs`);
      const nested = join(childDir, name, 'mod.rs');
      const child = existsSync(flat) ? flat : existsSync(nested) ? nested : undefined;
      if (child) visit(child, [...path, name]);
    }
  };
  visit(join(srcDir, 'lib.rs'), []);
  return files;
}

/** The code without comments and string literals (their text could look like paths). */
function stripComments(text) {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/\/\/[^\n]*/g, '')
    .replace(/b?r(#*)"[\s\S]*?"\1/g, '""')
    .replace(/b?"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/'(?:[^'\\\n]|\\.)'/g, "' '");
}

/** `use a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e']. */
function expandUse(tree) {
  tree = tree.replace(/\s+/g, '');
  const open = tree.indexOf('{');
  if (open === -1) return [tree.replace(/\bas\w+$/, '').replace(/::self$/, '')];
  const prefix = tree.slice(0, open);
  const inner = tree.slice(open + 1, tree.lastIndexOf('}'));
  const parts = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= inner.length; i++) {
    const c = inner[i];
    if (c === '{') depth++;
    else if (c === '}') depth--;
    else if ((c === ',' || c === undefined) && depth === 0) {
      if (i > start) parts.push(inner.slice(start, i));
      start = i + 1;
    }
  }
  return parts.flatMap((part) => expandUse(part === 'self' ? prefix.replace(/::$/, '') : prefix + part));
}

/** The module (as a key of `modules`) that `path`, written in module `from`, ends in; or undefined. */
function resolve(path, from, modules) {
  let segments = path.split('::').filter(Boolean);
  let base;
  if (segments[0] === 'crate') {
    base = [];
    segments = segments.slice(1);
  } else if (segments[0] === 'self' || segments[0] === 'super') {
    base = [...from];
    while (segments[0] === 'self' || segments[0] === 'super') {
      if (segments.shift() === 'super') base.pop();
    }
  } else if (modules.has([...from, segments[0]].join('::'))) {
    base = [...from];
  } else {
    return undefined; // another crate, std, or a name in scope
  }
  let target = base;
  for (const segment of segments) {
    const next = [...target, segment];
    if (!modules.has(next.join('::'))) break;
    target = next;
  }
  // An inline module stands for its file.
  while (!modules.has(target.join('::'))) target = target.slice(0, -1);
  return target.join('::');
}

/**
 * For each position in `code`, the inline modules (`mod name { … }`) around it: a function from
 * an index to their names, outermost first.
 */
function inlineModulesAt(code) {
  const opens = new Map();
  for (const m of code.matchAll(/\bmod\s+(\w+)\s*\{/g)) opens.set(m.index + m[0].length - 1, m[1]);
  const stack = [];
  const names = new Array(code.length + 1);
  for (let i = 0; i <= code.length; i++) {
    names[i] = stack.filter((name) => name !== null);
    if (code[i] === '{') stack.push(opens.get(i) ?? null);
    else if (code[i] === '}') stack.pop();
  }
  return (index) => names[index];
}

function edgesOf(modules) {
  const edges = new Map([...modules.keys()].map((key) => [key, new Set()]));
  for (const [key, { file, path }] of modules) {
    const code = stripComments(readFileSync(file, 'utf8'));
    const inlineAt = inlineModulesAt(code);
    const paths = [];
    for (const m of code.matchAll(/\buse\s+([^;]+);/g)) {
      for (const p of expandUse(m[1])) paths.push([p, m.index]);
    }
    for (const m of code.matchAll(/(?<![\w:])((?:crate|super|self|\w+)(?:::\w+)+)/g)) paths.push([m[1], m.index]);
    for (const [p, index] of paths) {
      const target = resolve(p, [...path, ...inlineAt(index)], modules);
      if (target !== undefined && target !== key) edges.get(key).add(target);
    }
  }
  return edges;
}

/** Strongly connected components with more than one module (Tarjan). */
function cycles(edges) {
  let index = 0;
  const indices = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const found = [];
  const connect = (v) => {
    indices.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v)) {
      if (!indices.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v), indices.get(w)));
      }
    }
    if (low.get(v) === indices.get(v)) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component);
    }
  };
  for (const v of edges.keys()) if (!indices.has(v)) connect(v);
  return found;
}

const name = (key) => (key === '' ? 'crate' : `crate::${key}`);
let failed = false;
const cratesDir = join(root, 'crates');
for (const crate of readdirSync(cratesDir).sort()) {
  const src = join(cratesDir, crate, 'src');
  if (!existsSync(join(src, 'lib.rs')) || !statSync(src).isDirectory()) continue;
  const edges = edgesOf(moduleFiles(src));
  if (printEdges) {
    console.log(`${crate}:`);
    for (const [from, to] of edges) if (to.size) console.log(`  ${name(from)} -> ${[...to].map(name).sort().join(', ')}`);
  }
  for (const component of cycles(edges)) {
    failed = true;
    const around = component.map((key) => {
      const back = [...edges.get(key)].filter((to) => component.includes(to));
      return `${name(key)} uses ${back.map(name).join(', ')}`;
    });
    console.error(`check-module-cycles: ${relative(root, src)}: modules use each other: ${around.join('; ')}`);
  }
}
process.exit(failed ? 1 : 0);
