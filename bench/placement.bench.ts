import { Placement } from '../src/core/placement/placement.js';
import { createPlacementRegistry } from '../src/core/placement/registry.js';
import type { PlacementRequest } from '../src/core/placement/types.js';
import { PoolState } from '../src/core/pool-state.js';
import { GiB, TiB } from '../src/core/units.js';
import { percentile, record } from './results.js';

/** Placement decision time with 10,000 pools in one service (target: p99 < 100 µs). */
const POOLS = 10_000;
const DECISIONS = 20_000;

const pools = Array.from({ length: POOLS }, (_, i) => {
  const p = new PoolState(`bench/p${i}`, 'bench', {
    name: `p${i}`, capacityBytes: 10 * TiB, overcommit: 1 + (i % 3) * 0.5, zone: `zone-${i % 4}`,
    types: i % 2 === 0 ? ['gold', 'silver'] : ['silver'], labels: { rack: `r${i % 20}` }, maxIops: 10_000, params: {},
  });
  p.totalBytes = 10 * TiB;
  p.setUsage({ id: p.id, service: 'bench', pool: p.spec.name, provisionedBytes: (i % 97) * 50 * GiB, reservedBytes: (i % 7) * GiB, volumes: i % 97 }, 1);
  return p;
});
const zoneVolumes = new Map([['zone-0', 100], ['zone-1', 120], ['zone-2', 80], ['zone-3', 90]]);
const placement = new Placement(createPlacementRegistry(), {
  filters: ['service', 'capacity', 'type', 'topology', 'iops', 'labels'],
  scorers: { 'least-allocated': 1, 'zone-spread': 1 }, minFeasiblePools: 100, feasiblePercent: 5,
});
const requests: PlacementRequest[] = [
  { service: 'bench', sizeBytes: 100 * GiB, type: 'gold', iops: 500, zones: [], nodes: [], requiredLabels: {} },
  { service: 'bench', sizeBytes: 10 * GiB, iops: 0, zones: ['zone-1', 'zone-2'], nodes: [], requiredLabels: {} },
  { service: 'bench', sizeBytes: 1 * GiB, type: 'silver', iops: 0, zones: [], nodes: [], requiredLabels: { rack: 'r7' } },
];

for (let i = 0; i < 2000; i++) placement.place(requests[i % 3]!, pools, zoneVolumes); // warm-up
const times: number[] = [];
let placed = 0;
for (let i = 0; i < DECISIONS; i++) {
  const t0 = process.hrtime.bigint();
  const r = placement.place(requests[i % 3]!, pools, zoneVolumes);
  times.push(Number(process.hrtime.bigint() - t0) / 1000);
  if (r.ok) placed++;
}
times.sort((a, b) => a - b);
const us = (v: number) => `${v.toFixed(1)} µs`;
record('Placement decision, 10,000 pools', [
  `${DECISIONS} decisions (3 request shapes: typed+iops, zone-restricted, label-restricted), ${placed} placed`,
  `p50 ${us(percentile(times, 50))}, p99 ${us(percentile(times, 99))}, max ${us(times[times.length - 1]!)} (target p99 < 100 µs)`,
  'search stops after max(100, 5% of pools) feasible pools, resuming where the last decision stopped',
]);
