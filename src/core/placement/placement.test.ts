import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PollyError } from '../errors.js';
import type { PoolSpec } from '../model.js';
import { GiB } from '../units.js';
import { Placement, noPoolFits, type PlacementOptions } from './placement.js';
import { createPlacementRegistry, REQUIRED_FILTERS, type PlacementRegistry } from './registry.js';
import { availableBytes, type FilterPlugin, type PlacementRequest, type PoolCandidate } from './types.js';

interface PoolOpts {
  readonly service?: string;
  readonly total?: number;
  readonly provisioned?: number;
  readonly reserved?: number;
  readonly volumes?: number;
  readonly spec?: Partial<PoolSpec>;
}

type MutablePool = { -readonly [K in keyof PoolCandidate]: PoolCandidate[K] };

function pool(name: string, o: PoolOpts = {}): MutablePool {
  const service = o.service ?? 'svc';
  return {
    id: `${service}/${name}`, service,
    spec: { name, overcommit: 1, types: [], labels: {}, maxIops: 0, params: {}, ...o.spec },
    provisionedBytes: o.provisioned ?? 0, reservedBytes: o.reserved ?? 0, volumes: o.volumes ?? 0, totalBytes: o.total ?? 100 * GiB,
  };
}

function request(o: Partial<PlacementRequest> = {}): PlacementRequest {
  return { service: 'svc', sizeBytes: GiB, iops: 0, zones: [], nodes: [], requiredLabels: {}, ...o };
}

const ALL_FILTERS = ['service', 'capacity', 'type', 'topology', 'iops', 'labels'];

function options(o: Partial<PlacementOptions> = {}): PlacementOptions {
  return { filters: ALL_FILTERS, scorers: { 'least-allocated': 1 }, minFeasiblePools: 100, feasiblePercent: 5, ...o };
}

const noZones = new Map<string, number>();

describe('placement filters: reasons', () => {
  const registry = createPlacementRegistry();
  const cases: [filter: string, what: string, req: Partial<PlacementRequest>, p: MutablePool, reason: string | undefined][] = [
    ['service', 'same service', {}, pool('a'), undefined],
    ['service', 'other service', {}, pool('a', { service: 'other' }), 'belongs to service other'],
    ['service', 'in the pool list', { pools: ['svc/a'] }, pool('a'), undefined],
    ['service', 'not in the pool list', { pools: ['svc/b'] }, pool('a'), 'does not hold the source of the new volume'],
    ['capacity', 'fits exactly', { sizeBytes: 10 * GiB }, pool('a', { total: 10 * GiB }), undefined],
    ['capacity', 'one byte too many', { sizeBytes: 10 * GiB + 1 }, pool('a', { total: 10 * GiB }), 'needs 10.0Gi, 10Gi free'],
    ['capacity', 'reservations count', { sizeBytes: 3 * GiB }, pool('a', { total: 10 * GiB, provisioned: 5 * GiB, reserved: 3 * GiB }), 'needs 3Gi, 2Gi free'],
    ['capacity', 'overcommit counts', { sizeBytes: 4 * GiB }, pool('a', { total: 10 * GiB, provisioned: 11 * GiB, spec: { overcommit: 1.5 } }), undefined],
    ['capacity', 'overcommitted beyond the ratio', { sizeBytes: 5 * GiB }, pool('a', { total: 10 * GiB, provisioned: 11 * GiB, spec: { overcommit: 1.5 } }), 'needs 5Gi, 4Gi free'],
    ['capacity', 'over-full pool shows 0 free', { sizeBytes: GiB }, pool('a', { total: 10 * GiB, provisioned: 12 * GiB }), 'needs 1Gi, 0B free'],
    ['type', 'untyped request', {}, pool('a'), undefined],
    ['type', 'type offered', { type: 'ssd' }, pool('a', { spec: { types: ['hdd', 'ssd'] } }), undefined],
    ['type', 'pool offers no types', { type: 'ssd' }, pool('a'), 'offers no volume types, "ssd" asked'],
    ['type', 'pool offers other types', { type: 'ssd' }, pool('a', { spec: { types: ['hdd', 'nvme'] } }), 'offers types hdd, nvme, not "ssd"'],
    ['topology', 'no constraint', {}, pool('a', { spec: { zone: 'z1' } }), undefined],
    ['topology', 'zone wanted', { zones: ['z1', 'z2'] }, pool('a', { spec: { zone: 'z2' } }), undefined],
    ['topology', 'other zone', { zones: ['z1', 'z2'] }, pool('a', { spec: { zone: 'z3' } }), 'is in zone z3, wanted z1 or z2'],
    ['topology', 'pool without zone', { zones: ['z1'] }, pool('a'), 'is in zone (none), wanted z1'],
    ['topology', 'node wanted', { nodes: ['n1'] }, pool('a', { spec: { node: 'n1' } }), undefined],
    ['topology', 'other node', { nodes: ['n1', 'n2'] }, pool('a', { spec: { node: 'n3' } }), 'is on node n3, wanted n1 or n2'],
    ['topology', 'shared pool (no node) serves any node', { nodes: ['n1'] }, pool('a'), undefined],
    ['iops', 'no iops asked', {}, pool('a'), undefined],
    ['iops', 'enough iops', { iops: 500 }, pool('a', { spec: { maxIops: 500 } }), undefined],
    ['iops', 'no guarantee offered', { iops: 100 }, pool('a'), 'offers no IOPS guarantee, 100 asked'],
    ['iops', 'too few', { iops: 1000 }, pool('a', { spec: { maxIops: 500 } }), 'gives at most 500 IOPS, 1000 asked'],
    ['labels', 'no labels required', {}, pool('a'), undefined],
    ['labels', 'labels match', { requiredLabels: { tier: 'gold', rack: '7' } }, pool('a', { spec: { labels: { tier: 'gold', rack: '7', x: 'y' } } }), undefined],
    ['labels', 'label unset', { requiredLabels: { tier: 'gold' } }, pool('a'), 'label tier=(unset), wanted gold'],
    ['labels', 'label differs', { requiredLabels: { tier: 'gold' } }, pool('a', { spec: { labels: { tier: 'silver' } } }), 'label tier=silver, wanted gold'],
  ];
  for (const [name, what, req, p, reason] of cases) {
    it(`${name}: ${what} → ${reason ?? 'fits'}`, () => {
      const filter = registry.filters.get(name)!;
      assert.equal(filter.filter({ request: request(req), zoneVolumes: noZones }, p), reason);
    });
  }

  it('only the capacity filter is dynamic (its verdict depends on usage)', () => {
    assert.deepEqual([...registry.filters.values()].filter((f) => f.dynamic).map((f) => f.name), ['capacity']);
  });

  it('availableBytes = total × overcommit − provisioned − reserved, never negative', () => {
    assert.equal(availableBytes(pool('a', { total: 10 * GiB, provisioned: 2 * GiB, reserved: GiB, spec: { overcommit: 2 } })), 17 * GiB);
    assert.equal(availableBytes(pool('a', { total: 10 * GiB, provisioned: 20 * GiB })), 0);
  });
});

