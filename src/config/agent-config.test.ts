import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { GiB } from '../core/units.js';
import { loadAgentConfig } from './agent-config.js';
import { ConfigError } from './config-error.js';
import { sandbox, yaml } from './test-kit.js';

const box = sandbox();
after(() => box.cleanup());

const problems = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map((p) => `${p.path}: ${p.message}`);
    throw e;
  }
  throw new Error('expected a ConfigError');
};

describe('agent configuration', () => {
  test('flags only', () => {
    const c = loadAgentConfig({ server: 'http://10.0.0.1:7978', nodeId: 'n1', labels: ['zone=a', 'rack=r1'], mountDir: 'm' }, {}, '/srv');
    assert.equal(c.server, 'http://10.0.0.1:7978');
    assert.equal(c.nodeId, 'n1');
    assert.deepEqual(c.labels, { zone: 'a', rack: 'r1' });
    assert.equal(c.mountDir, '/srv/m');
    assert.deepEqual(c.pools, []);
    assert.equal(c.token, undefined);
  });

  test('a file with pools; flags and POLLY_NODE_TOKEN win', () => {
    const file = box.write('agent.yml', yaml(`
      server: http://polly:7978
      nodeId: from-file
      token: file-token-0123456789
      labels: { zone: b }
      pools:
        - { service: local, name: n1-disk, path: /srv/disk, capacity: 2Gi, types: [ssd] }
    `));
    const c = loadAgentConfig({ config: file, nodeId: 'n2' }, { POLLY_NODE_TOKEN: 'env-token-0123456789' });
    assert.equal(c.nodeId, 'n2');
    assert.equal(c.token, 'env-token-0123456789');
    assert.deepEqual(c.pools, [{ service: 'local', name: 'n1-disk', capacityBytes: 2 * GiB, types: ['ssd'], labels: {}, zone: 'b', params: { path: '/srv/disk' } }]);
    assert.equal(c.mountDir, join('/var/lib/polly/agent', 'n2', 'mounts'));
  });

  test('every problem is named', () => {
    const file = box.write('bad.yml', yaml(`
      nodeId: "../x"
      token: short
      colour: blue
      pools:
        - { service: local, name: p, path: relative/dir, size: 1Gi }
    `));
    const found = problems(() => loadAgentConfig({ config: file, labels: ['novalue'] }, {}));
    const paths = found.map((p) => p.split(':')[0]);
    assert.deepEqual(paths.sort(), ['--label', 'colour', 'nodeId', 'pools[0].path', 'pools[0].size', 'server', 'token'].sort(), found.join('\n'));
    assert.deepEqual(problems(() => loadAgentConfig({ server: 'ftp://x', nodeId: 'n' }, {})), ['server: "ftp://x": accepted: http://host:port or https://host:port']);
  });

  test('the Docker plugin socket (flag over file) and the fence guard (on unless turned off)', () => {
    const base = { server: 'http://polly:7978', nodeId: 'n1' };
    const plain = loadAgentConfig(base, {});
    assert.equal(plain.docker, undefined, 'no plugin unless asked');
    assert.equal(plain.fenceGuard, true);
    const file = box.write('docker.yml', yaml(`
      docker: { socket: /run/docker/plugins/from-file.sock, specFile: /etc/docker/plugins/polly.spec }
      fenceGuard: false
    `));
    const c = loadAgentConfig({ ...base, config: file, dockerSocket: 'plugins/polly.sock' }, {}, '/run/docker');
    assert.deepEqual(c.docker, { socket: '/run/docker/plugins/polly.sock', specFile: '/etc/docker/plugins/polly.spec' });
    assert.equal(c.fenceGuard, false);
    const bad = box.write('docker-bad.yml', yaml(`
      docker: { specFile: /etc/docker/plugins/polly.spec, port: 1 }
      fenceGuard: sometimes
    `));
    assert.deepEqual(problems(() => loadAgentConfig({ ...base, config: bad }, {})).sort(), [
      'docker.port: unknown key; accepted: socket, specFile',
      'docker.specFile: is set but docker.socket is not (a spec file announces the socket)',
      'fenceGuard: accepted: true or false',
    ]);
    assert.match(problems(() => loadAgentConfig({ ...base, dockerSocket: `/${'s'.repeat(120)}.sock` }, {}))[0]!, /^docker\.socket: .* longer than a unix socket path/);
  });
});

describe('server configuration: nodes', () => {
  test('defaults and keys', () => {
    assert.deepEqual(box.load().nodes, { leaseMs: 10_000, graceMs: 5_000, operationTimeoutMs: 60_000, tokens: [] });
    const file = box.write('nodes.yml', yaml(`
      nodes:
        lease: 3s
        grace: 0
        operationTimeout: 2m
        tokens: [{ name: rack1, token: node-token-0123456789 }]
    `));
    assert.deepEqual(box.load({ configFile: file }).nodes, { leaseMs: 3_000, graceMs: 0, operationTimeoutMs: 120_000, tokens: [{ name: 'rack1', token: 'node-token-0123456789' }] });
    const bound = box.write('nodes-bound.yml', yaml(`
      nodes: { tokens: [{ name: n0, token: node0-token-0123456789, nodes: [node0] }] }
    `));
    assert.deepEqual(box.load({ configFile: bound }).nodes.tokens, [{ name: 'n0', token: 'node0-token-0123456789', nodes: ['node0'] }], 'a token bound to its node ids (D81)');
    assert.match(box.fail({ configFile: box.write('nodes-bound-bad.yml', 'nodes: { tokens: [{ name: n0, token: node0-token-0123456789, nodes: ["../x"] }] }\n') }).message, /nodes\.tokens\[0\]\.nodes/);
  });

  test('a too short lease, a misspelt key and a node token that is also an API token are refused', () => {
    const file = box.write('nodes-bad.yml', yaml(`
      auth: { tokens: [{ name: a, token: same-token-0123456789, role: admin }] }
      nodes:
        lease: 100ms
        tokens: [{ name: n, token: same-token-0123456789 }]
    `));
    const e = box.fail({ configFile: file });
    const text = e.problems.map((p) => `${p.path}: ${p.message}`).join('\n');
    assert.match(text, /nodes\.lease: "100ms" is too short/);
    assert.match(text, /nodes\.tokens\[0\]\.token: is also an API token/);
    assert.match(box.fail({ configFile: box.write('typo.yml', 'nodes: { leese: 3s }\n') }).message, /leese/);
  });
});
