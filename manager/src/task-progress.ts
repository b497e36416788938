import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { TaskProgress } from './dispatch-task.ts'

export type { TaskProgress } from './dispatch-task.ts'

export interface LogRow {
  at: string
  message: string
}

/**
 * Writes the selection log and the task's placement as they happen, batching what one turn of
 * the event loop produced into one Redis round trip (a pipeline). Lines go to the job's own log
 * list and the placement to its `progress` field, so that BullMQ removes both with the job. The
 * lines of the last turn before the task ends are not written here: they travel inside the
 * job's return value (`takePending`), so that ending a task is one write.
 */
export class ProgressWriter {
  readonly #redis: Redis
  readonly #jobKey: string
  readonly #log: Logger
  /** every line of this stint, written or not, in order */
  readonly rows: LogRow[] = []
  #pending: LogRow[] = []
  #state: TaskProgress | null = null
  #scheduled: NodeJS.Immediate | null = null
  #chain: Promise<void> = Promise.resolve()

  constructor(redis: Redis, jobKey: string, log: Logger) {
    this.#redis = redis
    this.#jobKey = jobKey
    this.#log = log
  }

  log(message: string): void {
    const row = { at: new Date().toISOString(), message }
    this.rows.push(row)
    this.#pending.push(row)
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

  /** The lines not written yet, which the caller stores itself; nothing more is written. */
  takePending(): LogRow[] {
    if (this.#scheduled) clearImmediate(this.#scheduled)
    this.#scheduled = null
    const rows = this.#pending
    this.#pending = []
    this.#state = null
    return rows
  }

  #schedule(): void {
    this.#scheduled ??= setImmediate(() => this.#flush())
  }

  #flush(): void {
    if (this.#scheduled) clearImmediate(this.#scheduled)
    this.#scheduled = null
    if (this.#pending.length === 0 && this.#state === null) return
    const pipeline = this.#redis.pipeline()
    if (this.#pending.length) pipeline.rpush(`${this.#jobKey}:logs`, ...this.#pending.map((r) => JSON.stringify(r)))
    if (this.#state) pipeline.hset(this.#jobKey, 'progress', JSON.stringify(this.#state))
    this.#pending = []
    this.#state = null
    this.#chain = this.#chain
      .then(() => pipeline.exec())
      .then(
        () => undefined,
        (err: unknown) => this.#log.warn({ err }, 'task progress write failed'),
      )
  }
}
