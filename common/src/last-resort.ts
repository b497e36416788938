import type { Logger } from 'pino'

/**
 * The process-level last resort: an exception nothing caught (or a rejection nothing handled)
 * means state we can no longer trust. Log it and exit non-zero so that the supervisor (Docker,
 * Kubernetes, systemd) restarts the process; never swallow it and carry on. Nothing a peer
 * sends is meant to get here: every socket and stream has its own error path.
 */
export function installLastResort(log: Logger): void {
  process.on('uncaughtException', (err, origin) => {
    log.fatal({ err, origin }, 'uncaught exception; exiting so that the supervisor restarts this process')
    log.flush?.()
    process.exit(1)
  })
}
