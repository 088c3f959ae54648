import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { ErrorCodes, PollyError, invalid, notFound } from '../../core/errors.js';
import { StaleWriteError } from '../../core/ledger.js';
import { toGrpcError } from './error-map.js';

describe('CSI error map', () => {
  it('maps every core code to a gRPC status, keeping the message', () => {
    for (const c of ErrorCodes) {
      const g = toGrpcError('CreateVolume', new PollyError(c, `boom ${c}`));
      assert.equal(typeof g.code, 'number', c);
      assert.notEqual(g.code, status.OK, c);
      assert.equal(g.details, `boom ${c}`);
    }
  });

  it('names the statuses the spec names', () => {
    const table: [string, PollyError, status][] = [
      ['CreateVolume', invalid('name', 'is required'), status.INVALID_ARGUMENT],
      ['CreateVolume', new PollyError('ALREADY_EXISTS', 'x'), status.ALREADY_EXISTS],
      ['CreateVolume', new PollyError('INSUFFICIENT_CAPACITY', 'x'), status.RESOURCE_EXHAUSTED],
      ['CreateVolume', new PollyError('QUOTA_EXCEEDED', 'x'), status.RESOURCE_EXHAUSTED],
      ['CreateVolume', new PollyError('OUT_OF_RANGE', 'x'), status.OUT_OF_RANGE],
      ['CreateVolume', notFound('snapshot', 's'), status.NOT_FOUND],
      ['CreateVolume', notFound('service', 's'), status.INVALID_ARGUMENT],
      ['GetCapacity', notFound('service', 's'), status.INVALID_ARGUMENT],
      ['ControllerPublishVolume', notFound('service', 's'), status.NOT_FOUND],
      ['DeleteVolume', new PollyError('IN_PROGRESS', 'x'), status.ABORTED],
      ['DeleteVolume', new PollyError('FAILED_PRECONDITION', 'x'), status.FAILED_PRECONDITION],
      ['ListVolumes', invalid('cursor', 'bad'), status.ABORTED],
      ['ListSnapshots', invalid('cursor', 'bad'), status.ABORTED],
      ['ListVolumes', invalid('limit', 'bad'), status.INVALID_ARGUMENT],
      ['CreateVolume', invalid('cursor', 'bad'), status.INVALID_ARGUMENT],
      ['NodeStageVolume', new PollyError('UNSUPPORTED', 'block'), status.FAILED_PRECONDITION],
      ['NodePublishVolume', new PollyError('UNSUPPORTED', 'block'), status.FAILED_PRECONDITION],
      ['ControllerExpandVolume', new PollyError('UNSUPPORTED', 'x'), status.INVALID_ARGUMENT],
      ['ControllerPublishVolume', new StaleWriteError(['volumes/x']), status.ABORTED],
      ['ControllerPublishVolume', new PollyError('CONFLICT', 'state'), status.FAILED_PRECONDITION],
      ['Probe', new PollyError('FORBIDDEN', 'x'), status.PERMISSION_DENIED],
    ];
    for (const [rpc, e, want] of table) assert.equal(toGrpcError(rpc, e).code, want, `${rpc} ${e.code} ${e.message}`);
  });

  it('hides the detail of anything that is not a PollyError', () => {
    const g = toGrpcError('CreateVolume', new Error('secret path /x/y'));
    assert.equal(g.code, status.INTERNAL);
    assert.doesNotMatch(g.details, /secret/);
  });
});
