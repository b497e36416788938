/**
 * Schedules in BullMQ (SPEC §8), one across all replicas: a job scheduler per connector whose
 * health check is on (`check-<connectorId>`, every intervalSeconds) and one watch scheduler
 * (every MANAGER_WATCH_INTERVAL_MS). BullMQ adds each iteration's job once, and one replica's
 * worker takes it, however many replicas run. A check job creates the connector's
 * validate-connector task through the usual task path; the outcome is recorded when the task
 * ends (monitoring.ts). Upserting an unchanged scheduler keeps its timing, so every replica can
 * reconcile at start.
 */
import { Queue, Worker, type ConnectionOptions, type Job } from 'bullmq'
import type { Logger } from 'pino'
import type { Connector, ConnectorStore } from './connector-store.ts'
import { nullIfNotFound } from './errors.ts'

export const HEALTH_QUEUE = 'health'
const WATCH = 'watch'
const checkId = (connectorId: string) => `check-${connectorId}`

type HealthJob = { connectorId: string } | Record<string, never>

export interface HealthScheduleOptions {
  connection: ConnectionOptions
  prefix: string
  log: Logger
  connectors: ConnectorStore
  watchIntervalMs: number
  /** Starts one check of `connector` (a validate-connector task). */
  check(connector: Connector): Promise<void>
  /** One watch tick; `tick` (epoch ms of the iteration) is the same whoever runs it. */
  watch(tick: number): Promise<void>
}

export class HealthSchedule {
  readonly #opts: HealthScheduleOptions
  readonly #queue: Queue<HealthJob>
  #worker: Worker<HealthJob> | null = null

  constructor(opts: HealthScheduleOptions) {
    this.#opts = opts
    this.#queue = new Queue<HealthJob>(HEALTH_QUEUE, {
      connection: opts.connection,
      prefix: opts.prefix,
      defaultJobOptions: { removeOnComplete: true, removeOnFail: { count: 100 } },
    })
    this.#queue.on('error', (err) => opts.log.warn({ err: err.message }, 'health queue connection error')) // else BullMQ writes it to stderr
  }

  async start(): Promise<void> {
    const { connection, prefix, log, watchIntervalMs } = this.#opts
    await this.#queue.upsertJobScheduler(WATCH, { every: watchIntervalMs }, { name: WATCH, data: {} })
    this.#worker = new Worker<HealthJob>(HEALTH_QUEUE, (job) => this.#process(job), { connection, prefix, concurrency: 8 })
    this.#worker.on('failed', (job, err) => log.warn({ job: job?.name, connectorId: (job?.data as { connectorId?: string } | undefined)?.connectorId, err: err.message }, 'scheduled job failed'))
    this.#worker.on('error', (err) => log.error({ err }, 'health worker error'))
    await this.#worker.waitUntilReady()
    await this.#reconcile()
  }

  /** After a connector is saved: its scheduler follows its healthCheck. */
  async sync(connector: Connector): Promise<void> {
    if (!connector.healthCheck) return this.forget(connector.id)
    await this.#queue.upsertJobScheduler(
      checkId(connector.id),
      { every: connector.healthCheck.intervalSeconds * 1000 },
      { name: 'check', data: { connectorId: connector.id } },
    )
  }

  async forget(connectorId: string): Promise<void> {
    await this.#queue.removeJobScheduler(checkId(connectorId))
  }

  /** When the next scheduled check is due, or null when none is scheduled. */
  async nextCheckAt(connectorId: string): Promise<string | null> {
    const s = await this.#queue.getJobScheduler(checkId(connectorId))
    return s?.next ? new Date(s.next).toISOString() : null
  }

  async close(): Promise<void> {
    await this.#worker?.close()
    await this.#queue.close()
  }

  async #process(job: Job<HealthJob>): Promise<void> {
    if (job.name === WATCH) return this.#opts.watch(tickOf(job))
    const { connectorId } = job.data as { connectorId: string }
    const connector = await this.#opts.connectors.get(connectorId).catch(nullIfNotFound)
    // a connector deleted or switched off while a save raced with this job: stop its scheduler
    if (!connector?.healthCheck) return this.forget(connectorId)
    if (connector.healthCheck.intervalSeconds * 1000 !== job.opts.repeat?.every) return this.sync(connector)
    await this.#opts.check(connector)
  }

  async #reconcile(): Promise<void> {
    const [connectors, schedulers] = await Promise.all([this.#opts.connectors.list(), this.#queue.getJobSchedulers(0, -1)])
    const wanted = new Map(connectors.filter((c) => c.healthCheck).map((c) => [checkId(c.id), c]))
    for (const c of wanted.values()) await this.sync(c)
    for (const s of schedulers) if (s.key.startsWith('check-') && !wanted.has(s.key)) await this.#queue.removeJobScheduler(s.key)
  }
}

/** A scheduler's job id is `repeat:<scheduler>:<epoch ms of the iteration>`. */
function tickOf(job: Job): number {
  const ms = Number(job.id?.split(':').at(-1))
  return Number.isFinite(ms) ? ms : job.timestamp
}
