/**
 * The effective options of `ttun server` / `ttun client`, merged from four places, first found
 * wins: the command line, TTUN_<FLAG> environment variables, the --config JSON file, the defaults.
 * Each value remembers where it came from (`ttun check` shows it). Every mistake is a usage error
 * that names the option and the place, never a value that could be a secret.
 */
import { dirname, resolve } from 'node:path';
import { readBounded } from '../shared/bounded-read.js';
import { TtunError, unreadableBecause } from '../shared/errors.js';
import { JsonSyntaxError, type JsonValue, parseJsonText } from './json-text.js';
import {
  type EndpointCommand,
  envName,
  flagName,
  inEnv,
  inFile,
  OPTIONS,
  type OptionSpec,
  type OptionValue,
  optionsOf,
} from './option-table.js';

/** A config file is a few lines of options; anything far larger is the wrong file. */
const MAX_CONFIG_FILE_BYTES = 1024 * 1024;

export type SettingSource = 'flag' | 'env' | 'file' | 'default';

export interface Setting {
  spec: OptionSpec;
  /** undefined: not set anywhere and no default. */
  value: OptionValue | undefined;
  source: SettingSource | undefined;
}

export interface Settings {
  command: EndpointCommand;
  /** The config file read, if any. */
  configFile: string | undefined;
  /** Every option of the command, in table order. */
  all: Setting[];
  get(name: string): OptionValue | undefined;
  sourceOf(name: string): SettingSource | undefined;
}

/** Usage errors about the configuration: exit 2. */
export const CONFIG_ERROR = 'EBADCONFIG';

/**
 * `commandLine`: what yargs parsed (keys are the long names; only what was given). `env`: the
 * environment; empty variables count as unset, as TTUN_PSK always has.
 */
export function resolveSettings(
  command: EndpointCommand,
  commandLine: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  readFile: (path: string) => string = readConfigFile,
): Settings {
  const specs = optionsOf(command);
  const flags = new Map<string, OptionValue>();
  const fromEnv = new Map<string, OptionValue>();
  for (const spec of specs) {
    const given = commandLine[spec.name];
    if (given !== undefined) flags.set(spec.name, fromCommandLine(spec, given));
    const variable = env[envName(spec)];
    if (inEnv(spec) && variable !== undefined && variable !== '') fromEnv.set(spec.name, fromEnvironment(spec, variable));
  }
  const configFile = (flags.get('config') ?? fromEnv.get('config')) as string | undefined;
  const fromFile = configFile === undefined ? new Map<string, OptionValue>() : readConfig(command, configFile, readFile);

  const all: Setting[] = specs.map((spec) => {
    const found: Array<[SettingSource, OptionValue | undefined]> = [
      ['flag', flags.get(spec.name)],
      ['env', fromEnv.get(spec.name)],
      ['file', fromFile.get(spec.name)],
      ['default', spec.default],
    ];
    const [source, value] = found.find(([, v]) => v !== undefined) ?? [undefined, undefined];
    if (value !== undefined && source !== 'default') checkValue(spec, value, describeSource(spec, source, configFile));
    return { spec, value, source };
  });
  const byName = new Map(all.map((s) => [s.spec.name, s]));
  return {
    command,
    configFile,
    all,
    get: (name) => byName.get(name)?.value,
    sourceOf: (name) => byName.get(name)?.source,
  };
}

/** Where a value came from, as a user would look for it: --mtu, TTUN_MTU, "mtu" in FILE. */
export function describeSource(spec: OptionSpec, source: SettingSource | undefined, configFile: string | undefined): string {
  if (source === 'env') return envName(spec);
  if (source === 'file') return `${JSON.stringify(spec.name)} in ${configFile}`;
  if (source === 'default') return 'the default';
  return flagName(spec);
}

function fail(message: string): never {
  throw new TtunError(message, CONFIG_ERROR);
}

function checkValue(spec: OptionSpec, value: OptionValue, where: string): void {
  if (spec.choices && !spec.choices.includes(value as string)) {
    fail(`bad ${where}: use ${spec.choices.join(' or ')}`);
  }
  const problem = spec.check?.(value);
  if (problem !== undefined) fail(`${where} ${problem}`);
}

/**
 * The one reading of an option's text, whichever place it came from (the command line, the
 * environment, a string in a config file), so that each accepts exactly what the others do.
 */
export function valueFromText(spec: OptionSpec, text: string, where: string): OptionValue {
  if (spec.type === 'array') return text.split(/[\s,]+/).filter((item) => item !== '');
  if (spec.type === 'number') return numberFromText(text, where);
  if (spec.type === 'boolean') return booleanFromText(text, where);
  return text;
}

