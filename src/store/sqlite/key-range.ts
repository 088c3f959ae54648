import { prefixEnd } from './prefix-end.js';

/**
 * SQL range for the keys under `prefix` (strictly after `after` when given). TEXT compares as
 * memcmp over UTF-8, so a range scan on the primary key is exactly a byte-order prefix scan.
 */
export function keyRange(prefix: string, after?: string): { where: string; params: string[] } {
  const useAfter = after !== undefined && Buffer.compare(Buffer.from(after), Buffer.from(prefix)) >= 0;
  const where = [useAfter ? 'key > ?' : 'key >= ?'];
  const params = [useAfter ? after : prefix];
  const end = prefixEnd(prefix);
  if (end !== undefined) {
    where.push('key < ?');
    params.push(end);
  }
  return { where: where.join(' AND '), params };
}
