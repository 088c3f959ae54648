/**
 * Bad input on every route (DESIGN.md §6, issue 2 item 10), against a real server over a real
 * socket: malformed JSON, wrong types, missing and unknown fields, a body over the limit, and
 * `../`, `a/b`, control characters and 300-character values in names, ids, labels, path and
 * query parameters. Every answer must be a 4xx with the one error envelope (naming the field
 * where there is one) — never a 5xx, never a hang — and afterwards the store and the pool
 * directory must be exactly as they were.
 *
 * The route table below is checked against /v1/openapi.json, so a new route without a row here
 * fails the suite.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MiB, assertEnvelope, poolDir, rawRequest, storeDump, treeOf } from './support/polly-fixtures.js';
import { api, cleanup, startPollyServer, type ApiResponse, type RunningServer } from './support/server-process.js';

const LONG = { timeout: 120_000 };
const REQUEST_TIMEOUT_MS = 10_000;

after(cleanup);

// ---------------------------------------------------------------------------------------------
// what is sent

type BodyKind =
  | 'name' // a Polly name: [A-Za-z0-9][A-Za-z0-9._-]*, at most 128
  | 'id' // an id looked up, never joined into a path (2016 volumeID): 400 or 404
  | 'text' // free text with a length limit (networkName)
  | 'size' // bytes or a string with a unit
  | 'gib' // 2016 size: an integer number of GiB
  | 'int'
  | 'bool'
  | 'accessMode'
  | 'names' // a list of names
  | 'labels' // a map of label key → value
  | 'labelKeys' // a list of label keys
  | 'params' // a map of string → string
  | 'object' // a map of anything (fields)
  | 'source'
  | 'confirm'
  | 'seconds'; // a positive number of seconds with an upper bound

type QueryKind = 'name' | 'status' | 'limit' | 'cursor' | 'labelQuery' | 'prefix';

interface BodyField {
  readonly name: string;
  readonly kind: BodyKind;
  readonly required?: boolean;
  /** Other words an error message may use for this field (the core's name for it). */
  readonly aliases?: readonly string[];
  /** 2016 routes: an empty string means "not set" (Go clients send zero values). */
  readonly emptyMeansUnset?: boolean;
  /** Fields to leave out of the valid body while this one is tried (it is read only without them). */
  readonly without?: readonly string[];
}

interface Ctx {
  volumeId: string;
  snapshotId: string;
}

interface RouteSpec {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** As in the OpenAPI document: /v1/volumes/{id}. */
  readonly path: string;
  /** A valid value for each path parameter. */
  readonly params?: Readonly<Record<string, (ctx: Ctx) => string>>;
  /** Whether the route validates its query string (unknown parameters are refused). */
  readonly query?: Readonly<Record<string, QueryKind>>;
  readonly body?: { readonly valid: (ctx: Ctx) => Record<string, unknown>; readonly fields: readonly BodyField[] };
}

let serial = 0;
/** A new valid name for every request, so that one wrongly accepted request cannot mask the next. */
const fresh = (prefix: string): string => `${prefix}-${++serial}`;

const volumeParam = { id: (c: Ctx) => c.volumeId };
const snapshotParam = { id: (c: Ctx) => c.snapshotId };
/** The capacity offer of the default pool (its id is the pool's, encoded). */
const offerParam = { id: () => `ofr-${Buffer.from('c:default/local').toString('base64url')}` };
const claimParam = { id: () => 'clm-01jd0000000000000000000000' };
const schedulersBody = { valid: () => ({ schedulers: ['k8s'] }), fields: [{ name: 'schedulers', kind: 'names', required: true }] } as const;

