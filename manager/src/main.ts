/** `npm run manager`: config from env (and `--config file.json`), SIGTERM/SIGINT drain. */
import { pino } from 'pino'
import { installLastResort } from '../../common/src/last-resort.ts'
import { loadManagerConfig } from './config.ts'
import { logRedaction } from '../../common/src/log-redaction.ts'
import { startManager } from './manager.ts'

let config
try {
  config = loadManagerConfig()
} catch (e) {
  process.stderr.write(`manager: configuration error: ${(e as Error).message}\n`)
  process.exit(2)
}
const log = pino({ level: config.logLevel, redact: logRedaction, base: { service: 'manager' } })
installLastResort(log)
const manager = await startManager(config, log)

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    log.info({ signal }, 'signal received; draining')
    manager.close().then(
      () => (process.exitCode = 0),
      (err: unknown) => {
        log.error({ err }, 'close failed')
        process.exitCode = 1
      },
    )
  })
}
