import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PollyError } from '../../core/errors.js';
import { checkName } from '../../core/names.js';
import { pollyNameOf } from './names.js';

const code = (fn: () => unknown): string => {
  try {
    fn();
    return 'OK';
  } catch (e) {
    return e instanceof PollyError ? `${e.code} ${e.message.split(':')[0]}` : String(e);
  }
};

describe('CSI names → Polly names', () => {
  it('a name that is already a Polly name is kept', () => {
    assert.equal(pollyNameOf('name', 'pvc-0b7e3c1a'), 'pvc-0b7e3c1a');
    assert.equal(pollyNameOf('name', 'a'.repeat(128)), 'a'.repeat(128));
  });

  it('any other spec-valid name maps to one stable, valid Polly name per CSI name', () => {
    for (const csi of ['sanity-max-attach-limit-vol+1-1234', 'with space', 'tab\there', 'ünïcødé', 'a/b', '..', '-lead']) {
      const mapped = pollyNameOf('name', csi);
      assert.match(mapped, /^csi-[0-9a-f]{64}$/, csi);
      assert.equal(checkName('name', mapped), mapped);
      assert.equal(pollyNameOf('name', csi), mapped, 'the same name maps the same way (idempotency)');
    }
    assert.notEqual(pollyNameOf('name', 'a+b'), pollyNameOf('name', 'a+c'));
  });

  it('no name can pose as another name\'s hash: names starting with csi- are hashed too', () => {
    const hashOfSpace = pollyNameOf('name', 'my volume');
    assert.notEqual(pollyNameOf('name', hashOfSpace), hashOfSpace);
    assert.match(pollyNameOf('name', 'csi-plain'), /^csi-[0-9a-f]{64}$/);
  });

  it('INVALID_ARGUMENT: missing, over 128 bytes, banned control characters', () => {
    assert.equal(code(() => pollyNameOf('name', '')), 'INVALID_ARGUMENT name');
    assert.equal(code(() => pollyNameOf('name', undefined)), 'INVALID_ARGUMENT name');
    assert.equal(code(() => pollyNameOf('name', 'é'.repeat(65))), 'INVALID_ARGUMENT name'); // 130 bytes
    for (const bad of ['a\u0000b', 'a\u0008b', 'a\u000bb', 'a\u001fb', 'a\u007fb', 'a\u0085b']) assert.equal(code(() => pollyNameOf('name', bad)), 'INVALID_ARGUMENT name', JSON.stringify(bad));
  });
});
