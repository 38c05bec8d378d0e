/**
 * The TUN device on its own (openTun(), the public packet API), for programs that want the packets
 * themselves rather than a tunnel to a peer: `for await (const packet of tun.packets())` and
 * `tun.write(packet)`. The reader is the same native thread the tunnel uses; batches arrive with
 * one call and are split here.
 */

import { loadNative, type NativeTunDevice, type NativeTunSession } from '../core/native.js';
import { forEachRecord } from '../core/protocol.js';
import { parseDevName, parseMtu, parseTunAddresses, type Role } from '../options/values.js';
import { PACKET_QUEUE_HIGH, PACKET_QUEUE_LOW } from '../shared/tunables.js';
import { createNativeTun, type TunInfo } from './native-tun.js';
import { PacketQueue } from './packet-queue.js';

export interface TunOptions {
  /** Which v1 addresses the device gets: server 10.1.1.1/30 + fc11::1/126, client .2 / ::2. */
  role: Role;
  /** 1280..65519, default 1280. */
  mtu?: number;
  /** The device's name (Linux: up to 15 characters, `%d` for the first free number); default the first free ttunN. */
  dev?: string;
  /** "CIDR[,CIDR]": one IPv4 and/or one IPv6 address with prefix; default the role's v1 addresses. */
  address?: string;
}

export class TunDevice {
  readonly info: TunInfo;
  private readonly device: NativeTunDevice;
  /** The current packets() iteration: the native session feeding its queue. */
  private reading: { session: NativeTunSession; queue: PacketQueue } | undefined;
  private closed = false;

  constructor(options: TunOptions) {
    const settings = {
      name: parseDevName(options.dev),
      mtu: parseMtu(options.mtu),
      addresses: parseTunAddresses(options.address, options.role),
      // No peer: the packets are the program's.
      superFrames: false,
    };
    const { device, info } = createNativeTun(loadNative(), settings, () => this.close());
    this.device = device;
    this.info = info;
  }

  /**
   * The IP packets read from the device, in order, as they come. One reader at a time; ending
   * the iteration (break, return) gives the device back (packets are then dropped).
   */
  packets(): AsyncIterableIterator<Buffer> {
    if (this.reading) throw new Error('the TUN device already has a reader');
    // A slow reader pauses the device's reader thread: the kernel's TUN queue then fills and
    // drops, as it does for a tunnel whose socket pushes back.
    const queue = new PacketQueue({
      high: PACKET_QUEUE_HIGH,
      low: PACKET_QUEUE_LOW,
      pause: () => this.device.pause(),
      resume: () => this.device.resume(),
    });
    const session = this.device.attachPackets((records) => forEachRecord(records, (packet) => queue.push(packet)));
    const reading = { session, queue };
    this.reading = reading;
    return queue.reader(() => this.stopReading(reading));
  }

  /** Ends an iteration: the device stops handing packets to it; the queue resumes the device if it had paused it. */
  private stopReading(reading: { session: NativeTunSession; queue: PacketQueue }): void {
    if (this.reading === reading) this.reading = undefined;
    reading.session.detach();
    reading.queue.close();
  }

  /** Writes IP packets to the device; returns how many it took (non-IP data is refused). */
  write(packets: Buffer | Buffer[]): number {
    return this.device.writePackets(Array.isArray(packets) ? packets : [packets]);
  }

  /** Ends any reader and removes the device. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.reading) this.stopReading(this.reading);
    this.device.close();
  }
}

/** Creates a TUN device (by default with the v1 addresses of `role`), for reading and writing packets directly. */
export function openTun(options: TunOptions): TunDevice {
  return new TunDevice(options);
}
