import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fsLocation, masterGroup, mountAt, mountContaining, parseMountInfo, readMountTable, sharedGroup } from './mount-table.js';

const SAMPLE = [
  '22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
  '40 22 253:0 /srv/pool/volumes/vol-1 /mnt/stage\\040one rw,relatime shared:1 - ext4 /dev/vda rw',
  '41 22 253:0 /srv/pool/volumes/vol-1 /mnt/target ro,relatime shared:1 - ext4 /dev/vda rw',
  '50 22 7:3 / /srv/pool rw,relatime - btrfs /dev/loop3 rw,space_cache=v2,subvolid=5,subvol=/',
  '51 22 7:4 / /srv/slave rw,relatime shared:9 master:7 propagate_from:2 - ext4 /dev/loop4 rw',
  'garbage line',
].join('\n');

describe('mount table', () => {
  const table = parseMountInfo(SAMPLE);

  it('parses fields and unescapes octal escapes', () => {
    assert.equal(table.length, 5);
    assert.equal(table[1]!.mountPoint, '/mnt/stage one');
    assert.equal(table[1]!.root, '/srv/pool/volumes/vol-1');
    assert.equal(table[2]!.options[0], 'ro');
    assert.equal(table[3]!.fsType, 'btrfs');
    assert.equal(table[3]!.source, '/dev/loop3');
    assert.deepEqual(table[3]!.optional, []);
    assert.deepEqual(table[4]!.optional, ['shared:9', 'master:7', 'propagate_from:2']);
    assert.equal(table[4]!.fsType, 'ext4');
  });

  it('reads the propagation peer groups', () => {
    assert.equal(sharedGroup(table[0]!), '1');
    assert.equal(masterGroup(table[0]!), undefined);
    assert.equal(sharedGroup(table[3]!), undefined);
    assert.equal(sharedGroup(table[4]!), '9');
    assert.equal(masterGroup(table[4]!), '7');
  });

  it('finds mounts at and containing a path', () => {
    assert.equal(mountAt(table, '/mnt/target')?.id, 41);
    assert.equal(mountAt(table, '/mnt'), undefined);
    assert.equal(mountContaining(table, '/srv/pool/volumes/x')?.id, 50);
    assert.equal(mountContaining(table, '/srv/poolx')?.id, 22);
    assert.deepEqual(fsLocation(table, '/srv/pool/volumes/x'), { device: '7:3', fsPath: '/volumes/x' });
    assert.deepEqual(fsLocation(table, '/srv/pool'), { device: '7:3', fsPath: '/' });
    assert.deepEqual(fsLocation(table, '/etc/x'), { device: '253:0', fsPath: '/etc/x' });
  });

  it('reads the real table of this process', async () => {
    const real = await readMountTable();
    assert.ok(real.some((m) => m.mountPoint === '/'));
  });
});
