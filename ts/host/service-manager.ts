/**
 * Telling systemd how the service is (sd_notify): `READY=1` once ttun does its job (a unit with
 * Type=notify waits for it, so units ordered after ttun find the tunnel up), `STATUS=` lines that
 * `systemctl status` shows, `WATCHDOG=1` as often as WATCHDOG_USEC asks (a stuck event loop stops
 * them and systemd restarts the unit), `STOPPING=1` at shutdown.
 *
 * The datagram itself is sent by the addon (Node has no unix datagram sockets); without
 * NOTIFY_SOCKET in the environment this does nothing at all.
 */
import { tryLoadNative } from '../core/native.js';

export interface ServiceManager {
  /** The service does its job now; `status` says how it stands. */
  ready(status: string): void;
  status(text: string): void;
  stopping(): void;
}

/** Where a notification could not be sent (said once, then the rest are tried quietly). */
export type NotifyFailure = (message: string) => void;

const NO_SERVICE_MANAGER: ServiceManager = { ready() {}, status() {}, stopping() {} };

/** The watchdog is fed at half its period, as systemd recommends, so one late tick never trips it. */
function watchdogInterval(env: NodeJS.ProcessEnv): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isSafeInteger(usec) || usec <= 0) return undefined;
  // WATCHDOG_PID names the process the watchdog is for; inherited by another, it is not ours.
  if (env.WATCHDOG_PID !== undefined && Number(env.WATCHDOG_PID) !== process.pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

/**
 * The service manager named by NOTIFY_SOCKET, if any. The variables are removed from the
 * environment, so that the hooks ttun runs do not speak for it.
 */
export function serviceManagerFrom(env: NodeJS.ProcessEnv, failed: NotifyFailure): ServiceManager {
  const socket = env.NOTIFY_SOCKET;
  const watchdogMs = watchdogInterval(env);
  for (const name of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete env[name];
  if (socket === undefined || socket === '') return NO_SERVICE_MANAGER;
  const native = tryLoadNative();
  let warned = false;
  const send = (state: string) => {
    try {
      if (native === undefined) throw new Error('the native addon is not loaded');
      native.notifyServiceManager(socket, state);
    } catch (err) {
      if (!warned) failed(`cannot notify systemd (${(err as Error).message}); ttun goes on without it`);
      warned = true;
    }
  };
  if (watchdogMs !== undefined) setInterval(() => send('WATCHDOG=1'), watchdogMs).unref();
  // One line each: a newline in a peer's description would start another assignment.
  const oneLine = (text: string) => text.replace(/[\r\n]+/g, ' ');
  return {
    ready: (status) => send(`READY=1\nSTATUS=${oneLine(status)}`),
    status: (text) => send(`STATUS=${oneLine(text)}`),
    stopping: () => send('STOPPING=1\nSTATUS=shutting down'),
  };
}
