import { invalid } from '../../core/errors.js';
import type { ServiceSpec } from '../../core/model.js';

export interface CsiPool {
  readonly name: string;
  /** The plugin's topology segment this pool stands for (absent: the whole plugin). */
  readonly topology?: Readonly<Record<string, string>>;
  readonly capacityBytes?: number;
}

export interface CsiDriverOptions {
  readonly endpoint: string;
  readonly parameters: Readonly<Record<string, string>>;
  readonly secrets: Readonly<Record<string, string>>;
  readonly accessType: 'mount' | 'block';
  readonly accessMode: string;
  readonly fsType: string;
  readonly timeoutMs: number;
  readonly retryForMs: number;
  readonly pools: ReadonlyMap<string, CsiPool>;
}

const MODES = ['SINGLE_NODE_WRITER', 'SINGLE_NODE_READER_ONLY', 'MULTI_NODE_READER_ONLY', 'MULTI_NODE_SINGLE_WRITER', 'MULTI_NODE_MULTI_WRITER', 'SINGLE_NODE_SINGLE_WRITER', 'SINGLE_NODE_MULTI_WRITER'];

/**
 * `services.<name>.options` of a csi service:
 *   endpoint: unix:///run/plugin/csi.sock | tcp://host:port | host:port   (required)
 *   parameters: {…}   CreateVolume/GetCapacity parameters (a StorageClass's)
 *   secrets: {…}      controller secrets sent with every call that takes them
 *   accessType: mount | block, accessMode: a CSI access mode, fsType: for mount access
 *   timeout: per-call deadline in seconds (default 30), retryFor: seconds to retry ABORTED/UNAVAILABLE (default 30)
 * and per pool `topology: { key: value }`, the plugin's segment the pool stands for.
 */
export function parseCsiDriverOptions(service: ServiceSpec): CsiDriverOptions {
  const at = (k: string) => `services.${service.name}.options.${k}`;
  const o = service.driverConfig;
  const endpoint = o['endpoint'];
  if (typeof endpoint !== 'string' || !/^(unix:\/\/\/.+|tcp:\/\/[^/\s]+:\d+|[^/\s:]+:\d+)$/.test(endpoint)) {
    throw invalid(at('endpoint'), 'is required: unix:///absolute/path.sock, tcp://host:port or host:port');
  }
  const accessType = o['accessType'] ?? 'mount';
  if (accessType !== 'mount' && accessType !== 'block') throw invalid(at('accessType'), 'must be mount or block');
  const accessMode = o['accessMode'] ?? 'SINGLE_NODE_WRITER';
  if (typeof accessMode !== 'string' || !MODES.includes(accessMode)) throw invalid(at('accessMode'), `must be one of ${MODES.join(', ')}`);
  const fsType = o['fsType'] ?? '';
  if (typeof fsType !== 'string' || !/^[a-z0-9._-]{0,32}$/.test(fsType)) throw invalid(at('fsType'), 'must be a filesystem name such as ext4');
  const pools = new Map<string, CsiPool>();
  for (const p of service.pools) {
    const topology = p.params['topology'];
    if (topology !== undefined) stringMap(`services.${service.name}.pools.${p.name}.topology`, topology);
    pools.set(p.name, {
      name: p.name,
      ...(topology !== undefined ? { topology: topology as Record<string, string> } : {}),
      ...(p.capacityBytes !== undefined ? { capacityBytes: p.capacityBytes } : {}),
    });
  }
  return {
    endpoint, accessType, accessMode, fsType, pools,
    parameters: stringMap(at('parameters'), o['parameters'] ?? {}),
    secrets: stringMap(at('secrets'), o['secrets'] ?? {}),
    timeoutMs: seconds(at('timeout'), o['timeout'] ?? 30),
    retryForMs: seconds(at('retryFor'), o['retryFor'] ?? 30),
  };
}

function stringMap(field: string, v: unknown): Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) {
    throw invalid(field, 'must be a mapping of string values');
  }
  return { ...(v as Record<string, string>) };
}

function seconds(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > 3600) throw invalid(field, 'must be a number of seconds from 0 to 3600');
  return Math.round(v * 1000);
}
