/**
 * Typed client of the Polly admin REST API (/v1). Used by the CLI, the agent and the dashboard;
 * nothing else in those talks HTTP to the server.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, ConnectionError, networkCode } from './errors.js';
import { SseParser, type SseMessage } from './sse.js';
import type {
  AcceptOfferRequest,
  AdoptRequest,
  AttachRequest,
  Claim,
  Offer,
  OfferDecline,
  OfferStreamEvent,
  CreateSnapshotRequest,
  CreateVolumeRequest,
  EraseResult,
  HealthReport,
  LabelChange,
  Operation,
  Page,
  Paging,
  Pool,
  ServerVersion,
  Service,
  Snapshot,
  SnapshotFilter,
  Started,
  StoreEntry,
  UnmanagedVolume,
  Volume,
  VolumeFilter,
} from './types.js';

export { ApiError, ConnectionError } from './errors.js';

export const DEFAULT_TIMEOUT_MS = 30_000;

export interface PollyClientOptions {
  /** Base URL of the server, e.g. from resolveBaseUrl(). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <token>` when set. */
  token?: string;
  /** Per-request time limit; 0 means none. Default 30 s. */
  timeoutMs?: number;
  userAgent?: string;
  /** Called after every HTTP exchange (for debug logging). */
  onResponse?: (info: { method: string; url: string; status: number; ms: number }) => void;
}

export interface RequestOptions {
  /** Overrides the client's time limit for this request; 0 means none. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface WriteOptions extends RequestOptions {
  /** Sent as the `Idempotency-Key` header: a retry with the same key returns the first answer. */
  idempotencyKey?: string;
}

export interface WaitOptions {
  /** Delay between polls, default 200 ms. */
  intervalMs?: number;
  /** Called with every polled state, including the last one. */
  onProgress?: (operation: Operation) => void;
  signal?: AbortSignal;
}

type Query = Record<string, string | number | string[] | undefined>;

interface Call {
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
}

interface Answer {
  status: number;
  body: unknown;
}

export class PollyClient {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;
  readonly #userAgent: string;
  readonly #onResponse: PollyClientOptions['onResponse'];

  constructor(options: PollyClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#token = options.token === '' ? undefined : options.token;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#userAgent = options.userAgent ?? 'polly-client';
    this.#onResponse = options.onResponse;
  }

  // ── server ────────────────────────────────────────────────────────────────

