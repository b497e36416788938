/**
 * A registry (the fault server) whose every answer takes `delayMs`, so that a task stays on its
 * delegate long enough to kill, stop or drain something under it. Close them all in afterAll.
 */
import { pagedRegistry, startFaultServer, type FaultServer } from '../delegate/test/fault-server.ts'

const started: FaultServer[] = []

/** Serves `slow/repo` with tags a, b, c. */
export async function slowRegistry(delayMs: number): Promise<FaultServer> {
  const s = await startFaultServer(pagedRegistry(['a', 'b', 'c'], { defaultPage: 100, maxPage: 1000, delayMs, repository: 'slow/repo' }))
  started.push(s)
  return s
}

export async function closeSlowRegistries(): Promise<void> {
  await Promise.all(started.splice(0).map((s) => s.close()))
}
