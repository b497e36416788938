/** `npm run delegate`: config from env (and `--config file.json`), SIGTERM/SIGINT drain. */
import { createServer } from 'node:http'
import { pino } from 'pino'
import { installLastResort } from '../../common/src/last-resort.ts'
import { logRedaction } from '../../common/src/log-redaction.ts'
import { startTracing } from '../../common/src/tracing.ts'
import { loadDelegateConfig, type DelegateConfig } from './config.ts'
import { Delegate } from './delegate.ts'
import { LazyRunner } from './lazy-runner.ts'
import { VERSION } from '../../common/src/version.ts'

let config
try {
  config = loadDelegateConfig()
} catch (e) {
  process.stderr.write(`delegate: configuration error: ${(e as Error).message}\n`)
  process.exit(2)
}
const log = pino({ level: config.logLevel, redact: logRedaction, base: { service: 'delegate', delegate: config.name } })
installLastResort(log)

// No top-level await in this file: the single-executable build is CommonJS (scripts/release.ts).
// A failure here (a REGISTRY_CA_FILE that cannot be used) is an unhandled rejection: the last
// resort logs it and exits 1, before the manager is dialled.
void main(config)

async function main(c: DelegateConfig): Promise<void> {
  // Only what is on is loaded: the tracing SDK with an OTLP endpoint, prom-client with a health port.
  const [tracing, metrics] = await Promise.all([
    c.tracing ? startTracing(c.tracing, { version: VERSION, instanceId: c.name }, log) : null,
    c.healthPort > 0 ? import('./metrics.ts').then((m) => m.createDelegateMetrics({ name: c.name, version: VERSION })) : null,
  ])
  if (c.tracing) log.info({ endpoint: new URL(c.tracing.url).origin, protocol: c.tracing.protocol, sampler: c.tracing.sampler }, 'tracing on')
  const runner = new LazyRunner(async () => {
    const { RegistryClient } = await import('./registry/client.ts')
    return new RegistryClient({ log, caFile: c.caFile || undefined, proxy: c.proxy, onRequest: metrics ? (host, status, seconds) => metrics.registryRequest(host, status, seconds) : undefined })
  })
  // A REGISTRY_CA_FILE that cannot be used stops start-up, as when the client was built eagerly.
  if (c.caFile) await runner.ready()
  const delegate = new Delegate({
    managerUrls: c.managerUrls,
    token: c.token,
    name: c.name,
    tags: c.tags,
    capacity: c.capacity,
    version: VERSION,
    log,
    runner,
    env: c.env,
    passwordRefs: c.passwordRefs,
    proxy: c.proxy,
    observer: metrics ?? undefined,
  })
  metrics?.watch(() => ({ connectionState: delegate.connectionState, activeTasks: delegate.activeTasks, capacity: c.capacity }))
  delegate.start()

  // For container probes: `/` answers 200 while connected to a manager; `/metrics` is Prometheus text.
  const health =
    c.healthPort > 0
      ? createServer((req, res) => {
          if (metrics && req.url === '/metrics') {
            metrics.registry.metrics().then(
              (text: string) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
              (err: unknown) => {
                log.warn({ err }, 'metrics scrape failed')
                res.writeHead(500).end()
              },
            )
            return
          }
          const ok = delegate.connectionState === 'open'
          res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ state: delegate.connectionState, activeTasks: delegate.activeTasks }))
        }).listen(c.healthPort, c.healthHost)
      : null

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      log.info({ signal }, 'signal received; draining')
      health?.close()
      delegate
        .drain(c.drainGraceMs)
        .then(() => tracing?.shutdown())
        .then(
          () => {
            log.info('delegate stopped')
            process.exitCode = 0
          },
          (err: unknown) => {
            log.error({ err }, 'drain failed')
            process.exitCode = 1
          },
        )
    })
  }
}
