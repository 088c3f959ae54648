import type { FastifyRequest } from 'fastify';
import { invalid } from '../../core/errors.js';
import { checkLabels } from '../../core/names.js';
import type { Caller } from '../../core/model.js';
import type { Polly } from '../../core/polly.js';
import type { TokenAuth } from './auth.js';

/** What route plugins need; handed to each of them by the server. */
export interface AdminDeps {
  readonly polly: Polly;
  readonly auth: TokenAuth;
  readonly version: string;
  readonly nodeId: string;
  /** Interval of heartbeat comments on the offer watch stream (default 15 s). */
  readonly offerHeartbeatMs?: number;
}

export const callerOf = (deps: AdminDeps, request: FastifyRequest): Caller => deps.auth.authenticate(request);

/** `label=k=v` query values (repeated or comma-separated) → a label map. */
export function parseLabelQuery(value: string | string[] | undefined): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const part of (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(','))) {
    const i = part.indexOf('=');
    if (i <= 0) throw invalid('label', `"${part}" is not key=value`);
    out[part.slice(0, i)] = part.slice(i + 1);
  }
  return checkLabels('label', out);
}

export const wantsAsync = (request: FastifyRequest): boolean =>
  /\brespond-async\b/i.test(String(request.headers['prefer'] ?? ''));
