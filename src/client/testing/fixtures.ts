/** Sample API objects for tests. */
import type { Pool, Service, Snapshot, Volume } from '../types.js';

const GiB = 1024 ** 3;

export function volume(over: Partial<Volume> = {}): Volume {
  return {
    id: 'vol-1',
    name: 'data',
    service: 'local',
    pool: 'p1',
    size: 10 * GiB,
    iops: 0,
    labels: {},
    fields: {},
    parameters: {},
    status: 'available',
    schedulers: [],
    attachments: [],
    createdAt: '2024-01-01T00:00:00.000Z',
    updatedAt: '2024-01-01T00:00:00.000Z',
    ...over,
  };
}

export function snapshot(over: Partial<Snapshot> = {}): Snapshot {
  return {
    id: 'snap-1',
    name: 's1',
    service: 'local',
    pool: 'p1',
    volumeId: 'vol-1',
    size: 10 * GiB,
    status: 'ready',
    labels: {},
    createdAt: '2024-01-01T00:00:00.000Z',
    ...over,
  };
}

export function service(over: Partial<Service> = {}): Service {
  return {
    name: 'local',
    driver: 'dir',
    defaultSize: 1 * GiB,
    quota: {},
    usage: { volumes: 2, bytes: 20 * GiB },
    pools: ['p1'],
    ...over,
  };
}

export function pool(over: Partial<Pool> = {}): Pool {
  return {
    id: 'local/p1',
    service: 'local',
    name: 'p1',
    types: ['gold'],
    labels: {},
    totalBytes: 100 * GiB,
    freeBytes: 80 * GiB,
    capacityBytes: 200 * GiB,
    provisionedBytes: 20 * GiB,
    reservedBytes: 0,
    overcommit: 2,
    volumes: 2,
    maxIops: 0,
    ...over,
  };
}
