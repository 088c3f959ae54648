/**
 * Argument checks shared by every Store implementation, so they all reject the same input the
 * same way (INVALID_ARGUMENT) before touching their backend.
 */
import { invalid } from '../core/errors.js';
import { MAX_LIST_LIMIT, type ListOptions, type TxnRequest } from '../core/ports/store.js';

export const MAX_KEY_BYTES = 1024;
export const DEFAULT_LIST_LIMIT = 1000;

/** A put whose value is already serialised, or a delete. */
export type PreparedOp =
  | { readonly type: 'put'; readonly key: string; readonly json: string }
  | { readonly type: 'delete'; readonly key: string };

export interface PreparedTxn {
  readonly compares: readonly { readonly key: string; readonly revision: number }[];
  readonly ops: readonly PreparedOp[];
  readonly deferred: boolean;
}

// In a `u` regex a paired surrogate is one code point, so this matches lone surrogates only;
// they have no UTF-8 form and would break byte ordering.
const LONE_SURROGATE = /\p{Cs}/u;

function checkText(field: string, value: unknown, allowEmpty: boolean): string {
  if (typeof value !== 'string') throw invalid(field, 'must be a string');
  if (!allowEmpty && value.length === 0) throw invalid(field, 'must not be empty');
  if (value.includes('\0')) throw invalid(field, 'must not contain NUL');
  if (LONE_SURROGATE.test(value)) throw invalid(field, 'must be well-formed Unicode');
  if (Buffer.byteLength(value, 'utf8') > MAX_KEY_BYTES) throw invalid(field, `must be at most ${MAX_KEY_BYTES} bytes`);
  return value;
}

export const checkKey = (key: unknown, field = 'key'): string => checkText(field, key, false);

export const checkPrefix = (prefix: unknown): string => checkText('prefix', prefix, true);

export function checkListOptions(options: ListOptions | undefined): { after?: string; limit: number } {
  const limit = options?.limit ?? DEFAULT_LIST_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1) throw invalid('limit', 'must be a positive integer', { limit });
  const after = options?.after === undefined ? undefined : checkText('after', options.after, true);
  return { after, limit: Math.min(limit, MAX_LIST_LIMIT) };
}

/** Validates a transaction and serialises its values (so later caller mutations cannot leak in). */
export function prepareTxn(request: TxnRequest): PreparedTxn {
  if (request === null || typeof request !== 'object') throw invalid('txn', 'must be an object');
  if (!Array.isArray(request.compares)) throw invalid('txn.compares', 'must be an array');
  if (!Array.isArray(request.ops)) throw invalid('txn.ops', 'must be an array');

  const compares = request.compares.map((c, i) => {
    const key = checkKey(c?.key, `txn.compares[${i}].key`);
    if (!Number.isSafeInteger(c.revision) || c.revision < 0) {
      throw invalid(`txn.compares[${i}].revision`, 'must be a non-negative integer', { revision: c.revision });
    }
    return { key, revision: c.revision };
  });

  const seen = new Set<string>();
  const ops = request.ops.map((op, i): PreparedOp => {
    const key = checkKey(op?.key, `txn.ops[${i}].key`);
    if (seen.has(key)) throw invalid(`txn.ops[${i}].key`, 'appears more than once in the transaction', { key });
    seen.add(key);
    if (op.type === 'delete') return { type: 'delete', key };
    if (op.type !== 'put') throw invalid(`txn.ops[${i}].type`, 'must be "put" or "delete"');
    return { type: 'put', key, json: serialise(op.value, `txn.ops[${i}].value`) };
  });

  const durability = request.durability ?? 'durable';
  if (durability !== 'durable' && durability !== 'deferred') throw invalid('txn.durability', 'must be "durable" or "deferred"');
  return { compares, ops, deferred: durability === 'deferred' };
}

function serialise(value: unknown, field: string): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (e) {
    throw invalid(field, `is not JSON-serialisable: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (json === undefined) throw invalid(field, 'is not JSON-serialisable');
  return json;
}
