import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PollyError } from './errors.js';
import { checkHostPath, MAX_HOST_PATH } from './host-path.js';

describe('checkHostPath', () => {
  it('accepts absolute normalised paths', () => {
    for (const ok of ['/var/lib/kubelet/pods/x/volumes/mount', '/a', '/mnt/vol-01abc', `/${'a'.repeat(MAX_HOST_PATH - 1)}`, '/with space/é']) {
      assert.equal(checkHostPath('targetPath', ok), ok);
    }
  });

  const bad: [unknown, RegExp][] = [
    [undefined, /non-empty absolute path/],
    ['', /non-empty absolute path/],
    [42, /non-empty absolute path/],
    ['relative/path', /absolute/],
    ['./x', /absolute/],
    ['/a/../etc', /"\.\."/],
    ['/..', /"\.\."/],
    ['/', /root/],
    ['/a//b', /normalised/],
    ['/a/./b', /normalised/],
    ['/a/', /normalised/],
    ['/a\u0000b', /control characters/],
    ['/a\nb', /control characters/],
    ['/a\u007fb', /control characters/],
    [`/${'a'.repeat(MAX_HOST_PATH)}`, /at most/],
  ];
  for (const [value, message] of bad) {
    it(`refuses ${JSON.stringify(value)?.slice(0, 40)} naming the field`, () => {
      assert.throws(
        () => checkHostPath('stagingPath', value),
        (e: unknown) => e instanceof PollyError && e.code === 'INVALID_ARGUMENT' && e.message.startsWith('stagingPath: ') && message.test(e.message) && e.details['field'] === 'stagingPath',
      );
    });
  }
});
