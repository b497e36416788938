/**
 * Tasks live in BullMQ from creation to end: the job's data is the request, its progress the
 * current placement, its logs the selection log, its return value the outcome. A manager that
 * dies mid-task leaves the job active without a lock; BullMQ's stalled check hands it to another
 * replica (or this one after a restart), which runs it again.
 */
import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { Job, Queue, QueueEvents, Worker, type ConnectionOptions } from 'bullmq'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { isTaskErrorCode, TaskErrorCode, type TaskResult, type TaskType } from '../../protocol/src/index.ts'
import type { DispatchHooks, DispatchTask } from './dispatcher.ts'
import { ManagerError } from './errors.ts'
import type { DelegateRef, TaskError, TaskOutcome } from './task-outcome.ts'
import type { RedisKeys } from './redis-keys.ts'
import { ProgressWriter, type TaskProgress } from './task-progress.ts'

export const QUEUE_NAME = 'tasks'

export interface TaskRequest {
  type: TaskType
  connectorId: string
  image?: string | undefined
  delegateSelectors?: string[] | undefined
  timeoutMs?: number | undefined
}

export interface TaskData {
  id: string
  type: TaskType
  connectorId: string
  image: string | null
  delegateSelectors: string[]
  timeoutMs: number
  createdAt: number
}

type StoredOutcome = TaskOutcome & { finishedAt: number }

export type TaskStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'expired'
export const TASK_STATUSES: readonly TaskStatus[] = ['queued', 'running', 'succeeded', 'failed', 'expired']

export interface TaskView {
  id: string
  type: TaskType
  connectorId: string
  image?: string
  delegateSelectors: string[]
  timeoutMs: number
  status: TaskStatus
  attempts: number
  delegate?: DelegateRef
  selectionLog: { at: string; message: string }[]
  result?: TaskResult
  error?: TaskError
  createdAt: string
  finishedAt?: string
}

export const DEFAULT_TIMEOUT_MS = 60_000

export interface TasksOptions {
  connection: ConnectionOptions
  redis: Redis
  keys: RedisKeys
  prefix: string
  log: Logger
  concurrency: number
  /** Turns a task into what a delegate needs (connector, decrypted secret, registry host). */
  prepare(data: TaskData, attempts: number): Promise<DispatchTask>
  dispatch(task: DispatchTask, hooks: DispatchHooks): Promise<TaskOutcome>
  /** Called once per outcome this replica produced (metrics). */
  onOutcome?(data: TaskData, outcome: TaskOutcome): void
}

export class Tasks {
  readonly queue: Queue<TaskData, StoredOutcome>
  readonly #opts: TasksOptions
  readonly #finished = new EventEmitter()
  #worker: Worker<TaskData, StoredOutcome> | null = null
  #events: QueueEvents | null = null

  constructor(opts: TasksOptions) {
    this.#opts = opts
    this.#finished.setMaxListeners(0)
    this.queue = new Queue<TaskData, StoredOutcome>(QUEUE_NAME, {
      connection: opts.connection,
      prefix: opts.prefix,
      defaultJobOptions: {
        attempts: 1,
        removeOnComplete: { age: 7 * 24 * 3600, count: 20_000 },
        removeOnFail: { age: 7 * 24 * 3600, count: 20_000 },
      },
    })
  }

