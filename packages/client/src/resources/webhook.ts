import type { Result } from '../problem.js';
import { seg, type PostOptions, type RequestOptions, type Transport } from '../transport.js';
import type { ListParams, Page, UpdateWebhookParams, Webhook, WebhookDeleted, WebhookDelivery, WebhookTestResult, WebhookWithSecret } from '../types.js';

/** `/v1/webhook/deliveries`: what was sent to the webhook URL, and manual retries. */
export class WebhookDeliveries {
  constructor(private readonly transport: Transport) {}

  /**
   * Lists deliveries, newest first (`GET /v1/webhook/deliveries`).
   * @default limit 20, first page
   * @example
   * const page = await client.webhook.deliveries.list({ limit: 50 });
   */
  list(params: ListParams = {}, options: RequestOptions = {}): Promise<Result<Page<WebhookDelivery>>> {
    return this.transport.request('GET', '/v1/webhook/deliveries', { ...options, query: { limit: params.limit, cursor: params.cursor } });
  }

  /**
   * Sends a delivery again now (`POST /v1/webhook/deliveries/{id}/retry`).
   * @default no `Idempotency-Key`
   * @example
   * await client.webhook.deliveries.retry('whd_7Kp…');
   */
  retry(id: string, options: PostOptions = {}): Promise<Result<WebhookDelivery>> {
    return this.transport.request('POST', `/v1/webhook/deliveries/${seg(id)}/retry`, { ...options, body: {} });
  }
}

/** `/v1/webhook`: the integration's one webhook endpoint (Standard Webhooks signatures). */
export class WebhookResource {
  readonly deliveries: WebhookDeliveries;

  constructor(private readonly transport: Transport) {
    this.deliveries = new WebhookDeliveries(transport);
  }

  /**
   * The webhook configuration (`GET /v1/webhook`), without its secret.
   * @default the client's `timeoutMs`
   * @example
   * const hook = await client.webhook.get();
   */
  get(options: RequestOptions = {}): Promise<Result<Webhook>> {
    return this.transport.request('GET', '/v1/webhook', options);
  }

  /**
   * Sets the webhook (`PATCH /v1/webhook`); the answer shows the secret once. The URL must be HTTPS
   * and public, else 422 `invalid-webhook-url`.
   * @default a generated `whsec_…` secret when none (or a short one) is given
   * @example
   * const hook = await client.webhook.update({ url: 'https://example.com/hooks/otpgate', events: ['verification.approved'] });
   * if (hook.ok) saveSecret(hook.data.secret);
   */
  update(params: UpdateWebhookParams, options: RequestOptions = {}): Promise<Result<WebhookWithSecret>> {
    return this.transport.request('PATCH', '/v1/webhook', { ...options, body: params });
  }

  /**
   * Removes the webhook (`DELETE /v1/webhook`).
   * @default the client's `timeoutMs`
   * @example
   * await client.webhook.delete();
   */
  delete(options: RequestOptions = {}): Promise<Result<WebhookDeleted>> {
    return this.transport.request('DELETE', '/v1/webhook', options);
  }

  /**
   * Sends a signed `webhook.test` event to the webhook now (`POST /v1/webhook/test`) and answers with
   * how the receiver took it (`delivered`, its `status`, or the `error` when it did not answer).
   * @default the client's `timeoutMs` (the server waits up to its webhook timeout, 10 s by default)
   * @example
   * const t = await client.webhook.test();
   * if (t.ok && !t.data.delivered) console.warn(`receiver answered ${t.data.status ?? t.data.error}`);
   */
  test(options: PostOptions = {}): Promise<Result<WebhookTestResult>> {
    return this.transport.request('POST', '/v1/webhook/test', { ...options, body: {} });
  }
}
