import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PollyError } from '../../core/errors.js';
import { parseMutable, parseParameters } from './parameters.js';
import { constraintsOf, topologyOf } from './topology.js';
import {
  accessModeOf, checkBytes, checkMap, fitsRange, parseCapabilities, parseCapability, parseCapacityRange, requirePath, requireString, requirePathString, isCleanAbsolutePath,
} from './validation.js';

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof PollyError, String(e));
    return `${e.code} ${String(e.details['field'] ?? '')}`.trim();
  }
  return 'OK';
};

describe('CSI request validation', () => {
  it('required strings: present, at most 128 bytes (bytes, not characters), no control characters', () => {
    assert.equal(requireString('name', 'ok'), 'ok');
    assert.equal(code(() => requireString('name', '')), 'INVALID_ARGUMENT name');
    assert.equal(code(() => requireString('name', undefined)), 'INVALID_ARGUMENT name');
    assert.equal(code(() => requireString('name', 'a'.repeat(128))), 'OK');
    assert.equal(code(() => requireString('name', 'a'.repeat(129))), 'INVALID_ARGUMENT name');
    assert.equal(code(() => requireString('name', 'é'.repeat(65))), 'INVALID_ARGUMENT name', '130 bytes');
    assert.equal(code(() => requireString('name', 'a\nb')), 'INVALID_ARGUMENT name');
  });

  it('maps: at most 4 KiB of keys and values together', () => {
    assert.deepEqual(checkMap('parameters', undefined), {});
    assert.equal(code(() => checkMap('parameters', { k: 'v'.repeat(4095) })), 'OK');
    assert.equal(code(() => checkMap('parameters', { k: 'v'.repeat(4096) })), 'INVALID_ARGUMENT parameters');
    assert.equal(code(() => checkMap('secrets', { a: 1 })), 'INVALID_ARGUMENT secrets.a');
  });

  it('paths: absolute, without . or .. segments', () => {
    assert.equal(requirePath('target_path', '/var/lib/kubelet/pods/x/mount'), '/var/lib/kubelet/pods/x/mount');
    for (const bad of ['', 'rel/path', '/a/../b', '/a/./b', '/a\0b']) assert.match(code(() => requirePath('target_path', bad)), /^INVALID_ARGUMENT target_path/, bad);
  });

  it('path strings: checked as strings only; the clean absolute form is a separate test', () => {
    assert.equal(requirePathString('volume_path', 'some/path'), 'some/path');
    for (const bad of ['', '/a\0b', '/a\u0001b', `/${'a'.repeat(4096)}`]) assert.match(code(() => requirePathString('volume_path', bad)), /^INVALID_ARGUMENT volume_path/, bad);
    assert.equal(isCleanAbsolutePath('/var/lib/x'), true);
    for (const p of ['some/path', '/a/../b', '/a/./b', '.']) assert.equal(isCleanAbsolutePath(p), false, p);
  });

  it('capabilities: access mode and access type required; modes map to attachment modes', () => {
    assert.deepEqual(parseCapability('c', { mount: { fs_type: 'ext4', mount_flags: ['noatime'] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } }),
      { kind: 'mount', mode: 'SINGLE_NODE_WRITER', fsType: 'ext4', mountFlags: ['noatime'] });
    assert.equal(parseCapability('c', { block: {}, access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } }).kind, 'block');
    assert.equal(code(() => parseCapability('c', { mount: {} })), 'INVALID_ARGUMENT c.access_mode');
    assert.equal(code(() => parseCapability('c', { mount: {}, access_mode: { mode: 'UNKNOWN' } })), 'INVALID_ARGUMENT c.access_mode.mode');
    assert.equal(code(() => parseCapability('c', { access_mode: { mode: 'SINGLE_NODE_WRITER' } })), 'INVALID_ARGUMENT c.access_type');
    assert.equal(code(() => parseCapabilities('caps', [])), 'INVALID_ARGUMENT caps');
    assert.deepEqual(accessModeOf('MULTI_NODE_READER_ONLY'), { accessMode: 'rox', readOnly: true });
    assert.deepEqual(accessModeOf('SINGLE_NODE_READER_ONLY'), { accessMode: 'rwo', readOnly: true });
    assert.deepEqual(accessModeOf('MULTI_NODE_SINGLE_WRITER'), { accessMode: 'rwx', readOnly: false });
    assert.deepEqual(accessModeOf('SINGLE_NODE_MULTI_WRITER'), { accessMode: 'rwo', readOnly: false });
  });

  it('capacity ranges: non-negative, required ≤ limit (else OUT_OF_RANGE), sizes a JS number holds', () => {
    assert.deepEqual(parseCapacityRange('r', null), { required: 0, limit: 0 });
    assert.deepEqual(parseCapacityRange('r', { required_bytes: 5, limit_bytes: 10 }), { required: 5, limit: 10 });
    assert.equal(code(() => parseCapacityRange('r', { required_bytes: 11, limit_bytes: 10 })), 'OUT_OF_RANGE r');
    assert.equal(code(() => parseCapacityRange('r', { required_bytes: -1 })), 'INVALID_ARGUMENT r.required_bytes');
    assert.equal(code(() => checkBytes('b', 2 ** 60)), 'OUT_OF_RANGE b');
    assert.ok(fitsRange(5, { required: 5, limit: 0 }) && !fitsRange(11, { required: 5, limit: 10 }) && !fitsRange(4, { required: 5, limit: 0 }));
  });

  it('parameters: service, type, iops, poolLabel.*, label.*; the rest goes to the driver', () => {
    assert.deepEqual(parseParameters('parameters', { service: 's', type: 'ssd', iops: '300', 'poolLabel.tier': 'gold', 'label.team': 'a', 'csi.storage.k8s.io/pvc/name': 'p' }, 'default'), {
      service: 's', type: 'ssd', iops: 300, poolLabels: { tier: 'gold' }, labels: { team: 'a' }, driverParameters: { 'csi.storage.k8s.io/pvc/name': 'p' },
    });
    assert.equal(parseParameters('parameters', {}, 'default').service, 'default');
    assert.equal(code(() => parseParameters('parameters', { iops: '-3' }, 'd')), 'INVALID_ARGUMENT parameters.iops');
    assert.deepEqual(parseMutable('m', { iops: '10' }), { iops: 10 });
    assert.equal(code(() => parseMutable('m', { size: '10' })), 'INVALID_ARGUMENT m.size');
  });

  it('topology: zone and node segments both ways; unknown keys refused', () => {
    assert.deepEqual(topologyOf(undefined), []);
    assert.deepEqual(topologyOf({ zone: 'a', node: 'n1' }), [{ segments: { 'topology.polly.io/zone': 'a', 'topology.polly.io/node': 'n1' } }]);
    assert.deepEqual(constraintsOf('t', [{ segments: { 'topology.polly.io/zone': 'a' } }, { segments: { 'topology.polly.io/node': 'n1' } }]), { zones: ['a'], nodes: ['n1'] });
    assert.equal(code(() => constraintsOf('t', [{ segments: { 'kubernetes.io/hostname': 'x' } }])), 'INVALID_ARGUMENT t');
  });
});