  /** Starts this replica's worker and the cross-replica completion feed. */
  async start(): Promise<void> {
    const { connection, prefix, concurrency, log } = this.#opts
    this.#events = new QueueEvents(QUEUE_NAME, { connection, prefix })
    this.#events.on('completed', ({ jobId }) => this.#finished.emit(jobId))
    this.#events.on('failed', ({ jobId }) => this.#finished.emit(jobId))
    this.#worker = new Worker<TaskData, StoredOutcome>(QUEUE_NAME, (job) => this.#process(job), {
      connection,
      prefix,
      concurrency,
      // A replica that dies releases its tasks after lockDuration; the stalled check (every
      // stalledInterval) hands them to a live replica: 15 s at most, inside SPEC §6's 30 s.
      lockDuration: 10_000,
      stalledInterval: 5_000,
      maxStalledCount: 20,
    })
    this.#worker.on('completed', (job) => this.#finished.emit(job.id!))
    this.#worker.on('failed', (job, err) => {
      if (job) this.#finished.emit(job.id!)
      log.error({ taskId: job?.id, err }, 'task job failed inside the manager')
    })
    this.#worker.on('error', (err) => log.error({ err }, 'task worker error'))
    await Promise.all([this.#worker.waitUntilReady(), this.#events.waitUntilReady()])
  }

  async create(request: TaskRequest, selectors: string[]): Promise<TaskData> {
    const data: TaskData = {
      id: randomUUID(),
      type: request.type,
      connectorId: request.connectorId,
      image: request.image ?? null,
      delegateSelectors: selectors,
      timeoutMs: request.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      createdAt: Date.now(),
    }
    const { redis, keys } = this.#opts
    // The index only serves listings; written beside the job, not before it (one round trip).
    await Promise.all([
      redis
        .multi()
        .zadd(keys.taskIndex, data.createdAt, data.id)
        .zadd(keys.taskIndexByConnector(data.connectorId), data.createdAt, data.id)
        .zremrangebyrank(keys.taskIndex, 0, -20_001)
        .zremrangebyrank(keys.taskIndexByConnector(data.connectorId), 0, -20_001)
        .exec(),
      this.queue.add(data.type, data, { jobId: data.id }),
    ])
    return data
  }

  async get(id: string): Promise<TaskView | null> {
    return (await this.#views([id]))[0] ?? null
  }

  /** Waits up to `ms` for the task to end, then returns it as it is. */
  async wait(id: string, ms: number): Promise<TaskView | null> {
    if (ms <= 0) return this.get(id)
    let wake: () => void = () => {}
    const woken = new Promise<void>((resolve) => (wake = resolve))
    this.#finished.once(id, wake)
    const timer = setTimeout(wake, ms)
    try {
      const first = await this.get(id)
      if (!first || isFinal(first.status)) return first
      await woken
      return await this.get(id)
    } finally {
      clearTimeout(timer)
      this.#finished.off(id, wake)
    }
  }

  async list(filter: { connectorId?: string | undefined; status?: TaskStatus | undefined; limit: number }): Promise<TaskView[]> {
    const { redis, keys } = this.#opts
    const index = filter.connectorId ? keys.taskIndexByConnector(filter.connectorId) : keys.taskIndex
    const out: TaskView[] = []
    const batch = Math.max(filter.limit, 100)
    for (let start = 0; out.length < filter.limit && start < 20_000; start += batch) {
      const ids = await redis.zrevrange(index, start, start + batch - 1)
      if (ids.length === 0) break
      for (const view of await this.#views(ids)) {
        if (!view) continue
        // A listing carries no results (one tag list can be megabytes); GET /tasks/:id has it.
        delete view.result
        if (!filter.status || view.status === filter.status) out.push(view)
        if (out.length === filter.limit) break
      }
    }
    return out
  }

  /** Waiting plus running tasks, for /metrics and readiness. */
  async depth(): Promise<{ waiting: number; active: number }> {
    const counts = await this.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized')
    return { waiting: (counts.waiting ?? 0) + (counts.delayed ?? 0) + (counts.prioritized ?? 0), active: counts.active ?? 0 }
  }

  /**
   * Stops taking tasks. `force` leaves running jobs to the stalled check of another replica
   * (a manager going away must not wait for registry calls on its delegates).
   */
  async close(force = true): Promise<void> {
    await this.#worker?.close(force)
    await this.#events?.close()
    await this.queue.close()
  }

  async #process(job: Job<TaskData, StoredOutcome>): Promise<StoredOutcome> {
    const data = job.data
    const log = this.#opts.log.child({ taskId: data.id })
    const progress = (job.progress ?? {}) as Partial<TaskProgress>
    const attempts = progress.attempts ?? 0
    const writer = new ProgressWriter(this.#opts.redis, this.queue.toKey(data.id), log)
    const hooks: DispatchHooks = {
      log: (message) => writer.log(message),
      onState: (state) => writer.state(state),
    }
    if (attempts > 0 || job.attemptsStarted > 1) hooks.log('picked up again after a manager stopped; running it anew')
    let outcome: TaskOutcome
    try {
      const task = await this.#opts.prepare(data, attempts)
      outcome = await this.#opts.dispatch(task, hooks)
    } catch (err) {
      const code = err instanceof ManagerError && isTaskErrorCode(err.code) ? err.code : TaskErrorCode.INTERNAL
      hooks.log(`could not start: ${code}`)
      outcome = { status: 'failed', error: { code, message: err instanceof Error ? err.message : String(err) }, delegate: null, attempts }
      if (code === TaskErrorCode.INTERNAL) log.error({ err }, 'task preparation failed')
    }
    await writer.flushed()
    this.#opts.onOutcome?.(data, outcome)
    log.info({ status: outcome.status, code: outcome.status === 'succeeded' ? undefined : outcome.error.code, attempts: outcome.attempts }, 'task finished')
    return { ...outcome, finishedAt: Date.now() }
  }

  /** One round trip for any number of tasks: the job hashes and their selection logs. */
  async #views(ids: readonly string[]): Promise<(TaskView | null)[]> {
    if (ids.length === 0) return []
    const pipeline = this.#opts.redis.pipeline()
    for (const id of ids) pipeline.hgetall(this.queue.toKey(id)).lrange(`${this.queue.toKey(id)}:logs`, 0, -1)
    const replies = (await pipeline.exec()) ?? []
    return ids.map((id, i) => {
      const hash = replies[2 * i]?.[1] as Record<string, string> | undefined
      const logs = (replies[2 * i + 1]?.[1] as string[] | undefined) ?? []
      if (!hash || !hash.data) return null
      return view(Job.fromJSON<TaskData, StoredOutcome>(this.queue, hash as never, id), logs)
    })
  }
}

