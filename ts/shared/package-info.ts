/**
 * Where the package is and which version it is: the one place that knows how deep the compiled
 * files sit (dist/ts/shared/package-info.js -> the package root, which holds package.json,
 * packages/ in a checkout, and wasm/).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let cachedVersion: string | undefined;

/** ttun's version from its package.json (read once). */
export function packageVersion(): string {
  cachedVersion ??= (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  return cachedVersion;
}
