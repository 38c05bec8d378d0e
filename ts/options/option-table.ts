/**
 * The one table of the CLI's options. The yargs commands (cli.ts), the config file keys and the
 * TTUN_<FLAG> environment variables (settings.ts) are all derived from it, so an option added here
 * can be set in all three places with no more code.
 */

import { HANDSHAKE_TIMEOUT_MS, MAX_PENDING_HANDSHAKES, MAX_PENDING_HANDSHAKES_PER_SOURCE, NONCE_TIMEOUT_MS } from '../shared/tunables.js';
import { CIPHERS, DATA_PATHS, DEFAULT_LISTEN, DEFAULT_MTU, LOG_FORMATS, LOG_LEVELS, MAX_MTU, MIN_MTU } from './values.js';

export const ENDPOINT_COMMANDS = ['server', 'client'] as const;
export type EndpointCommand = (typeof ENDPOINT_COMMANDS)[number];

/**
 * string, number, boolean; array: a repeatable flag (`--route A --route B`), a JSON array of
 * strings in a file, a comma- or whitespace-separated list in the environment.
 */
export type OptionType = 'string' | 'number' | 'boolean' | 'array';
export type OptionValue = string | number | boolean | string[];

export interface OptionSpec {
  /** The long name: `--name` on the command line, `"name"` in a config file, TTUN_NAME in the environment. */
  name: string;
  /** A one-letter or Go-style alias (`-k`, `-m`). */
  short?: string;
  type: OptionType;
  describe: string;
  commands: readonly EndpointCommand[];
  default?: string | number | boolean;
  choices?: readonly string[];
  /**
   * Where else than the command line it may be set (default: the environment and a config file).
   * The key itself never comes from a file; `--config` does not name another file from inside one.
   */
  alsoFrom?: 'nowhere' | 'env';
  /** A file name: relative in a config file means relative to that file's directory. */
  isPath?: true;
  /** A check beyond the type that is the CLI's own (the API checks everything else); the problem, or undefined. */
  check?: (value: OptionValue) => string | undefined;
  /**
   * The API option it sets (createServer/connect take `{ [api]: value }`); none for what only the
   * CLI has (the key's sources, --config, --user, logging).
   */
  api?: string;
}

const BOTH = ENDPOINT_COMMANDS;

