/** Creates the TUN device of an endpoint with the fixed v1 addresses of its role. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Role, TUNNEL_ADDRESSES } from './config.js';
import { TtunError } from './errors.js';
import { type NativeBinding, type NativeTunDevice, nativeLibraryDir } from './native.js';

export interface TunInfo {
  name: string;
  mtu: number;
  /** CIDR notation, e.g. 10.1.1.1/30 */
  ipv4: string;
  ipv6: string;
}

export function openTun(
  native: NativeBinding,
  role: Role,
  mtu: number,
  onFatal: (message: string) => void,
): { device: NativeTunDevice; info: TunInfo } {
  const a = TUNNEL_ADDRESSES[role];
  let device: NativeTunDevice;
  // Windows: the win32 platform package ships wintun.dll beside the addon.
  const dir = nativeLibraryDir();
  const wintun =
    process.platform === 'win32' && dir !== undefined && existsSync(join(dir, 'wintun.dll')) ? join(dir, 'wintun.dll') : undefined;
  try {
    device = native.createTun(
      { mtu, ipv4: a.ipv4, ipv4Prefix: a.ipv4Prefix, ipv6: a.ipv6, ipv6Prefix: a.ipv6Prefix, wintunFile: wintun },
      onFatal,
    );
  } catch (err) {
    const { code, message } = err as { code?: string; message: string };
    if (code === 'EPERM') throw new TtunError('cannot create a TUN device: permission denied (run as root or with CAP_NET_ADMIN)', 'EPERM');
    if (process.platform === 'win32' && wintun === undefined) {
      throw new TtunError(
        `${message.startsWith('cannot create a TUN device') ? '' : 'cannot create a TUN device: '}${message}. Windows needs wintun.dll (the ttun-win32-x64-gnu package ships it ` +
          'beside the addon; else get it from https://www.wintun.net and put the amd64 DLL beside node.exe)',
        code ?? 'ETUN',
      );
    }
    throw new TtunError(message, code ?? 'ETUN');
  }
  return { device, info: { name: device.name, mtu, ipv4: `${a.ipv4}/${a.ipv4Prefix}`, ipv6: `${a.ipv6}/${a.ipv6Prefix}` } };
}
