import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAgentMessage } from './protocol.js';

describe('node channel messages: relayed calls', () => {
  it('accepts a call with an id, a door, a method and an object body; refuses anything else', () => {
    const ok = { t: 'call', id: 1, door: 'docker', method: 'VolumeDriver.Mount', body: { Name: 'v', ID: 'c' } };
    assert.deepEqual(parseAgentMessage(JSON.stringify(ok)), ok);
    for (const bad of [
      { ...ok, id: 'one' }, { ...ok, id: 1.5 }, { ...ok, door: 'Docker!' }, { ...ok, door: '' },
      { ...ok, method: '../x' }, { ...ok, method: 'M'.repeat(65) }, { ...ok, body: [] }, { ...ok, body: null }, { ...ok, body: 'x' },
    ]) {
      assert.equal(parseAgentMessage(JSON.stringify(bad)), undefined, JSON.stringify(bad));
    }
  });
});
