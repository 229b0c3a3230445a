import { loadDeliveryForSend } from '../store/deliveries-repo.js';
import type { Db } from '../store/tables.js';
import { fallBack, type OutcomeDeps } from './delivery-outcomes.js';
import type { MessageSpec } from './message-spec.js';
import type { JobOutcome, OutboxHandler } from './outbox-worker.js';

/**
 * `policy.delivery.fallback_after_s`: when a sent message has no receipt (delivered or failed) by
 * then, the same code goes to the next channel. The attempt keeps its status (a late receipt still
 * applies) and notes why the next channel was tried.
 */
export function receiptTimeoutHandler(deps: OutcomeDeps & { db: Db }): OutboxHandler {
  return async (row): Promise<JobOutcome> => {
    const { delivery_id } = JSON.parse(row.payload_json) as { delivery_id: string };
    const d = await loadDeliveryForSend(deps.db, delivery_id);
    if (!d || !d.message_json || (d.status !== 'queued' && d.status !== 'sent') || d.fell_back_at !== null) return { done: true };
    const spec = JSON.parse(d.message_json) as MessageSpec;
    const after = spec.fallback_after_s ?? 0;
    return {
      done: true,
      persist: async (trx) => {
        const message = await fallBack(trx, deps, d, spec, 'no_receipt');
        if (!message) return;
        await trx
          .updateTable('deliveries')
          .set({ error_code: 'no_receipt', error: `no delivery receipt within ${after} s; the next channel was tried`, updated_at: deps.clock.now() })
          .where('id', '=', d.id)
          .execute();
      },
    };
  };
}
