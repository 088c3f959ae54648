import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyedQueue, MountCounter } from './mount-counter.js';

describe('MountCounter', () => {
  it('mounts on the first holder and unmounts on the last', () => {
    const c = new MountCounter();
    assert.equal(c.add('v', 'a'), true);
    assert.equal(c.add('v', 'b'), false);
    assert.equal(c.add('v', 'a'), false, 'the same ID twice is one holder');
    assert.equal(c.count('v'), 2);
    assert.equal(c.remove('v', 'a'), false);
    assert.equal(c.remove('v', 'a'), false, 'removing twice changes nothing');
    assert.equal(c.remove('v', 'b'), true);
    assert.equal(c.count('v'), 0);
    assert.equal(c.remove('v', 'unknown'), true, 'an unknown ID of an unheld volume is the last one');
  });
});

describe('KeyedQueue', () => {
  it('runs work of one key one after another, other keys alongside', async () => {
    const q = new KeyedQueue();
    const order: string[] = [];
    const slow = (name: string, ms: number) => () => new Promise<string>((r) => setTimeout(() => { order.push(name); r(name); }, ms));
    const a1 = q.run('a', slow('a1', 30));
    const a2 = q.run('a', slow('a2', 1));
    const b1 = q.run('b', slow('b1', 5));
    await Promise.all([a1, a2, b1]);
    assert.deepEqual(order, ['b1', 'a1', 'a2']);
    await assert.rejects(q.run('a', async () => { throw new Error('x'); }));
    assert.equal(await q.run('a', async () => 'after'), 'after', 'a failure does not block the key');
  });
});
