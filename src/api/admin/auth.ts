import type { FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import { PollyError } from '../../core/errors.js';
import { ADMIN, type Caller } from '../../core/model.js';

export interface TokenEntry {
  readonly token: string;
  readonly role: 'admin' | 'scheduler';
  readonly name: string;
  readonly services: readonly string[] | '*';
}

/**
 * Bearer tokens → callers. With no tokens configured (allowed only on loopback) every caller
 * is the admin.
 */
export class TokenAuth {
  private readonly entries: readonly { buf: Buffer; caller: Caller }[];

  constructor(tokens: readonly TokenEntry[]) {
    this.entries = tokens.map((t) => ({
      buf: Buffer.from(t.token),
      caller: t.role === 'admin' ? { kind: 'admin', name: t.name } : { kind: 'scheduler', name: t.name, services: t.services },
    }));
  }

  get open(): boolean {
    return this.entries.length === 0;
  }

  authenticate(request: FastifyRequest): Caller {
    if (this.open) return ADMIN;
    const header = request.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!m) throw new PollyError('UNAUTHENTICATED', 'send "Authorization: Bearer <token>"');
    const given = Buffer.from(m[1]!);
    for (const e of this.entries) {
      if (e.buf.length === given.length && timingSafeEqual(e.buf, given)) return e.caller;
    }
    throw new PollyError('UNAUTHENTICATED', 'the bearer token is not valid');
  }
}

const loopback = new Set(['127.0.0.1', '::1', 'localhost']);

export const isLoopback = (host: string): boolean => loopback.has(host) || host.startsWith('127.');
