import path from 'node:path';
import { invalid } from '../../core/errors.js';
import type { PoolSpec, ServiceSpec } from '../../core/model.js';

/**
 * The root directory of a dir pool, from `params.path`. It must be an absolute path (config
 * resolution makes relative paths absolute before drivers see them) and not the filesystem root.
 * Returns the normalised path. Throws INVALID_ARGUMENT naming `services.<svc>.pools.<pool>.path`.
 */
export function poolRootPath(service: ServiceSpec, pool: PoolSpec): string {
  const field = `services.${service.name}.pools.${pool.name}.path`;
  const value = pool.params['path'];
  if (typeof value !== 'string' || value.length === 0) throw invalid(field, 'is required: the root directory of the pool');
  if (value.includes('\u0000')) throw invalid(field, 'must not contain NUL characters');
  if (!path.isAbsolute(value)) throw invalid(field, `must be an absolute path, got ${JSON.stringify(value)}`);
  const root = path.resolve(value);
  if (root === path.parse(root).root) throw invalid(field, 'must not be the filesystem root');
  return root;
}
