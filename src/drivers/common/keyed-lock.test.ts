import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeyedLock } from './keyed-lock.js';

describe('KeyedLock', () => {
  it('runs exclusive holders of a key one at a time, other keys in parallel', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const task = (key: string, name: string) =>
      lock.run([{ key, mode: 'exclusive' }], undefined, async () => {
        log.push(`${name}+`);
        await sleep(10);
        log.push(`${name}-`);
      });
    await Promise.all([task('a', 'a1'), task('a', 'a2'), task('b', 'b1')]);
    assert.deepEqual(log.filter((l) => l.startsWith('a')), ['a1+', 'a1-', 'a2+', 'a2-']);
    assert.ok(log.indexOf('b1+') < log.indexOf('a1-'), 'b ran alongside a1');
    assert.equal(lock.isBusy('a'), false);
  });

  it('lets shared holders overlap and makes an exclusive one wait for them', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const task = (mode: 'shared' | 'exclusive', name: string) =>
      lock.run([{ key: 'k', mode }], undefined, async () => {
        log.push(`${name}+`);
        await sleep(10);
        log.push(`${name}-`);
      });
    await Promise.all([task('shared', 's1'), task('shared', 's2'), task('exclusive', 'x')]);
    assert.deepEqual(log.slice(0, 2).sort(), ['s1+', 's2+']);
    assert.deepEqual(log.slice(-2), ['x+', 'x-']);
  });

  it('gives up waiting when the signal aborts', async () => {
    const lock = new KeyedLock();
    let release!: () => void;
    const holder = lock.run([{ key: 'k', mode: 'exclusive' }], undefined, () => new Promise<void>((r) => (release = r)));
    const controller = new AbortController();
    const waiter = lock.run([{ key: 'k', mode: 'exclusive' }], controller.signal, async () => 'ran');
    controller.abort(new Error('gave up'));
    await assert.rejects(waiter, /gave up/);
    release();
    await holder;
    assert.equal(await lock.run([{ key: 'k', mode: 'exclusive' }], undefined, async () => 'free'), 'free');
    assert.equal(lock.isBusy('k'), false);
  });
});