describe('placement scorers', () => {
  const registry = createPlacementRegistry();
  const la = registry.scorers.get('least-allocated')!;
  const zs = registry.scorers.get('zone-spread')!;

  it('least-allocated: the share of capacity left after the volume, 0..100', () => {
    const ctx = { request: request({ sizeBytes: 10 * GiB }), zoneVolumes: noZones };
    const cases: [MutablePool, number][] = [
      [pool('empty', { total: 100 * GiB }), 90],
      [pool('half', { total: 100 * GiB, provisioned: 50 * GiB }), 40],
      [pool('reserved', { total: 100 * GiB, reserved: 50 * GiB }), 40],
      [pool('full', { total: 100 * GiB, provisioned: 95 * GiB }), 0],
      [pool('zero', { total: 0 }), 0],
      [pool('thin', { total: 100 * GiB, spec: { overcommit: 2 } }), 95],
    ];
    for (const [p, score] of cases) assert.equal(la.score(ctx, p), score, p.id);
    const ordered = cases.map(([p]) => p).sort((a, b) => la.score(ctx, b) - la.score(ctx, a)).map((p) => p.spec.name);
    assert.deepEqual(ordered.slice(0, 2), ['thin', 'empty']);
  });

  it('zone-spread: fewer of the service\'s volumes in a zone scores higher', () => {
    const zones = new Map([['a', 5], ['b', 1], ['c', 0]]);
    const ctx = { request: request(), zoneVolumes: zones };
    assert.equal(zs.score(ctx, pool('pa', { spec: { zone: 'a' } })), 0);
    assert.equal(zs.score(ctx, pool('pb', { spec: { zone: 'b' } })), 80);
    assert.equal(zs.score(ctx, pool('pc', { spec: { zone: 'c' } })), 100);
    assert.equal(zs.score(ctx, pool('pd', { spec: { zone: 'd' } })), 100, 'a zone with no record yet is empty');
    assert.equal(zs.score(ctx, pool('none')), 50, 'a pool without zone is neutral');
    assert.equal(zs.score({ request: request(), zoneVolumes: new Map([['a', 3]]) }, pool('pa', { spec: { zone: 'a' } })), 50, 'one zone: neutral');
    assert.equal(zs.score({ request: request(), zoneVolumes: new Map([['a', 0], ['b', 0]]) }, pool('pa', { spec: { zone: 'a' } })), 100);
  });

  it('placement picks the best-scored pool and reports its normalised score', () => {
    const placement = new Placement(registry, options());
    const pools = [pool('full', { provisioned: 80 * GiB }), pool('free'), pool('half', { provisioned: 50 * GiB })];
    const r = placement.place(request(), pools, noZones);
    assert.ok(r.ok);
    assert.equal(r.pool.spec.name, 'free');
    assert.equal(r.score, 99);
    assert.equal(r.evaluated, 3);
  });

  it('weights decide between scorers; weight 0 disables one; plugins never see weights', () => {
    // roomy: 99 least-allocated, 0 zone-spread. crowded-free: 19 least-allocated, 100 zone-spread.
    const pools = [pool('roomy', { spec: { zone: 'a' } }), pool('other-zone', { provisioned: 80 * GiB, spec: { zone: 'b' } })];
    const zones = new Map([['a', 10], ['b', 0]]);
    const pick = (scorers: Record<string, number>) => {
      const r = new Placement(registry, options({ scorers })).place(request(), pools, zones);
      assert.ok(r.ok);
      return [r.pool.spec.name, Math.round(r.score * 100) / 100];
    };
    assert.deepEqual(pick({ 'least-allocated': 10, 'zone-spread': 1 }), ['roomy', 90]);
    assert.deepEqual(pick({ 'least-allocated': 1, 'zone-spread': 10 }), ['other-zone', 92.64]);
    assert.deepEqual(pick({ 'least-allocated': 1, 'zone-spread': 0 }), ['roomy', 99]);
    assert.deepEqual(pick({ 'least-allocated': 0, 'zone-spread': 1 }), ['other-zone', 100]);
    // Equal weights of any size give the same decision.
    assert.deepEqual(pick({ 'least-allocated': 3, 'zone-spread': 3 }), pick({ 'least-allocated': 1, 'zone-spread': 1 }));
    // No scorer at all: every pool scores 0, the first feasible one wins.
    assert.deepEqual(pick({}), ['roomy', 0]);
  });
});

