import { capacityFilter } from './filters/capacity-filter.js';
import { iopsFilter } from './filters/iops-filter.js';
import { labelsFilter } from './filters/labels-filter.js';
import { serviceFilter } from './filters/service-filter.js';
import { topologyFilter } from './filters/topology-filter.js';
import { typeFilter } from './filters/type-filter.js';
import { leastAllocated } from './scorers/least-allocated.js';
import { zoneSpread } from './scorers/zone-spread.js';
import type { FilterPlugin, ScorePlugin } from './types.js';

export interface PlacementRegistry {
  readonly filters: ReadonlyMap<string, FilterPlugin>;
  readonly scorers: ReadonlyMap<string, ScorePlugin>;
}

/** Every placement plugin Polly has, by name. The only place plugins are registered. */
export function createPlacementRegistry(): PlacementRegistry {
  const filters = [serviceFilter, capacityFilter, typeFilter, topologyFilter, iopsFilter, labelsFilter];
  const scorers = [leastAllocated, zoneSpread];
  return {
    filters: new Map(filters.map((f) => [f.name, f])),
    scorers: new Map(scorers.map((s) => [s.name, s])),
  };
}

/** Filters that must always run, whatever the configuration says. */
export const REQUIRED_FILTERS = ['service', 'capacity'] as const;