const BOOLEAN_WORDS: Record<string, boolean> = {
  true: true,
  '1': true,
  yes: true,
  on: true,
  false: false,
  '0': false,
  no: false,
  off: false,
};

/** true/false, 1/0, yes/no, on/off; '' is a bare flag (--mptcp), which means true. */
function booleanFromText(text: string, where: string): boolean {
  const value = text.trim() === '' ? true : BOOLEAN_WORDS[text.trim().toLowerCase()];
  if (value === undefined) fail(`bad ${where}: use true or false (1/0, yes/no, on/off)`);
  return value!;
}

/**
 * yargs hands over strings (every option is declared a string to it: a bare --mptcp is '') and
 * false for --no-NAME; a repeatable option is an array of strings.
 */
function fromCommandLine(spec: OptionSpec, given: unknown): OptionValue {
  if (spec.type === 'array') return (Array.isArray(given) ? given : [given]).map(String);
  if (given === false) return spec.type === 'boolean' ? false : fail(`${flagName(spec)} takes a value`);
  return valueFromText(spec, String(given), flagName(spec));
}

function fromEnvironment(spec: OptionSpec, text: string): OptionValue {
  return valueFromText(spec, text, envName(spec));
}

/** Decimal numbers only (no hex, no exponent, no empty string that Number() would make 0). */
function numberFromText(text: string, where: string): number {
  if (!/^\s*-?\d+(\.\d+)?\s*$/.test(text)) fail(`${where} takes a number`);
  return Number(text);
}

function readConfigFile(path: string): string {
  try {
    return readBounded(path, MAX_CONFIG_FILE_BYTES, 'the config file (--config)', CONFIG_ERROR).toString('utf8');
  } catch (err) {
    if (err instanceof TtunError) throw err;
    // Not the path: a value that names no file may be a key given to --config by mistake.
    return fail(`cannot read the config file (--config): ${unreadableBecause(err)}`);
  }
}

/** The file's options, each checked against the table: known, for this command, of the right type. */
function readConfig(command: EndpointCommand, path: string, readFile: (path: string) => string): Map<string, OptionValue> {
  let json: JsonValue;
  try {
    json = parseJsonText(readFile(path));
  } catch (err) {
    if (err instanceof JsonSyntaxError) fail(`bad JSON in ${path} at line ${err.line}, column ${err.column}: ${err.message}`);
    throw err;
  }
  if (!(json instanceof Map)) fail(`${path} must hold one JSON object ({"option": value, ...}), not ${jsonType(json)}`);
  const values = new Map<string, OptionValue>();
  for (const [key, value] of json) {
    const spec = OPTIONS.find((s) => s.name === key || s.short === key);
    // The key's value is never repeated: it may be the key.
    if (spec?.name === 'psk') fail(`${path} must not hold the key (${JSON.stringify(key)}): give "psk-file" in the file, or TTUN_PSK`);
    if (spec === undefined || spec.name !== key) {
      fail(`unknown option ${JSON.stringify(key)} in ${path}${spec ? `: write ${JSON.stringify(spec.name)}` : ''}`);
    }
    if (!inFile(spec)) fail(`${JSON.stringify(key)} cannot be set in a config file (${path})`);
    if (!spec.commands.includes(command)) {
      fail(`${JSON.stringify(key)} in ${path} is an option of ttun ${spec.commands.join(' and ')}, not of ttun ${command}`);
    }
    values.set(key, fromJson(spec, value, path));
  }
  return values;
}

function fromJson(spec: OptionSpec, value: JsonValue, path: string): OptionValue {
  const where = `${JSON.stringify(spec.name)} in ${path}`;
  if (spec.type === 'array') {
    if (typeof value === 'string') return valueFromText(spec, value, where);
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
      fail(`${where} must be an array of strings, not ${jsonType(value)}`);
    }
    return value as string[];
  }
  // A number or boolean written as text ("1400", "yes") reads as it would from the environment.
  if (typeof value === 'string' && spec.type !== 'string') return valueFromText(spec, value, where);
  if (typeof value !== spec.type) fail(`${where} must be a ${spec.type}, not ${jsonType(value)}`);
  // Whoever writes {"psk-file": "office.key"} next to office.json means that file, wherever ttun runs.
  if (spec.isPath && value !== '') return resolve(dirname(resolve(path)), value as string);
  return value as OptionValue;
}

function jsonType(value: JsonValue): string {
  if (value === null) return 'null';
  if (value instanceof Map) return 'an object';
  if (Array.isArray(value)) return value.every((item) => typeof item === 'string') ? 'an array' : 'an array with non-strings';
  return `a ${typeof value}`;
}
