/**
 * What a running instance offers its host besides the tunnel: the control socket `ttun status`
 * reads, and systemd's notifications.
 */
import { type ServiceManager, serviceManagerFrom } from '../host/service-manager.js';
import { ControlSocket, controlSocketPath } from '../observability/control-socket.js';
import type { TtunClient } from '../tunnel/client.js';
import type { TtunServer } from '../tunnel/server.js';
import type { Logger } from './log.js';
import type { StatusTracker } from './status.js';

/** Both start before root is dropped (the socket lives in root's /run/ttun) and stop before the endpoint closes. */
export class InstanceServices {
  private control: ControlSocket | undefined;

  constructor(
    readonly systemd: ServiceManager,
    private readonly log: Logger,
  ) {}

  /** What became of the control socket, said by reportControl() among the start-up lines. */
  private controlOutcome: () => void = () => {};

  /** The control socket for `endpoint`; without one (no /run/ttun, another instance there) ttun runs all the same. */
  async openControl(endpoint: TtunServer | TtunClient, tracker: StatusTracker): Promise<void> {
    const path = controlSocketPath(endpoint.tun!.name);
    try {
      this.control = await ControlSocket.open(
        path,
        () => JSON.stringify(tracker.report()),
        (err) => this.log('warn', 'control-error', `the control socket cannot accept connections (${err.message}): still listening`),
      );
      this.controlOutcome = () => this.log('debug', 'control', `status at ${path} (ttun status --dev ${endpoint.tun!.name})`, { path });
    } catch (err) {
      const message = `no control socket, so ttun status cannot see this instance: ${(err as Error).message}`;
      this.controlOutcome = () => this.log('warn', 'control-error', message, { path });
    }
  }

  reportControl(): void {
    this.controlOutcome();
  }

  /** Before the endpoint closes: nothing here waits, so a shutdown that hangs is the endpoint's alone. */
  async stop(): Promise<void> {
    this.systemd.stopping();
    this.control?.close();
  }
}

/** systemd's notifications when NOTIFY_SOCKET asks for them; a failure to send is said once. */
export function systemdFor(log: Logger): ServiceManager {
  return serviceManagerFrom(process.env, (message) => log('warn', 'systemd', message));
}
