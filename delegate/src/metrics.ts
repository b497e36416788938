/**
 * The delegate's Prometheus metrics, served at `/metrics` on DELEGATE_HEALTH_PORT beside the
 * health answer. main.ts imports this file (and so prom-client) only when the health port is on:
 * a delegate without it never loads prom-client. Gauges that mirror state are read on scrape.
 */
import Counter from 'prom-client/lib/counter.js'
import Gauge from 'prom-client/lib/gauge.js'
import Histogram from 'prom-client/lib/histogram.js'
import Registry from 'prom-client/lib/registry.js'
import type { ConnectionState } from './manager-connection.ts'

/** What the delegate reports as it works (delegate.ts, manager-connection.ts, registry/http.ts). */
export interface DelegateObserver {
  /** a task this delegate ran ended: succeeded, failed (a registry or input failure) or aborted (cancelled, deadline, manager lost) */
  taskEnded(type: string, outcome: 'succeeded' | 'failed' | 'aborted', code?: string): void
  /** the delegate dials a manager again after a connection closed or failed */
  reconnecting(): void
  /** one HTTP request to a registry (or its token service): `status` is the HTTP status, or `error` when none came */
  registryRequest(host: string, status: number | 'error', seconds: number): void
}

export interface DelegateState {
  connectionState: ConnectionState
  activeTasks: number
  capacity: number
}

export interface DelegateMetrics extends DelegateObserver {
  registry: Registry
  /** the live figures read on scrape */
  watch(state: () => DelegateState): void
}

export function createDelegateMetrics(labels: { name: string; version: string }): DelegateMetrics {
  const registry = new Registry()
  let state: (() => DelegateState) | null = null

  const tasks = new Counter({
    name: 'rd_delegate_tasks_total',
    help: 'Tasks this delegate ran, by type and outcome (succeeded, failed, aborted)',
    labelNames: ['type', 'outcome'] as const,
    registers: [registry],
  })
  const errors = new Counter({
    name: 'rd_delegate_task_errors_total',
    help: 'Failed tasks by type and error code (SPEC §5)',
    labelNames: ['type', 'code'] as const,
    registers: [registry],
  })
  const requests = new Histogram({
    name: 'rd_delegate_registry_request_duration_seconds',
    help: 'Registry HTTP requests (token services included), from sending to the whole body, by host and status ("error": no answer)',
    labelNames: ['host', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  })
  const reconnects = new Counter({
    name: 'rd_delegate_reconnects_total',
    help: 'Times the delegate dialled a manager again after a connection closed or failed',
    registers: [registry],
  })
  new Gauge({
    name: 'rd_delegate_connected',
    help: '1 while connected to a manager',
    registers: [registry],
    collect() {
      this.set(state?.().connectionState === 'open' ? 1 : 0)
    },
  })
  new Gauge({
    name: 'rd_delegate_active_tasks',
    help: 'Tasks running now',
    registers: [registry],
    collect() {
      this.set(state?.().activeTasks ?? 0)
    },
  })
  new Gauge({
    name: 'rd_delegate_capacity',
    help: 'Tasks this delegate runs at once (DELEGATE_CAPACITY)',
    registers: [registry],
    collect() {
      this.set(state?.().capacity ?? 0)
    },
  })
  new Gauge({
    name: 'rd_delegate_build_info',
    help: 'Always 1; the labels say what runs',
    labelNames: ['version', 'node', 'delegate'] as const,
    registers: [registry],
  }).set({ version: labels.version, node: process.version, delegate: labels.name }, 1)

  return {
    registry,
    watch(s) {
      state = s
    },
    taskEnded(type, outcome, code) {
      tasks.inc({ type, outcome })
      if (outcome === 'failed' && code) errors.inc({ type, code })
    },
    reconnecting() {
      reconnects.inc()
    },
    registryRequest(host, status, seconds) {
      requests.observe({ host, status: String(status) }, seconds)
    },
  }
}
