import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { DelegateRef } from './task-outcome.ts'

/** Where a task stands while it is not finished: kept in its BullMQ job's `progress` field. */
export interface TaskProgress {
  status: 'queued' | 'running'
  delegate: DelegateRef | null
  attempts: number
}

/**
 * Writes the selection log and the task's placement as they happen, batching what one
 * synchronous step produced into one Redis round trip (a pipeline). Lines go to the job's own
 * log list and the placement to its `progress` field, so that BullMQ removes both with the job.
 */
export class ProgressWriter {
  readonly #redis: Redis
  readonly #jobKey: string
  readonly #log: Logger
  #rows: string[] = []
  #state: TaskProgress | null = null
  #scheduled = false
  #chain: Promise<void> = Promise.resolve()

  constructor(redis: Redis, jobKey: string, log: Logger) {
    this.#redis = redis
    this.#jobKey = jobKey
    this.#log = log
  }

  log(message: string): void {
    this.#rows.push(JSON.stringify({ at: new Date().toISOString(), message }))
    this.#schedule()
  }

  state(state: TaskProgress): void {
    this.#state = state
    this.#schedule()
  }

  /** Resolves once everything logged so far is in Redis. */
  async flushed(): Promise<void> {
    this.#flush()
    await this.#chain
  }

  #schedule(): void {
    if (this.#scheduled) return
    this.#scheduled = true
    queueMicrotask(() => this.#flush())
  }

  #flush(): void {
    this.#scheduled = false
    if (this.#rows.length === 0 && this.#state === null) return
    const pipeline = this.#redis.pipeline()
    if (this.#rows.length) pipeline.rpush(`${this.#jobKey}:logs`, ...this.#rows)
    if (this.#state) pipeline.hset(this.#jobKey, 'progress', JSON.stringify(this.#state))
    this.#rows = []
    this.#state = null
    this.#chain = this.#chain
      .then(() => pipeline.exec())
      .then(
        () => undefined,
        (err: unknown) => this.#log.warn({ err }, 'task progress write failed'),
      )
  }
}
