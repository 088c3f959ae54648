import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertAdmin, assertMaySeeVolume, assertMayUseService, maySeeSnapshot, maySeeVolume, mayUseService } from './access.js';
import { PollyError } from './errors.js';
import type { Caller, Snapshot, Volume } from './model.js';

const admin: Caller = { kind: 'admin', name: 'root' };
const k8s: Caller = { kind: 'scheduler', name: 'k8s', services: ['gold', 'silver'] };
const anywhere: Caller = { kind: 'scheduler', name: 'mesos', services: '*' };
const nowhere: Caller = { kind: 'scheduler', name: 'idle', services: [] };

function volume(o: Partial<Volume> = {}): Volume {
  return {
    id: 'vol-1', name: 'v', service: 'gold', pool: 'gold/p', backendId: 'vol-1', sizeBytes: 1, iops: 0, labels: {}, fields: {}, parameters: {},
    status: 'available', schedulers: [], attachments: [], createdAt: 0, updatedAt: 0, ...o,
  };
}

function snapshot(o: Partial<Snapshot> = {}): Snapshot {
  return { id: 'snap-1', name: 's', service: 'gold', pool: 'gold/p', backendId: 'snap-1', volumeId: 'vol-1', sizeBytes: 1, status: 'ready', labels: {}, createdAt: 0, ...o };
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    assert.ok(e instanceof PollyError);
    return e.code;
  }
}

describe('mayUseService', () => {
  const cases: [Caller, string, boolean][] = [
    [admin, 'anything', true],
    [k8s, 'gold', true],
    [k8s, 'silver', true],
    [k8s, 'bronze', false],
    [anywhere, 'bronze', true],
    [nowhere, 'gold', false],
  ];
  for (const [caller, service, ok] of cases) {
    it(`${caller.name} ${ok ? 'may' : 'may not'} use ${service}`, () => {
      assert.equal(mayUseService(caller, service), ok);
      assert.equal(code(() => assertMayUseService(caller, service)), ok ? undefined : 'FORBIDDEN');
    });
  }
});

describe('maySeeVolume', () => {
  const cases: [string, Caller, Volume, boolean][] = [
    ['admin sees everything', admin, volume({ service: 'elsewhere' }), true],
    ['a scheduler sees what it created', k8s, volume({ createdBy: 'k8s' }), true],
    ['a scheduler sees what is offered to it', k8s, volume({ schedulers: ['other', 'k8s'] }), true],
    ['a scheduler does not see an admin volume not offered to it', k8s, volume(), false],
    ['a scheduler does not see another scheduler\'s volume', k8s, volume({ createdBy: 'mesos' }), false],
    ['an offer in a service it may not use shows nothing', k8s, volume({ service: 'bronze', schedulers: ['k8s'] }), false],
    ['its own volume in a service taken away from it shows nothing', k8s, volume({ service: 'bronze', createdBy: 'k8s' }), false],
    ['all services: offered', anywhere, volume({ service: 'bronze', schedulers: ['mesos'] }), true],
    ['all services: not offered', anywhere, volume({ service: 'bronze' }), false],
    ['offer to a name prefix does not count', k8s, volume({ schedulers: ['k8s-prod'] }), false],
  ];
  for (const [what, caller, v, ok] of cases) {
    it(what, () => {
      assert.equal(maySeeVolume(caller, v), ok);
      if (ok) assert.equal(assertMaySeeVolume(caller, v, v.id), v);
      else assert.equal(code(() => assertMaySeeVolume(caller, v, v.id)), 'NOT_FOUND');
    });
  }

  it('a hidden volume looks exactly like a missing one', () => {
    const hidden = (() => {
      try {
        assertMaySeeVolume(k8s, volume(), 'vol-1');
      } catch (e) {
        return e as PollyError;
      }
      assert.fail('should throw');
    })();
    const missing = (() => {
      try {
        assertMaySeeVolume(k8s, undefined, 'vol-1');
      } catch (e) {
        return e as PollyError;
      }
      assert.fail('should throw');
    })();
    assert.equal(hidden.code, 'NOT_FOUND');
    assert.equal(hidden.message, missing.message);
    assert.deepEqual(hidden.details, missing.details);
  });
});

describe('maySeeSnapshot', () => {
  const cases: [string, Caller, Snapshot, Volume | undefined, boolean][] = [
    ['admin', admin, snapshot(), undefined, true],
    ['created by the scheduler', k8s, snapshot({ createdBy: 'k8s' }), undefined, true],
    ['of a volume the scheduler sees', k8s, snapshot(), volume({ schedulers: ['k8s'] }), true],
    ['of a volume the scheduler does not see', k8s, snapshot(), volume(), false],
    ['source volume gone, not its own', k8s, snapshot(), undefined, false],
    ['in a service it may not use', k8s, snapshot({ service: 'bronze', createdBy: 'k8s' }), undefined, false],
  ];
  for (const [what, caller, s, source, ok] of cases) it(what, () => assert.equal(maySeeSnapshot(caller, s, source), ok));
});

describe('assertAdmin', () => {
  it('passes the admin and forbids schedulers, naming what was attempted', () => {
    assert.doesNotThrow(() => assertAdmin(admin, 'erasing the store'));
    for (const caller of [k8s, anywhere]) {
      assert.throws(() => assertAdmin(caller, 'erasing the store'), (e: unknown) => {
        assert.ok(e instanceof PollyError);
        assert.equal(e.code, 'FORBIDDEN');
        assert.match(e.message, /erasing the store needs the admin role/);
        return true;
      });
    }
  });
});
