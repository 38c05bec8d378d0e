/**
 * The `ttun` command: argument parsing (yargs) over the programmatic API in index.ts.
 * v1 compatibility: Go-style single-dash long flags (-mtu 1400) work, as do --long forms.
 */
import { existsSync, linkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import yargs, { type Argv } from 'yargs';
import { readableSecretWarning, requireTrusted } from '../host/file-trust.js';
import { type Account, dropPrivileges, resolveAccount } from '../host/privileges.js';
import { type ClientOptions, connect, createServer, type ServerOptions, type TtunClient, type TtunServer } from '../index.js';
import { metricsUrl } from '../observability/metrics.js';
import { ENDPOINT_COMMANDS, type EndpointCommand, flagName, OPTIONS, optionsOf, specForKey } from '../options/option-table.js';
import { generatePsk, type PskChoice, resolvePsk } from '../options/psk-source.js';
import { describeSource, resolveSettings, type Settings } from '../options/settings.js';
import { formatHostPort } from '../options/values.js';
import { BAD_OPTION_CODES, TtunError, unreadableBecause } from '../shared/errors.js';
import { packageVersion } from '../shared/package-info.js';
import { checkClientOptions } from '../tunnel/client.js';
import { checkServerOptions } from '../tunnel/server.js';
import { checkReport, type Effective } from './check.js';
import { InstanceServices, systemdFor } from './instance-services.js';
import {
  describeSessionEnd,
  type LogFormat,
  type Logger,
  type LogLevel,
  logClientEvents,
  logCounters,
  logProxy,
  logServerEvents,
  logStatsEvery,
  logTun,
  stderrLogger,
} from './log.js';
import { StatusTracker } from './status.js';
import { runStatus } from './status-command.js';

const EXIT_RUNTIME = 1;
const EXIT_USAGE = 2;

/** Errors about the configuration itself: they exit like yargs' usage errors. */
const USAGE_CODES: ReadonlySet<string> = new Set(BAD_OPTION_CODES);

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

/**
 * How a start-up error is written: text until the settings say otherwise; before they are known,
 * what the command line and the environment ask for (a config file's log-format counts once read).
 */
let errorFormat: { format: LogFormat; role: string } = { format: 'text', role: 'ttun' };

function formatAskedFor(argv: string[], env: NodeJS.ProcessEnv): LogFormat {
  const flag = argv.findIndex((a) => /^--?log-format(=|$)/.test(a));
  const value = flag === -1 ? env.TTUN_LOG_FORMAT : argv[flag]!.includes('=') ? argv[flag]!.split('=')[1] : argv[flag + 1];
  return value === 'json' ? 'json' : 'text';
}

/**
 * Prints `ttun: message` (or, with --log-format json, one JSON object with level "error" and the
 * exit code) and exits: the one way bad input ends the program.
 */
function die(message: string, code: number): never {
  if (errorFormat.format === 'json') {
    const line = { time: new Date().toISOString(), level: 'error', role: errorFormat.role, event: 'start-failed', message, exitCode: code };
    process.stderr.write(`${JSON.stringify(line)}\n`);
  } else {
    process.stderr.write(`ttun: ${message}\n`);
  }
  process.exit(code);
}

/**
 * The options of `command`, from the table in cli-options.ts. yargs gets no defaults (the merge
 * with the environment and the config file in settings.ts must see what the command line really
 * gave) and no types but boolean: every value is converted once, the same way from the command
 * line and the environment.
 */
function endpointOptions<T>(y: Argv<T>, command: EndpointCommand) {
  for (const spec of optionsOf(command)) {
    y.option(spec.name, {
      alias: spec.short,
      // Strings all (a bare boolean flag is ''): settings.ts reads every value the same way from
      // the command line, the environment and a file.
      type: 'string',
      describe: spec.type === 'array' ? `${spec.describe} (repeatable)` : spec.describe,
      choices: spec.choices as string[] | undefined,
      defaultDescription: spec.default === undefined ? undefined : String(spec.default),
      requiresArg: spec.type !== 'boolean',
    });
    // Shown as [number] in the help; still handed over as the text given (declared a string above,
    // which yargs-parser lets win), so that it is converted once, as from the environment.
    if (spec.type === 'number') y.number(spec.name);
  }
  return y.check((argv) => {
    // yargs makes an array of an option given twice; say which, never the values (one may be the key).
    for (const key of Object.keys(argv)) {
      const spec = specForKey(key);
      if (spec && spec.type !== 'array' && Array.isArray(argv[key])) throw new Error(`${flagName(spec)} is given more than once`);
    }
    return true;
  });
}

/**
 * Runs until SIGINT/SIGTERM, then closes the endpoint (removing the TUN) and exits 0. A second
 * signal while closing exits at once (128 + signal number, as a shell reports it): close() waits
 * for the peer's socket and the TUN, and whoever presses Ctrl-C twice wants out now.
 */
function runUntilSignal(endpoint: TtunServer | TtunClient, log: Logger, services: InstanceServices): void {
  let closing = false;
  const stop = (signal: NodeJS.Signals) => {
    if (closing) {
      log('warn', 'shutdown', `${signal} again: exiting without waiting for the shutdown to finish`, { signal });
      process.exit(128 + osConstants.signals[signal]);
    }
    closing = true;
    log('info', 'shutdown', `${signal}: shutting down`, { signal });
    services
      .stop()
      .then(() => endpoint.close())
      .then(
        () => process.exit(0),
        (err: Error) => die(`shutdown failed: ${err.message}`, EXIT_RUNTIME),
      );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // The endpoint cannot go on (its TUN or listener failed): say why, clean up, exit 1.
  endpoint.on('error', (err) => {
    log('error', 'fatal', err.message, { code: err.code });
    void services
      .stop()
      .then(() => endpoint.close())
      .finally(() => process.exit(EXIT_RUNTIME));
  });
}

/** What only the CLI reads from the settings (everything else goes to the API through the table's `api` keys). */
interface CliArgs {
  user?: string;
  group?: string;
  'log-format': LogFormat;
  'log-level': LogLevel;
  stats?: number;
  up?: string;
  down?: string;
  server?: string;
  proxy?: string;
}

function argsOf(settings: Settings): CliArgs {
  return Object.fromEntries(settings.all.map((setting) => [setting.spec.name, setting.value])) as unknown as CliArgs;
}

/**
 * The API options of the settings, by the table's `api` key of each option (settings.ts has
 * converted each value once; the API checks them): the same for a run and for `ttun check`.
 */
function apiOptionsOf(settings: Settings, psk: string | Buffer): ServerOptions & ClientOptions {
  const options: Record<string, unknown> = { psk };
  for (const { spec, value } of settings.all) if (spec.api !== undefined && value !== undefined) options[spec.api] = value;
  return options as unknown as ServerOptions & ClientOptions;
}

/**
 * The API's errors name API options ("bad maxPendingHandshakes: …"); the CLI names where the
 * value came from instead: the flag, the variable or the key in the config file.
 */
function inCliWords(err: unknown, settings: Settings): unknown {
  if (!(err instanceof TtunError) || err.option === undefined) return err;
  const spec = OPTIONS.find((s) => s.api === err.option);
  if (spec === undefined) return err;
  const where = describeSource(spec, settings.sourceOf(spec.name), settings.configFile);
  return new TtunError(`bad ${where}: ${err.problem}`, err.code, { cause: err });
}

/**
 * The key from -k, --psk-file or TTUN_PSK. Its warnings (never the key) are logged once the
 * endpoint is up but before any other start-up line (startupWarnings), so that bad input still
 * gets exactly one line and a reader of the log sees them first.
 */
function pskFrom(sources: KeySources): PskChoice {
  const choice = resolvePsk(sources);
  if (sources.flag !== undefined) hideArguments();
  delete process.env.TTUN_PSK;
  return choice;
}

/**
 * -k exists on the command line only, so it wins over a --psk-file from the environment or a
 * config file; both on the command line is an error (psk-source.ts). TTUN_PSK is the key when
 * neither is given, as it always was.
 */
interface KeySources {
  flag?: string;
  file?: string;
  env?: string;
}

function keySources(settings: Settings): KeySources {
  const flag = settings.get('psk') as string | undefined;
  const file =
    flag !== undefined && settings.sourceOf('psk-file') !== 'flag' ? undefined : (settings.get('psk-file') as string | undefined);
  return { flag, file, env: process.env.TTUN_PSK };
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

function afterStartup(
  endpoint: TtunServer | TtunClient,
  args: CliArgs,
  account: Account | undefined,
  early: EarlyStart,
  log: Logger,
  services: InstanceServices,
): void {
  services.reportControl();
  const metrics = endpoint.metricsAddress();
  if (metrics !== undefined) log('info', 'metrics', `metrics on ${metricsUrl(metrics)}`, { url: metricsUrl(metrics) });
  if (args.stats !== undefined) logStatsEvery(endpoint, log, args.stats);
  early.takeSigusr1(() => logCounters(endpoint, log));
  endpoint.on('hook-failed', (hook: string, message: string) => log('warn', 'hook-failed', message, { hook }));
  if (account === undefined) return;
  dropPrivileges(account);
  log('info', 'privileges', `running as user ${account.user} (uid ${process.getuid?.()}, gid ${process.getgid?.()})`, {
    uid: process.getuid?.(),
    gid: process.getgid?.(),
  });
  if (args.down !== undefined) log('info', 'privileges', `--down will run as user ${account.user}, without root`);
}

/** The TUN line, then what was done to the TUN: routes, --up. */
function logTunSetup(log: Logger, endpoint: TtunServer | TtunClient, args: CliArgs): void {
  const tun = endpoint.tun!;
  logTun(log, tun);
  if (tun.routes.length > 0) log('info', 'routes', `routes via ${tun.name}: ${tun.routes.join(' ')}`, { routes: tun.routes });
  if (args.up !== undefined) log('info', 'up-done', 'the --up command succeeded');
}

/** Checked before the key is read, so a missing -s is reported whatever is wrong with the key. */
function requiredServer(args: { server?: string }): string {
  if (args.server === undefined || args.server === '')
    throw new TtunError('the server address is required: give -s HOST:PORT', 'ENOSERVER');
  return args.server;
}

/**
 * The files a run as root would trust: a config file that sets commands or names the key file, and
 * the key file, must be root's alone (host/file-trust.ts); a config file holding a proxy password
 * should not be readable by others. Returns the warnings.
 */
function checkFiles(settings: Settings, sources: KeySources): string[] {
  const warnings: string[] = [];
  const config = settings.configFile;
  if (config !== undefined) {
    const commands = ['up', 'down'].filter((name) => settings.sourceOf(name) === 'file');
    if (commands.length > 0) requireTrusted({ path: config, because: `sets ${commands.join(' and ')}, run as root` });
    else if (settings.sourceOf('psk-file') === 'file') requireTrusted({ path: config, because: 'names the key file' });
    const proxy = settings.sourceOf('proxy') === 'file' ? (settings.get('proxy') as string) : undefined;
    const secret = proxy?.includes('@') ? readableSecretWarning(config, 'a proxy password') : undefined;
    if (secret !== undefined) warnings.push(secret);
  }
  if (sources.file !== undefined) requireTrusted({ path: sources.file, because: 'is the key file' });
  return warnings;
}

/**
 * The start-up checks that come before the API's, in the order a run makes them, before anything
 * is created: a client's server, the account to run as, the files trusted as root, the key. `ttun check` runs exactly this,
 * then the API's own checks (checkServerOptions / checkClientOptions, which createServer and
 * connect run first).
 */
function prepare(settings: Settings) {
  const args = argsOf(settings);
  if (settings.command === 'client') requiredServer(args);
  // An account the system does not know must not leave a TUN behind.
  const account = resolveAccount(args.user, args.group);
  const sources = keySources(settings);
  const fileWarnings = checkFiles(settings, sources);
  const key = pskFrom(sources);
  key.warnings.push(...fileWarnings);
  // A proxy password on the command line is as visible in the process list as -k's key.
  if (args.proxy?.includes('@')) hideArguments();
  return { args, account, sources, key, options: apiOptionsOf(settings, key.psk) };
}

/** Runs an API call, its option errors in the CLI's words. */
async function inCliTerms<T>(settings: Settings, call: () => T | Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw inCliWords(err, settings);
  }
}

async function runServer(settings: Settings, early: EarlyStart): Promise<void> {
  const { args, account, key, options } = prepare(settings);
  const log = stderrLogger('server', args['log-format'], args['log-level']);
  // Before the endpoint runs the --up hook, which must not inherit NOTIFY_SOCKET.
  const services = new InstanceServices(systemdFor(log), log);
  const server = await inCliTerms(settings, () => createServer(options));
  // From here to the first await, nothing can happen: every listener is in place before any event.
  // Before the first line that says ttun is up: whoever reads it may press Ctrl-C at once.
  runUntilSignal(server, log, services);
  startupWarnings(key, early, log);
  logTunSetup(log, server, args);
  const { address, port } = server.address();
  const listening = formatHostPort({ host: address, port });
  log('info', 'listening', `listening on ${listening} (${server.cipher})`, { address: listening, cipher: server.cipher });
  const tracker = new StatusTracker(server, { listening });
  logServerEvents(server, log);
  const { systemd } = services;
  server.on('up', (peer) => systemd.status(`session up with ${peer}`));
  server.on('down', (peer, end) => systemd.status(`waiting for a peer (${peer} disconnected: ${describeSessionEnd(end)})`));
  await services.openControl(server, tracker);
  afterStartup(server, args, account, early, log, services);
  systemd.ready(`listening on ${listening}, waiting for a peer`);
}

async function runClient(settings: Settings, early: EarlyStart): Promise<void> {
  const { args, account, key, options } = prepare(settings);
  const log = stderrLogger('client', args['log-format'], args['log-level']);
  const services = new InstanceServices(systemdFor(log), log);
  const client = await inCliTerms(settings, () => connect(options));
  // As for the server: every listener in place before the first await.
  runUntilSignal(client, log, services);
  startupWarnings(key, early, log);
  logTunSetup(log, client, args);
  logProxy(client, log);
  const target = formatHostPort(client.server);
  const tracker = new StatusTracker(client, { server: target, proxy: client.proxy?.url });
  logClientEvents(client, log);
  const { systemd } = services;
  client.on('up', (peer) => systemd.status(`connected to ${peer}`));
  client.on('down', (peer, end) => systemd.status(`reconnecting (disconnected from ${peer}: ${describeSessionEnd(end)})`));
  client.on('failed', (_reason, message) => systemd.status(`reconnecting (${message})`));
  await services.openControl(client, tracker);
  afterStartup(client, args, account, early, log, services);
  // The client is ready with its TUN up: the session comes and goes, the TUN stays.
  systemd.ready(client.connected ? `connected to ${target}` : `connecting to ${target}`);
}

/**
 * `ttun check`: every check a run would make before it creates anything, then the report. Any
 * problem is the configuration's, so it exits 2 whatever the check that found it.
 */
async function runCheck(settings: Settings): Promise<void> {
  const { sources, key, options } = prepare(settings);
  const bytes = typeof key.psk === 'string' ? Buffer.byteLength(key.psk, 'utf8') : key.psk.length;
  const effective: Effective = {};
  try {
    if (settings.command === 'server') {
      const { limits } = await inCliTerms(settings, () => checkServerOptions(options));
      effective['max-pending-handshakes-per-source'] = { value: limits.maxPendingPerSource, from: 'default' };
    } else {
      const { route } = await inCliTerms(settings, () => checkClientOptions(options));
      if (route.proxy !== undefined) effective.proxy = { value: route.proxy.display, from: `env (${route.from})` };
      else if (route.bypass !== undefined) effective.proxy = { value: 'none', from: `env (${route.bypass.noProxy} covers the server)` };
    }
  } finally {
    if (Buffer.isBuffer(key.psk)) key.psk.fill(0);
  }
  const from = sources.flag !== undefined ? '-k' : sources.file !== undefined ? '--psk-file' : 'TTUN_PSK';
  process.stdout.write(checkReport(settings, { from, bytes, warnings: key.warnings }, effective));
}

/**
 * yargs echoes what it did not understand; any of it may be a key (typed without quotes, joined to
 * its flag as -kKEY, or given to the wrong option), so little is repeated back: the name of an
 * unknown option only when it is a plain lower-case word (--frob), with the option it is a near
 * miss of; a value joined to a flag (-kKEY, --mtu1400) only as the flag.
 */
function safeUsageMessage(message: string, argv: readonly string[], known: readonly string[], takingValues: readonly string[]): string {
  const invalid = /Argument: (\S+), Given: "[^"]*", Choices: (.*)$/m.exec(message);
  if (invalid) return `bad --${invalid[1]}: use one of ${invalid[2]!.replace(/"/g, '')}`;
  const unknown = /^Unknown arguments?: (.*)$/.exec(message);
  if (!unknown) return message.split('\n')[0]!;
  const dashes = (name: string) =>
    argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`))
      ? '--'
      : argv.some((a) => a === `-${name}` || a.startsWith(`-${name}=`))
        ? '-'
        : undefined;
  const flags = unknown[1]!.split(', ').filter((name) => dashes(name) !== undefined);
  if (flags.length === 0) return 'unexpected extra argument (not repeated here; quote a key that contains spaces)';
  const name = flags[0]!;
  const letter = takingValues.find((short) => name.startsWith(short) && name.length > 1);
  if (dashes(name) === '-' && letter !== undefined && !known.includes(name)) {
    return `unknown option -${letter}…: put a space or = between -${letter} and its value`;
  }
  const joined = known.find((option) => option.length > 1 && name.startsWith(option) && name.length > option.length);
  if (joined !== undefined) return `unknown option --${joined}…: put a space or = between --${joined} and its value`;
  if (!/^[a-z][a-z-]{0,23}$/.test(name)) return 'unknown option (not repeated here, as it may hold a key)';
  if (known.includes(name)) return `unknown option --${name} (an option of another command)`;
  const near = name.length >= 4 ? known.find((option) => option.length > 2 && editDistance(name, option) <= 2) : undefined;
  return `unknown option --${name}${near === undefined ? '' : `: did you mean --${near}?`}`;
}

/** Levenshtein distance, for "did you mean". */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/** The one-letter options that take a value (-k KEY), for safeUsageMessage. */
const SHORT_WITH_VALUE = OPTIONS.filter((spec) => spec.short?.length === 1 && spec.type !== 'boolean')
  .map((spec) => spec.short!)
  .concat(['o']);

/** Every option name and one-letter alias ttun knows, for safeUsageMessage. */
const KNOWN_OPTIONS = [...new Set(OPTIONS.flatMap((spec) => [spec.name, ...(spec.short ? [spec.short] : [])]))].concat([
  'json',
  'help',
  'version',
  'output',
  'force',
  'h',
  'v',
  'o',
]);

const COMMANDS = ['server', 'client', 'check', 'status', 'genpsk', 'completion', 'help'];

/**
 * Examples as lines to copy: a comment, then the whole command on a line of its own (yargs'
 * example column wraps long commands in the middle). Each command fits 80 columns
 * (test/e2e/cli.test.ts checks).
 */
function examples(list: Array<[comment: string, command: string]>): string {
  const lines = list.flatMap(([comment, command]) => [`  # ${comment}`, `  ${command}`]);
  return `Examples:\n${lines.join('\n')}`;
}

/**
 * `ttun genpsk -o FILE`: the key never exists in a file anyone else can read. It is written to a
 * new file of mode 0600 beside FILE, then moved into place: link() refuses an existing FILE, rename()
 * (--force) replaces it.
 */
function writeKeyFile(file: string, force: boolean): void {
  const temporary = join(dirname(resolve(file)), `.${basename(file)}.${process.pid}.tmp`);
  let failure: unknown;
  try {
    writeFileSync(temporary, `${generatePsk()}\n`, { mode: 0o600, flag: 'wx' });
    if (force) renameSync(temporary, file);
    else linkSync(temporary, file);
  } catch (err) {
    failure = err;
  }
  rmSync(temporary, { force: true });
  if (failure === undefined) return;
  if ((failure as NodeJS.ErrnoException).code === 'EEXIST' && existsSync(file))
    die(`${file} exists: give --force to replace it`, EXIT_USAGE);
  die(`cannot write the key to ${file}: ${unreadableBecause(failure)}`, EXIT_RUNTIME);
}

export async function main(argv: string[], early: EarlyStart = LATE_START): Promise<void> {
  // `ttun help [command]` is `ttun [command] --help`.
  if (argv[0] === 'help') argv = [...argv.slice(1), '--help'];
  errorFormat = { format: formatAskedFor(argv, process.env), role: argv[0] === 'check' ? 'check' : (argv[0] ?? 'ttun') };
  const first = argv[0];
  if (first !== undefined && !first.startsWith('-') && !COMMANDS.includes(first)) {
    die(`unknown command ${JSON.stringify(first)}: use ${COMMANDS.join(' or ')} (see ttun --help)`, EXIT_USAGE);
  }
  const checked = first === 'check' ? argv[1] : undefined;
  if (checked !== undefined && !checked.startsWith('-') && !(ENDPOINT_COMMANDS as readonly string[]).includes(checked)) {
    die(`cannot check ${JSON.stringify(checked)}: use ttun check server or ttun check client`, EXIT_USAGE);
  }
  const parser = yargs(argv)
    .scriptName('ttun')
    // Go's flag package reads -mtu as one flag; yargs would read -m -t -u without this.
    .parserConfiguration({ 'short-option-groups': false })
    .usage('$0 <command> [options]\n\nPoint-to-point IP tunnel over one encrypted TCP connection (ttun v1 protocol).')
    .command('server', 'run the server: TUN 10.1.1.1/30 + fc11::1/126 (or --address), listen for one peer', (y) =>
      endpointOptions(y, 'server').epilogue(
        examples([
          ['listen on every address, port 20203', 'sudo ttun server --psk-file /etc/ttun.key'],
          ['one address, AES-256-GCM', 'sudo ttun server --psk-file /etc/ttun.key -l 192.0.2.1:20203 -m aes-256-gcm'],
          ['drop root once the TUN is up (a dedicated user)', 'sudo ttun server --psk-file /etc/ttun.key --user ttun'],
          ['a second instance: its own listen, dev and address in the file', 'sudo ttun server --config /etc/ttun/second.json'],
          ['options from a JSON file', 'sudo ttun server --config /etc/ttun/office.json'],
        ]),
      ),
    )
    .command('client', 'run the client: TUN 10.1.1.2/30 + fc11::2/126 (or --address), connect to the server', (y) =>
      endpointOptions(y, 'client').epilogue(
        examples([
          ['connect; reconnects by itself', 'sudo ttun client --psk-file /etc/ttun.key -s vpn.example.com:20203'],
          ['key from the environment', 'sudo TTUN_PSK="$(cat key)" ttun client -s [2001:db8::1]:20203'],
          ['reach a network behind the server', 'sudo ttun client --config office.json --route 198.51.100.0/24'],
          ['through an HTTP proxy', 'sudo ttun client --config office.json --proxy http://proxy.corp:3128'],
          ['through SOCKS5 from the environment', 'sudo HTTPS_PROXY=socks5h://gw:1080 ttun client --config office.json'],
          ['one option of a file overridden', 'sudo TTUN_MTU=1400 ttun client --config /etc/ttun/office.json'],
        ]),
      ),
    )
    .command('check', 'check a server or client configuration and show the effective options, without starting anything', (y) =>
      y
        .command('server', 'check `ttun server` with these options', (c) => endpointOptions(c, 'server'))
        .command('client', 'check `ttun client` with these options', (c) => endpointOptions(c, 'client'))
        .epilogue(
          examples([['exit 0 and the settings if valid, 2 and the problem if not', 'ttun check server --config /etc/ttun/office.json']]),
        )
        .demandCommand(1, 'give what to check: ttun check server or ttun check client'),
    )
    .command('status', 'show how the running instances are (as root): session, peer, traffic, drops, rejections, last error', (y) =>
      y
        .option('dev', { type: 'string', requiresArg: true, describe: 'only the instance whose TUN is this' })
        .option('json', { type: 'boolean', describe: 'print JSON: an array with one object per instance' })
        .epilogue(
          examples([
            ['every instance on this host', 'sudo ttun status'],
            ['one instance, for a script', 'sudo ttun status --dev ttun0 --json'],
          ]),
        ),
    )
    .command('genpsk', 'make a fresh random key (32 bytes, base64) for --psk-file or TTUN_PSK', (y) =>
      y
        .option('output', {
          alias: 'o',
          type: 'string',
          requiresArg: true,
          describe: 'write the key to this file, created with mode 0600 (instead of printing it)',
        })
        .option('force', { type: 'boolean', describe: 'with -o: replace an existing file' })
        .epilogue(examples([['make a key file only root can read', 'sudo ttun genpsk -o /etc/ttun.key']])),
    )
    .completion('completion', 'print a bash/zsh completion script (add `source <(ttun completion)` to your shell rc)')
    .epilogue(
      'Every option can also be set as TTUN_<OPTION> in the environment (TTUN_PSK_FILE, TTUN_LOG_FORMAT; lists comma- or space-separated; booleans true/false/1/0) or in a --config JSON file; the command line wins over the environment, which wins over the file. The key itself: --psk-file, -k, or TTUN_PSK.',
    )
    .demandCommand(1, 'give a command: server, client, check, status or genpsk')
    .strict()
    .version(packageVersion())
    .alias('v', 'version')
    .help()
    .alias('h', 'help')
    .wrap(Math.min(100, process.stdout.columns || 100))
    // Commands run after parsing (below), so every failure here is a usage error, including
    // those .check() throws.
    .fail((message, err) =>
      die(
        `${safeUsageMessage(message ?? err?.message ?? 'bad arguments', argv, KNOWN_OPTIONS, SHORT_WITH_VALUE)} (see ttun --help)`,
        EXIT_USAGE,
      ),
    );

  try {
    const args = await parser.parseAsync();
    const [command, role] = args._ as string[];
    if (command === 'server' || command === 'client') {
      const settings = resolveSettings(command, args, process.env);
      errorFormat = { format: settings.get('log-format') as LogFormat, role: command };
      if (command === 'server') await runServer(settings, early);
      else await runClient(settings, early);
    } else if (command === 'check') {
      try {
        await runCheck(resolveSettings(role as EndpointCommand, args, process.env));
      } catch (err) {
        if (err instanceof TtunError) die(err.message, EXIT_USAGE);
        throw err;
      }
    } else if (command === 'status') {
      const result = await runStatus({ dev: args.dev as string | undefined, json: args.json === true });
      process.stdout.write(result.stdout);
      if (result.failure !== undefined) die(result.failure, EXIT_RUNTIME);
    } else if (command === 'genpsk') {
      if (typeof args.output === 'string') writeKeyFile(args.output, args.force === true);
      else process.stdout.write(`${generatePsk()}\n`);
    }
  } catch (err) {
    if (err instanceof TtunError) die(err.message, USAGE_CODES.has(err.code) ? EXIT_USAGE : EXIT_RUNTIME);
    throw err;
  }
}
