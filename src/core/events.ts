import { assertAdmin } from './access.js';
import type { CoreContext } from './context.js';
import { invalid } from './errors.js';
import { newId } from './ids.js';
import { keys } from './keys.js';
import type { Caller, PollyEvent } from './model.js';
import { checkName } from './names.js';
import { MAX_LIST_LIMIT } from './ports/store.js';
import { decodeCursor, encodeCursor, type Page } from './volumes.js';

/** Event types of the node and failover timeline. */
export type EventType =
  | 'node.registered' | 'node.ready' | 'node.unreachable' | 'node.fenced' | 'node.recovering' | 'node.disconnected'
  | 'node.cordoned' | 'node.uncordoned' | 'node.drained'
  | 'volume.attached' | 'volume.detached' | 'volume.revoked' | 'volume.released' | 'volume.attach-failed'
  | 'reconcile.repair';

export interface EventInput {
  readonly type: EventType;
  readonly nodeId?: string;
  readonly volumeId?: string;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/**
 * Appends an event to the timeline. Ids are time-ordered, so listing `events/` is the timeline.
 * A failure to record is logged, never thrown: the event describes work already done.
 */
export async function recordEvent(ctx: CoreContext, input: EventInput): Promise<PollyEvent> {
  const event: PollyEvent = {
    id: newId('evt'), at: ctx.clock.now(), type: input.type,
    ...(input.nodeId === undefined ? {} : { nodeId: input.nodeId }),
    ...(input.volumeId === undefined ? {} : { volumeId: input.volumeId }),
    message: input.message, details: input.details ?? {},
  };
  try {
    await ctx.store.txn({ compares: [], ops: [{ type: 'put', key: keys.event(event.id), value: event }] });
  } catch (err) {
    ctx.logger.error({ err, event }, 'cannot record event');
  }
  ctx.logger.info({ event: event.type, nodeId: event.nodeId, volumeId: event.volumeId }, event.message);
  return event;
}

export interface EventFilter {
  readonly nodeId?: string;
  readonly volumeId?: string;
  /** Type or type prefix such as `node.` */
  readonly type?: string;
}

/** The timeline, oldest first, paged (admin only). */
export async function listEvents(ctx: CoreContext, caller: Caller, filter: EventFilter = {}, limit = 500, cursor?: string): Promise<Page<PollyEvent>> {
  assertAdmin(caller, 'reading events');
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) throw invalid('limit', `must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  if (filter.nodeId !== undefined) checkName('node', filter.nodeId);
  if (filter.volumeId !== undefined) checkName('volume', filter.volumeId);
  if (filter.type !== undefined && !/^[a-z]{1,32}(\.([a-z][a-z-]{0,31})?)?$/.test(filter.type)) throw invalid('type', 'is an event type such as node.fenced or a prefix such as node.');
  let after = cursor === undefined ? undefined : decodeCursor(cursor, keys.events);
  const items: PollyEvent[] = [];
  for (;;) {
    const page = await ctx.store.list<PollyEvent>(keys.events, { limit: MAX_LIST_LIMIT, ...(after !== undefined ? { after } : {}) });
    for (const r of page.records) {
      after = r.key;
      const e = r.value;
      if (filter.nodeId !== undefined && e.nodeId !== filter.nodeId) continue;
      if (filter.volumeId !== undefined && e.volumeId !== filter.volumeId) continue;
      if (filter.type !== undefined && !(e.type === filter.type || (filter.type.endsWith('.') && e.type.startsWith(filter.type)))) continue;
      items.push(e);
      if (items.length === limit) {
        const more = r !== page.records[page.records.length - 1] || page.next !== undefined;
        return more ? { items, next: encodeCursor(r.key) } : { items };
      }
    }
    if (page.next === undefined) return { items };
  }
}

/** How long events are kept; the reconciler trims older ones. */
export const EVENT_RETENTION_MS = 7 * 24 * 3600_000;

/** Deletes events older than `before` (the oldest come first: ids are time-ordered); returns how many. */
export async function trimEvents(ctx: CoreContext, before: number): Promise<number> {
  let trimmed = 0;
  for (;;) {
    const page = await ctx.store.list<PollyEvent>(keys.events, { limit: 500 });
    const old = page.records.filter((r) => r.value.at < before);
    if (old.length === 0) return trimmed;
    await ctx.store.txn({ compares: [], ops: old.map((r) => ({ type: 'delete' as const, key: r.key })) });
    trimmed += old.length;
    if (old.length < page.records.length) return trimmed;
  }
}
