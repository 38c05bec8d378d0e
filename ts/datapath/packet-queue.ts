/**
 * The queue between a producer of packets that can be paused (a socket in userspace mode, the
 * addon's TUN reader thread for openTun()) and one JavaScript reader consuming them with
 * `for await`. The producer is paused when the queue reaches the high mark and resumed once the
 * reader has drained it to the low mark.
 *
 * The resume rule, for both users: resume when the queue is down to `low` (not when it is empty,
 * not as soon as it falls under `high`). Waiting for `low` rather than `high` gives hysteresis, so
 * a reader that keeps pace just under the mark does not flip the producer on and off per packet
 * (each flip stops or restarts a socket read or a native thread); resuming at `low` rather than at empty keeps `low`
 * packets in hand while the producer restarts, so the reader does not sit idle waiting for it.
 * A paused flag makes each crossing call pause or resume exactly once.
 *
 * The bound is soft: a producer stops within one batch of being paused (a chunk Node already
 * read, a batch the reader thread already handed over), and what arrives meanwhile is kept: an
 * open queue never drops a packet.
 */

export interface PacketQueueOptions {
  /** Queue length at which the producer is paused (> low); PACKET_QUEUE_HIGH for both users. */
  high: number;
  /** Queue length at which a paused producer is resumed (>= 0); PACKET_QUEUE_LOW for both users. */
  low: number;
  /** Stop producing: called once each time the queue reaches `high`. */
  pause: () => void;
  /** Produce again: called once each time a paused queue drains to `low`, or is closed. */
  resume: () => void;
}

export class PacketQueue {
  private readonly packets: Buffer[] = [];
  private readonly high: number;
  private readonly low: number;
  private readonly pauseProducer: () => void;
  private readonly resumeProducer: () => void;
  private producerPaused = false;
  private closed = false;
  /** The active reader's token, while it has not returned. */
  private activeReader: object | undefined;
  /** next() calls waiting for a packet or for close(). */
  private waiting: Array<() => void> = [];

  constructor({ high, low, pause, resume }: PacketQueueOptions) {
    if (!(Number.isInteger(high) && Number.isInteger(low) && low >= 0 && high > low)) {
      throw new RangeError(`packet queue marks need 0 <= low < high (whole numbers), got low ${low}, high ${high}`);
    }
    this.high = high;
    this.low = low;
    this.pauseProducer = pause;
    this.resumeProducer = resume;
  }

  get length(): number {
    return this.packets.length;
  }

  /** Whether the producer is paused now (a new producer taking over a paused queue must start paused). */
  get paused(): boolean {
    return this.producerPaused;
  }

  /** Queues a packet for the reader; false, and the packet is dropped, once the queue is closed. */
  push(packet: Buffer): boolean {
    if (this.closed) return false;
    this.packets.push(packet);
    if (!this.producerPaused && this.packets.length >= this.high) {
      this.producerPaused = true;
      this.pauseProducer();
    }
    this.wakeReaders();
    return true;
  }

  /**
   * No more packets are taken. A paused producer is resumed (what it produces now goes elsewhere
   * or is dropped, rather than it staying stuck); the reader still gets what is queued, then ends.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.producerPaused) {
      this.producerPaused = false;
      this.resumeProducer();
    }
    this.wakeReaders();
  }

  /**
   * The queued packets, in order, as they come, until the queue is closed and empty. One reader at
   * a time: ending an iteration (break, return) lets the next reader take over the packets still
   * queued. `onReturn` runs once when this reader ends that way.
   */
  reader(onReturn?: () => void): AsyncIterableIterator<Buffer> {
    // Both users hand this out as packets(), so the message names that.
    if (this.activeReader !== undefined) throw new Error('packets() already has a reader: end that iteration first');
    const token = {};
    this.activeReader = token;
    const iterator: AsyncIterableIterator<Buffer> = {
      next: async () => {
        while (this.activeReader === token && this.packets.length === 0 && !this.closed) {
          await new Promise<void>((resolve) => this.waiting.push(resolve));
        }
        if (this.activeReader !== token || this.packets.length === 0) return { done: true, value: undefined };
        const packet = this.packets.shift()!;
        if (this.producerPaused && this.packets.length <= this.low) {
          this.producerPaused = false;
          this.resumeProducer();
        }
        return { done: false, value: packet };
      },
      return: async () => {
        if (this.activeReader === token) {
          this.activeReader = undefined;
          this.wakeReaders();
          onReturn?.();
        }
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  private wakeReaders(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const wake of waiting) wake();
  }
}