  async version(opts?: RequestOptions): Promise<ServerVersion> {
    return (await this.#send('GET', '/v1/version', {}, opts)).body as ServerVersion;
  }

  /** GET /healthz; does not throw for a non-2xx status. */
  health(opts?: RequestOptions): Promise<HealthReport> {
    return this.#probe('/healthz', opts);
  }

  /** GET /readyz; does not throw for a non-2xx status (503 while not ready). */
  ready(opts?: RequestOptions): Promise<HealthReport> {
    return this.#probe('/readyz', opts);
  }

  // ── catalog ───────────────────────────────────────────────────────────────

  async listServices(opts?: RequestOptions): Promise<Service[]> {
    return items<Service>((await this.#send('GET', '/v1/services', {}, opts)).body);
  }

  async listPools(filter: { service?: string } = {}, opts?: RequestOptions): Promise<Pool[]> {
    return items<Pool>((await this.#send('GET', '/v1/pools', { query: { service: filter.service } }, opts)).body);
  }

  // ── volumes ───────────────────────────────────────────────────────────────

  /** One page of volumes; pass `next` back as `cursor` for the following page. */
  async listVolumes(filter: VolumeFilter & Paging = {}, opts?: RequestOptions): Promise<Page<Volume>> {
    const query: Query = {
      service: filter.service,
      name: filter.name,
      status: filter.status,
      scheduler: filter.scheduler,
      label: labelQuery(filter.labels),
      limit: filter.limit,
      cursor: filter.cursor,
    };
    return page<Volume>((await this.#send('GET', '/v1/volumes', { query }, opts)).body);
  }

  /** Every volume matching the filter, fetching page after page until the server sends no `next`. */
  allVolumes(filter: VolumeFilter & { limit?: number } = {}, opts?: RequestOptions): AsyncGenerator<Volume> {
    return this.#pages((cursor) => this.listVolumes({ ...filter, cursor }, opts));
  }

  async getVolume(id: string, opts?: RequestOptions): Promise<Volume> {
    return (await this.#send('GET', `/v1/volumes/${seg(id)}`, {}, opts)).body as Volume;
  }

  /** Creates a volume and waits for it (201, or 200 for an idempotent same-name retry). */
  async createVolume(req: CreateVolumeRequest, opts?: WriteOptions): Promise<Volume> {
    return (await this.#send('POST', '/v1/volumes', { body: req, headers: idem(opts) }, opts)).body as Volume;
  }

  /**
   * Creates a volume with `Prefer: respond-async`: a long copy (clone from a snapshot or a volume)
   * comes back as a running operation to follow with waitForOperation().
   */
  async startCreateVolume(req: CreateVolumeRequest, opts?: WriteOptions): Promise<Started<Volume>> {
    const headers = { ...idem(opts), Prefer: 'respond-async' };
    return started<Volume>(await this.#send('POST', '/v1/volumes', { body: req, headers }, opts));
  }

  /** Deletes a volume; answers the volume as it was. */
  async deleteVolume(id: string, opts?: RequestOptions): Promise<Volume> {
    return (await this.#send('DELETE', `/v1/volumes/${seg(id)}`, {}, opts)).body as Volume;
  }

  /** Sets and/or removes admin labels in one request. */
  async labelVolume(id: string, change: LabelChange, opts?: RequestOptions): Promise<Volume> {
    return (await this.#send('POST', `/v1/volumes/${seg(id)}/labels`, { body: change }, opts)).body as Volume;
  }

  async offerVolume(id: string, schedulers: string[], opts?: RequestOptions): Promise<Volume> {
    return (await this.#send('POST', `/v1/volumes/${seg(id)}/offer`, { body: { schedulers } }, opts)).body as Volume;
  }

  async revokeVolume(id: string, schedulers: string[], opts?: RequestOptions): Promise<Volume> {
    return (await this.#send('POST', `/v1/volumes/${seg(id)}/revoke`, { body: { schedulers } }, opts)).body as Volume;
  }

  /** Records an attachment; with `claim`, consumes the caller's volume claim on it. */
  async attachVolume(id: string, req: AttachRequest, opts?: RequestOptions): Promise<Volume> {
    return (await this.#send('POST', `/v1/volumes/${seg(id)}/attachments`, { body: req }, opts)).body as Volume;
  }

  // ── offers and claims ─────────────────────────────────────────────────────

  /** The caller's offers (admins: `scheduler` names whose offers to list). */
  async listOffers(filter: { scheduler?: string } = {}, opts?: RequestOptions): Promise<Offer[]> {
    return items<Offer>((await this.#send('GET', '/v1/offers', { query: { scheduler: filter.scheduler } }, opts)).body);
  }

  /** Accepts an offer: a claim reserving the volume or `size` bytes of the pool for `ttl` seconds. */
  async acceptOffer(id: string, req: AcceptOfferRequest = {}, opts?: RequestOptions): Promise<Claim> {
    return (await this.#send('POST', `/v1/offers/${seg(id)}/accept`, { body: req }, opts)).body as Claim;
  }

  /** Declines an offer: not offered again to the caller for `refuseSeconds`. */
  async declineOffer(id: string, req: { refuseSeconds?: number } = {}, opts?: RequestOptions): Promise<OfferDecline> {
    return (await this.#send('POST', `/v1/offers/${seg(id)}/decline`, { body: req }, opts)).body as OfferDecline;
  }

  async listClaims(filter: { scheduler?: string } = {}, opts?: RequestOptions): Promise<Claim[]> {
    return items<Claim>((await this.#send('GET', '/v1/claims', { query: { scheduler: filter.scheduler } }, opts)).body);
  }

  /** Releases a claim before it expires; answers the released claim. */
  async releaseClaim(id: string, opts?: RequestOptions): Promise<Claim> {
    return (await this.#send('DELETE', `/v1/claims/${seg(id)}`, {}, opts)).body as Claim;
  }

  /**
   * Follows GET /v1/offers/watch: a `snapshot` first (or, with `lastEventId`, the events missed
   * since), then every change. Runs until the server ends the stream or `signal` aborts it; no
   * time limit applies.
   */
  async *watchOffers(options: { scheduler?: string; lastEventId?: string; signal?: AbortSignal } = {}): AsyncGenerator<OfferStreamEvent> {
    const path = '/v1/offers/watch';
    const url = this.baseUrl + path + queryString({ scheduler: options.scheduler });
    const headers: Record<string, string> = { accept: 'text/event-stream', 'user-agent': this.#userAgent };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
    let res: Response;
    try {
      res = await fetch(url, { headers, ...(options.signal ? { signal: options.signal } : {}) });
    } catch (e) {
      if (options.signal?.aborted) throw e;
      const code = networkCode(e);
      throw new ConnectionError(this.baseUrl, code, `cannot reach Polly at ${this.baseUrl}: ${code}`, { cause: e });
    }
    this.#onResponse?.({ method: 'GET', url, status: res.status, ms: 0 });
    if (!res.ok || !res.body) {
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      throw toApiError(res.status, res.statusText, parsed, parsed === undefined ? text : undefined);
    }
    const decoder = new TextDecoder();
    const parser = new SseParser();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        for (const m of parser.push(decoder.decode(chunk, { stream: true }))) {
          const event = offerEvent(m);
          if (event) yield event;
        }
      }
    } catch (e) {
      if (options.signal?.aborted) return;
      throw e;
    }
  }

  // ── snapshots ─────────────────────────────────────────────────────────────

  async createSnapshot(volumeId: string, req: CreateSnapshotRequest, opts?: WriteOptions): Promise<Snapshot> {
    const path = `/v1/volumes/${seg(volumeId)}/snapshots`;
    return (await this.#send('POST', path, { body: req, headers: idem(opts) }, opts)).body as Snapshot;
  }

  /** Like createSnapshot, with `Prefer: respond-async` (see startCreateVolume). */
  async startCreateSnapshot(volumeId: string, req: CreateSnapshotRequest, opts?: WriteOptions): Promise<Started<Snapshot>> {
    const path = `/v1/volumes/${seg(volumeId)}/snapshots`;
    const headers = { ...idem(opts), Prefer: 'respond-async' };
    return started<Snapshot>(await this.#send('POST', path, { body: req, headers }, opts));
  }

  async listSnapshots(filter: SnapshotFilter & Paging = {}, opts?: RequestOptions): Promise<Page<Snapshot>> {
    const query: Query = { service: filter.service, volume: filter.volume, limit: filter.limit, cursor: filter.cursor };
    return page<Snapshot>((await this.#send('GET', '/v1/snapshots', { query }, opts)).body);
  }

  allSnapshots(filter: SnapshotFilter & { limit?: number } = {}, opts?: RequestOptions): AsyncGenerator<Snapshot> {
    return this.#pages((cursor) => this.listSnapshots({ ...filter, cursor }, opts));
  }

  async getSnapshot(id: string, opts?: RequestOptions): Promise<Snapshot> {
    return (await this.#send('GET', `/v1/snapshots/${seg(id)}`, {}, opts)).body as Snapshot;
  }

  async deleteSnapshot(id: string, opts?: RequestOptions): Promise<Snapshot> {
    return (await this.#send('DELETE', `/v1/snapshots/${seg(id)}`, {}, opts)).body as Snapshot;
  }

  // ── operations ────────────────────────────────────────────────────────────

  async getOperation<T = unknown>(id: string, opts?: RequestOptions): Promise<Operation<T>> {
    const body = (await this.#send('GET', `/v1/operations/${seg(id)}`, {}, opts)).body;
    return unwrapOperation<T>(body);
  }

  /**
   * Polls an operation until it is no longer running. Resolves with its result when it
   * succeeded; throws an ApiError (status 0) carrying the operation's error when it failed.
   */
  async waitForOperation<T = unknown>(id: string, options: WaitOptions = {}): Promise<T> {
    const intervalMs = options.intervalMs ?? 200;
    for (;;) {
      const op = await this.getOperation<T>(id, { signal: options.signal });
      options.onProgress?.(op as Operation);
      if (op.status === 'succeeded') return op.result as T;
      if (op.status === 'failed') {
        const err = op.error ?? { code: 'INTERNAL', message: `operation ${id} failed` };
        throw new ApiError(0, err.code, err.message, { ...(err.details ?? {}), operation: id });
      }
      await sleep(intervalMs, undefined, { signal: options.signal });
    }
  }

  // ── unmanaged backend volumes ─────────────────────────────────────────────

  async listUnmanaged(filter: { service?: string } = {}, opts?: RequestOptions): Promise<UnmanagedVolume[]> {
    return items<UnmanagedVolume>((await this.#send('GET', '/v1/unmanaged', { query: { service: filter.service } }, opts)).body);
  }

  /** Takes a backend volume under management; answers the new Volume. */
  async adoptVolume(req: AdoptRequest, opts?: WriteOptions): Promise<Volume> {
    return (await this.#send('POST', '/v1/unmanaged/adopt', { body: req, headers: idem(opts) }, opts)).body as Volume;
  }

  // ── store (admin) ─────────────────────────────────────────────────────────

  async listStore(filter: { prefix?: string } & Paging = {}, opts?: RequestOptions): Promise<Page<StoreEntry>> {
    const query: Query = { prefix: filter.prefix, limit: filter.limit, cursor: filter.cursor };
    return page<StoreEntry>((await this.#send('GET', '/v1/store', { query }, opts)).body);
  }

  allStore(filter: { prefix?: string; limit?: number } = {}, opts?: RequestOptions): AsyncGenerator<StoreEntry> {
    return this.#pages((cursor) => this.listStore({ ...filter, cursor }, opts));
  }

  /** Erases every record of the store. Destructive; the server requires `{confirm: true}`. */
  async eraseStore(opts?: RequestOptions): Promise<EraseResult> {
    return (await this.#send('POST', '/v1/store/erase', { body: { confirm: true } }, opts)).body as EraseResult;
  }

  // ── plumbing ──────────────────────────────────────────────────────────────

  async *#pages<T>(fetchPage: (cursor: string | undefined) => Promise<Page<T>>): AsyncGenerator<T> {
    let cursor: string | undefined;
    for (;;) {
      const p = await fetchPage(cursor);
      yield* p.items;
      if (p.next === undefined || p.next === null || p.next === '') return;
      if (p.next === cursor) throw new ApiError(200, 'BAD_RESPONSE', `server returned the same page cursor twice (${cursor})`);
      cursor = p.next;
    }
  }

  async #probe(path: string, opts?: RequestOptions): Promise<HealthReport> {
    try {
      const a = await this.#send('GET', path, {}, opts);
      return { ok: true, status: a.status, body: a.body };
    } catch (e) {
      if (e instanceof ApiError && e.status !== 0) return { ok: false, status: e.status, body: { error: { code: e.code, message: e.message, details: e.details } } };
      throw e;
    }
  }

  async #send(method: string, path: string, call: Call, opts: RequestOptions = {}): Promise<Answer> {
    const url = this.baseUrl + path + queryString(call.query);
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': this.#userAgent, ...call.headers };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    let body: string | undefined;
    if (call.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(call.body);
    }
    const timeoutMs = opts.timeoutMs ?? this.#timeoutMs;
    const timeout = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined;
    const signals = [timeout, opts.signal].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals);

    const t0 = Date.now();
    let status: number;
    let text: string;
    let statusText: string;
    try {
      const res = await fetch(url, { method, headers, body, signal });
      status = res.status;
      statusText = res.statusText;
      text = await res.text();
    } catch (e) {
      if (timeout?.aborted && !opts.signal?.aborted) {
        throw new ConnectionError(this.baseUrl, 'TIMEOUT', `no answer from Polly at ${this.baseUrl} within ${timeoutMs} ms (${method} ${path})`, { cause: e });
      }
      if (opts.signal?.aborted) throw e;
      const code = networkCode(e);
      throw new ConnectionError(this.baseUrl, code, `cannot reach Polly at ${this.baseUrl}: ${code}`, { cause: e });
    }
    this.#onResponse?.({ method, url, status, ms: Date.now() - t0 });

    let parsed: unknown;
    let isJson = true;
    if (text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        isJson = false;
      }
    }
    if (status >= 200 && status < 300) {
      if (!isJson) throw new ApiError(status, 'BAD_RESPONSE', `Polly at ${this.baseUrl} sent a response that is not JSON (${method} ${path})`);
      return { status, body: parsed };
    }
    throw toApiError(status, statusText, parsed, isJson ? undefined : text);
  }
}

function toApiError(status: number, statusText: string, body: unknown, rawText: string | undefined): ApiError {
  const err = (body as { error?: unknown } | undefined)?.error;
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; message?: unknown; details?: unknown };
    const code = typeof e.code === 'string' ? e.code : `HTTP_${status}`;
    const message = typeof e.message === 'string' ? e.message : `${status} ${statusText}`.trim();
    const details = e.details && typeof e.details === 'object' ? (e.details as Record<string, unknown>) : {};
    return new ApiError(status, code, message, details);
  }
  const snippet = (rawText ?? '').replace(/\s+/g, ' ').trim().slice(0, 200);
  const message = `${status} ${statusText}`.trim() + (snippet ? `: ${snippet}` : '');
  return new ApiError(status, `HTTP_${status}`, message);
}

function queryString(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === '') continue;
    if (Array.isArray(value)) for (const v of value) params.append(key, v);
    else params.append(key, String(value));
  }
  const s = params.toString();
  return s === '' ? '' : `?${s}`;
}

function labelQuery(labels: Record<string, string> | undefined): string[] | undefined {
  if (!labels) return undefined;
  const list = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  return list.length === 0 ? undefined : list;
}

const seg = (id: string): string => encodeURIComponent(id);

function idem(opts: WriteOptions | undefined): Record<string, string> {
  return opts?.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {};
}

function items<T>(body: unknown): T[] {
  const list = (body as { items?: unknown } | undefined)?.items;
  if (!Array.isArray(list)) throw new ApiError(200, 'BAD_RESPONSE', 'server response has no "items" list');
  return list as T[];
}

function page<T>(body: unknown): Page<T> {
  const next = (body as { next?: unknown }).next;
  return { items: items<T>(body), ...(typeof next === 'string' && next !== '' ? { next } : {}) };
}

function offerEvent(m: SseMessage): OfferStreamEvent | undefined {
  if (m.id === undefined) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(m.data);
  } catch {
    throw new ApiError(200, 'BAD_RESPONSE', `offer stream event ${m.id} does not carry JSON`);
  }
  const d = data as { offers?: Offer[]; id?: string };
  switch (m.event) {
    case 'snapshot':
      return { id: m.id, type: 'snapshot', offers: d.offers ?? [] };
    case 'added':
    case 'changed':
      return { id: m.id, type: m.event, offer: data as Offer };
    case 'rescinded':
      return { id: m.id, type: 'rescinded', offerId: String(d.id) };
    default:
      return undefined; // event types this client does not know yet
  }
}

function unwrapOperation<T>(body: unknown): Operation<T> {
  const op = (body as { operation?: unknown } | undefined)?.operation ?? body;
  if (!op || typeof op !== 'object' || typeof (op as { id?: unknown }).id !== 'string') {
    throw new ApiError(200, 'BAD_RESPONSE', 'server response is not an operation');
  }
  return op as Operation<T>;
}

function started<T>(a: Answer): Started<T> {
  if (a.status === 202) return { done: false, operation: unwrapOperation<T>(a.body) };
  return { done: true, value: a.body as T };
}
