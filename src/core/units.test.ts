import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PollyError } from './errors.js';
import { GiB, KiB, MiB, TiB, formatBytes, parseSize, toGiB } from './units.js';

describe('parseSize', () => {
  const good: [unknown, number][] = [
    ['10Gi', 10 * GiB],
    ['512Mi', 512 * MiB],
    ['1Ti', TiB],
    ['4Ki', 4 * KiB],
    ['1GiB', GiB],
    ['1gib', GiB],
    ['1.5Gi', 1.5 * GiB],
    ['1G', 1e9],
    ['1GB', 1e9],
    ['1.5G', 1.5e9],
    ['2M', 2e6],
    ['3k', 3000],
    ['1T', 1e12],
    ['100B', 100],
    ['100b', 100],
    ['2', 2 * GiB],
    ['0.5', 0.5 * GiB],
    [' 10 Gi ', 10 * GiB],
    [2, 2 * GiB],
    [0.25, 0.25 * GiB],
    ['1.0000000001B', 1],
  ];
  for (const [input, bytes] of good) {
    it(`${JSON.stringify(input)} → ${bytes}`, () => assert.equal(parseSize('size', input), bytes));
  }

  const bad: [unknown, RegExp][] = [
    ['', /not a size/],
    ['abc', /not a size/],
    ['10Xi', /not a size/],
    ['10 G i', /not a size/],
    ['-1Gi', /not a size/],
    ['1e3', /not a size/],
    ['0x10', /not a size/],
    ['Gi', /not a size/],
    ['0', /positive/],
    ['0Gi', /positive/],
    ['0.1B', /positive/],
    [0, /positive/],
    [-1, /positive/],
    [Number.NaN, /positive/],
    [Number.POSITIVE_INFINITY, /positive/],
    ['99999999999999Ti', /too large/],
    [1e12, /too large/],
    [null, /must be a size/],
    [undefined, /must be a size/],
    [true, /must be a size/],
    [{}, /must be a size/],
    [['1Gi'], /must be a size/],
  ];
  for (const [input, message] of bad) {
    it(`${typeof input === 'number' ? String(input) : JSON.stringify(input) ?? 'undefined'} is INVALID_ARGUMENT naming the field`, () => {
      assert.throws(() => parseSize('spec.size', input), (e: unknown) => {
        assert.ok(e instanceof PollyError);
        assert.equal(e.code, 'INVALID_ARGUMENT');
        assert.equal(e.details['field'], 'spec.size');
        assert.match(e.message, /^spec\.size: /);
        assert.match(e.message, message);
        return true;
      });
    });
  }
});

describe('formatBytes', () => {
  const cases: [number, string][] = [
    [0, '0B'],
    [1, '1B'],
    [1023, '1023B'],
    [KiB, '1Ki'],
    [1536, '1.5Ki'],
    [MiB, '1Mi'],
    [512 * MiB, '512Mi'],
    [GiB, '1Gi'],
    [10 * GiB, '10Gi'],
    [1.5 * GiB, '1536Mi'],
    [GiB + 1, '1.0Gi'],
    [TiB, '1Ti'],
    [3 * TiB, '3Ti'],
    [1.5 * TiB, '1536Gi'],
    [1.25 * TiB + 1, '1.3Ti'],
  ];
  for (const [bytes, text] of cases) {
    it(`${bytes} → ${text}`, () => assert.equal(formatBytes(bytes), text));
  }

  it('round-trips exact unit multiples through parseSize', () => {
    for (const bytes of [KiB, 5 * MiB, 7 * GiB, 2 * TiB, 1536 * MiB]) assert.equal(parseSize('s', formatBytes(bytes)), bytes);
  });
});

describe('toGiB', () => {
  const cases: [number, number][] = [[0, 0], [1, 1], [GiB, 1], [GiB + 1, 2], [10 * GiB, 10], [512 * MiB, 1]];
  for (const [bytes, gib] of cases) it(`${bytes} → ${gib} (rounded up)`, () => assert.equal(toGiB(bytes), gib));
});
