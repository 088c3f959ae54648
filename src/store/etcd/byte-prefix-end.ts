/**
 * etcd's range end for "every key starting with `prefix`": the prefix with its last byte below
 * 0xff incremented (trailing 0xff bytes dropped); `\0` (the whole keyspace) when there is none.
 */
export function bytePrefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
