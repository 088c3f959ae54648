import type { FastifyRequest } from 'fastify';
import { errors as joseErrors, jwtVerify } from 'jose';
import { PollyError, notFound } from '../../core/errors.js';
import type { Caller } from '../../core/model.js';

/** A libStorage service: the client's scheduler identity, bound to one Polly service. */
export interface LibstorageService {
  /** The name clients use (`libstorage.service` of a REX-Ray client). */
  readonly name: string;
  /** The Polly service whose volumes it offers. */
  readonly service: string;
  /** Driver name reported to clients; a REX-Ray client picks its executor by it (e.g. `vfs`). */
  readonly driverName: string;
  /** Driver type reported to clients (`object`, `block`, `nas`). */
  readonly driverType: string;
  /** HS256 secret; when set, requests for this service need a valid JWT bearer token. */
  readonly jwtSecret?: string;
}

/**
 * The libStorage services of this server and who a request is, per service. Every libStorage
 * service is a scheduler identity: it sees only volumes offered to it or created through it (the
 * core access rules), and volumes it creates are offered to it.
 */
export class LibstorageIdentities {
  private readonly byName: ReadonlyMap<string, LibstorageService>;
  private readonly secrets: ReadonlyMap<string, Uint8Array>;

  constructor(readonly services: readonly LibstorageService[]) {
    this.byName = new Map(services.map((s) => [s.name, s]));
    this.secrets = new Map(services.filter((s) => s.jwtSecret !== undefined).map((s) => [s.name, new TextEncoder().encode(s.jwtSecret)]));
  }

  get(name: string): LibstorageService {
    const s = this.byName.get(name);
    if (!s) throw notFound('service', name);
    return s;
  }

  callerOf(s: LibstorageService): Caller {
    return { kind: 'scheduler', name: s.name, services: [s.service] };
  }

  /** Checks the bearer token for one service (nothing to check when it has no secret). */
  async authorize(req: FastifyRequest, s: LibstorageService): Promise<Caller> {
    const secret = this.secrets.get(s.name);
    if (secret) await verifyBearer(req, secret);
    return this.callerOf(s);
  }

  /** For requests over every service: the token must be good for each secured one (no partial answers). */
  async authorizeAll(req: FastifyRequest): Promise<LibstorageService[]> {
    for (const s of this.services) await this.authorize(req, s);
    return [...this.services];
  }
}

async function verifyBearer(req: FastifyRequest, secret: Uint8Array): Promise<void> {
  const header = req.headers.authorization;
  const m = typeof header === 'string' ? /^Bearer\s+(\S{1,8192})$/i.exec(header) : null;
  if (!m) throw new PollyError('UNAUTHENTICATED', 'The requestor is unauthorized to access this resource: send "Authorization: Bearer <JWT>"');
  try {
    await jwtVerify(m[1]!, secret, { algorithms: ['HS256'] });
  } catch (e) {
    // libStorage: "exp": 0 means the token does not expire.
    if (e instanceof joseErrors.JWTExpired && e.payload.exp === 0) return;
    throw new PollyError('UNAUTHENTICATED', `The requestor is unauthorized to access this resource: ${e instanceof Error ? e.message : 'invalid token'}`);
  }
}
