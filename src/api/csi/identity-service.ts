import { PollyError } from '../../core/errors.js';
import { anyDriver, type CsiDeps } from './csi-deps.js';
import type { Handler } from './rpc.js';

/** CSI Identity: who the plugin is, what it can do, whether it is ready. */
export function identityService(deps: CsiDeps, served: { controller: boolean }): Record<string, Handler> {
  return {
    GetPluginInfo: async () => ({ name: deps.pluginName, vendor_version: deps.version, manifest: { vendor: 'polly' } }),

    GetPluginCapabilities: async () => {
      const capabilities = [];
      if (served.controller) {
        capabilities.push({ service: { type: 'CONTROLLER_SERVICE' } }, { service: { type: 'VOLUME_ACCESSIBILITY_CONSTRAINTS' } });
        if (anyDriver(deps, 'expand')) capabilities.push({ volume_expansion: { type: 'ONLINE' } });
      }
      return { capabilities };
    },

    // Ready only when the store answers; a store that cannot serve is FAILED_PRECONDITION.
    Probe: async () => {
      const ready = await deps.polly.ctx.store.ready().catch(() => false);
      if (!ready) throw new PollyError('FAILED_PRECONDITION', 'the store is not ready');
      return { ready: { value: true } };
    },
  };
}