describe('placement framework', () => {
  it('the required filters (service, capacity) always run, whatever the configuration lists', () => {
    assert.deepEqual([...REQUIRED_FILTERS], ['service', 'capacity']);
    const placement = new Placement(createPlacementRegistry(), options({ filters: [] }));
    const r = placement.place(request({ sizeBytes: 5 * GiB }), [pool('foreign', { service: 'other' }), pool('full', { total: 4 * GiB })], noZones);
    assert.equal(r.ok, false);
    assert.ok(!r.ok);
    assert.deepEqual(r.verdicts, [
      { pool: 'other/foreign', reason: 'belongs to service other' },
      { pool: 'svc/full', reason: 'needs 5Gi, 4Gi free' },
    ]);
  });

  it('filters not listed do not run', () => {
    const placement = new Placement(createPlacementRegistry(), options({ filters: ['service', 'capacity'] }));
    const r = placement.place(request({ type: 'ssd', zones: ['z9'], iops: 100, requiredLabels: { a: 'b' } }), [pool('a')], noZones);
    assert.ok(r.ok);
  });

  const badNames: [string, Partial<PlacementOptions>, RegExp][] = [
    ['an unknown filter', { filters: ['service', 'nope'] }, /placement\.filters: unknown filter "nope"/],
    ['an unknown scorer', { scorers: { 'least-allocated': 1, nope: 2 } }, /placement\.scorers: unknown scorer "nope"/],
    ['an unknown scorer even with weight 0 (a typo must not pass silently)', { scorers: { 'least-alocated': 0 } }, /placement\.scorers: unknown scorer "least-alocated"/],
  ];
  for (const [what, o, message] of badNames) {
    it(`rejects ${what}`, () => {
      assert.throws(() => new Placement(createPlacementRegistry(), options(o)), (e: unknown) => {
        assert.ok(e instanceof PollyError);
        assert.equal(e.code, 'INVALID_ARGUMENT');
        assert.match(e.message, message);
        return true;
      });
    });
  }

  it('the feasible search stops after minFeasiblePools and starts where the last decision stopped', () => {
    const pools = Array.from({ length: 10 }, (_, i) => pool(`p${i}`));
    const placement = new Placement(createPlacementRegistry(), options({ scorers: {}, minFeasiblePools: 3, feasiblePercent: 0 }));
    const picks: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = placement.place(request(), pools, noZones);
      assert.ok(r.ok);
      assert.equal(r.evaluated, 3);
      picks.push(r.pool.spec.name);
    }
    assert.deepEqual(picks, ['p0', 'p3', 'p6', 'p9', 'p2']);
  });

  it('infeasible pools do not count towards the target; feasiblePercent raises it', () => {
    const pools = [...Array.from({ length: 5 }, (_, i) => pool(`full${i}`, { provisioned: 100 * GiB })), ...Array.from({ length: 5 }, (_, i) => pool(`ok${i}`))];
    const r = new Placement(createPlacementRegistry(), options({ scorers: {}, minFeasiblePools: 2, feasiblePercent: 0 })).place(request(), pools, noZones);
    assert.ok(r.ok);
    assert.equal(r.pool.spec.name, 'ok0');
    assert.equal(r.evaluated, 7);

    const many = Array.from({ length: 20 }, (_, i) => pool(`m${i}`));
    const p = new Placement(createPlacementRegistry(), options({ minFeasiblePools: 1, feasiblePercent: 50 }));
    const r2 = p.place(request(), many, noZones);
    assert.ok(r2.ok);
    assert.equal(r2.evaluated, 10);
  });

  it('static verdicts are cached per request shape and recomputed when the pools array changes', () => {
    let calls = 0;
    const counting: FilterPlugin = {
      name: 'counting',
      filter(ctx, p) {
        calls++;
        return ctx.request.type === undefined || p.spec.types.includes(ctx.request.type) ? undefined : 'wrong type';
      },
    };
    const base = createPlacementRegistry();
    const registry: PlacementRegistry = { filters: new Map([...base.filters, ['counting', counting]]), scorers: base.scorers };
    const placement = new Placement(registry, options({ filters: ['counting'] }));

    const untyped = [pool('a'), pool('b')];
    assert.equal(placement.place(request({ type: 'ssd' }), untyped, noZones).ok, false);
    const afterFirst = calls;
    assert.ok(afterFirst >= 2);
    placement.place(request({ type: 'ssd' }), untyped, noZones);
    // Only the explanation of the failure re-runs filters; the eligible set came from the cache.
    const explainCalls = afterFirst - 2;
    assert.equal(calls, afterFirst + explainCalls, 'eligible set taken from the cache');

    // A new pools array (e.g. after a configuration change) is never answered from the cache.
    const typed = [pool('a', { spec: { types: ['ssd'] } }), pool('b')];
    const r = placement.place(request({ type: 'ssd' }), typed, noZones);
    assert.ok(r.ok, 'new pools array re-filtered');
    assert.equal(r.pool.spec.name, 'a');

    // Another shape is filtered on its own.
    const before = calls;
    assert.ok(placement.place(request({ type: 'hdd', sizeBytes: 2 * GiB }), typed, noZones).ok === false);
    assert.ok(calls > before);
  });

  it('the cache never hides usage changes (capacity is checked on every decision)', () => {
    const placement = new Placement(createPlacementRegistry(), options());
    const pools = [pool('only', { total: 10 * GiB })];
    assert.ok(placement.place(request({ sizeBytes: 6 * GiB }), pools, noZones).ok);
    pools[0]!.reservedBytes = 6 * GiB;
    const r = placement.place(request({ sizeBytes: 6 * GiB }), pools, noZones);
    assert.ok(!r.ok);
    assert.deepEqual(r.verdicts, [{ pool: 'svc/only', reason: 'needs 6Gi, 4Gi free' }]);
  });

  it('when nothing fits, the error lists every pool with its reason', () => {
    const placement = new Placement(createPlacementRegistry(), options());
    const req = request({ type: 'ssd', zones: ['z1'] });
    const pools = [
      pool('full', { total: GiB / 2, spec: { types: ['ssd'], zone: 'z1' } }),
      pool('hdd', { spec: { types: ['hdd'], zone: 'z1' } }),
      pool('far', { spec: { types: ['ssd'], zone: 'z2' } }),
    ];
    const r = placement.place(req, pools, noZones);
    assert.ok(!r.ok);
    const e = noPoolFits(req, r.verdicts);
    assert.ok(e instanceof PollyError);
    assert.equal(e.code, 'INSUFFICIENT_CAPACITY');
    assert.equal(e.message,
      'no pool can hold the volume: pool svc/full: needs 1Gi, 512Mi free; pool svc/hdd: offers types hdd, not "ssd"; pool svc/far: is in zone z2, wanted z1');
    assert.deepEqual(e.details['pools'], r.verdicts);
  });

  it('with many pools the message names the first ten and counts the rest; details keep every pool', () => {
    const req = request({ sizeBytes: 200 * GiB });
    const pools = Array.from({ length: 12 }, (_, i) => pool(`p${String(i).padStart(2, '0')}`));
    const r = new Placement(createPlacementRegistry(), options()).place(req, pools, noZones);
    assert.ok(!r.ok);
    const e = noPoolFits(req, r.verdicts);
    for (let i = 0; i < 10; i++) assert.ok(e.message.includes(`pool svc/p${String(i).padStart(2, '0')}: needs 200Gi, 100Gi free`));
    assert.match(e.message, /and 2 more pools$/);
    assert.equal((e.details['pools'] as unknown[]).length, 12);
    assert.match(noPoolFits(req, []).message, /service svc has no pools/);
  });
});
