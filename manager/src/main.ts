/** `npm run manager`: config from env (and `--config file.json`), SIGTERM/SIGINT drain. */
import { pino } from 'pino'
import { installLastResort } from '../../common/src/last-resort.ts'
import { loadManagerConfig } from './config.ts'
import { logRedaction } from '../../common/src/log-redaction.ts'
import { startTracing, type Tracing } from '../../common/src/tracing.ts'
import { VERSION } from '../../common/src/version.ts'
import { newReplicaId, startManager } from './manager.ts'

let config
try {
  config = loadManagerConfig()
} catch (e) {
  process.stderr.write(`manager: configuration error: ${(e as Error).message}\n`)
  process.exit(2)
}
const log = pino({ level: config.logLevel, redact: logRedaction, base: { service: 'manager' } })
installLastResort(log)
const replicaId = newReplicaId()
// before the manager, so that its first task is traced; only now is the SDK loaded
const tracing: Tracing | null = config.tracing ? await startTracing(config.tracing, { version: VERSION, instanceId: replicaId }, log) : null
if (config.tracing) log.info({ endpoint: new URL(config.tracing.url).origin, protocol: config.tracing.protocol, sampler: config.tracing.sampler }, 'tracing on')
const manager = await startManager(config, log, { replicaId })

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    log.info({ signal }, 'signal received; draining')
    manager
      .close()
      .then(() => tracing?.shutdown())
      .then(
        () => (process.exitCode = 0),
        (err: unknown) => {
          log.error({ err }, 'close failed')
          process.exitCode = 1
        },
      )
  })
}
