/**
 * The --up and --down commands: a shell command line run once the TUN is up (routes included) and
 * once before it is removed, with the TUN's details in TTUN_* variables. They run with this
 * process's privileges at that moment: --up before --user drops root, --down after.
 */
import { spawn } from 'node:child_process';
import type { TunInfo } from '../datapath/native-tun.js';
import type { Role } from '../options/values.js';
import { TtunError } from '../shared/errors.js';

export type HookName = 'up' | 'down';

/**
 * The proxy variables (curl's names, either case): they may carry a proxy's user and password, and
 * --down runs as the --user account, so hooks do not get them.
 */
const PROXY_VARIABLES = new Set(['HTTPS_PROXY', 'HTTP_PROXY', 'ALL_PROXY', 'NO_PROXY']);

/**
 * The command's environment: this process's, less every TTUN_* variable it was given (TTUN_PSK
 * holds the key, and no other may reach a script by accident) and the proxy variables, plus the
 * TUN's details. A family that is not configured is the empty string, so `set -u` scripts can test it.
 */
export function hookEnvironment(tun: TunInfo, role: Role, inherited: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(inherited)) {
    const upper = name.toUpperCase();
    if (!upper.startsWith('TTUN_') && !PROXY_VARIABLES.has(upper)) env[name] = value;
  }
  return {
    ...env,
    TTUN_DEV: tun.name,
    TTUN_ROLE: role,
    TTUN_MTU: String(tun.mtu),
    TTUN_ADDRESS4: tun.ipv4 ?? '',
    TTUN_ADDRESS6: tun.ipv6 ?? '',
  };
}

/**
 * Runs `command` through /bin/sh -c (cmd.exe on Windows), its output going where ttun's goes, and
 * resolves when it exits 0. Otherwise rejects with a one-line TtunError (EHOOK) giving its exit
 * status or signal. No time limit: a command that hangs holds up start-up or shutdown, as a
 * command run by hand would (a second SIGINT/SIGTERM still ends ttun at once).
 */
export function runHook(name: HookName, command: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child =
      process.platform === 'win32'
        ? spawn(command, { shell: true, env, stdio: ['ignore', 'inherit', 'inherit'], windowsHide: true })
        : spawn('/bin/sh', ['-c', command], { env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('error', (err) => reject(new TtunError(`the --${name} command could not be started: ${err.message}`, 'EHOOK')));
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else if (signal !== null) reject(new TtunError(`the --${name} command was killed by ${signal}`, 'EHOOK'));
      else reject(new TtunError(`the --${name} command failed with exit status ${code}`, 'EHOOK'));
    });
  });
}