/** What a job's fields say about its task. BullMQ sets finishedOn with returnvalue or failedReason. */
function view(job: Job<TaskData, StoredOutcome>, logs: string[]): TaskView {
  const data = job.data
  const v: TaskView = {
    id: data.id,
    type: data.type,
    connectorId: data.connectorId,
    delegateSelectors: data.delegateSelectors,
    timeoutMs: data.timeoutMs,
    status: 'queued',
    attempts: 0,
    selectionLog: logs.map(parseLogRow),
    createdAt: new Date(data.createdAt).toISOString(),
  }
  if (data.image !== null) v.image = data.image
  const progress = (typeof job.progress === 'object' ? job.progress : {}) as Partial<TaskProgress>
  if (progress.attempts) v.attempts = progress.attempts
  const outcome = job.returnvalue as StoredOutcome | null | undefined
  if (job.finishedOn && outcome && typeof outcome === 'object') {
    v.status = outcome.status
    v.attempts = outcome.attempts
    if (outcome.delegate) v.delegate = outcome.delegate
    if (outcome.status === 'succeeded') v.result = outcome.result
    else v.error = outcome.error
    v.finishedAt = new Date(outcome.finishedAt).toISOString()
  } else if (job.finishedOn && job.failedReason) {
    v.status = 'failed'
    v.error = { code: TaskErrorCode.INTERNAL, message: `the manager could not run this task: ${job.failedReason}` }
    v.finishedAt = new Date(job.finishedOn).toISOString()
  } else if (progress.status === 'running' && progress.delegate) {
    v.status = 'running'
    v.delegate = progress.delegate
  }
  return v
}

export function isFinal(status: TaskStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'expired'
}

function parseLogRow(row: string): { at: string; message: string } {
  try {
    const parsed = JSON.parse(row) as { at: string; message: string }
    return { at: parsed.at, message: parsed.message }
  } catch {
    return { at: '', message: row }
  }
}
