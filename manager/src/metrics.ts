/**
 * Prometheus metrics (`GET /metrics`, no auth). One registry per manager, so that several
 * managers in one process (tests) never share counters. Gauges that mirror state are read on
 * scrape rather than kept in step.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { TaskOutcome } from './task-outcome.ts'
import type { TaskData } from './tasks.ts'
import { within } from './within.ts'

/** A scrape answers within this even while Redis is away (queued commands wait for it). */
export const REDIS_READ_TIMEOUT_MS = 2_000

export interface MetricsSources {
  /** queued and running tasks in the shared queue (every replica's) */
  depth(): Promise<{ waiting: number; active: number }>
  /** delegates connected to this replica that said hello */
  connectedDelegates(): number
  /** tasks waiting for an eligible delegate, by selector set (every replica's) */
  waitingBySelectors(): Promise<Map<string, number>>
  replica: string
  version: string
}

export interface Metrics {
  registry: Registry
  /** Tasks.onOutcome */
  onOutcome(data: TaskData, outcome: TaskOutcome, now?: number): void
  /** DelegateGateway.onDecodeFailure */
  onDecodeFailure(reason: string): void
  /** DelegateGateway.onConnectionError */
  onConnectionError(stage: 'upgrade' | 'websocket'): void
  /** Dispatcher: a task handed to a delegate owned here (local) or by another replica (remote) */
  onPlaced(local: boolean, sinceCreatedMs: number): void
}

export function createMetrics(sources: MetricsSources, { defaultMetrics = true } = {}): Metrics {
  const registry = new Registry()
  if (defaultMetrics) collectDefaultMetrics({ register: registry })

  const tasks = new Counter({
    name: 'rd_tasks_total',
    help: 'Tasks this replica ended, by type and outcome (succeeded, failed, expired)',
    labelNames: ['type', 'outcome'] as const,
    registers: [registry],
  })
  const errors = new Counter({
    name: 'rd_task_errors_total',
    help: 'Failed and expired tasks this replica ended, by type and error code (SPEC §5)',
    labelNames: ['type', 'code'] as const,
    registers: [registry],
  })
  const duration = new Histogram({
    name: 'rd_task_duration_seconds',
    help: 'From task creation to its end, waiting for a delegate included',
    labelNames: ['type', 'outcome'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  })
  new Gauge({
    name: 'rd_queue_depth',
    help: 'Tasks in the queue by state (waiting: not yet handed out; active: being dispatched or run)',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      try {
        const { waiting, active } = await within(sources.depth(), REDIS_READ_TIMEOUT_MS, () => new Error('queue depth not read in time'))
        this.set({ state: 'waiting' }, waiting)
        this.set({ state: 'active' }, active)
      } catch {
        // Redis unreachable: leave the series out rather than report a wrong zero (readyz says why)
        this.reset()
      }
    },
  })
  new Gauge({
    name: 'rd_connected_delegates',
    help: 'Delegates connected to this replica',
    labelNames: ['replica'] as const,
    registers: [registry],
    collect() {
      this.set({ replica: sources.replica }, sources.connectedDelegates())
    },
  })
  new Gauge({
    name: 'rd_tasks_waiting_for_delegate',
    help: 'Tasks waiting for an eligible delegate, by required selector set (every replica\'s; scale delegates with these tags on it)',
    labelNames: ['selectors'] as const,
    registers: [registry],
    async collect() {
      this.reset()
      try {
        const counts = await within(sources.waitingBySelectors(), REDIS_READ_TIMEOUT_MS, () => new Error('waiting tasks not counted in time'))
        for (const [selectors, count] of counts) this.set({ selectors }, count)
      } catch {
        // Redis unreachable: no series rather than a wrong zero
      }
    },
  })
  new Gauge({
    name: 'rd_build_info',
    help: 'Always 1; the labels say what runs',
    labelNames: ['version', 'node', 'replica'] as const,
    registers: [registry],
  }).set({ version: sources.version, node: process.version, replica: sources.replica }, 1)
  const decodeFailures = new Counter({
    name: 'rd_websocket_decode_failures_total',
    help: 'Delegate frames refused because they could not be decoded (the socket is closed each time)',
    registers: [registry],
  })

  const connectionErrors = new Counter({
    name: 'rd_connection_errors_total',
    help: 'Delegate sockets that ended in an error (reset, timeout), by stage: upgrade (before the 101) or websocket',
    labelNames: ['stage'] as const,
    registers: [registry],
  })
  // both series from the start: a dashboard's rate() on a series that appears late misses its first errors
  for (const stage of ['upgrade', 'websocket']) connectionErrors.inc({ stage }, 0)

  const placements = new Counter({
    name: 'rd_placements_total',
    help: 'Tasks this replica handed to a delegate, by where its socket is: local (this replica) or remote (a hand-over to another replica)',
    labelNames: ['where'] as const,
    registers: [registry],
  })
  const placementDelay = new Histogram({
    name: 'rd_placement_delay_seconds',
    help: 'From task creation to its hand-over to a delegate (queue wait and placement; each attempt)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  })

  return {
    registry,
    onOutcome(data, outcome, now = Date.now()) {
      const labels = { type: data.type, outcome: outcome.status }
      tasks.inc(labels)
      if (outcome.status !== 'succeeded') errors.inc({ type: data.type, code: outcome.error.code })
      duration.observe(labels, Math.max(0, now - data.createdAt) / 1000)
    },
    onDecodeFailure() {
      decodeFailures.inc()
    },
    onConnectionError(stage) {
      connectionErrors.inc({ stage })
    },
    onPlaced(local, sinceCreatedMs) {
      placements.inc({ where: local ? 'local' : 'remote' })
      placementDelay.observe(sinceCreatedMs / 1000)
    },
  }
}
