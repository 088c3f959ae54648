import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidHostError, resolveBaseUrl } from './endpoint.js';

describe('resolveBaseUrl', () => {
  const ok: [string | undefined, string][] = [
    [undefined, 'http://127.0.0.1:7978'],
    ['', 'http://127.0.0.1:7978'],
    ['tcp://127.0.0.1:7978', 'http://127.0.0.1:7978'],
    ['tcp://polly.example:7981', 'http://polly.example:7981'],
    ['tcp://:7981', 'http://127.0.0.1:7981'],
    ['TCP://h:1', 'http://h:1'],
    ['tcp://h', 'http://h:7978'],
    ['http://h:8080', 'http://h:8080'],
    ['https://polly.example', 'https://polly.example'],
    ['https://polly.example/api/', 'https://polly.example/api'],
    ['polly.example:7978', 'http://polly.example:7978'],
    ['polly.example', 'http://polly.example:7978'],
    [':9000', 'http://127.0.0.1:9000'],
    ['[::1]:7978', 'http://[::1]:7978'],
    ['  localhost:7978  ', 'http://localhost:7978'],
  ];
  for (const [input, want] of ok) {
    it(`${JSON.stringify(input)} → ${want}`, () => assert.equal(resolveBaseUrl(input), want));
  }

  const bad: [string, RegExp][] = [
    ['unix:///run/polly.sock', /unix sockets are not supported/],
    ['ftp://h:21', /unsupported scheme "ftp:\/\/"/],
    ['h:port', /port "port" is not a number/],
    ['h:70000', /port "70000"/],
    ['tcp://h:1/x', /takes no path/],
    ['::1', /IPv6 address in brackets/],
    ['http://user:pw@h', /--token/],
  ];
  for (const [input, re] of bad) {
    it(`rejects ${input}`, () => {
      assert.throws(() => resolveBaseUrl(input), (e: unknown) => e instanceof InvalidHostError && re.test(e.message));
    });
  }
});
