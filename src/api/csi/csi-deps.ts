import type { Caller } from '../../core/model.js';
import type { Polly } from '../../core/polly.js';
import type { Logger } from '../../core/ports/logger.js';
import type { DriverCapabilities } from '../../core/ports/storage-driver.js';
import { ADMIN } from '../../core/model.js';
import type { PoolTopology } from './topology.js';

/** What the CSI services work with; built once by the CSI server from core. */
export interface CsiDeps {
  readonly polly: Polly;
  /** The identity every CSI call runs as (tenancy as for REST). */
  readonly caller: Caller;
  readonly pluginName: string;
  readonly version: string;
  readonly nodeId: string;
  /** Node ids ControllerPublish accepts. */
  readonly nodes: ReadonlySet<string>;
  readonly maxVolumesPerNode: number;
  readonly defaultService: string;
  readonly logger: Logger;
  /** Pool id → zone/node, for accessible_topology. */
  readonly pools: ReadonlyMap<string, PoolTopology>;
  /** The driver capabilities of a service, read live (a csi-driver service learns its plugin's late). */
  capabilitiesOf(service: string): DriverCapabilities | undefined;
  /** Every service's driver capabilities, read live. */
  allCapabilities(): DriverCapabilities[];
  /** Service → size of a volume created without one. */
  readonly defaultSizes: ReadonlyMap<string, number>;
}

export interface CsiSettings {
  readonly caller?: Caller;
  readonly pluginName: string;
  readonly version: string;
  readonly nodeId: string;
  readonly nodes: readonly string[];
  readonly maxVolumesPerNode: number;
  readonly defaultService: string;
  readonly logger: Logger;
}

/** Reads the static facts (pools' topology, drivers' capabilities) once from core. */
export function csiDeps(polly: Polly, s: CsiSettings): CsiDeps {
  const pools = new Map(polly.listPools(ADMIN).map((p) => [p.id, { ...(p.zone !== undefined ? { zone: p.zone } : {}), ...(p.node !== undefined ? { node: p.node } : {}) }]));
  const services = polly.listServices(ADMIN);
  const defaultSizes = new Map(services.map((v) => [v.name, v.defaultSizeBytes]));
  return {
    polly, caller: s.caller ?? ADMIN, pluginName: s.pluginName, version: s.version, nodeId: s.nodeId,
    nodes: new Set([s.nodeId, ...s.nodes]), maxVolumesPerNode: s.maxVolumesPerNode, defaultService: s.defaultService,
    logger: s.logger, pools, defaultSizes,
    capabilitiesOf: (service) => polly.ctx.drivers.get(service)?.capabilities,
    allCapabilities: () => [...polly.ctx.drivers.values()].map((d) => d.capabilities),
  };
}

/** True when any service's driver has the capability. */
export const anyDriver = (deps: CsiDeps, cap: keyof DriverCapabilities): boolean => deps.allCapabilities().some((c) => c[cap]);
