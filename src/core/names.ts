import { invalid } from './errors.js';

/**
 * Names clients choose (volumes, snapshots, services, pools, schedulers, label keys) are
 * restricted to a safe set: they never reach a filesystem path, but the restriction makes that
 * impossible by construction too.
 */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export const MAX_NAME_BYTES = 128;
export const MAX_LABEL_VALUE_BYTES = 256;
export const MAX_LABELS = 64;

export function checkName(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(field, 'is required and must be a non-empty string');
  if (CONTROL.test(value)) throw invalid(field, 'must not contain control characters');
  if (!NAME.test(value) || value === '.' || value === '..' || value.includes('..')) {
    throw invalid(field, 'must be 1-128 characters of letters, digits, ".", "_" and "-", start with a letter or digit, and not contain ".."', { value });
  }
  return value;
}

export function checkLabels(field: string, labels: unknown): Record<string, string> {
  if (labels === undefined || labels === null) return {};
  if (typeof labels !== 'object' || Array.isArray(labels)) throw invalid(field, 'must be an object of string values');
  const entries = Object.entries(labels as Record<string, unknown>);
  if (entries.length > MAX_LABELS) throw invalid(field, `must have at most ${MAX_LABELS} entries`);
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    checkLabelKey(`${field}.${k}`, k);
    if (typeof v !== 'string') throw invalid(`${field}.${k}`, 'must be a string');
    if (CONTROL.test(v)) throw invalid(`${field}.${k}`, 'must not contain control characters');
    if (Buffer.byteLength(v) > MAX_LABEL_VALUE_BYTES) throw invalid(`${field}.${k}`, `must be at most ${MAX_LABEL_VALUE_BYTES} bytes`);
    out[k] = v;
  }
  return out;
}

export function checkLabelKey(field: string, key: string): string {
  if (!LABEL_KEY.test(key) || key.includes('..')) {
    throw invalid(field, 'label keys are 1-128 characters of letters, digits, ".", "_", "/" and "-"', { key });
  }
  return key;
}

/** Free text (e.g. a network name): at most 256 bytes, no control characters. */
export function checkText(field: string, value: unknown): string {
  if (typeof value !== 'string') throw invalid(field, 'must be a string');
  if (CONTROL.test(value)) throw invalid(field, 'must not contain control characters');
  if (Buffer.byteLength(value) > MAX_LABEL_VALUE_BYTES) throw invalid(field, `must be at most ${MAX_LABEL_VALUE_BYTES} bytes`);
  return value;
}

/** Driver/admin fields: at most 64 keys of label-key form, at most 16 KiB of JSON. */
export function checkFields(field: string, fields: unknown): void {
  if (fields === undefined) return;
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) throw invalid(field, 'must be an object');
  const keys = Object.keys(fields);
  if (keys.length > MAX_LABELS) throw invalid(field, `must have at most ${MAX_LABELS} entries`);
  for (const k of keys) checkLabelKey(`${field}.${k.slice(0, 40)}`, k);
  if (Buffer.byteLength(JSON.stringify(fields)) > 16 * 1024) throw invalid(field, 'must be at most 16 KiB as JSON');
}
