/** OTPGATE_BILLING_CURRENCY: validated at boot, shown with every amount. */
import { afterAll, describe, expect, it } from 'vitest';
import { billingCurrency, setBillingCurrency } from '../../src/billing/currency.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { api, createIntegration, startRuntime } from '../helpers/runtime.js';
import { expectJson } from '../routes/support.js';
import { topUp } from './support.js';

afterAll(() => setBillingCurrency('USD'));

describe('OTPGATE_BILLING_CURRENCY', () => {
  it('defaults to USD, takes an ISO 4217 code (upper-cased), refuses anything else', () => {
    expect(loadConfig({}).billingCurrency).toBe('USD');
    expect(loadConfig({ OTPGATE_BILLING_CURRENCY: '' }).billingCurrency).toBe('USD');
    expect(loadConfig({ OTPGATE_BILLING_CURRENCY: 'brl' }).billingCurrency).toBe('BRL');
    for (const bad of ['EURO', 'E1R', 'US D', '€']) expect(() => loadConfig({ OTPGATE_BILLING_CURRENCY: bad }), bad).toThrow(ConfigError);
    expect(() => setBillingCurrency('eur')).toThrow();
  });

  it('a runtime configured with EUR shows EUR on prices, the balance, ledger entries and top-ups', async () => {
    const rt = await startRuntime({ env: { OTPGATE_BILLING_CURRENCY: 'EUR' } });
    try {
      expect(billingCurrency()).toBe('EUR');
      const i = await createIntegration(rt.app);
      const client = api(rt.app, i.testKey);
      const prices = expectJson<{ data: { currency: string }[] }>(await client.get('/v1/pricing'), 200).data;
      expect(new Set(prices.map((p) => p.currency))).toEqual(new Set(['EUR']));
      expect((await topUp(rt.app, i.id, { amount: '1' })).currency).toBe('EUR');
      expect(expectJson<{ currency: string }>(await client.get('/v1/balance'), 200).currency).toBe('EUR');
      expect(expectJson<{ data: { currency: string }[] }>(await client.get('/v1/balance/transactions'), 200).data.map((t) => t.currency)).toEqual(['EUR']);
    } finally {
      await rt.dispose();
    }
  });
});
