/** `npm run delegate`: config from env (and `--config file.json`), SIGTERM/SIGINT drain. */
import { createServer } from 'node:http'
import { pino } from 'pino'
import { installLastResort } from '../../common/src/last-resort.ts'
import { logRedaction } from '../../common/src/log-redaction.ts'
import { loadDelegateConfig } from './config.ts'
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
const runner = new LazyRunner(async () => {
  const { RegistryClient } = await import('./registry/client.ts')
  return new RegistryClient({ log, caFile: config.caFile || undefined, proxy: config.proxy })
})
// A REGISTRY_CA_FILE that cannot be used stops start-up before the manager is dialled, as when
// the client was built eagerly: its error reaches the last resort (logged, exit 1). No top-level
// await here: the single-executable build is CommonJS (scripts/release.ts).
const starting = config.caFile ? runner.ready().then(() => undefined) : Promise.resolve()
const delegate = new Delegate({
  managerUrls: config.managerUrls,
  token: config.token,
  name: config.name,
  tags: config.tags,
  capacity: config.capacity,
  version: VERSION,
  log,
  runner,
  env: config.env,
  passwordRefs: config.passwordRefs,
  proxy: config.proxy,
})
void starting.then(() => delegate.start())

// A small health endpoint for container probes: 200 while connected to a manager.
const health =
  config.healthPort > 0
    ? createServer((_req, res) => {
        const ok = delegate.connectionState === 'open'
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ state: delegate.connectionState, activeTasks: delegate.activeTasks }))
      }).listen(config.healthPort, config.healthHost)
    : null

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    log.info({ signal }, 'signal received; draining')
    health?.close()
    delegate.drain(config.drainGraceMs).then(
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
