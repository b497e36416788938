/**
 * Registries (the fault server) that keep a task on its delegate, so that a test can kill, stop
 * or drain something under it. Close them all in afterAll.
 */
import { pagedRegistry, startFaultServer, type FaultServer } from '../delegate/test/fault-server.ts'

const started: FaultServer[] = []

/** Serves `slow/repo` with tags a, b, c; every answer takes `delayMs`. */
export async function slowRegistry(delayMs: number): Promise<FaultServer> {
  const s = await startFaultServer(pagedRegistry(['a', 'b', 'c'], { defaultPage: 100, maxPage: 1000, delayMs, repository: 'slow/repo' }))
  started.push(s)
  return s
}

export interface HeldRegistry extends FaultServer {
  /** Resolves when the first tag listing has arrived (and is being held). */
  holding: Promise<void>
  /** Answers the held listing. */
  release(): void
}

/**
 * Serves `slow/repo` with tags a, b, c at once, except the first tag listing, which waits for
 * `release()` (or the server's close): the first delegate to get the task keeps it for as long
 * as the test needs, however slow the machine, and any later attempt is served straight away.
 */
export async function heldRegistry(): Promise<HeldRegistry> {
  const serve = pagedRegistry(['a', 'b', 'c'], { defaultPage: 100, maxPage: 1000, repository: 'slow/repo' })
  let release: () => void = () => {}
  const released = new Promise<void>((resolve) => (release = resolve))
  let arrived: () => void = () => {}
  const holding = new Promise<void>((resolve) => (arrived = resolve))
  let first = true
  const s = await startFaultServer(async (req, res, url) => {
    if (url.pathname.endsWith('/tags/list') && first) {
      first = false
      arrived()
      await released
    }
    return serve(req, res, url)
  })
  started.push(s)
  return Object.assign(s, { holding, release })
}

export async function closeSlowRegistries(): Promise<void> {
  await Promise.all(started.splice(0).map((s) => s.close()))
}
