import assert from 'node:assert/strict';
import { PollyError, type ErrorCode } from '../errors.js';

/** Test helper: the promise rejects with a PollyError of `code` (and a message matching `message`); returns it. */
export async function expectCode(promise: Promise<unknown>, code: ErrorCode, message?: RegExp | string): Promise<PollyError> {
  let caught: unknown;
  await assert.rejects(promise, (e: unknown) => ((caught = e), true));
  assert.ok(caught instanceof PollyError, `expected a PollyError ${code}${typeof message === 'string' ? ` ${message}` : ''}, got ${String(caught)}`);
  assert.equal(caught.code, code, `${caught.message}${typeof message === 'string' ? ` ${message}` : ''}`);
  if (message instanceof RegExp) assert.match(caught.message, message);
  return caught;
}
