/**
 * The `ttun` command: argument parsing (yargs) over the programmatic API in index.ts.
 * v1 compatibility: Go-style single-dash long flags (-mtu 1400) work, as do --long forms.
 */
import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import yargs, { type Argv } from 'yargs';
import { CIPHERS, DEFAULT_LISTEN, DEFAULT_MTU, MAX_MTU, MIN_MTU, parseMtu } from './config.js';
import { TtunError } from './errors.js';
import { connect, createServer, type TtunClient, type TtunServer } from './index.js';
import {
  LOG_FORMATS,
  type LogFormat,
  type Logger,
  logClientEvents,
  logCounters,
  logServerEvents,
  logStatsEvery,
  logTun,
  stderrLogger,
} from './log.js';
import { DATA_PATHS, type DataPath } from './paths.js';
import { dropPrivileges } from './privileges.js';
import { generatePsk, type PskChoice, resolvePsk } from './psk-source.js';

const EXIT_RUNTIME = 1;
const EXIT_USAGE = 2;

/** Errors about the command line itself: they exit like yargs' usage errors. */
const USAGE_CODES = new Set(['ENOPSK', 'EPSKSOURCE', 'ENOSERVER', 'EBADCIPHER', 'EBADMTU', 'EBADADDR']);

/**
 * What bin/ttun.js set up before this module was loaded: the SIGUSR1 listener (installed first, so
 * that Node never opens its debugger) and a way to close the debugger if a signal beat it.
 */
export interface EarlyStart {
  /** From now on SIGUSR1 calls `handler`; a signal that came earlier calls it once at once. */
  takeSigusr1(handler: () => void): void;
  /** Closes Node's debugger if it is open; true if it was ever found open. */
  closeInspector(): boolean;
}

