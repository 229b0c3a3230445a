import type { Result } from '../problem.js';
import { seg, type PostOptions, type RequestOptions, type Transport } from '../transport.js';
import type { CreateIdentityParams, Identity, Page, UpdateIdentityParams } from '../types.js';

/** `/v1/identities`: the integrator's users, keyed by their own `reference`. */
export class Identities {
  constructor(private readonly transport: Transport) {}

  /**
   * Creates an identity (`POST /v1/identities` → 201); 409 `conflict` for a taken reference.
   * @default email, phone, cpf and name unset; no `Idempotency-Key`
   * @example
   * await client.identities.create({ reference: 'user-42', email: 'ana@example.com', name: 'Ana' });
   */
  create(params: CreateIdentityParams, options: PostOptions = {}): Promise<Result<Identity>> {
    return this.transport.request('POST', '/v1/identities', { ...options, body: params });
  }

  /**
   * Reads an identity by reference (`GET /v1/identities/{reference}`); 404 `not-found`.
   * @default the client's `timeoutMs`
   * @example
   * const ana = await client.identities.get('user-42');
   */
  get(reference: string, options: RequestOptions = {}): Promise<Result<Identity>> {
    return this.transport.request('GET', `/v1/identities/${seg(reference)}`, options);
  }

  /**
   * Finds the identities that hold an identifier (`GET /v1/identities?identifier=…`).
   * @default the client's `timeoutMs`
   * @example
   * const found = await client.identities.search('ana@example.com');
   * if (found.ok) console.warn(found.data.data.map((i) => i.reference));
   */
  search(identifier: string, options: RequestOptions = {}): Promise<Result<Page<Identity>>> {
    return this.transport.request('GET', '/v1/identities', { ...options, query: { identifier } });
  }

  /**
   * Changes an identity (`PATCH /v1/identities/{reference}`); `null` clears a field.
   * @default fields left out are unchanged
   * @example
   * await client.identities.update('user-42', { name: 'Ana Souza' });
   */
  update(reference: string, patch: UpdateIdentityParams, options: RequestOptions = {}): Promise<Result<Identity>> {
    return this.transport.request('PATCH', `/v1/identities/${seg(reference)}`, { ...options, body: patch });
  }
}
