/**
 * Alert delivery (SPEC §8): events decided elsewhere (health-store.ts, selector-watch.ts) wait in
 * a Redis outbox, written in the same atomic step that decided them. `forward()` moves them into
 * a BullMQ queue of their own under their deterministic id, so a replica that dies between the
 * two steps loses nothing (the next watch tick forwards what it left) and two replicas forwarding
 * the same event add one job. Any replica's worker POSTs each job to the webhook, retrying with
 * capped exponential backoff until it answers 2xx: at least once, and once per event.
 *
 *   POST MANAGER_ALERT_WEBHOOK_URL
 *   content-type: application/json
 *   x-rd-event: connector.failing          x-rd-delivery: <event id, the same on every retry>
 *   x-rd-signature: sha256=<hex HMAC-SHA256 of the raw body under MANAGER_ALERT_WEBHOOK_SECRET>
 */
import { createHmac } from 'node:crypto'
import { Queue, Worker, type ConnectionOptions, type Job } from 'bullmq'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { Agent, request } from 'undici'
import { VERSION } from '../../common/src/version.ts'
import type { AlertEvent } from './alert-events.ts'
import type { RedisKeys } from './redis-keys.ts'

export const ALERTS_QUEUE = 'alerts'
export const SIGNATURE_HEADER = 'x-rd-signature'
export const EVENT_HEADER = 'x-rd-event'
export const DELIVERY_HEADER = 'x-rd-delivery'

/** Twenty attempts: 1 s, 2 s, 4 s … then every 5 min, about an hour and a quarter in all. */
const ATTEMPTS = 20
const MAX_BACKOFF_MS = 5 * 60_000
const TIMEOUT_MS = 10_000
const OUTBOX_BATCH = 100

export interface AlertsOptions {
  connection: ConnectionOptions
  redis: Redis
  keys: RedisKeys
  prefix: string
  log: Logger
  /** '' turns alerts off: nothing is decided into the outbox, no worker runs. */
  webhookUrl: string
  webhookSecret: string
  /** First retry delay; it doubles up to 5 minutes. */
  backoffMs?: number
}

/** `sha256=<hex>`: the HMAC-SHA256 of the exact body bytes. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
}

export class Alerts {
  readonly #opts: AlertsOptions
  readonly #queue: Queue<AlertEvent> | null
  #worker: Worker<AlertEvent> | null = null
  #agent: Agent | null = null

  constructor(opts: AlertsOptions) {
    this.#opts = opts
    this.#queue = opts.webhookUrl ? new Queue<AlertEvent>(ALERTS_QUEUE, { connection: opts.connection, prefix: opts.prefix }) : null
    this.#queue?.on('error', (err) => opts.log.warn({ err: err.message }, 'alert queue connection error')) // else BullMQ writes it to stderr
  }

  get enabled(): boolean {
    return this.#queue !== null
  }

  async start(): Promise<void> {
    if (!this.#queue) return
    const { connection, prefix, log } = this.#opts
    const base = this.#opts.backoffMs ?? 1_000
    this.#agent = new Agent({ connect: { timeout: TIMEOUT_MS }, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS })
    this.#worker = new Worker<AlertEvent>(ALERTS_QUEUE, (job) => this.#deliver(job), {
      connection,
      prefix,
      concurrency: 4,
      settings: { backoffStrategy: (attemptsMade: number) => Math.min(MAX_BACKOFF_MS, base * 2 ** Math.max(0, attemptsMade - 1)) },
    })
    this.#worker.on('failed', (job, err) => {
      const last = job !== undefined && job.attemptsMade >= (job.opts.attempts ?? 1)
      log[last ? 'error' : 'warn']({ event: job?.data.type, delivery: job?.id, attempt: job?.attemptsMade, err: err.message }, last ? 'alert not delivered; giving up' : 'alert delivery failed; will retry')
    })
    this.#worker.on('error', (err) => log.error({ err }, 'alert worker error'))
    await this.#worker.waitUntilReady()
    await this.forward()
  }

  /** Moves decided events from the outbox into the delivery queue; returns how many. */
  async forward(): Promise<number> {
    if (!this.#queue) return 0
    const { redis, keys } = this.#opts
    const raws = await redis.lrange(keys.alertOutbox, 0, OUTBOX_BATCH - 1)
    for (const raw of raws) {
      const event = JSON.parse(raw) as AlertEvent
      await this.#queue.add(event.type, event, {
        jobId: event.id,
        attempts: ATTEMPTS,
        backoff: { type: 'custom' },
        // kept a week: an id seen again within it is the same event, not a new one
        removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
        removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
      })
      await redis.lrem(keys.alertOutbox, 1, raw)
    }
    return raws.length
  }

  async close(): Promise<void> {
    await this.#worker?.close()
    await this.#queue?.close()
    await this.#agent?.close()
  }

  async #deliver(job: Job<AlertEvent>): Promise<void> {
    const event = job.data
    const body = JSON.stringify(event)
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': `registry-delegates/${VERSION}`,
      [EVENT_HEADER]: event.type,
      [DELIVERY_HEADER]: event.id,
    }
    if (this.#opts.webhookSecret) headers[SIGNATURE_HEADER] = signature(this.#opts.webhookSecret, body)
    let status: number
    try {
      const res = await request(this.#opts.webhookUrl, {
        method: 'POST',
        headers,
        body,
        dispatcher: this.#agent!,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      })
      status = res.statusCode
      await res.body.dump()
    } catch (err) {
      // our own words only: the URL may hold a token, and undici's message may quote it
      const code = (err as { code?: string }).code ?? (err as Error).name
      throw new Error(`the alert webhook could not be reached (${code})`, { cause: err })
    }
    if (status < 200 || status >= 300) throw new Error(`the alert webhook answered ${status}`)
    this.#opts.log.info({ event: event.type, delivery: event.id, attempt: job.attemptsMade + 1 }, 'alert delivered')
  }
}
