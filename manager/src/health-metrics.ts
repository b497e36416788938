/**
 * The health gauges of /metrics (SPEC §8), read from Redis on scrape: every replica reports the
 * same values (aggregate with max/min by the labels), and a deleted connector's series go away.
 *
 *   rd_connector_up{connector,name}                     1 after a succeeded check, 0 after a failed one
 *   rd_connector_check_duration_seconds{connector,name} the last check, waiting for a delegate included
 *   rd_selector_set_delegates{selectors}                connected delegates able to serve each set
 */
import { Gauge, type Registry } from 'prom-client'
import type { ConnectorStore } from './connector-store.ts'
import type { HealthStore } from './health-store.ts'
import { REDIS_READ_TIMEOUT_MS } from './metrics.ts'
import type { SelectorWatch } from './selector-watch.ts'
import { within } from './within.ts'

const late = () => new Error('health gauges not read in time')

export function registerHealthMetrics(registry: Registry, sources: { connectors: ConnectorStore; health: HealthStore; selectors: SelectorWatch }): void {
  /** Connectors whose health check is on and has a result, with their state. */
  const checked = async () => {
    const [connectors, states] = await within(Promise.all([sources.connectors.list(), sources.health.states()]), REDIS_READ_TIMEOUT_MS, late)
    return connectors.flatMap((c) => {
      const st = states.get(c.id)
      return c.healthCheck && st ? [{ labels: { connector: c.id, name: c.name }, st }] : []
    })
  }
  new Gauge({
    name: 'rd_connector_up',
    help: 'Connectors with a health check: 1 when the last check succeeded, 0 when it failed',
    labelNames: ['connector', 'name'] as const,
    registers: [registry],
    async collect() {
      this.reset()
      try {
        for (const { labels, st } of await checked()) this.set(labels, st.state === 'healthy' ? 1 : 0)
      } catch {
        // Redis unreachable: no series rather than wrong ones (readyz says why)
      }
    },
  })
  new Gauge({
    name: 'rd_connector_check_duration_seconds',
    help: "How long the connector's last health check took, from its task's creation to its end",
    labelNames: ['connector', 'name'] as const,
    registers: [registry],
    async collect() {
      this.reset()
      try {
        for (const { labels, st } of await checked()) this.set(labels, st.lastDurationMs / 1000)
      } catch {
        // as above
      }
    },
  })
  new Gauge({
    name: 'rd_selector_set_delegates',
    help: 'Connected delegates able to serve each selector set that connectors use (selectors comma-separated; "" is any delegate)',
    labelNames: ['selectors'] as const,
    registers: [registry],
    async collect() {
      this.reset()
      try {
        for (const { key, serving } of await within(sources.selectors.current(), REDIS_READ_TIMEOUT_MS, late)) this.set({ selectors: key }, serving.length)
      } catch {
        // as above
      }
    },
  })
}
