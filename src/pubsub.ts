import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** Topics processes tell each other about. */
/** `inbox` carries the id of a sandbox inbox that changed: long-poll waiters of every process wake. */
/** `console-session` carries `<session id> <until ms>`: a console session signed out (http/plugins/operator-session.ts). */
export type Topic = 'outbox' | 'keys' | 'webhooks' | 'inbox' | 'console-session';

/**
 * Fire-and-forget notices between processes: "the outbox has work" (wakes idle workers at once
 * instead of at their next poll) and "keys or policies changed" (drops cached API keys). Losing a
 * notice only costs latency: workers poll and key caches expire on their own.
 */
export interface Notifier {
  /** `message`: a short text for the listeners (e.g. an inbox id); empty when absent. */
  publish(topic: Topic, message?: string): void;
  subscribe(topic: Topic, listener: (message: string) => void): void;
  close(): Promise<void>;
}

/** One process: notices stay in it. */
export class LocalNotifier implements Notifier {
  private readonly events = new EventEmitter();
  publish(topic: Topic, message = ''): void {
    this.events.emit(topic, message);
  }
  subscribe(topic: Topic, listener: (message: string) => void): void {
    this.events.on(topic, listener);
  }
  async close(): Promise<void> {
    this.events.removeAllListeners();
  }
}

/** Many processes: Redis pub/sub (a dedicated subscriber connection), plus local delivery. */
export class RedisNotifier implements Notifier {
  private readonly local = new LocalNotifier();
  private readonly subscribed = new Set<Topic>();

  constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly logger: Logger,
  ) {
    subscriber.on('message', (channel: string, message: string) => this.local.publish(channel.replace(/^otpg:/, '') as Topic, message));
  }

  publish(topic: Topic, message = ''): void {
    // Subscribers in this process hear it through Redis too; publishing only there avoids doubles.
    this.publisher.publish(`otpg:${topic}`, message).catch((err: unknown) => {
      this.logger.warn({ err, topic }, 'pubsub: publish failed; local delivery only');
      this.local.publish(topic, message);
    });
  }

  subscribe(topic: Topic, listener: (message: string) => void): void {
    this.local.subscribe(topic, listener);
    if (this.subscribed.has(topic)) return;
    this.subscribed.add(topic);
    this.subscriber.subscribe(`otpg:${topic}`).catch((err: unknown) => this.logger.warn({ err, topic }, 'pubsub: subscribe failed'));
  }

  async close(): Promise<void> {
    await this.local.close();
    this.subscriber.disconnect();
  }
}
