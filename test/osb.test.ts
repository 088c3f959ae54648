/**
 * Open Service Broker v2.17 end to end, against a real `polly server` over real sockets (the broker
 * under /v2 on the admin listener, and on a listener of its own):
 *   - catalog: one offering per Polly service, a plan per volume type, requires volume_mount, schemas;
 *   - basic auth (401) and X-Broker-API-Version (412 when missing or too old);
 *   - the synchronous lifecycle: provision 201, identical 200, conflicting 409, fetch, bind with
 *     volume_mounts, identical bind 200, conflicting 409, no deprovision while bound, unbind, 410s;
 *   - the asynchronous lifecycle: 202 + last_operation polling for provision, update (resize) and
 *     deprovision (410 Gone at the end);
 *   - AsyncRequired (422), failed provisions (nothing left; orphan mitigation deletes cleanly);
 *   - bad input: malformed bodies, unknown services/plans/parameters, huge ids → OSB errors, nothing made.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loggedAddress } from './support/front-doors.js';
import { GiB, storeDump } from './support/polly-fixtures.js';
import { api, cleanup, startPollyServer, type ApiResponse, type RunningServer } from './support/server-process.js';

const LONG = { timeout: 120_000 };
const PASSWORD = 'broker-password-0123456789';
const AUTH = { authorization: `Basic ${Buffer.from(`cf:${PASSWORD}`).toString('base64')}` };
const H = { ...AUTH, 'x-broker-api-version': '2.17' };

after(cleanup);

function assertOsbError(res: ApiResponse, status: number, error?: string, context = ''): void {
  assert.equal(res.status, status, `${context}: ${res.status} ${res.text}`);
  if (error !== undefined) assert.equal(res.body.error, error, `${context}: ${res.text}`);
  assert.equal(typeof res.body.description, 'string', `${context}: ${res.text}`);
  assert.ok(res.body.description.length > 0, context);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function poll(base: string, path: string, operation: string): Promise<ApiResponse> {
  for (let i = 0; i < 200; i++) {
    const res = await api(base, 'GET', `${path}/last_operation?operation=${operation}`, undefined, H);
    if (res.status !== 200 || res.body.state !== 'in progress') return res;
    await sleep(25);
  }
  throw new Error(`${path}: ${operation} still in progress`);
}

describe('Open Service Broker', LONG, () => {
  let server: RunningServer;
  let base: string;
  let serviceId: string;
  let fastPlan: string;
  let slowPlan: string;

  before(async () => {
    server = await startPollyServer({
      config: {
        osb: { username: 'cf', password: PASSWORD },
        services: {
          default: { driver: 'dir', pools: [{ name: 'local', capacity: '20Gi', types: ['fast', 'slow'] }] },
        },
      },
    });
    base = `${server.url}/v2`;
    const catalog = await api(base, 'GET', '/catalog', undefined, H);
    assert.equal(catalog.status, 200, catalog.text);
    const svc = catalog.body.services[0];
    serviceId = svc.id;
    fastPlan = svc.plans.find((p: { name: string }) => p.name === 'fast').id;
    slowPlan = svc.plans.find((p: { name: string }) => p.name === 'slow').id;
  });

  const provision = (id: string, body: Record<string, unknown> = {}, query = '') =>
    api(base, 'PUT', `/service_instances/${id}${query}`, { service_id: serviceId, plan_id: fastPlan, organization_guid: 'org', space_guid: 'space', ...body }, H);
  const bind = (iid: string, bid: string, body: Record<string, unknown> = {}) =>
    api(base, 'PUT', `/service_instances/${iid}/service_bindings/${bid}`, { service_id: serviceId, plan_id: fastPlan, app_guid: 'app-1', ...body }, H);
  const q = () => `service_id=${serviceId}&plan_id=${fastPlan}`;

  it('serves a catalog of volume services and checks credentials and the API version', async () => {
    const res = await api(base, 'GET', '/catalog', undefined, H);
    assert.equal(res.body.services.length, 1);
    const s = res.body.services[0];
    assert.equal(s.name, 'default');
    assert.deepEqual(s.requires, ['volume_mount']);
    assert.equal(s.bindable, true);
    assert.equal(s.instances_retrievable, true);
    assert.equal(s.bindings_retrievable, true);
    assert.deepEqual(s.plans.map((p: { name: string }) => p.name), ['fast', 'slow']);
    for (const p of s.plans) {
      assert.match(p.id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.ok(p.schemas.service_instance.create.parameters.properties.size);
      assert.ok(p.schemas.service_binding.create.parameters.properties.mount);
    }
    assert.equal(new Set([s.id, ...s.plans.map((p: { id: string }) => p.id)]).size, 3, 'ids are unique');

    assertOsbError(await api(base, 'GET', '/catalog', undefined, { 'x-broker-api-version': '2.17' }), 401, 'Unauthorized', 'no credentials');
    const wrong = { authorization: `Basic ${Buffer.from('cf:wrong-password-000000').toString('base64')}`, 'x-broker-api-version': '2.17' };
    assertOsbError(await api(base, 'GET', '/catalog', undefined, wrong), 401, 'Unauthorized', 'wrong password');
    assertOsbError(await api(base, 'GET', '/catalog', undefined, AUTH), 412, undefined, 'no version header');
    assertOsbError(await api(base, 'GET', '/catalog', undefined, { ...AUTH, 'x-broker-api-version': '2.11' }), 412, undefined, 'too old');
    assertOsbError(await api(base, 'GET', '/catalog', undefined, { ...AUTH, 'x-broker-api-version': '3.0' }), 412, undefined, 'other major');
    assert.equal((await api(base, 'GET', '/catalog', undefined, { ...AUTH, 'x-broker-api-version': '2.14' })).status, 200);
  });

  it('provisions, binds, unbinds and deprovisions synchronously', async () => {
    const p = await provision('sync-1', { parameters: { size: 2, labels: { team: 'a' } } });
    assert.equal(p.status, 201, p.text);
    assert.deepEqual(p.body, {});
    assert.equal((await provision('sync-1', { parameters: { size: 2, labels: { team: 'a' } } })).status, 200, 'identical PUT');
    assertOsbError(await provision('sync-1', { parameters: { size: 3 } }), 409, 'Conflict', 'other parameters');
    assertOsbError(await provision('sync-1', { plan_id: slowPlan, parameters: { size: 2, labels: { team: 'a' } } }), 409, 'Conflict', 'other plan');

    const got = await api(base, 'GET', '/service_instances/sync-1', undefined, H);
    assert.equal(got.status, 200, got.text);
    assert.equal(got.body.service_id, serviceId);
    assert.equal(got.body.plan_id, fastPlan);
    assert.equal(got.body.parameters.size, '2Gi');
    const volumeId = got.body.metadata.attributes.volume_id;
    const vol = await api(server, 'GET', `/v1/volumes/${volumeId}`);
    assert.equal(vol.body.size, 2 * GiB);
    assert.equal(vol.body.type, 'fast');
    assert.deepEqual(vol.body.labels, { team: 'a' });

    const b = await bind('sync-1', 'bind-1', { parameters: { mount: '/data', readonly: true } });
    assert.equal(b.status, 201, b.text);
    assert.deepEqual(b.body.volume_mounts, [{
      driver: 'polly', container_dir: '/data', mode: 'r', device_type: 'shared',
      device: { volume_id: volumeId, mount_config: { service: 'default', name: 'osb-sync-1', readonly: 'true' } },
    }]);
    assert.equal((await bind('sync-1', 'bind-1', { parameters: { mount: '/data', readonly: true } })).status, 200, 'identical bind');
    assertOsbError(await bind('sync-1', 'bind-1', { parameters: { mount: '/other' } }), 409, 'Conflict', 'other binding parameters');
    const b2 = await bind('sync-1', 'bind-2');
    assert.equal(b2.body.volume_mounts[0].container_dir, '/var/vcap/data/sync-1');
    assert.equal(b2.body.volume_mounts[0].mode, 'rw');
    const gotBinding = await api(base, 'GET', '/service_instances/sync-1/service_bindings/bind-1', undefined, H);
    assert.equal(gotBinding.status, 200);
    assert.equal(gotBinding.body.volume_mounts[0].device.volume_id, volumeId);

    assertOsbError(await api(base, 'DELETE', `/service_instances/sync-1?${q()}`, undefined, H), 422, 'FailedPrecondition', 'bound instances stay');
    for (const bid of ['bind-1', 'bind-2']) {
      const u = await api(base, 'DELETE', `/service_instances/sync-1/service_bindings/${bid}?${q()}`, undefined, H);
      assert.equal(u.status, 200, u.text);
      assert.deepEqual(u.body, {});
    }
    assert.equal((await api(base, 'DELETE', `/service_instances/sync-1/service_bindings/bind-1?${q()}`, undefined, H)).status, 410);
    assertOsbError(await api(base, 'GET', '/service_instances/sync-1/service_bindings/bind-1', undefined, H), 404, 'NotFound');

    const d = await api(base, 'DELETE', `/service_instances/sync-1?${q()}`, undefined, H);
    assert.equal(d.status, 200, d.text);
    assert.deepEqual(d.body, {});
    assert.equal((await api(base, 'DELETE', `/service_instances/sync-1?${q()}`, undefined, H)).status, 410);
    assertOsbError(await api(base, 'GET', '/service_instances/sync-1', undefined, H), 404, 'NotFound');
    assert.equal((await api(server, 'GET', `/v1/volumes/${volumeId}`)).status, 404, 'the volume is gone');
  });

  it('provisions, resizes and deprovisions asynchronously with last_operation polling', async () => {
    const p = await provision('async-1', { parameters: { size: '1Gi' } }, '?accepts_incomplete=true');
    assert.equal(p.status, 202, p.text);
    assert.equal(p.body.operation, 'provision');
    const done = await poll(base, '/service_instances/async-1', 'provision');
    assert.equal(done.status, 200);
    assert.equal(done.body.state, 'succeeded', done.text);
    const volumeId = (await api(base, 'GET', '/service_instances/async-1', undefined, H)).body.metadata.attributes.volume_id;

    const u = await api(base, 'PATCH', '/service_instances/async-1?accepts_incomplete=true', { service_id: serviceId, parameters: { size: '3Gi' } }, H);
    assert.equal(u.status, 202, u.text);
    assert.equal(u.body.operation, 'update');
    assert.equal((await poll(base, '/service_instances/async-1', 'update')).body.state, 'succeeded');
    assert.equal((await api(server, 'GET', `/v1/volumes/${volumeId}`)).body.size, 3 * GiB, 'resized');
    const sync = await api(base, 'PATCH', '/service_instances/async-1', { service_id: serviceId, parameters: { size: 4 } }, H);
    assert.equal(sync.status, 200, sync.text);
    assert.equal((await api(server, 'GET', `/v1/volumes/${volumeId}`)).body.size, 4 * GiB);
    assertOsbError(await api(base, 'PATCH', '/service_instances/async-1', { service_id: serviceId, parameters: { size: 1 } }, H), 400, 'BadRequest', 'no shrinking');
    assertOsbError(await api(base, 'PATCH', '/service_instances/async-1', { service_id: serviceId, plan_id: slowPlan }, H), 422, 'NotSupported', 'no plan change');
    assertOsbError(await api(base, 'PATCH', '/service_instances/async-1', { service_id: serviceId, parameters: { size: 100 } }, H), 422, 'InsufficientCapacity', 'beyond the pool');
    assert.equal((await api(server, 'GET', `/v1/volumes/${volumeId}`)).body.size, 4 * GiB, 'a refused resize changes nothing');

    const d = await api(base, 'DELETE', `/service_instances/async-1?${q()}&accepts_incomplete=true`, undefined, H);
    assert.equal(d.status, 202, d.text);
    assert.equal(d.body.operation, 'deprovision');
    const gone = await poll(base, '/service_instances/async-1', 'deprovision');
    assert.equal(gone.status, 410, gone.text);
    assert.equal((await api(server, 'GET', `/v1/volumes/${volumeId}`)).status, 404);
  });

  it('requires async for copies, and leaves nothing behind when a provision fails', async () => {
    const snapSource = await provision('src-1', { parameters: { size: 1 } });
    assert.equal(snapSource.status, 201);
    const srcVolume = (await api(base, 'GET', '/service_instances/src-1', undefined, H)).body.metadata.attributes.volume_id;
    const snap = await api(server, 'POST', `/v1/volumes/${srcVolume}/snapshots`, { name: 'src-snap' });
    assert.equal(snap.status, 201, snap.text);
    assertOsbError(await provision('copy-1', { parameters: { snapshot: snap.body.id } }), 422, 'AsyncRequired', 'a copy without accepts_incomplete');
    assertOsbError(await api(base, 'GET', '/service_instances/copy-1', undefined, H), 404, 'NotFound', 'AsyncRequired made nothing');

    // Synchronous failure: nothing is recorded, DELETE answers 410.
    assertOsbError(await provision('too-big', { parameters: { size: 500 } }), 422, 'InsufficientCapacity');
    assertOsbError(await api(base, 'GET', '/service_instances/too-big', undefined, H), 404, 'NotFound');
    assert.equal((await api(base, 'DELETE', `/service_instances/too-big?${q()}`, undefined, H)).status, 410);

    // Asynchronous failure: last_operation says failed; the platform's orphan mitigation DELETE cleans up.
    assert.equal((await provision('too-big-async', { parameters: { size: 500 } }, '?accepts_incomplete=true')).status, 202);
    const failed = await poll(base, '/service_instances/too-big-async', 'provision');
    assert.equal(failed.body.state, 'failed', failed.text);
    assert.match(failed.body.description, /needs|free/);
    assertOsbError(await api(base, 'GET', '/service_instances/too-big-async', undefined, H), 404, 'NotFound', 'a failed instance is not fetchable');
    assert.equal((await api(base, 'DELETE', `/service_instances/too-big-async?${q()}`, undefined, H)).status, 200);
    const keys = [...(await storeDump(server)).keys()];
    assert.deepEqual(keys.filter((k) => k.includes('too-big')), [], 'no record and no volume left');

    assert.equal((await api(server, 'DELETE', `/v1/snapshots/${snap.body.id}`)).status, 200);
    assert.equal((await api(base, 'DELETE', `/service_instances/src-1?${q()}`, undefined, H)).status, 200);
  });

  it('turns bad input into OSB errors and creates nothing', async () => {
    const before = [...(await storeDump(server)).keys()];
    const put = (path: string, body: unknown, headers: Record<string, string> = H) => api(base, 'PUT', path, body, headers);
    const cases: [string, Promise<ApiResponse>, number][] = [
      ['malformed JSON', put('/service_instances/bad-1', '{"service_id":'), 400],
      ['body is a list', put('/service_instances/bad-1', []), 400],
      ['no plan_id', put('/service_instances/bad-1', { service_id: serviceId }), 400],
      ['unknown service', put('/service_instances/bad-1', { service_id: 'nope', plan_id: fastPlan }), 400],
      ['unknown plan', put('/service_instances/bad-1', { service_id: serviceId, plan_id: 'nope' }), 400],
      ['unknown parameter', put('/service_instances/bad-1', { service_id: serviceId, plan_id: fastPlan, parameters: { color: 'red' } }), 400],
      ['bad size', put('/service_instances/bad-1', { service_id: serviceId, plan_id: fastPlan, parameters: { size: 'lots' } }), 400],
      ['bad labels', put('/service_instances/bad-1', { service_id: serviceId, plan_id: fastPlan, parameters: { labels: { k: 1 } } }), 400],
      ['unknown field', put('/service_instances/bad-1', { service_id: serviceId, plan_id: fastPlan, colour: 'x' }), 400],
      ['huge instance id', put(`/service_instances/${'i'.repeat(200)}`, { service_id: serviceId, plan_id: fastPlan }), 400],
      ['instance id with dots', put('/service_instances/a..b', { service_id: serviceId, plan_id: fastPlan }), 400],
      ['bind to a missing instance', put('/service_instances/none/service_bindings/b', { service_id: serviceId, plan_id: fastPlan }), 404],
      ['deprovision without ids', api(base, 'DELETE', '/service_instances/bad-1', undefined, H), 400],
      ['unknown last_operation', api(base, 'GET', '/service_instances/none/last_operation', undefined, H), 404],
      ['bad accepts_incomplete', put('/service_instances/bad-1?accepts_incomplete=maybe', { service_id: serviceId, plan_id: fastPlan }), 400],
    ];
    for (const [name, res, status] of cases) assertOsbError(await res, status, undefined, name);

    assert.equal((await provision('bind-bad', { parameters: { size: 1 } })).status, 201);
    assertOsbError(await bind('bind-bad', 'b1', { parameters: { mount: '../../etc' } }), 400, 'BadRequest', 'relative mount');
    assertOsbError(await bind('bind-bad', 'b1', { parameters: { mount: '/a/../../etc' } }), 400, 'BadRequest', 'mount with ..');
    assertOsbError(await bind('bind-bad', 'b1', { parameters: { other: 1 } }), 400, 'BadRequest', 'unknown binding parameter');
    assertOsbError(await bind('bind-bad', 'b'.repeat(150)), 400, 'BadRequest', 'long binding id');
    assertOsbError(await bind('bind-bad', 'b'.repeat(300)), 414, 'BadRequest', 'huge binding id');
    assert.equal((await api(base, 'DELETE', `/service_instances/bind-bad?${q()}`, undefined, H)).status, 200);
    assert.deepEqual([...(await storeDump(server)).keys()].filter((k) => !before.includes(k) && !k.startsWith('pools/') && !k.startsWith('service-usage/')), [], 'nothing half-created');
  });

  it('serves the broker on a listener of its own when osb.host is set', async () => {
    const own = await startPollyServer({ config: { osb: { username: 'cf', password: PASSWORD, host: '127.0.0.1:0' } } });
    const addr = await loggedAddress(own, 'osb listening');
    const url = `http://127.0.0.1:${addr.port}/v2`;
    const cat = await api(url, 'GET', '/catalog', undefined, H);
    assert.equal(cat.status, 200, cat.text);
    assert.equal(cat.body.services[0].plans[0].name, 'default');
    assert.equal((await api(own, 'GET', '/v2/catalog', undefined, H)).status, 404, 'not on the admin listener then');
    assertOsbError(await api(url, 'GET', '/nothing', undefined, H), 404, 'NotFound');
    await own.stop();
  });
});
