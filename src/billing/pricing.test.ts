import { describe, expect, it } from 'vitest';
import { pickPrice } from './pricing.js';

describe('pickPrice', () => {
  const rows = [
    { country: '*', price: 500 },
    { country: 'BR', price: 350 },
  ];

  it("takes the country's own row, else the channel's default", () => {
    expect(pickPrice(rows, 'BR')).toBe(350n);
    expect(pickPrice(rows, 'US')).toBe(500n);
    expect(pickPrice(rows, null)).toBe(500n);
  });

  it('is null when the catalog has neither', () => {
    expect(pickPrice([{ country: 'BR', price: 350 }], 'US')).toBeNull();
    expect(pickPrice([], 'BR')).toBeNull();
  });
});
