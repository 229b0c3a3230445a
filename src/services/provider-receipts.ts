import { applyStatusUpdate, type DeliveryObserver } from '../delivery/delivery-outcomes.js';
import type { ProviderStatusUpdate } from '../delivery/providers/provider.js';
import { findByProviderMessage, keepReceipt, lockProviderMessage } from '../store/deliveries-repo.js';
import type { ServiceDeps } from './context.js';

/**
 * Applies the receipts of a provider's status callback, each in its own transaction. A receipt for a
 * message whose send is not recorded yet (the provider called back before the worker committed) is
 * kept and applied when the send is. Returns how many receipts matched a known delivery.
 */
export async function applyProviderReceipts(deps: ServiceDeps, provider: string, updates: ProviderStatusUpdate[], observer?: DeliveryObserver): Promise<number> {
  let matched = 0;
  let enqueued = false;
  const postgres = deps.store.dialect === 'postgres';
  const outcomeDeps = { clock: deps.clock, random: deps.random, postgres, ...(observer ? { observer } : {}) };
  for (const update of updates) {
    await deps.store.db.transaction().execute(async (trx) => {
      await lockProviderMessage(trx, provider, update.providerMessageId, postgres);
      const d = await findByProviderMessage(trx, provider, update.providerMessageId);
      if (!d) {
        // Before the commit: a send recorded after this transaction must look for the receipt.
        if (deps.keptReceipts) deps.keptReceipts.maybe = true;
        await keepReceipt(trx, {
          provider,
          provider_message_id: update.providerMessageId,
          status: update.status,
          error_code: update.errorCode ?? null,
          error: update.error ?? null,
          received_at: update.at ?? deps.clock.now(),
        });
        return;
      }
      matched++;
      if (await applyStatusUpdate(trx, outcomeDeps, d, update)) enqueued = true;
    });
  }
  if (enqueued) deps.notifyOutbox();
  return matched;
}
