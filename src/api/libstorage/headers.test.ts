import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PollyError } from '../../core/errors.js';
import { toLibstorageError } from './error-map.js';
import { parseInstanceId } from './headers.js';
import { attachmentsMask } from './libstorage-api.js';

describe('Libstorage-Instanceid', () => {
  const cases: [string, ReturnType<typeof parseInstanceId>][] = [
    ['ebs=i-1234,region=west', { driver: 'ebs', id: 'i-1234', fields: { region: 'west' } }],
    ['ebs:ebs-00=i-5678,region=west', { driver: 'ebs', service: 'ebs-00', id: 'i-5678', fields: { region: 'west' } }],
    ['efs=i-1234,region%3Deast%26zone%3D2', { driver: 'efs', id: 'i-1234', fields: { region: 'east', zone: '2' } }],
    ['vfs:vfs=vm', { driver: 'vfs', service: 'vfs', id: 'vm', fields: {} }],
    ['vfs=,,InZtIg==', { driver: 'vfs', id: 'vm', fields: {} }],
    ['scaleio=,,MWJiOTFm', { driver: 'scaleio', id: '', fields: {} }],
  ];
  for (const [value, expected] of cases) {
    it(`parses ${value}`, () => {
      if (value.startsWith('scaleio')) {
        // Metadata that is not base64 JSON is refused rather than guessed at.
        assert.throws(() => parseInstanceId(value), /metadata/);
        return;
      }
      assert.deepEqual(parseInstanceId(value), expected);
    });
  }
  it('refuses what is not DRIVER=ID', () => {
    for (const bad of ['', 'novalue', '=id', '../x=1', 'a:../b=1', 'x'.repeat(5000), 'vfs=id,%E0%A4%A']) assert.throws(() => parseInstanceId(bad), PollyError, bad.slice(0, 20));
  });
});

describe('attachments mask', () => {
  it('accepts 0-31 and true/false', () => {
    assert.equal(attachmentsMask(undefined), 0);
    assert.equal(attachmentsMask('10'), 10);
    assert.equal(attachmentsMask('true'), 1);
    assert.equal(attachmentsMask('false'), 0);
    for (const bad of ['32', '-1', 'x', '1.5', '007']) assert.throws(() => attachmentsMask(bad), PollyError, bad);
  });
});

describe('libStorage error map', () => {
  it('answers in the blueprint shape', () => {
    assert.deepEqual(toLibstorageError(new PollyError('NOT_FOUND', 'volume "x" not found')), {
      status: 404, body: { type: 'resourceNotFound', httpStatus: 404, status: 404, message: 'volume "x" not found' },
    });
    assert.equal(toLibstorageError(new PollyError('UNAUTHENTICATED', 'no')).body.type, 'unauthorizedRequest');
    assert.equal(toLibstorageError(new Error('boom')).status, 500);
    assert.equal(toLibstorageError(new Error('boom')).body.type, 'internalServerError');
  });
});
