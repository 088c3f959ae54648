import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { sandbox } from './test-kit.js';

const box = sandbox();
after(() => box.cleanup());

const withCsi = (csi: unknown, rest: Record<string, unknown> = {}) => ({ configFile: box.write('csi.yml', stringify({ server: { dataDir: box.dir }, csi, ...rest })) });
const problem = (csi: unknown, rest: Record<string, unknown> = {}) => box.fail(withCsi(csi, rest)).message;

describe('csi configuration', () => {
  it('defaults: unix://<dataDir>/csi.sock serving identity, controller and node as csi.polly.io', () => {
    const c = box.load({ flags: { dataDir: box.dir } }).csi;
    assert.equal(c.enabled, true);
    assert.deepEqual(c.endpoints, [{ endpoint: `unix://${box.dir}/csi.sock`, services: ['identity', 'controller', 'node'] }]);
    assert.equal(c.pluginName, 'csi.polly.io');
    assert.equal(c.defaultService, 'default');
    assert.equal(c.maxVolumesPerNode, 0);
  });

  it('without an in-process agent the default endpoint has no node service', () => {
    const c = box.load(withCsi({}, { server: { dataDir: box.dir, inProcessAgent: false } })).csi;
    assert.deepEqual(c.endpoints[0]!.services, ['identity', 'controller']);
  });

  it('endpoints: relative unix paths resolve against the data dir; tcp and host:port are normalised; extra endpoints', () => {
    const c = box.load(withCsi({ endpoint: 'unix://ctl.sock', services: ['controller'], endpoints: [{ endpoint: '127.0.0.1:9000', services: ['node'] }, { endpoint: 'unix:///run/x.sock' }] })).csi;
    assert.deepEqual(c.endpoints.map((e) => e.endpoint), [`unix://${box.dir}/ctl.sock`, 'tcp://127.0.0.1:9000', 'unix:///run/x.sock']);
    assert.deepEqual(c.endpoints[0]!.services, ['controller']);
    assert.deepEqual(c.endpoints[2]!.services, ['identity', 'controller', 'node']);
  });

  it('POLLY_CSI_ENDPOINT overrides csi.endpoint', () => {
    const c = box.load({ ...withCsi({ endpoint: 'unix://a.sock' }), env: { POLLY_CSI_ENDPOINT: 'tcp://127.0.0.1:10000' } }).csi;
    assert.equal(c.endpoints[0]!.endpoint, 'tcp://127.0.0.1:10000');
  });

  it('caller names a token; nodes add to the node ids ControllerPublish accepts', () => {
    const c = box.load(withCsi({ caller: 'k8s', nodes: ['n2'] }, {
      auth: { tokens: [{ name: 'k8s', token: 'k8s-token-0123456789', role: 'scheduler', services: ['default'] }] },
      server: { dataDir: box.dir, nodeId: 'n1' },
    })).csi;
    assert.deepEqual(c.caller, { name: 'k8s', role: 'scheduler', services: ['default'] });
    assert.deepEqual(c.nodes, ['n1', 'n2']);
  });

  it('names each wrong key', () => {
    assert.match(problem({ endpoint: 'http://x:1' }), /csi\.endpoint: .*only unix:\/\/ and tcp:\/\//);
    assert.match(problem({ endpoint: 'unix://' }), /csi\.endpoint: .*names no socket path/);
    assert.match(problem({ endpoint: `unix:///${'x'.repeat(120)}.sock` }), /csi\.endpoint: .*longer than 107 bytes/);
    assert.match(problem({ services: ['identity', 'storage'] }), /csi\.services/);
    assert.match(problem({ pluginName: 'Polly CSI' }), /csi\.pluginName: .*not a domain name/);
    assert.match(problem({ defaultService: 'nope' }), /csi\.defaultService: .*not a configured service/);
    assert.match(problem({ caller: 'ghost' }), /csi\.caller: .*names no token/);
    assert.match(problem({ endpoints: [{ endpoint: 'unix://a.sock' }, { endpoint: 'unix://a.sock' }] }), /csi\.endpoints\.1\.endpoint: .*used twice|csi\.endpoints\[1\]\.endpoint: .*used twice/);
    assert.match(problem({ colour: 'red' }), /csi\.colour: unknown key/);
  });
});
