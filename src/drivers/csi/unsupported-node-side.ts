import { PollyError } from '../../core/errors.js';
import type { NodeSideDriver } from '../../core/ports/storage-driver.js';

/**
 * Node side of a driver whose node-side work is not done by Polly yet (the csi driver: staging
 * and publishing belong to the plugin's own node service on each node). Every mounting call is
 * UNSUPPORTED with a clear message; nothing is ever attached, so the list is empty.
 */
export function unsupportedNodeSide(driver: string): NodeSideDriver {
  const no = async (): Promise<never> => {
    throw new PollyError('UNSUPPORTED', `the ${driver} driver does no node-side work in Polly: run the CSI plugin's node service on the node`);
  };
  return {
    attach: no, detach: no, stage: no, unstage: no, publish: no, unpublish: no, expandOnNode: no, stats: no,
    attachedVolumes: async () => [],
  };
}
