import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PollyError } from './errors.js';
import type { Volume, VolumeStatus } from './model.js';
import { canTransition, transition } from './volume-state.js';

const STATES: readonly VolumeStatus[] = ['creating', 'available', 'attached', 'deleting', 'error'];

/**
 * DESIGN.md §2: creating → available ⇄ attached, available → deleting → (gone), any → error.
 * attached → attached is a further attachment (RWX/ROX); error → available | deleting is recovery
 * (the backend reappeared, or the admin removes the volume).
 */
const ALLOWED: ReadonlyArray<readonly [VolumeStatus, VolumeStatus]> = [
  ['creating', 'available'],
  ['creating', 'error'],
  ['available', 'attached'],
  ['available', 'deleting'],
  ['available', 'error'],
  ['attached', 'attached'],
  ['attached', 'available'],
  ['attached', 'error'],
  ['deleting', 'error'],
  ['error', 'available'],
  ['error', 'deleting'],
];

const allowed = (from: VolumeStatus, to: VolumeStatus) => ALLOWED.some(([f, t]) => f === from && t === to);

function volume(status: VolumeStatus, extra: Partial<Volume> = {}): Volume {
  return {
    id: 'vol-01j00000000000000000000000', name: 'v', service: 's', pool: 's/p', backendId: 'vol-01j00000000000000000000000',
    sizeBytes: 1, iops: 0, labels: {}, fields: {}, parameters: {}, status, schedulers: [], attachments: [], createdAt: 1, updatedAt: 1, ...extra,
  };
}

describe('volume state machine', () => {
  for (const from of STATES) {
    for (const to of STATES) {
      const ok = allowed(from, to);
      it(`${from} → ${to}: ${ok ? 'allowed' : 'forbidden'}`, () => {
        assert.equal(canTransition(from, to), ok);
        if (ok) {
          const next = transition(volume(from), to, 42);
          assert.equal(next.status, to);
          assert.equal(next.updatedAt, 42);
        } else {
          assert.throws(() => transition(volume(from), to, 42), (e: unknown) => {
            assert.ok(e instanceof PollyError);
            assert.equal(e.code, 'CONFLICT');
            assert.equal(e.message, `volume vol-01j00000000000000000000000 is ${from}; it cannot become ${to}`);
            assert.deepEqual(e.details, { volumeId: 'vol-01j00000000000000000000000', status: from, wanted: to });
            return true;
          });
        }
      });
    }
  }

  it('a deleting volume can never come back (only fail)', () => {
    assert.deepEqual(STATES.filter((s) => canTransition('deleting', s)), ['error']);
  });

  it('every state can fail except error itself', () => {
    assert.deepEqual(STATES.filter((s) => canTransition(s, 'error')), ['creating', 'available', 'attached', 'deleting']);
  });

  it('keeps a given reason, drops a stale one, and never mutates its input', () => {
    const v = volume('available');
    const failed = transition(v, 'error', 5, 'backend volume is missing');
    assert.equal(failed.reason, 'backend volume is missing');
    assert.equal(v.status, 'available');
    assert.equal('reason' in v, false);
    const recovered = transition(failed, 'available', 6);
    assert.equal('reason' in recovered, false);
    assert.equal(failed.reason, 'backend volume is missing');
    const rest = { ...recovered, status: failed.status, updatedAt: failed.updatedAt, reason: failed.reason };
    assert.deepEqual(rest, failed, 'nothing else changes');
  });
});
