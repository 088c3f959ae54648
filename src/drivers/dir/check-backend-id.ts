import { invalid } from '../../core/errors.js';
import { isPollyId } from '../../core/ids.js';

/**
 * Names of unmanaged directories a driver may adopt: the safe name set of core/names.ts.
 * No '/', no NUL, no leading '.', at most 128 characters.
 */
const UNMANAGED = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** True when `value` may name a volume or snapshot directory inside a pool. */
export function isValidBackendId(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  if (isPollyId(value)) return true;
  return UNMANAGED.test(value) && !value.includes('..');
}

/**
 * Checks a backendId before it is joined into any path. Polly-created ids look like `vol-01j…`;
 * ids of unmanaged directories (found by `list`, handed back for adoption) must be a safe name.
 * Throws INVALID_ARGUMENT naming `field` otherwise.
 */
export function checkBackendId(field: string, value: unknown): string {
  if (isValidBackendId(value)) return value;
  const shown = typeof value === 'string' ? JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value) : typeof value;
  throw invalid(
    field,
    `${shown} is not a valid backend id: use a Polly id or 1-128 letters, digits, ".", "_" and "-" starting with a letter or digit, without ".."`,
  );
}
