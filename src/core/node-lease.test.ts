import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeRecord } from './model.js';
import { fenceDeadline, leaseDeadline, leaseTransition } from './node-lease.js';

const node = (state: NodeRecord['state'], renewedAt: number): NodeRecord => ({
  id: 'n1', labels: {}, state, cordoned: false, pools: [], devices: [], agentVersion: 'x', inProcess: false,
  registeredAt: 0, renewedAt, leaseMs: 10_000, fencedVolumes: [], updatedAt: 0,
});

test('lease: ready → unreachable at the lease end → fenced after the grace', () => {
  const times = { graceMs: 5_000, startedAt: 0 };
  assert.equal(leaseDeadline(node('ready', 1_000), times), 11_000);
  assert.equal(fenceDeadline(node('ready', 1_000), times), 16_000);
  assert.equal(leaseTransition(node('ready', 1_000), 10_999, times), undefined);
  assert.equal(leaseTransition(node('ready', 1_000), 11_000, times), 'unreachable');
  assert.equal(leaseTransition(node('recovering', 1_000), 11_000, times), 'unreachable');
  assert.equal(leaseTransition(node('unreachable', 1_000), 15_999, times), undefined);
  assert.equal(leaseTransition(node('unreachable', 1_000), 16_000, times), 'fenced');
  // a ready node not seen for longer than lease + grace is fenced at once
  assert.equal(leaseTransition(node('ready', 1_000), 20_000, times), 'fenced');
  assert.equal(leaseTransition(node('fenced', 1_000), 99_000, times), undefined);
});

test('lease: a server that just started gives every node a full lease', () => {
  const times = { graceMs: 5_000, startedAt: 100_000 };
  assert.equal(leaseTransition(node('ready', 1_000), 105_000, times), undefined);
  assert.equal(leaseTransition(node('ready', 1_000), 110_000, times), 'unreachable');
  assert.equal(leaseTransition(node('unreachable', 1_000), 115_000, times), 'fenced');
});