export const OPTIONS: readonly OptionSpec[] = [
  {
    name: 'config',
    type: 'string',
    describe: 'read options from this JSON file: keys are the long option names, e.g. {"mtu": 1400}',
    commands: BOTH,
    alsoFrom: 'env',
  },
  {
    name: 'psk-file',
    type: 'string',
    describe: 'read the pre-shared key from this file (one trailing newline is ignored)',
    commands: BOTH,
    isPath: true,
  },
  {
    name: 'psk',
    short: 'k',
    type: 'string',
    describe: 'pre-shared key on the command line (visible in the process list; prefer --psk-file or TTUN_PSK)',
    commands: BOTH,
    // TTUN_PSK is older than TTUN_<FLAG> and means something else (the key when no -k and no
    // --psk-file is given: see psk-source.ts), and a key in a config file would be a key in a file
    // that is not the key file.
    alsoFrom: 'nowhere',
  },
  { name: 'server', api: 'server', short: 's', type: 'string', describe: 'server HOST:PORT (required)', commands: ['client'] },
  {
    name: 'proxy',
    api: 'proxy',
    type: 'string',
    describe:
      'connect through a proxy: http://[USER:PASS@]HOST:PORT (HTTP CONNECT), socks5://… (server name resolved here) or socks5h://… (resolved by the proxy); "none" ignores the environment. Default: HTTPS_PROXY / ALL_PROXY unless NO_PROXY covers the server (as curl)',
    commands: ['client'],
  },
  {
    name: 'listen',
    api: 'listen',
    short: 'l',
    type: 'string',
    describe: 'listen address: :PORT (all), HOST:PORT or [IPV6]:PORT',
    commands: ['server'],
    default: DEFAULT_LISTEN,
  },
  // Values are checked by the API (config.ts), so CLI and API report bad input with the same words.
  {
    name: 'cipher',
    api: 'cipher',
    short: 'm',
    type: 'string',
    describe: 'AEAD cipher',
    commands: BOTH,
    default: CIPHERS[0],
    // Listed for the help and shell completion.
    choices: CIPHERS,
  },
  { name: 'mtu', api: 'mtu', type: 'number', describe: `TUN MTU (${MIN_MTU}..${MAX_MTU})`, commands: BOTH, default: DEFAULT_MTU },
  { name: 'user', type: 'string', describe: 'after creating the TUN and binding the port, drop root and run as this user', commands: BOTH },
  { name: 'group', type: 'string', describe: "group for --user (default: the user's own group)", commands: BOTH },
  {
    name: 'mptcp',
    api: 'mptcp',
    type: 'boolean',
    describe: 'Multipath TCP (Linux): -mptcp to use it, -mptcp=false (default) for plain TCP',
    commands: BOTH,
    default: false,
  },
  {
    name: 'datapath',
    api: 'dataPath',
    type: 'string',
    describe: 'who carries the connection: auto (native threads where the socket has an fd) or event-loop (Node; slower, for testing)',
    commands: BOTH,
    default: 'auto',
    choices: DATA_PATHS,
    // A choice for tests and measurements, made on the command line of that run only: a
    // TTUN_DATAPATH variable was exactly the kind of switch that changed production behaviour unseen.
    alsoFrom: 'nowhere',
  },
  {
    name: 'super-frames',
    api: 'superFrames',
    type: 'boolean',
    describe:
      "Linux: send TCP super-packets to the peer's tunnel address as one frame each once the peer's answer to a probe shows it takes them (--super-frames=false: never)",
    commands: BOTH,
    default: true,
  },
  { name: 'log-format', type: 'string', describe: 'log lines as text or JSON', commands: BOTH, default: 'text', choices: LOG_FORMATS },
  {
    name: 'log-level',
    type: 'string',
    describe: 'write lines of this level and above: error, warn, info or debug (start-up errors are always written)',
    commands: BOTH,
    default: 'info',
    choices: LOG_LEVELS,
  },
  {
    name: 'stats',
    type: 'number',
    describe: 'log rx/tx bytes/s and packets/s every SECONDS (SIGUSR1 logs the counters any time)',
    commands: BOTH,
    check: (value) => (typeof value === 'number' && Number.isFinite(value) && value > 0 ? undefined : 'takes a number of seconds above 0'),
  },
  {
    name: 'handshake-timeout-ms',
    api: 'handshakeTimeoutMs',
    type: 'number',
    describe: 'the whole handshake must complete within this many milliseconds (v1: 10000)',
    commands: BOTH,
    default: HANDSHAKE_TIMEOUT_MS,
  },
  {
    name: 'nonce-timeout-ms',
    api: 'nonceTimeoutMs',
    type: 'number',
    describe: 'server: a new connection must send its 16-byte nonce within this many milliseconds',
    commands: ['server'],
    default: NONCE_TIMEOUT_MS,
  },
  {
    name: 'max-pending-handshakes',
    api: 'maxPendingHandshakes',
    type: 'number',
    describe: 'server: connections in their handshake at once; a newcomer beyond it evicts one',
    commands: ['server'],
    default: MAX_PENDING_HANDSHAKES,
  },
  {
    name: 'max-pending-handshakes-per-source',
    api: 'maxPendingHandshakesPerSource',
    type: 'number',
    // No default here: the API's (MAX_PENDING_HANDSHAKES_PER_SOURCE, lowered to max-pending-handshakes when that is smaller).
    describe: `server: of those, how many from one IPv4 address or IPv6 /64, beyond which a source evicts its own oldest (default ${MAX_PENDING_HANDSHAKES_PER_SOURCE}, at most max-pending-handshakes)`,
    commands: ['server'],
  },
  {
    name: 'dev',
    api: 'dev',
    type: 'string',
    describe: "the TUN device's name (Linux: up to 15 characters, %d for the first free number; default ttun%d)",
    commands: BOTH,
  },
  {
    name: 'address',
    api: 'address',
    type: 'string',
    describe: "this end's TUN address(es), CIDR[,CIDR]: one IPv4 and/or one IPv6 (default v1's for the role)",
    commands: BOTH,
  },
  {
    name: 'route',
    api: 'route',
    type: 'array',
    describe: 'route this network (CIDR, IPv4 or IPv6) through the TUN while ttun runs',
    commands: BOTH,
  },
  {
    name: 'up',
    api: 'up',
    type: 'string',
    describe: 'shell command to run once the TUN is up (TTUN_DEV, TTUN_ROLE, TTUN_MTU, TTUN_ADDRESS4/6 set); start-up fails if it fails',
    commands: BOTH,
  },
  {
    name: 'down',
    api: 'down',
    type: 'string',
    describe: 'shell command to run at exit before the TUN is removed (same variables; as the --user user if given)',
    commands: BOTH,
  },
  {
    name: 'metrics',
    api: 'metrics',
    type: 'string',
    describe:
      'serve Prometheus metrics at http://HOST:PORT/metrics; PORT or :PORT is 127.0.0.1 only, 0.0.0.0:PORT or [::]:PORT every address',
    commands: BOTH,
  },
];

export function optionsOf(command: EndpointCommand): OptionSpec[] {
  return OPTIONS.filter((spec) => spec.commands.includes(command));
}

/** TTUN_ and the long name in upper case, dashes as underscores: psk-file -> TTUN_PSK_FILE. */
export function envName(spec: OptionSpec): string {
  return `TTUN_${spec.name.toUpperCase().replace(/-/g, '_')}`;
}

export function inEnv(spec: OptionSpec): boolean {
  return spec.alsoFrom !== 'nowhere';
}

export function inFile(spec: OptionSpec): boolean {
  return spec.alsoFrom === undefined;
}

/** How an option is spelled back to the user: the short name if it is one letter (-k, -s), else --long. */
export function flagName(spec: OptionSpec): string {
  return spec.short?.length === 1 ? `-${spec.short}` : `--${spec.name}`;
}

/** The option a yargs key stands for: its long name, its alias, or yargs' camelCase copy of the long name. */
export function specForKey(key: string): OptionSpec | undefined {
  return OPTIONS.find((spec) => spec.name === key || spec.short === key || camelCase(spec.name) === key);
}

function camelCase(name: string): string {
  return name.replace(/-(\w)/g, (_, letter: string) => letter.toUpperCase());
}
