/**
 * Foresight (SPEC §8) wired together for one replica: connector health on a schedule, alerts,
 * the health metrics and the activity behind the console's charts. The manager hands it each
 * task outcome (Tasks' onOutcome) and each connector it saves or deletes.
 */
import type { ConnectionOptions } from 'bullmq'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { ActivityStats } from './activity-stats.ts'
import { checkEventCandidates } from './alert-events.ts'
import { Alerts } from './alerts.ts'
import type { Connector, ConnectorStore } from './connector-store.ts'
import type { DelegateRecord } from './delegate-record.ts'
import { nullIfNotFound } from './errors.ts'
import { checkOf } from './health-check.ts'
import { registerHealthMetrics } from './health-metrics.ts'
import { HealthSchedule } from './health-schedule.ts'
import { HealthStore, type ConnectorHealth } from './health-store.ts'
import type { RedisKeys } from './redis-keys.ts'
import { SelectorWatch, type WatchedDelegate } from './selector-watch.ts'
import type { TaskOutcome } from './task-outcome.ts'
import { inRootSpan } from './task-tracing.ts'
import type { TaskData, TaskRequest } from './tasks.ts'

/** A health check's task never outlives its interval (at least 30 s) nor the usual minute. */
const CHECK_TIMEOUT_MS = 60_000

export interface MonitoringOptions {
  connection: ConnectionOptions
  redis: Redis
  keys: RedisKeys
  prefix: string
  log: Logger
  connectors: ConnectorStore
  /** every connected delegate this replica knows of, from memory (its own and the others') */
  fleet: () => WatchedDelegate[]
  /** the delegates whose socket this replica holds, for the load history */
  localDelegates: () => readonly DelegateRecord[]
  metrics: Registry
  /** Tasks.create */
  createTask(request: TaskRequest, selectors: string[]): Promise<TaskData>
  webhookUrl: string
  webhookSecret: string
  watchIntervalMs: number
  alertBackoffMs?: number
}

export class Monitoring {
  readonly health: HealthStore
  readonly stats: ActivityStats
  readonly #opts: MonitoringOptions
  readonly #log: Logger
  readonly #alerts: Alerts
  readonly #selectors: SelectorWatch
  readonly #schedule: HealthSchedule
  #sampling: NodeJS.Timeout | undefined

  constructor(opts: MonitoringOptions) {
    const { redis, keys, log, connectors, fleet } = opts
    this.#opts = opts
    this.#log = log
    this.health = new HealthStore(redis, keys)
    this.stats = new ActivityStats(redis, keys, log)
    this.#alerts = new Alerts({
      connection: opts.connection,
      redis,
      keys,
      prefix: opts.prefix,
      log,
      webhookUrl: opts.webhookUrl,
      webhookSecret: opts.webhookSecret,
      ...(opts.alertBackoffMs !== undefined ? { backoffMs: opts.alertBackoffMs } : {}),
    })
    this.#selectors = new SelectorWatch({ redis, keys, connectors, delegates: async () => fleet() })
    this.#schedule = new HealthSchedule({
      connection: opts.connection,
      prefix: opts.prefix,
      log,
      connectors,
      watchIntervalMs: opts.watchIntervalMs,
      check: async (c) => {
        const timeoutMs = Math.min(CHECK_TIMEOUT_MS, c.healthCheck!.intervalSeconds * 1000)
        // a scheduled check has no request: its span is the root of the check's trace
        await inRootSpan('health check', { 'rd.connector.id': c.id, 'rd.task.type': 'validate-connector' }, () =>
          opts.createTask({ type: 'validate-connector', connectorId: c.id, timeoutMs }, c.delegateSelectors),
        )
      },
      watch: (tick) => this.#watch(tick),
    })
    registerHealthMetrics(opts.metrics, { connectors, health: this.health, selectors: this.#selectors })
  }

  async start(): Promise<void> {
    await this.#alerts.start()
    await this.#schedule.start()
    // each replica samples the delegates it owns: no read of the directory, no sample twice
    this.#sampling = setInterval(() => {
      this.stats.sampleDelegates(this.#opts.localDelegates()).catch((err: unknown) => this.#log.warn({ err }, 'delegate load sample not written'))
    }, this.#opts.watchIntervalMs).unref()
  }

  async close(): Promise<void> {
    clearInterval(this.#sampling)
    await this.stats.flush()
    await this.#schedule.close()
    await this.#alerts.close()
  }

  /** Every task outcome this replica produced (Tasks' onOutcome): never awaited by the task. */
  onOutcome(data: TaskData, outcome: TaskOutcome): void {
    this.stats.recordTask(data, outcome)
    if (data.type !== 'validate-connector') return
    this.#recordCheck(data, outcome).catch((err: unknown) => this.#log.error({ err, taskId: data.id }, 'health check not recorded'))
  }

  async connectorSaved(connector: Connector): Promise<void> {
    await this.#schedule.sync(connector)
  }

  async connectorDeleted(connectorId: string): Promise<void> {
    await Promise.all([this.#schedule.forget(connectorId), this.health.forget(connectorId)])
  }

  async connectorHealth(connector: Connector): Promise<ConnectorHealth & { healthCheck: Connector['healthCheck']; nextCheckAt?: string }> {
    const [health, next] = await Promise.all([this.health.get(connector.id), connector.healthCheck ? this.#schedule.nextCheckAt(connector.id) : null])
    return { ...health, healthCheck: connector.healthCheck, ...(next ? { nextCheckAt: next } : {}) }
  }

  /** A validation of a connector whose health check is on, scheduled or run by hand, is a check. */
  async #recordCheck(data: TaskData, outcome: TaskOutcome): Promise<void> {
    const connector = await this.#opts.connectors.get(data.connectorId).catch(nullIfNotFound)
    if (!connector?.healthCheck) return
    const check = checkOf(data, outcome)
    const tls = outcome.status === 'succeeded' && outcome.result.type === 'validate-connector' ? outcome.result.profile?.tls : null
    const certificate = tls ? { issuer: tls.issuer, subject: tls.subject, notAfter: tls.notAfter, daysUntilExpiry: tls.daysUntilExpiry } : undefined
    const fired = await this.health.record(connector.id, check, checkEventCandidates(connector, check, certificate), this.#alerts.enabled)
    if (fired.length > 0) {
      this.#log.info({ connectorId: connector.id, events: fired.map((e) => e.type) }, 'connector health alert')
      await this.#alerts.forward()
    }
  }

  async #watch(tick: number): Promise<void> {
    const fired = await this.#selectors.tick(tick, this.#alerts.enabled)
    if (fired.length > 0) this.#log.info({ events: fired.map((e) => e.type) }, 'selector set alert')
    await this.#alerts.forward()
  }
}