const ROUTES: readonly RouteSpec[] = [
  { method: 'GET', path: '/v1/version' },
  {
    method: 'GET', path: '/v1/volumes',
    query: { service: 'name', name: 'name', status: 'status', scheduler: 'name', label: 'labelQuery', limit: 'limit', cursor: 'cursor' },
  },
  {
    method: 'POST', path: '/v1/volumes',
    body: {
      valid: () => ({ service: 'default', name: fresh('fresh-volume'), size: '1Mi' }),
      fields: [
        { name: 'service', kind: 'name', required: true }, { name: 'name', kind: 'name', required: true },
        { name: 'size', kind: 'size' }, { name: 'type', kind: 'name' }, { name: 'iops', kind: 'int' },
        { name: 'zone', kind: 'name' }, { name: 'zones', kind: 'names' }, { name: 'nodes', kind: 'names' },
        { name: 'networkName', kind: 'text' }, { name: 'labels', kind: 'labels' }, { name: 'poolLabels', kind: 'labels' },
        { name: 'parameters', kind: 'params' }, { name: 'fields', kind: 'object' }, { name: 'schedulers', kind: 'names' },
        { name: 'source', kind: 'source' }, { name: 'claim', kind: 'id' },
      ],
    },
  },
  { method: 'GET', path: '/v1/volumes/{id}', params: volumeParam },
  { method: 'DELETE', path: '/v1/volumes/{id}', params: volumeParam },
  {
    method: 'POST', path: '/v1/volumes/{id}/labels', params: volumeParam,
    body: { valid: () => ({ set: { tier: 'gold' } }), fields: [{ name: 'set', kind: 'labels' }, { name: 'remove', kind: 'labelKeys' }] },
  },
  { method: 'POST', path: '/v1/volumes/{id}/offer', params: volumeParam, body: schedulersBody },
  { method: 'POST', path: '/v1/volumes/{id}/revoke', params: volumeParam, body: schedulersBody },
  {
    method: 'POST', path: '/v1/volumes/{id}/attachments', params: volumeParam,
    body: {
      valid: () => ({ nodeId: 'node-1' }),
      fields: [
        { name: 'nodeId', kind: 'name', required: true }, { name: 'accessMode', kind: 'accessMode' }, { name: 'readOnly', kind: 'bool' },
        { name: 'claim', kind: 'id' },
      ],
    },
  },
  { method: 'DELETE', path: '/v1/volumes/{id}/attachments/{nodeId}', params: { ...volumeParam, nodeId: () => 'node-1' } },
  {
    method: 'POST', path: '/v1/volumes/{id}/snapshots', params: volumeParam,
    body: { valid: () => ({ name: fresh('fresh-snapshot') }), fields: [{ name: 'name', kind: 'name', required: true }, { name: 'labels', kind: 'labels' }] },
  },
  { method: 'GET', path: '/v1/snapshots', query: { service: 'name', volume: 'name', limit: 'limit', cursor: 'cursor' } },
  { method: 'GET', path: '/v1/snapshots/{id}', params: snapshotParam },
  { method: 'DELETE', path: '/v1/snapshots/{id}', params: snapshotParam },
  { method: 'GET', path: '/v1/operations/{id}', params: { id: () => 'op-none' } },
  { method: 'GET', path: '/v1/services' },
  { method: 'GET', path: '/v1/services/{name}', params: { name: () => 'default' } },
  { method: 'GET', path: '/v1/pools', query: { service: 'name' } },
  { method: 'GET', path: '/v1/unmanaged', query: { service: 'name' } },
  {
    method: 'POST', path: '/v1/unmanaged/adopt',
    body: {
      valid: () => ({ service: 'default', pool: 'local', backendId: 'no-such-dir', name: fresh('adopted') }),
      fields: [
        { name: 'service', kind: 'name', required: true }, { name: 'pool', kind: 'name', required: true },
        { name: 'backendId', kind: 'name', required: true }, { name: 'name', kind: 'name', required: true }, { name: 'labels', kind: 'labels' },
      ],
    },
  },
  { method: 'GET', path: '/v1/offers', query: { scheduler: 'name' } },
  { method: 'GET', path: '/v1/offers/watch', query: { scheduler: 'name' } },
  {
    method: 'POST', path: '/v1/offers/{id}/accept', params: offerParam,
    body: { valid: () => ({ size: '1Mi', ttl: 60 }), fields: [{ name: 'size', kind: 'size' }, { name: 'ttl', kind: 'seconds' }] },
  },
  {
    method: 'POST', path: '/v1/offers/{id}/decline', params: offerParam,
    body: { valid: () => ({ refuseSeconds: 5 }), fields: [{ name: 'refuseSeconds', kind: 'seconds' }] },
  },
  { method: 'GET', path: '/v1/claims', query: { scheduler: 'name' } },
  { method: 'GET', path: '/v1/claims/{id}', params: claimParam },
  { method: 'DELETE', path: '/v1/claims/{id}', params: claimParam },
  { method: 'GET', path: '/v1/store', query: { prefix: 'prefix', limit: 'limit', cursor: 'cursor' } },
  { method: 'GET', path: '/v1/reconcile' },
  // the 2016 routes
  { method: 'GET', path: '/admin/version' },
  { method: 'GET', path: '/admin/volumes' },
  { method: 'GET', path: '/admin/volumesall' },
  {
    method: 'POST', path: '/admin/volumes',
    body: {
      valid: () => ({ service: 'default', name: fresh('fresh-legacy'), size: 1 }),
      fields: [
        { name: 'service', kind: 'name', required: true }, { name: 'name', kind: 'name', required: true },
        { name: 'volumeType', kind: 'name', aliases: ['type'], emptyMeansUnset: true }, { name: 'size', kind: 'gib' }, { name: 'iops', kind: 'int' },
        { name: 'availabilityZone', kind: 'name', aliases: ['zone'], emptyMeansUnset: true }, { name: 'networkName', kind: 'text' },
        { name: 'schedulers', kind: 'names' }, { name: 'labels', kind: 'labels' }, { name: 'fields', kind: 'object' },
      ],
    },
  },
  { method: 'GET', path: '/admin/volumes/{volumeID}', params: { volumeID: (c) => c.volumeId } },
  { method: 'DELETE', path: '/admin/volumes/{volumeID}', params: { volumeID: (c) => c.volumeId } },
  ...(['/admin/volumeoffer', '/admin/volumeofferrevoke'] as const).map((path): RouteSpec => ({
    method: 'POST', path,
    body: { valid: (c) => ({ volumeID: c.volumeId, schedulers: ['k8s'] }), fields: [{ name: 'volumeID', kind: 'id', required: true }, { name: 'schedulers', kind: 'names', required: true }] },
  })),
  {
    method: 'POST', path: '/admin/volumelabel',
    body: { valid: (c) => ({ volumeID: c.volumeId, labels: { tier: 'gold' } }), fields: [{ name: 'volumeID', kind: 'id', required: true }, { name: 'labels', kind: 'labels', required: true }] },
  },
  ...(['/admin/volumelabelsremove', '/admin/volumelabelremove'] as const).map((path): RouteSpec => ({
    method: 'POST', path,
    body: {
      valid: (c) => ({ volumeID: c.volumeId, labels: ['tier'] }),
      // The blueprint sends the keys in `schedulers`; `labels` wins when both are there.
      fields: [{ name: 'volumeID', kind: 'id', required: true }, { name: 'labels', kind: 'labelKeys' }, { name: 'schedulers', kind: 'labelKeys', without: ['labels'] }],
    },
  })),
];

