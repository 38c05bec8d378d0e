/**
 * Creates the addon's TUN device with a name, MTU and addresses, turning the addon's failures into
 * ttun's errors (and finding wintun.dll on Windows). Both the endpoints (their TunCarrier) and
 * openTun()'s standalone device create theirs here.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type NativeBinding, type NativeTunDevice, nativeLibraryDir } from '../core/native.js';
import { formatCidr, peerTunnelAddress, type TunAddresses } from '../options/values.js';
import { knownCode, TtunError } from '../shared/errors.js';

export interface TunInfo {
  name: string;
  mtu: number;
  /** This end's addresses in CIDR notation, e.g. 10.1.1.1/30; undefined for a family not configured. */
  ipv4: string | undefined;
  ipv6: string | undefined;
  /** The routes ttun added through the device (--route), in CIDR notation. */
  routes: string[];
}

export interface TunSettings {
  /** undefined: the platform's default (the first free ttunN on Linux). */
  name: string | undefined;
  mtu: number;
  addresses: TunAddresses;
  /** Whether TCP super-packets may go to the peer whole (after its probe answer); false: never. */
  superFrames: boolean;
}

export function createNativeTun(
  native: NativeBinding,
  { name, mtu, addresses, superFrames }: TunSettings,
  onFatal: (message: string) => void,
): { device: NativeTunDevice; info: TunInfo } {
  const { ipv4, ipv6 } = addresses;
  let device: NativeTunDevice;
  // Windows: the win32 platform package ships wintun.dll beside the addon.
  const dir = nativeLibraryDir();
  const wintun =
    process.platform === 'win32' && dir !== undefined && existsSync(join(dir, 'wintun.dll')) ? join(dir, 'wintun.dll') : undefined;
  try {
    device = native.createTun(
      {
        name,
        mtu,
        ipv4: ipv4?.address,
        ipv4Prefix: ipv4?.prefix,
        ipv6: ipv6?.address,
        ipv6Prefix: ipv6?.prefix,
        peerIpv4: superFrames && ipv4 ? peerTunnelAddress(ipv4) : undefined,
        peerIpv6: superFrames && ipv6 ? peerTunnelAddress(ipv6) : undefined,
        wintunFile: wintun,
      },
      onFatal,
    );
  } catch (err) {
    const { code, message } = err as { code?: string; message: string };
    if (code === 'EPERM') throw new TtunError('cannot create a TUN device: permission denied (run as root or with CAP_NET_ADMIN)', 'EPERM');
    if (process.platform === 'win32' && wintun === undefined) {
      throw new TtunError(
        // The addon's message already says what failed ("cannot create a TUN device: ...").
        `${message}. Windows needs wintun.dll (the @ttun/ttun-win32-x64-gnu package ships it ` +
          'beside the addon; else get it from https://www.wintun.net and put the amd64 DLL beside node.exe)',
        knownCode(code, 'ETUN'),
      );
    }
    throw new TtunError(message, knownCode(code, 'ETUN'));
  }
  const info = { name: device.name, mtu, ipv4: ipv4 && formatCidr(ipv4), ipv6: ipv6 && formatCidr(ipv6), routes: [] };
  return { device, info };
}
