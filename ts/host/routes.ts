/**
 * --route: routes through the TUN, added with the system's own tool once the TUN is up, as
 * OpenVPN does: iproute2's `ip route` on Linux, `route` on macOS (Windows: not yet, see
 * parseRoutes). They are not deleted one by one: removing the TUN removes every route through it
 * (the kernel does), which also works after --user has dropped the privilege to delete them.
 */
import { execFile } from 'node:child_process';
import { type Cidr, formatCidr } from '../options/values.js';
import { TtunError } from '../shared/errors.js';

/** The command that adds `route` through device `dev` on this platform. */
export function addRouteCommand(route: Cidr, dev: string, platform: NodeJS.Platform = process.platform): [string, string[]] {
  const cidr = formatCidr(route);
  if (platform === 'darwin') return ['route', ['-n', 'add', route.family === 4 ? '-inet' : '-inet6', cidr, '-interface', dev]];
  return ['ip', [`-${route.family}`, 'route', 'add', cidr, 'dev', dev]];
}

/** Adds the routes in order; the first that fails rejects with a one-line TtunError (EROUTE). */
export async function addRoutes(routes: Cidr[], dev: string): Promise<void> {
  for (const route of routes) {
    const [command, args] = addRouteCommand(route, dev);
    await new Promise<void>((resolve, reject) => {
      execFile(command, args, { timeout: 30_000 }, (err, _stdout, stderr) => {
        if (!err) return resolve();
        const code = (err as NodeJS.ErrnoException).code;
        const why =
          code === 'ENOENT'
            ? `${command} was not found${command === 'ip' ? ' (install iproute2)' : ''}`
            : (stderr.trim().split('\n').pop() ?? '') || err.message.split('\n')[0]!;
        reject(new TtunError(`cannot add route ${formatCidr(route)} via ${dev}: ${why}`, 'EROUTE'));
      });
    });
  }
}