/** Tried last, on its own: its valid body erases the store, so only broken bodies are ever sent. */
const ERASE_ROUTE: RouteSpec = {
  method: 'POST', path: '/v1/store/erase', body: { valid: () => ({ confirm: true }), fields: [{ name: 'confirm', kind: 'confirm', required: true }] },
};

const LONG_NAME = 'x'.repeat(300);
/** Values no name may take: traversal, separators, control characters, too long, empty. */
const BAD_NAMES: readonly string[] = ['../x', '..', 'a/b', '/abs', 'a\u0000b', 'a\nb', '\u0007bell', LONG_NAME, ''];

/** Bad values for a body field of each kind (every one must be refused). */
function badValues(kind: BodyKind): readonly unknown[] {
  switch (kind) {
    case 'name':
      return [...BAD_NAMES, 123, true, {}, ['a', 'b'], ['solo']];
    case 'id':
      return ['../x', 'a/b', 'a\u0000', 'a\nb', LONG_NAME, '', 123, {}, true, ['solo']];
    case 'text':
      return ['a\u0000b', 'a\nb', LONG_NAME, 123, {}, ['solo']];
    case 'size':
      return ['abc', '-1', 0, -5, 1.5, '10Qi', '1e30', '../1', LONG_NAME, '', true, {}, [], ['1Mi']];
    case 'gib':
      return ['abc', 0, -1, 1.5, '1Gi', '2', true, {}, [2]];
    case 'int':
      return ['abc', -1, 1.5, '7', true, {}, [1]];
    case 'bool':
      return ['maybe', 'true', 5, {}, [true]];
    case 'accessMode':
      return ['xyz', '../x', 'a\u0000', 5, {}];
    case 'names':
      return [...BAD_NAMES.map((n) => [n]), {}, 5, 'k8s', [5], Array.from({ length: 1000 }, (_, i) => `n${i}`)];
    case 'labels':
      return [
        { '../': 'x' }, { 'a\u0000': 'x' }, { 'a\nb': 'x' }, { [LONG_NAME]: 'x' }, { '': 'x' },
        { k: 'v\u0000' }, { k: 'v\nx' }, { k: 'v'.repeat(300) },
        { k: 5 }, { k: {} }, { k: null }, [], 'k=v', 5,
      ];
    case 'labelKeys':
      return [['a\u0000'], ['a\nb'], [LONG_NAME], ['../'], [''], {}, 5, [5]];
    case 'params':
      return [{ [LONG_NAME]: 'v' }, { k: 'v'.repeat(300) }, { k: 5 }, [], 'x', 5];
    case 'object':
      return [{ [LONG_NAME]: 'v' }, [], 'x', 5];
    case 'source':
      return [{ snapshot: '../x' }, { volume: 'a/b' }, { snapshot: 'a\u0000' }, { snapshot: LONG_NAME }, { bogus: 'x' }, {}, { snapshot: 'a', volume: 'b' }, 'x', 5];
    case 'confirm':
      return ['true', 'yes', 1, 'on', false, null, 0, [true]];
    case 'seconds':
      return ['abc', '60', -1, 0, 1e12, true, {}, [60], null];
  }
}

