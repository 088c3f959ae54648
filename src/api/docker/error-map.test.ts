import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PollyError } from '../../core/errors.js';
import { toDockerError } from './error-map.js';

describe('Docker plugin error map', () => {
  it('answers {"Err": …} naming the core code', () => {
    assert.deepEqual(toDockerError(new PollyError('NOT_FOUND', 'volume "x" not found')), { status: 500, body: { Err: 'NOT_FOUND: volume "x" not found' } });
    assert.deepEqual(toDockerError(Object.assign(new Error('bad json'), { statusCode: 400 })), { status: 500, body: { Err: 'INVALID_ARGUMENT: bad json' } });
    assert.equal(toDockerError(new Error('secret detail')).body.Err.includes('secret'), false, 'internal errors do not leak');
  });
});
