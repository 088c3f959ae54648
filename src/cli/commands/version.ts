/** `polly version`: this client's and the server's versions. */
import type { Command } from 'commander';
import type { App } from '../app.js';
import { clientVersion } from '../client-version.js';

export function versionCommand(program: Command, app: App): void {
  program
    .command('version')
    .description("print the client's and the server's versions")
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      const client = { version: clientVersion(), node: process.version, platform: `${process.platform}-${process.arch}` };
      const url = ctx.baseUrl();
      try {
        const server = await ctx.client().version();
        ctx.print({ client, server: { url, ...server } });
      } catch (e) {
        // Still show the client's version; the error is reported (exit 1) by the caller.
        ctx.print({ client, server: { url, error: e instanceof Error ? e.message : String(e) } });
        throw e;
      }
    });
}
