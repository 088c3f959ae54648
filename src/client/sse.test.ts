import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SseParser } from './sse.js';

describe('SseParser', () => {
  it('parses events split across chunks, with ids, comments, multi-line data and CRLF', () => {
    const p = new SseParser();
    assert.deepEqual(p.push('retry: 2000\n\n: heartbeat\n\nid: a.1\nevent: snap'), []);
    assert.deepEqual(p.push('shot\ndata: {"x":1}\n\n'), [{ id: 'a.1', event: 'snapshot', data: '{"x":1}' }]);
    assert.deepEqual(p.push('id: a.2\r\nevent: added\r\ndata: one\r\ndata:two\r'), []);
    assert.deepEqual(p.push('\n\r\n'), [{ id: 'a.2', event: 'added', data: 'one\ntwo' }]);
    assert.deepEqual(p.push('data: no event name\n\n'), [{ id: 'a.2', event: 'message', data: 'no event name' }], 'the last id carries over');
  });
});
