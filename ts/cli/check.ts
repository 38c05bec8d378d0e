/**
 * `ttun check server|client`: the report of a configuration that passed every check, i.e. the
 * effective value of each option and where it came from. Never the key (only where it came from
 * and how long it is), and never credentials inside URL values.
 */
import { envName, flagName, type OptionValue } from '../options/option-table.js';
import type { Setting, Settings } from '../options/settings.js';
import { redactCredentials, redactUrl } from '../shared/redact.js';

export interface KeyReport {
  /** Which option or variable gave the key: -k, --psk-file, TTUN_PSK. */
  from: string;
  bytes: number;
  warnings: string[];
}

function showValue(name: string, value: OptionValue | undefined): string {
  if (value === undefined) return '-';
  // The proxy's value is one URL: hidden as a whole, whatever its password holds.
  if (name === 'proxy' && typeof value === 'string') return redactUrl(value);
  if (Array.isArray(value)) return value.length === 0 ? '(none)' : value.map(redactCredentials).join(', ');
  return typeof value === 'string' ? redactCredentials(value) : String(value);
}

function showSource(setting: Setting, configFile: string | undefined): string {
  switch (setting.source) {
    case 'flag':
      return `flag (${flagName(setting.spec)})`;
    case 'env':
      return `env (${envName(setting.spec)})`;
    case 'file':
      return `file (${configFile})`;
    case 'default':
      return 'default';
    default:
      return 'not set';
  }
}

/**
 * A value the API settles when no place gives it (a default computed from another option, a proxy
 * named by the environment): shown with where it came from instead of "not set".
 */
export type Effective = Record<string, { value: OptionValue; from: string }>;

export function checkReport(settings: Settings, key: KeyReport, effective: Effective = {}): string {
  const rows: Array<[string, string, string]> = [['option', 'value', 'from']];
  for (const setting of settings.all) {
    // The key's own row says where it came from and how long it is, nothing more.
    if (setting.spec.name === 'psk') continue;
    const settled = setting.value === undefined ? effective[setting.spec.name] : undefined;
    if (settled !== undefined) rows.push([setting.spec.name, showValue(setting.spec.name, settled.value), settled.from]);
    else rows.push([setting.spec.name, showValue(setting.spec.name, setting.value), showSource(setting, settings.configFile)]);
    if (setting.spec.name === 'psk-file') rows.push(['key', `(hidden, ${key.bytes} bytes)`, `from ${key.from}`]);
  }
  const widths = [0, 1].map((column) => Math.max(...rows.map((row) => row[column]!.length)));
  const lines = [`ttun ${settings.command}: the configuration is valid (checked without creating a TUN or opening a socket)`];
  for (const [name, value, from] of rows) lines.push(`  ${name.padEnd(widths[0]!)}  ${value.padEnd(widths[1]!)}  ${from}`.trimEnd());
  for (const warning of key.warnings) lines.push(`warning: ${warning}`);
  return `${lines.join('\n')}\n`;
}
