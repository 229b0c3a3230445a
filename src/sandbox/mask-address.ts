import { maskIdentifier, parseIdentifier } from '../domain/identifiers.js';

/**
 * An inbox address or number as logs may show it: `a***@sandbox.example`, `+55*******4321`.
 * Anything that does not parse as a phone or an email shows as `***` (it is still someone's text).
 */
export function maskAddress(address: string): string {
  const parsed = parseIdentifier(address);
  return parsed.ok && parsed.identifier.kind !== 'cpf' ? maskIdentifier(parsed.identifier) : '***';
}
