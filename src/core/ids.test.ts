import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPollyId, newId, ulid } from './ids.js';

describe('ids', () => {
  it('encode the time in the first ten digits, as ULIDs do', () => {
    // 2016-07-29T00:00:00Z in base32 (Crockford), checked by hand: 1469750400000 ms.
    const t = 1_469_750_400_000;
    let expected = '';
    for (let v = t, i = 0; i < 10; i++, v = Math.floor(v / 32)) expected = '0123456789abcdefghjkmnpqrstvwxyz'[v % 32] + expected;
    assert.equal(ulid(t).slice(0, 10), expected);
    assert.match(ulid(t), /^[0-9a-hjkmnp-tv-z]{26}$/);
  });

  it('stay strictly ordered within one millisecond and across a clock step back', () => {
    const ids = Array.from({ length: 2000 }, () => ulid(1_700_000_000_000));
    ids.push(ulid(1_699_999_999_000)); // the clock went back: still after the last one
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, `${ids[i - 1]} < ${ids[i]}`);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('are unique and recognised with their kind', () => {
    const made = new Set(Array.from({ length: 10_000 }, () => newId('vol')));
    assert.equal(made.size, 10_000);
    for (const id of [...made].slice(0, 10)) assert.ok(isPollyId(id), id);
    assert.equal(isPollyId('vol-../etc'), false);
  });
});
