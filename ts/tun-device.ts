/**
 * The TUN device on its own, for programs that want the packets themselves rather than a tunnel
 * to a peer: `for await (const packet of tun.packets())` and `tun.write(packet)`. The reader is
 * the same native thread the tunnel uses; batches arrive with one call and are split here.
 */
import { parseDevName, parseMtu, parseTunAddresses, type Role } from './config.js';
import { loadNative, type NativeTunDevice, type NativeTunSession } from './native.js';
import { forEachRecord } from './protocol.js';
import { openTun as createNativeTun, type TunInfo } from './tun.js';
import { PACKET_QUEUE_HIGH, PACKET_QUEUE_LOW } from './tunables.js';

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
  private reading: NativeTunSession | undefined;
  /** Ends the current packets() iteration, waking a next() that waits for packets. */
  private stopReading: (() => void) | undefined;
  private closed = false;

  constructor(options: TunOptions) {
    const settings = {
      name: parseDevName(options.dev),
      mtu: parseMtu(options.mtu),
      addresses: parseTunAddresses(options.address, options.role),
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
    const queue: Buffer[] = [];
    let wake: (() => void) | undefined;
    let paused = false;
    const session = this.device.attachPackets((records) => {
      forEachRecord(records, (packet) => queue.push(packet));
      if (queue.length > PACKET_QUEUE_HIGH && !paused) {
        paused = true;
        this.device.pause();
      }
      wake?.();
    });
    this.reading = session;
    const stop = () => {
      if (this.reading === session) {
        this.reading = undefined;
        this.stopReading = undefined;
      }
      session.detach();
      if (paused) this.device.resume();
      wake?.();
    };
    this.stopReading = stop;
    const iterator: AsyncIterableIterator<Buffer> = {
      next: async () => {
        while (queue.length === 0) {
          if (this.closed || this.reading !== session) return { done: true, value: undefined };
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
        if (paused && queue.length < PACKET_QUEUE_LOW) {
          paused = false;
          this.device.resume();
        }
        return { done: false, value: queue.shift()! };
      },
      return: async () => {
        stop();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  /** Writes IP packets to the device; returns how many it took (non-IP data is refused). */
  write(packets: Buffer | Buffer[]): number {
    return this.device.writePackets(Array.isArray(packets) ? packets : [packets]);
  }

  /** Ends any reader and removes the device. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopReading?.();
    this.device.close();
  }
}

/** Creates a TUN device (by default with the v1 addresses of `role`), for reading and writing packets directly. */
export function openTun(options: TunOptions): TunDevice {
  return new TunDevice(options);
}