/** Bad values for a query parameter of each kind (raw strings; URLSearchParams encodes them). */
function badQueryValues(kind: QueryKind): readonly string[] {
  switch (kind) {
    case 'name':
      return BAD_NAMES;
    case 'status':
      return ['bogus', '../x', 'a\u0000', LONG_NAME, ''];
    case 'limit':
      return ['abc', '-1', '0', '1.5', '99999999', 'a\u0000', LONG_NAME];
    case 'cursor':
      return ['../x', 'a/b', 'a\u0000', 'a\nb', LONG_NAME, 'x'.repeat(2000)];
    case 'labelQuery':
      return ['a\u0000=b', 'a=b\u0000', 'a\nb=c', `${LONG_NAME}=v`, `k=${'v'.repeat(300)}`, '../=x', 'noequals', '=v', '\u0000'];
    case 'prefix':
      return ['a\u0000', 'a\nb', 'x'.repeat(600)];
  }
}

/** Path parameter values, already percent-encoded as they go on the wire. */
const BAD_PATH_VALUES: readonly string[] = ['..%2F..%2Fetc%2Fpasswd', 'a%2Fb', '%00', 'a%0Ab', '%07', LONG_NAME, 'a%20b%3B%27'];

// ---------------------------------------------------------------------------------------------
// how answers are judged

interface Case {
  readonly what: string;
  readonly send: () => Promise<ApiResponse | { status: number; text: string; body: any }>;
  /** Statuses accepted. */
  readonly statuses: readonly number[];
  /** Words of which the message must contain one (the field's name). */
  readonly names?: readonly string[];
}

function judge(c: Case, res: { status: number; text: string; body: any }): string | undefined {
  const where = `${c.what} → ${res.status} ${res.text.slice(0, 240)}`;
  if (res.status >= 500 && res.status !== 507) return `5xx: ${where}`;
  if (!c.statuses.includes(res.status)) return `expected ${c.statuses.join('/')}: ${where}`;
  if (res.status < 400) return undefined;
  try {
    const err = assertEnvelope(res as ApiResponse, c.what);
    if (c.names && !c.names.some((n) => err.message.includes(n))) return `message does not name ${c.names.join(' or ')}: ${where}`;
  } catch (e) {
    return `no error envelope: ${where}`;
  }
  return undefined;
}

