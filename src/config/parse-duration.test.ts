import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from './config-error.js';
import { parseDuration } from './parse-duration.js';

test('parseDuration accepts units, sums and milliseconds', () => {
  const cases: [unknown, number][] = [
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['24h', 86_400_000],
    ['1h30m', 5_400_000],
    ['1.5s', 1500],
    ['0s', 0],
    [250, 250],
    [0, 0],
    ['250', 250],
    [' 10s ', 10_000],
  ];
  for (const [input, ms] of cases) assert.equal(parseDuration('d', input), ms, JSON.stringify(input));
});

test('parseDuration refuses what is not a duration, naming the field', () => {
  const cases: unknown[] = ['10x', 'ten seconds', '-5s', -1, '1d', '', 's', '1h 30m', NaN, Infinity, null, true, [], {}];
  for (const input of cases) {
    assert.throws(
      () => parseDuration('reconcile.interval', input),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError, String(input));
        assert.equal(e.problems.length, 1);
        assert.equal(e.problems[0]!.path, 'reconcile.interval');
        assert.match(e.problems[0]!.message, /; accepted: a duration such as 500ms/);
        return true;
      },
      JSON.stringify(input),
    );
  }
});
