import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoalescedRuns } from './coalesced-runs.js';

/** An action whose runs are started and finished by the test. */
function controlled() {
  const runs: { start: number; finish: (error?: Error) => void }[] = [];
  let clock = 0;
  const action = () =>
    new Promise<void>((resolve, reject) => {
      runs.push({ start: ++clock, finish: (e) => (e ? reject(e) : resolve()) });
    });
  return { runs, action, tick: () => ++clock };
}

const settled = async () => new Promise((r) => setImmediate(r));

describe('CoalescedRuns', () => {
  it('runs once for a caller alone, and callers during a run share the one next run', async () => {
    const { runs, action, tick } = controlled();
    const coalesced = new CoalescedRuns(action);
    const first = coalesced.run();
    await settled();
    assert.equal(runs.length, 1);
    const called = tick();
    const later = Array.from({ length: 10 }, () => coalesced.run());
    await settled();
    assert.equal(runs.length, 1, 'nobody starts a second run while one is going');
    runs[0]!.finish();
    await first;
    await settled();
    assert.equal(runs.length, 2, 'ten callers, one more run');
    assert.ok(runs[1]!.start > called, 'the shared run started after the callers called');
    let done = 0;
    for (const p of later) void p.then(() => done++);
    await settled();
    assert.equal(done, 0, 'no caller settles before its run ended');
    runs[1]!.finish();
    await Promise.all(later);
    assert.equal(runs.length, 2);
  });

  it('rejects only the callers of a failed run; the next run goes ahead', async () => {
    const { runs, action } = controlled();
    const coalesced = new CoalescedRuns(action);
    const a = coalesced.run();
    await settled();
    const b = coalesced.run();
    runs[0]!.finish(new Error('EIO'));
    await assert.rejects(a, /EIO/);
    await settled();
    runs[1]!.finish();
    await b;
    const idle = coalesced.idle();
    await idle;
    const c = coalesced.run();
    await settled();
    runs[2]!.finish();
    await c;
    assert.equal(runs.length, 3);
  });

  it('idle() waits for the running and the queued run', async () => {
    const { runs, action } = controlled();
    const coalesced = new CoalescedRuns(action);
    void coalesced.run();
    await settled();
    void coalesced.run().catch(() => undefined);
    let idle = false;
    void coalesced.idle().then(() => (idle = true));
    runs[0]!.finish();
    await settled();
    assert.equal(idle, false);
    runs[1]!.finish(new Error('EIO'));
    await settled();
    await settled();
    assert.equal(idle, true);
  });
});
