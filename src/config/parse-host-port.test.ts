import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from './config-error.js';
import { parseHostPort, type HostPort } from './parse-host-port.js';

test('parseHostPort accepts the documented forms', () => {
  const cases: [string, HostPort][] = [
    ['127.0.0.1:7978', { host: '127.0.0.1', port: 7978 }],
    ['localhost:80', { host: 'localhost', port: 80 }],
    ['polly.example.com:7978', { host: 'polly.example.com', port: 7978 }],
    ['tcp://127.0.0.1:7978', { host: '127.0.0.1', port: 7978 }],
    ['TCP://10.0.0.1:1', { host: '10.0.0.1', port: 1 }],
    ['http://h:8080', { host: 'h', port: 8080, tls: false }],
    ['https://h:8443', { host: 'h', port: 8443, tls: true }],
    ['https://h:8443/', { host: 'h', port: 8443, tls: true }],
    ['[::1]:7978', { host: '::1', port: 7978 }],
    ['tcp://[fe80::1]:7978', { host: 'fe80::1', port: 7978 }],
    [':7978', { host: '0.0.0.0', port: 7978 }],
    ['tcp://:7981', { host: '0.0.0.0', port: 7981 }],
    ['*:7980', { host: '0.0.0.0', port: 7980 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    ['0.0.0.0:65535', { host: '0.0.0.0', port: 65535 }],
  ];
  for (const [input, expected] of cases) assert.deepEqual(parseHostPort('server.host', input), expected, input);
});

test('parseHostPort refuses bad addresses, naming the field and what is accepted', () => {
  const cases: [string, RegExp][] = [
    ['', /an address is required/],
    ['127.0.0.1', /has no port/],
    ['127.0.0.1:', /has no port/],
    ['127.0.0.1:65536', /"65536" is not a port/],
    ['127.0.0.1:http', /"http" is not a port/],
    ['::1:7978', /IPv6 addresses go in brackets/],
    ['[::1]', /needs a port/],
    ['[zz]:1', /is not an IPv6 address/],
    ['unix:///var/run/polly.sock', /scheme "unix:\/\/" is not supported/],
    ['ftp://h:21', /scheme "ftp:\/\/" is not supported/],
    ['http://h:80/api', /path, query or user part/],
    ['http://user@h:80', /path, query or user part/],
    ['bad_host:80', /is not a host name or IP address/],
    ['999.1.1.1:80', /is not a host name or IP address/],
    ['-h:80', /is not a host name or IP address/],
    ['h :80', /white space/],
  ];
  for (const [input, pattern] of cases) {
    assert.throws(
      () => parseHostPort('POLLY_HOST', input),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.problems[0]!.path, 'POLLY_HOST');
        assert.match(e.problems[0]!.message, pattern);
        assert.match(e.problems[0]!.message, /; accepted: host:port, \[ipv6\]:port/);
        assert.match(e.message, /^invalid configuration, 1 problem:\n {2}POLLY_HOST: /);
        return true;
      },
      input,
    );
  }
});
