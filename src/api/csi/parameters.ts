import { invalid } from '../../core/errors.js';

/**
 * CreateVolume/GetCapacity `parameters` (a StorageClass's parameters in Kubernetes):
 * - `service`: the Polly service (default: csi.defaultService);
 * - `type`, `iops`: the volume's type and IOPS guarantee (placement filters on both);
 * - `poolLabel.<key>`: a label the chosen pool must carry;
 * - `label.<key>`: an admin label put on the volume;
 * - anything else is handed to the storage driver as a volume parameter.
 * `mutable_parameters` (CreateVolume, ControllerModifyVolume) know `iops`.
 */
export interface VolumeParameters {
  readonly service: string;
  readonly type?: string;
  readonly iops?: number;
  readonly poolLabels: Record<string, string>;
  readonly labels: Record<string, string>;
  readonly driverParameters: Record<string, string>;
}

export function parseParameters(field: string, params: Readonly<Record<string, string>>, defaultService: string): VolumeParameters {
  const out: { service: string; type?: string; iops?: number; poolLabels: Record<string, string>; labels: Record<string, string>; driverParameters: Record<string, string> } = {
    service: defaultService, poolLabels: {}, labels: {}, driverParameters: {},
  };
  for (const [k, v] of Object.entries(params)) {
    if (k === 'service') out.service = v;
    else if (k === 'type') out.type = v;
    else if (k === 'iops') out.iops = parseIops(`${field}.iops`, v);
    else if (k.startsWith('poolLabel.')) out.poolLabels[k.slice('poolLabel.'.length)] = v;
    else if (k.startsWith('label.')) out.labels[k.slice('label.'.length)] = v;
    else out.driverParameters[k] = v;
  }
  return out;
}

export function parseIops(field: string, value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw invalid(field, `must be a whole number of IOPS, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** mutable_parameters: only `iops` is mutable; any other key is INVALID_ARGUMENT. */
export function parseMutable(field: string, params: Readonly<Record<string, string>>): { iops?: number } {
  const out: { iops?: number } = {};
  for (const [k, v] of Object.entries(params)) {
    if (k === 'iops') out.iops = parseIops(`${field}.iops`, v);
    else throw invalid(`${field}.${k.slice(0, 64)}`, 'is not a mutable parameter (mutable: iops)');
  }
  return out;
}
