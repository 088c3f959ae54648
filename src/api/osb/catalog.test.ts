import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PollyError } from '../../core/errors.js';
import { stableId } from './catalog.js';
import { toOsbError } from './error-map.js';

describe('OSB catalog ids', () => {
  it('are UUID-shaped, stable and distinct', () => {
    const a = stableId('service', 'default');
    assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(stableId('service', 'default'), a);
    assert.notEqual(stableId('plan', 'default', ''), a);
    assert.notEqual(stableId('plan', 'a', 'bc'), stableId('plan', 'ab', 'c'));
  });
});

describe('OSB error map', () => {
  it('uses the spec codes where the spec names them', () => {
    assert.deepEqual(toOsbError(new PollyError('IN_PROGRESS', 'busy')), { status: 422, body: { error: 'ConcurrencyError', description: 'busy' } });
    assert.equal(toOsbError(new PollyError('ALREADY_EXISTS', 'x')).status, 409);
    assert.equal(toOsbError(new PollyError('INVALID_ARGUMENT', 'x')).status, 400);
    assert.deepEqual(toOsbError(new Error('boom')), { status: 500, body: { error: 'InternalError', description: 'internal error; see the broker log' } });
  });
});
