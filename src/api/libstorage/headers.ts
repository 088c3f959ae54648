import type { FastifyRequest } from 'fastify';
import { invalid } from '../../core/errors.js';
import { checkName } from '../../core/names.js';

/** One `Libstorage-Instanceid` value: `DRIVER[:SERVICE]=ID,FIELDS,METADATA`. */
export interface InstanceId {
  readonly driver: string;
  readonly service?: string;
  readonly id: string;
  readonly fields: Readonly<Record<string, string>>;
}

const MAX_HEADER = 4096;

/** Every value of a header as sent (node joins repeated custom headers with ", ", which would break these). */
function rawValues(req: FastifyRequest, name: string): string[] {
  const raw = req.raw.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!);
  return out;
}

/**
 * Parses one instance id. An empty ID with METADATA is the vfs/ScaleIO "seed" form: the metadata
 * is base64 JSON; when it is a JSON string, that string is the id (what the vfs driver does).
 */
export function parseInstanceId(value: string): InstanceId {
  if (value.length > MAX_HEADER) throw invalid('Libstorage-Instanceid', 'is too long');
  const eq = value.indexOf('=');
  if (eq <= 0) throw invalid('Libstorage-Instanceid', `${JSON.stringify(value.slice(0, 80))} is not DRIVER[:SERVICE]=ID,FIELDS,METADATA`);
  const head = value.slice(0, eq);
  const colon = head.indexOf(':');
  const driver = checkName('Libstorage-Instanceid driver', colon < 0 ? head : head.slice(0, colon));
  const service = colon < 0 ? undefined : checkName('Libstorage-Instanceid service', head.slice(colon + 1));
  const [rawId = '', rawFields = '', metadata = ''] = value.slice(eq + 1).split(',');
  let id = rawId;
  if (id === '' && metadata !== '') {
    let seed: unknown;
    try {
      seed = JSON.parse(Buffer.from(metadata, 'base64').toString('utf8'));
    } catch {
      throw invalid('Libstorage-Instanceid', 'metadata is not base64-encoded JSON');
    }
    if (typeof seed === 'string') id = seed;
  }
  const fields: Record<string, string> = {};
  if (rawFields !== '') {
    let decoded: string;
    try {
      decoded = decodeURIComponent(rawFields);
    } catch {
      throw invalid('Libstorage-Instanceid', 'fields are not URL-encoded');
    }
    for (const [k, v] of new URLSearchParams(decoded)) fields[k] = v;
  }
  return { driver, ...(service !== undefined ? { service } : {}), id, fields };
}

/** The instance id meant for a service of the given driver (a `driver:service` one wins). */
export function instanceFor(req: FastifyRequest, driver: string, service: string): InstanceId | undefined {
  const all = rawValues(req, 'libstorage-instanceid').map(parseInstanceId);
  return all.find((i) => i.driver === driver && i.service === service) ?? all.find((i) => i.driver === driver && i.service === undefined);
}

/** The Polly node an instance id names; it must be a valid name (ids reach the catalog). */
export function nodeOf(instance: InstanceId | undefined): string | undefined {
  if (!instance || instance.id === '') return undefined;
  return checkName('Libstorage-Instanceid id', instance.id);
}

export function formatInstanceId(driver: string, service: string, id: string): string {
  return `${driver}:${service}=${id}`;
}

/** `Libstorage-Localdevices: DRIVER=VOLUME_ID::DEVICE_PATH,...` for one driver (checked, otherwise unused). */
export function localDevices(req: FastifyRequest, driver: string): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  for (const value of rawValues(req, 'libstorage-localdevices')) {
    if (value.length > MAX_HEADER) throw invalid('Libstorage-Localdevices', 'is too long');
    const eq = value.indexOf('=');
    if (eq <= 0) throw invalid('Libstorage-Localdevices', 'is not DRIVER=VOLUME_ID::DEVICE_PATH,...');
    if (value.slice(0, eq) !== driver) continue;
    for (const pair of value.slice(eq + 1).split(',')) {
      if (pair === '') continue;
      const sep = pair.indexOf('::');
      if (sep < 0) throw invalid('Libstorage-Localdevices', `${JSON.stringify(pair.slice(0, 80))} is not VOLUME_ID::DEVICE_PATH`);
      out.set(pair.slice(0, sep), pair.slice(sep + 2));
    }
  }
  return out;
}

/** Transaction headers to echo: `Libstorage-Tx` (what REX-Ray sends) and `Libstorage-Txid`/`-Txcr` (the blueprint's). */
export function transactionHeaders(req: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  const safe = (v: unknown): v is string => typeof v === 'string' && v.length <= 256 && /^[\x20-\x7e]*$/.test(v);
  const tx = req.headers['libstorage-tx'];
  if (safe(tx)) {
    out['Libstorage-Tx'] = tx;
    const id = /txID=([^,\s]+)/.exec(tx)?.[1];
    const cr = /txCR=(\d+)/.exec(tx)?.[1];
    if (id) out['Libstorage-Txid'] = id;
    if (cr) out['Libstorage-Txcr'] = cr;
  }
  const txid = req.headers['libstorage-txid'];
  const txcr = req.headers['libstorage-txcr'];
  if (safe(txid)) out['Libstorage-Txid'] = txid;
  if (safe(txcr)) out['Libstorage-Txcr'] = txcr;
  return out;
}