/** For callers of main() that installed nothing early (tests, other entry points). */
const LATE_START: EarlyStart = {
  takeSigusr1: (handler) => void process.on('SIGUSR1', handler),
  closeInspector: () => false,
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Prints `ttun: message` and exits: the one way bad input ends the program. */
function die(message: string, code: number): never {
  process.stderr.write(`ttun: ${message}\n`);
  process.exit(code);
}

function commonOptions<T>(y: Argv<T>) {
  return (
    y
      .option('psk-file', {
        type: 'string',
        describe: 'read the pre-shared key from this file (one trailing newline is ignored)',
        requiresArg: true,
      })
      .option('k', {
        alias: 'psk',
        type: 'string',
        describe: 'pre-shared key on the command line (visible in the process list; prefer --psk-file or TTUN_PSK)',
        requiresArg: true,
      })
      // Values are checked by the API (config.ts), so CLI and API report bad input with the same words.
      .option('m', {
        alias: 'cipher',
        type: 'string',
        default: CIPHERS[0],
        describe: `AEAD cipher: ${CIPHERS.join(' or ')}`,
        requiresArg: true,
      })
      .option('mtu', { type: 'string', default: String(DEFAULT_MTU), describe: `TUN MTU (${MIN_MTU}..${MAX_MTU})`, requiresArg: true })
      .option('user', {
        type: 'string',
        describe: 'after creating the TUN and binding the port, drop root and run as this user',
        requiresArg: true,
      })
      .option('group', { type: 'string', describe: "group for --user (default: the user's own group)", requiresArg: true })
      .option('mptcp', {
        type: 'boolean',
        default: false,
        describe: 'Multipath TCP (Linux): -mptcp to use it, -mptcp=false (default) for plain TCP',
      })
      .option('datapath', {
        type: 'string',
        choices: DATA_PATHS,
        default: 'auto',
        describe: 'who carries the connection: auto (native threads where the socket has an fd) or event-loop (Node; slower, for testing)',
        requiresArg: true,
      })
      .option('log-format', {
        type: 'string',
        choices: LOG_FORMATS,
        default: 'text',
        describe: 'log lines as text or JSON',
        requiresArg: true,
      })
      .option('stats', {
        type: 'number',
        describe: 'log rx/tx bytes/s and packets/s every SECONDS (SIGUSR1 logs the counters any time)',
        requiresArg: true,
      })
      .check((argv) => {
        // yargs makes an array of an option given twice; say which, never the values (one may be the key).
        const repeated = Object.keys(argv).filter((name) => name.length > 0 && name !== '_' && Array.isArray(argv[name]));
        if (repeated.length > 0) throw new Error(`${flagName(repeated[0]!)} is given more than once`);
        const stats = argv.stats as number | undefined;
        if (stats !== undefined && !(Number.isFinite(stats) && stats > 0)) throw new Error('--stats takes a number of seconds above 0');
        return true;
      })
  );
}

/** How an option is spelled back to the user: the short name if it has one (-k, -s), else --long. */
function flagName(name: string): string {
  const aliases: Record<string, string> = { psk: 'k', cipher: 'm', listen: 'l', server: 's' };
  const short = aliases[name] ?? name;
  return short.length === 1 ? `-${short}` : `--${short}`;
}

/**
 * Runs until SIGINT/SIGTERM, then closes the endpoint (removing the TUN) and exits 0. A second
 * signal while closing exits at once (128 + signal number, as a shell reports it): close() waits
 * for the peer's socket and the TUN, and whoever presses Ctrl-C twice wants out now.
 */
function runUntilSignal(endpoint: TtunServer | TtunClient, log: Logger): void {
  let closing = false;
  const stop = (signal: NodeJS.Signals) => {
    if (closing) {
      log('warn', 'shutdown', `${signal} again: exiting without waiting for the shutdown to finish`, { signal });
      process.exit(128 + osConstants.signals[signal]);
    }
    closing = true;
    log('info', 'shutdown', `${signal}: shutting down`, { signal });
    endpoint.close().then(
      () => process.exit(0),
      (err: Error) => die(`shutdown failed: ${err.message}`, EXIT_RUNTIME),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  endpoint.on('fatal', (message: string) => {
    log('error', 'fatal', message);
    void endpoint.close().finally(() => process.exit(EXIT_RUNTIME));
  });
}

interface CommonArgs {
  k?: string;
  'psk-file'?: string;
  m: string;
  mtu: string;
  user?: string;
  group?: string;
  'log-format': LogFormat;
  mptcp: boolean;
  datapath: string;
  stats?: number;
}

/**
 * The key from -k, --psk-file or TTUN_PSK. Its warnings (never the key) are logged once the
 * endpoint is up but before any other start-up line (startupWarnings), so that bad input still
 * gets exactly one line and a reader of the log sees them first.
 */
function pskFrom(args: CommonArgs): PskChoice {
  const choice = resolvePsk({ flag: args.k, file: args['psk-file'], env: process.env.TTUN_PSK });
  if (args.k !== undefined) hideArguments();
  delete process.env.TTUN_PSK;
  return choice;
}

/**
 * Overwrites the command line shown in the process list (on Linux, process.title rewrites the
 * argv memory) so that a key given with -k is visible only for the moment before this runs.
 */
function hideArguments(): void {
  const command = process.argv[2] ?? '';
  process.title = `ttun ${command}`;
}

/** The first lines once start-up has succeeded: what the user should fix, before anything else. */
function startupWarnings(key: PskChoice, early: EarlyStart, log: Logger): void {
  // The endpoint has its own copy of the key by now.
  if (Buffer.isBuffer(key.psk)) key.psk.fill(0);
  for (const warning of key.warnings) log('warn', 'key', warning);
  if (early.closeInspector()) {
    log(
      'warn',
      'debugger',
      'a SIGUSR1 arrived before ttun could handle it and Node opened its debugger on 127.0.0.1:9229; it is closed now. Run ttun with node --disable-sigusr1 (Node 22.14 or later) to rule this out',
    );
  }
}

function afterStartup(endpoint: TtunServer | TtunClient, args: CommonArgs, early: EarlyStart, log: Logger): void {
  if (args.stats !== undefined) logStatsEvery(endpoint, log, args.stats);
  early.takeSigusr1(() => logCounters(endpoint, log));
  if (args.user === undefined) return;
  dropPrivileges(args.user, args.group);
  log('info', 'privileges', `running as user ${args.user} (uid ${process.getuid?.()}, gid ${process.getgid?.()})`, {
    uid: process.getuid?.(),
    gid: process.getgid?.(),
  });
}

async function runServer(args: CommonArgs & { l: string }, early: EarlyStart): Promise<void> {
  const log = stderrLogger('server', args['log-format']);
  const key = pskFrom(args);
  const server = await createServer({
    psk: key.psk,
    listen: args.l,
    cipher: args.m as never,
    mtu: parseMtu(args.mtu),
    mptcp: args.mptcp,
    dataPath: args.datapath as DataPath,
  });
  // Before the first line that says ttun is up: whoever reads it may press Ctrl-C at once.
  runUntilSignal(server, log);
  startupWarnings(key, early, log);
  logTun(log, server.tun!);
  const { address, port } = server.address();
  const listening = `${address.includes(':') ? `[${address}]` : address}:${port}`;
  log('info', 'listening', `listening on ${listening} (${server.cipher})`, { address: listening, cipher: server.cipher });
  afterStartup(server, args, early, log);
  logServerEvents(server, log);
}

async function runClient(args: CommonArgs & { s?: string }, early: EarlyStart): Promise<void> {
  const log = stderrLogger('client', args['log-format']);
  if (args.s === undefined || args.s === '') throw new TtunError('the server address is required: give -s HOST:PORT', 'ENOSERVER');
  const key = pskFrom(args);
  const client = await connect({
    psk: key.psk,
    server: args.s,
    cipher: args.m as never,
    mtu: parseMtu(args.mtu),
    mptcp: args.mptcp,
    dataPath: args.datapath as DataPath,
  });
  runUntilSignal(client, log);
  startupWarnings(key, early, log);
  logTun(log, client.tun!);
  afterStartup(client, args, early, log);
  logClientEvents(client, log);
}

/**
 * yargs echoes unknown arguments in its errors; a stray word may be half of a key typed without
 * quotes, so only flag names are repeated back.
 */
function safeUsageMessage(message: string, argv: string[]): string {
  const invalid = /Argument: (\S+), Given: "([^"]*)", Choices: (.*)$/m.exec(message);
  if (invalid) return `bad --${invalid[1]} ${JSON.stringify(invalid[2])}: use one of ${invalid[3]!.replace(/"/g, '')}`;
  const unknown = /^Unknown arguments?: (.*)$/.exec(message);
  if (!unknown) return message.split('\n')[0]!;
  const isFlag = (name: string) => argv.some((a) => new RegExp(`^--?${name.replace(/[^\w-]/g, '')}(=|$)`).test(a));
  const flags = unknown[1]!
    .split(', ')
    .filter(isFlag)
    .map((name) => `--${name}`);
  return flags.length > 0 ? `unknown option ${flags.join(', ')}` : 'unexpected extra argument (quote a key that contains spaces)';
}

const COMMANDS = ['server', 'client', 'genpsk', 'completion'];

export async function main(argv: string[], early: EarlyStart = LATE_START): Promise<void> {
  const first = argv[0];
  if (first !== undefined && !first.startsWith('-') && !COMMANDS.includes(first)) {
    die(`unknown command ${JSON.stringify(first)}: use ${COMMANDS.join(' or ')} (see ttun --help)`, EXIT_USAGE);
  }
  const parser = yargs(argv)
    .scriptName('ttun')
    // Go's flag package reads -mtu as one flag; yargs would read -m -t -u without this.
    .parserConfiguration({ 'short-option-groups': false })
    .usage('$0 <command> [options]\n\nPoint-to-point IP tunnel over one encrypted TCP connection (ttun v1 protocol).')
    .command('server', 'run the server: TUN 10.1.1.1/30 + fc11::1/126, listen for one peer', (y) =>
      commonOptions(y)
        .option('l', {
          alias: 'listen',
          type: 'string',
          default: DEFAULT_LISTEN,
          describe: 'listen address: :PORT (all), HOST:PORT or [IPV6]:PORT',
          requiresArg: true,
        })
        .example('sudo $0 server --psk-file /etc/ttun.key', 'listen on every address, port 20203')
        .example('sudo $0 server --psk-file /etc/ttun.key -l 192.0.2.1:20203 -m aes-256-gcm -mtu 1400', 'one address, AES-GCM, MTU 1400')
        .example('sudo $0 server --psk-file /etc/ttun.key --user nobody', 'drop root once the TUN is up'),
    )
    .command('client', 'run the client: TUN 10.1.1.2/30 + fc11::2/126, connect to the server', (y) =>
      commonOptions(y)
        .option('s', { alias: 'server', type: 'string', describe: 'server HOST:PORT (required)', requiresArg: true })
        .example('sudo $0 client --psk-file /etc/ttun.key -s vpn.example.com:20203', 'connect; reconnects by itself')
        .example('sudo TTUN_PSK="$(cat key)" $0 client -s [2001:db8::1]:20203', 'key from the environment'),
    )
    .command('genpsk', 'print a fresh random key (32 bytes, base64) for --psk-file or TTUN_PSK', (y) =>
      y.example('$0 genpsk > /etc/ttun.key && chmod 600 /etc/ttun.key', 'make a key file'),
    )
    .completion('completion', 'print a bash/zsh completion script (add `source <(ttun completion)` to your shell rc)')
    .epilogue('The key can also come from the TTUN_PSK environment variable.')
    .demandCommand(1, 'give a command: server, client or genpsk')
    .strict()
    .version(version())
    .help()
    .alias('h', 'help')
    .wrap(Math.min(100, process.stdout.columns || 100))
    // Commands run after parsing (below), so every failure here is a usage error, including
    // those .check() throws.
    .fail((message, err) => die(`${safeUsageMessage(message ?? err?.message ?? 'bad arguments', argv)} (see ttun --help)`, EXIT_USAGE));

  try {
    const args = await parser.parseAsync();
    const command = args._[0];
    if (command === 'server') await runServer(args as never, early);
    else if (command === 'client') await runClient(args as never, early);
    else if (command === 'genpsk') process.stdout.write(`${generatePsk()}\n`);
  } catch (err) {
    if (err instanceof TtunError) die(err.message, USAGE_CODES.has(err.code) ? EXIT_USAGE : EXIT_RUNTIME);
    throw err;
  }
}
