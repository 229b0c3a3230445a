/**
 * The one currency of this deployment's prices and balances (OTPGATE_BILLING_CURRENCY, default
 * USD). Set once at boot by the runtime, before any request; every amount shown carries it.
 */
let current = 'USD';

export function setBillingCurrency(code: string): void {
  if (!/^[A-Z]{3}$/.test(code)) throw new Error(`a currency is three capital letters (ISO 4217), got "${code}"`);
  current = code;
}

export function billingCurrency(): string {
  return current;
}
