// The packet queue on its own (ts/packet-queue.ts): order, the high and low marks, pause and resume
// exactly once per crossing, close waking a waiting reader, one reader at a time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PacketQueue } from '../../ts/datapath/packet-queue.js';

/** A queue with small marks that records every pause and resume with the queue length at that moment. */
function recordingQueue(high = 5, low = 2) {
  const calls: string[] = [];
  const queue: PacketQueue = new PacketQueue({
    high,
    low,
    pause: () => calls.push(`pause at ${queue.length}`),
    resume: () => calls.push(`resume at ${queue.length}`),
  });
  return { queue, calls };
}

const packet = (n: number) => Buffer.from([n]);

test('packets come out in the order they went in, whether the reader waits for them or finds them queued', async () => {
  const { queue } = recordingQueue(1000, 10);
  const reader = queue.reader();
  const waiting = reader.next();
  for (let n = 0; n < 5; n += 1) queue.push(packet(n));
  const got = [(await waiting).value![0]];
  for (let n = 1; n < 5; n += 1) got.push((await reader.next()).value![0]);
  queue.push(packet(5));
  got.push((await reader.next()).value![0]);
  assert.deepEqual(got, [0, 1, 2, 3, 4, 5]);
});

test('the producer is paused once when the queue reaches the high mark, resumed once when drained to the low mark', async () => {
  const { queue, calls } = recordingQueue(5, 2);
  for (let n = 0; n < 4; n += 1) queue.push(packet(n));
  assert.deepEqual(calls, [], 'below the high mark nothing happens');
  queue.push(packet(4));
  assert.deepEqual(calls, ['pause at 5']);
  assert.equal(queue.paused, true);
  // What a producer hands over after being paused (a batch in flight) is kept, and does not pause again.
  queue.push(packet(5));
  queue.push(packet(6));
  assert.deepEqual(calls, ['pause at 5']);
  assert.equal(queue.length, 7);

  const reader = queue.reader();
  const read: number[] = [];
  for (let i = 0; i < 4; i += 1) read.push((await reader.next()).value![0]!);
  assert.deepEqual(calls, ['pause at 5'], 'still above the low mark: no resume yet (hysteresis)');
  read.push((await reader.next()).value![0]!);
  assert.deepEqual(calls, ['pause at 5', 'resume at 2']);
  assert.equal(queue.paused, false);
  read.push((await reader.next()).value![0]!);
  read.push((await reader.next()).value![0]!);
  assert.deepEqual(calls, ['pause at 5', 'resume at 2'], 'draining further does not resume again');
  assert.deepEqual(read, [0, 1, 2, 3, 4, 5, 6], 'nothing lost or reordered across the marks');
});

test('each crossing pauses and resumes exactly once, however often the queue goes back and forth', async () => {
  const { queue, calls } = recordingQueue(4, 1);
  const reader = queue.reader();
  let next = 0;
  for (let round = 0; round < 3; round += 1) {
    while (queue.length < 6) queue.push(packet(next++));
    while (queue.length > 0) await reader.next();
  }
  assert.deepEqual(calls, ['pause at 4', 'resume at 1', 'pause at 4', 'resume at 1', 'pause at 4', 'resume at 1']);
});

test('close() wakes a reader waiting for a packet, and the iteration ends', async () => {
  const { queue } = recordingQueue();
  const reader = queue.reader();
  const waiting = reader.next();
  queue.close();
  assert.deepEqual(await waiting, { done: true, value: undefined });
  assert.deepEqual(await reader.next(), { done: true, value: undefined });
});

test('after close() the reader still gets what was queued, then the end; later pushes are dropped', async () => {
  const { queue, calls } = recordingQueue(3, 1);
  for (let n = 0; n < 3; n += 1) queue.push(packet(n));
  queue.close();
  assert.deepEqual(calls, ['pause at 3', 'resume at 3'], 'closing resumes a paused producer, once');
  assert.equal(queue.push(packet(9)), false);
  const got: number[] = [];
  for await (const p of queue.reader()) got.push(p[0]!);
  assert.deepEqual(got, [0, 1, 2]);
  queue.close();
  assert.deepEqual(calls, ['pause at 3', 'resume at 3'], 'a second close does nothing');
});

test('several next() calls waiting at once each get their own packet, in order', async () => {
  const { queue } = recordingQueue(100, 10);
  const reader = queue.reader();
  const pending = [reader.next(), reader.next(), reader.next()];
  queue.push(packet(1));
  queue.push(packet(2));
  queue.push(packet(3));
  assert.deepEqual(
    (await Promise.all(pending)).map((r) => r.value![0]),
    [1, 2, 3],
  );
});

test('one reader at a time: a second is refused until the first ends, then it continues where the first stopped', async () => {
  const { queue } = recordingQueue(100, 10);
  let returned = 0;
  const first = queue.reader(() => (returned += 1));
  assert.throws(() => queue.reader(), /packets\(\) already has a reader/);
  for (let n = 0; n < 4; n += 1) queue.push(packet(n));
  for await (const p of first) {
    if (p[0] === 1) break;
  }
  assert.equal(returned, 1, 'breaking out of for await ends the reader, once');
  await first.return!();
  assert.equal(returned, 1);
  assert.deepEqual(await first.next(), { done: true, value: undefined }, 'an ended reader gets nothing more');
  const second = queue.reader();
  assert.deepEqual([(await second.next()).value![0], (await second.next()).value![0]], [2, 3]);
});

test('a reader waiting when its iteration is ended gets the end, not a packet meant for the next reader', async () => {
  const { queue } = recordingQueue(100, 10);
  const first = queue.reader();
  const waiting = first.next();
  await first.return!();
  assert.deepEqual(await waiting, { done: true, value: undefined });
  const second = queue.reader();
  queue.push(packet(7));
  assert.equal((await second.next()).value![0], 7);
});

test('the marks must leave room between them', () => {
  const pause = () => {};
  const resume = () => {};
  assert.throws(() => new PacketQueue({ high: 4, low: 4, pause, resume }), /0 <= low < high/);
  assert.throws(() => new PacketQueue({ high: 4, low: -1, pause, resume }), /0 <= low < high/);
  assert.throws(() => new PacketQueue({ high: 2.5, low: 1, pause, resume }), /0 <= low < high/);
  assert.doesNotThrow(() => new PacketQueue({ high: 1, low: 0, pause, resume }));
});