const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 40)}…(${s.length} chars)` : s;
};

function fillPath(route: RouteSpec, ctx: Ctx, override?: { param: string; raw: string }): string {
  return route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    if (override && override.param === name) return override.raw;
    const valid = route.params?.[name];
    if (!valid) throw new Error(`no value for {${name}} in ${route.path}`);
    return encodeURIComponent(valid(ctx));
  });
}

function casesOf(server: RunningServer, route: RouteSpec, ctx: Ctx): Case[] {
  const cases: Case[] = [];
  const label = `${route.method} ${route.path}`;
  const call = (path: string, body?: unknown, headers?: Record<string, string>) => () =>
    api(server, route.method, path, body, headers, REQUEST_TIMEOUT_MS);

  // path parameters
  for (const param of Object.keys(route.params ?? {})) {
    for (const raw of BAD_PATH_VALUES) {
      const path = fillPath(route, ctx, { param, raw });
      cases.push({ what: `${label} with {${param}}=${raw.slice(0, 40)}`, send: () => call(path, route.body?.valid(ctx))(), statuses: [400, 404, 414] });
    }
  }

  const basePath = fillPath(route, ctx);

  // query parameters
  if (route.query) {
    for (const [name, kind] of Object.entries(route.query)) {
      for (const value of badQueryValues(kind)) {
        const qs = new URLSearchParams({ [name]: value }).toString();
        cases.push({ what: `${label}?${name}=${show(value)}`, send: call(`${basePath}?${qs}`), statuses: [400], names: [name] });
      }
      cases.push({ what: `${label}?${name} twice`, send: call(`${basePath}?${name}=a&${name}=b`), statuses: [400], names: [name] });
    }
    cases.push({ what: `${label}?bogusParam=1`, send: call(`${basePath}?bogusParam=1`), statuses: [400], names: ['bogusParam'] });
  } else if (route.method === 'GET') {
    // Routes without a query schema ignore the query string, but junk in it must not hurt them.
    cases.push({ what: `${label}?junk`, send: call(`${basePath}?a=%00&b=${'x'.repeat(300)}&%0A=1`), statuses: route.params ? [200, 400, 404] : [200, 400] });
  }

  // bodies
  if (route.body) {
    const valid = () => route.body!.valid(ctx);
    for (const f of route.body.fields) {
      const base = () => {
        const b = valid();
        for (const k of f.without ?? []) delete b[k];
        return b;
      };
      for (const value of badValues(f.kind)) {
        if (value === '' && f.emptyMeansUnset) continue;
        cases.push({
          what: `${label} body.${f.name}=${show(value)}`,
          send: () => call(basePath, { ...base(), [f.name]: value })(),
          statuses: f.kind === 'id' ? [400, 404] : [400],
          ...(f.kind === 'id' ? {} : { names: [f.name, ...(f.aliases ?? []), ...(f.kind === 'labels' || f.kind === 'labelKeys' ? ['label'] : [])] }),
        });
      }
      if (f.required) {
        cases.push({
          what: `${label} without body.${f.name}`,
          send: () => {
            const { [f.name]: _omitted, ...rest } = valid();
            return call(basePath, rest)();
          },
          statuses: [400], names: [f.name],
        });
      }
    }
    cases.push({ what: `${label} with an unknown field`, send: () => call(basePath, { ...valid(), bogusField: 1 })(), statuses: [400], names: ['bogusField'] });
    cases.push({ what: `${label} with null for every field`, send: call(basePath, Object.fromEntries(Object.keys(valid()).map((k) => [k, null]))), statuses: [400] });
    for (const raw of ['{"name":', '{', '{"a":1}}', '[1,2]', '"text"', 'null', '42', '', '{"a":"\u0000', '\u0000']) {
      cases.push({ what: `${label} with body ${show(raw)}`, send: call(basePath, raw), statuses: [400] });
    }
    cases.push({ what: `${label} as text/plain`, send: () => call(basePath, JSON.stringify(valid()), { 'content-type': 'text/plain' })(), statuses: [400, 415] });
    cases.push({ what: `${label} as application/x-www-form-urlencoded`, send: call(basePath, 'a=b', { 'content-type': 'application/x-www-form-urlencoded' }), statuses: [400, 415] });
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    cases.push({ what: `${label} with 5000 nested arrays`, send: call(basePath, deep), statuses: [400] });
    // 2 MiB: over the 1 MiB limit, whatever it holds
    const huge = JSON.stringify({ ...valid(), name: 'x'.repeat(2 * MiB) });
    cases.push({ what: `${label} with a 2 MiB body`, send: () => rawRequest(`${server.url}${basePath}`, route.method, huge, {}, REQUEST_TIMEOUT_MS), statuses: [413] });
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------

describe('bad input on every route', LONG, () => {
  let server: RunningServer;
  const ctx: Ctx = { volumeId: '', snapshotId: '' };
  let storeBefore: Map<string, unknown>;
  let treeBefore: string[];

  before(async () => {
    server = await startPollyServer();
    const v = await api(server, 'POST', '/v1/volumes', { service: 'default', name: 'target', size: '1Mi', labels: { tier: 'gold' } });
    assert.equal(v.status, 201, v.text);
    ctx.volumeId = v.body.id;
    const s = await api(server, 'POST', `/v1/volumes/${ctx.volumeId}/snapshots`, { name: 'snap' });
    assert.equal(s.status, 201, s.text);
    ctx.snapshotId = s.body.id;
    storeBefore = await storeDump(server);
    treeBefore = treeOf(poolDir(server, 'default', 'local'));
  });
  after(async () => server?.stop());

  it('the route table covers every route of /v1/openapi.json', async () => {
    const res = await api(server, 'GET', '/v1/openapi.json');
    assert.equal(res.status, 200);
    const documented = Object.entries(res.body.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    const covered = [...ROUTES, ERASE_ROUTE].map((r) => `${r.method} ${r.path}`).sort();
    assert.deepEqual(covered, documented);
    for (const legacy of ['GET /admin/version', 'POST /admin/volumes', 'POST /admin/volumelabelremove']) assert.ok(documented.includes(legacy));
  });

  async function tryRoute(route: RouteSpec): Promise<void> {
    const failures: string[] = [];
    for (const c of casesOf(server, route, ctx)) {
      let res;
      try {
        res = await c.send();
      } catch (e) {
        failures.push(`no answer (${(e as Error).message}): ${c.what}`);
        continue;
      }
      const problem = judge(c, res);
      if (problem) failures.push(problem);
    }
    assert.deepEqual(failures, [], `${failures.length} bad answer(s):\n${failures.join('\n')}`);
  }

  /** What changed in the store and in the pool directory since `before`. */
  async function leftovers(): Promise<Record<string, string[]>> {
    const storeAfter = await storeDump(server);
    const treeAfter = treeOf(poolDir(server, 'default', 'local'));
    const some = (list: string[]) => (list.length <= 12 ? list : [...list.slice(0, 12), `… ${list.length - 12} more`]);
    return {
      storeAdded: some([...storeAfter.keys()].filter((k) => !storeBefore.has(k))),
      storeRemoved: some([...storeBefore.keys()].filter((k) => !storeAfter.has(k))),
      storeChanged: some([...storeAfter.keys()].filter((k) => storeBefore.has(k) && JSON.stringify(storeBefore.get(k)) !== JSON.stringify(storeAfter.get(k)))),
      poolAdded: some(treeAfter.filter((p) => !treeBefore.includes(p))),
      poolRemoved: some(treeBefore.filter((p) => !treeAfter.includes(p))),
    };
  }
  const NOTHING = { storeAdded: [], storeRemoved: [], storeChanged: [], poolAdded: [], poolRemoved: [] };

  for (const route of ROUTES) {
    it(`${route.method} ${route.path}`, LONG, async () => tryRoute(route));
  }

  it('the server is still healthy and the target volume untouched', async () => {
    assert.equal((await api(server, 'GET', '/healthz')).status, 200);
    assert.equal((await api(server, 'GET', '/readyz')).status, 200);
    const v = await api(server, 'GET', `/v1/volumes/${ctx.volumeId}`);
    assert.equal(v.status, 200, v.text);
    assert.equal(v.body.status, 'available');
    assert.deepEqual(v.body.labels, { tier: 'gold' });
    assert.deepEqual(v.body.schedulers, []);
    assert.deepEqual(v.body.attachments, []);
  });

  it('nothing was left behind: the store and the pool directory are exactly as before', async () => {
    assert.deepEqual(await leftovers(), NOTHING);
  });

  it(`${ERASE_ROUTE.method} ${ERASE_ROUTE.path} (last: a wrongly accepted body erases the store)`, LONG, async () => tryRoute(ERASE_ROUTE));

  it('after the erase attempts, the store is still exactly as before', async () => {
    assert.deepEqual(await leftovers(), NOTHING);
  });
});
