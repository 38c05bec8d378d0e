// close() in the API removes the TUN device in the same process, at once: a script
// (tools/close-device.ts) creates and closes servers, clients and openTun devices inside a fresh
// namespace, checking `ip link` after each close() and that the next device is ttun0 again.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Lab, TOOLS } from './harness.js';

for (const datapath of ['auto', 'event-loop']) {
  test(`close() removes the TUN device at once and the process exits by itself (${datapath} data path)`, { timeout: 60_000 }, async (t) => {
    const lab = await Lab.create();
    t.after(() => lab.destroy());
    const ns = lab.clients[0]!;
    const script = lab.spawn(ns, [process.execPath, join(TOOLS, 'close-device.js'), datapath]);
    // Resolves only if the script reaches its end: every assertion in it held.
    await script.waitForLine(/^ok done$/, 30_000);
    // Nothing left running may hold the event loop: the script ends on its own.
    const exit = await Promise.race([script.exited, new Promise((r) => setTimeout(() => r('still running'), 10_000))]);
    assert.deepEqual(exit, { code: 0, signal: null }, script.output);
    assert.deepEqual(
      (await lab.links(ns)).filter((l) => l.startsWith('ttun')),
      [],
    );
  });
}
