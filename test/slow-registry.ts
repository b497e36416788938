/**
 * Registries (the fault server) whose answers take `delayMs`, or wait for the test, so that a task stays on its
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

/**
 * Serves `slow/repo` with tags a, b, c, but answers nothing until `open()`: a task stays on its
 * delegate, whatever the machine's speed, until the test has done what it must under it.
 */
export async function gatedRegistry(): Promise<FaultServer & { open(): void }> {
  let open: () => void = () => {}
  const opened = new Promise<void>((resolve) => (open = resolve))
  const s = await startFaultServer(pagedRegistry(['a', 'b', 'c'], { defaultPage: 100, maxPage: 1000, gate: () => opened, repository: 'slow/repo' }))
  started.push(s)
  return Object.assign(s, { open })
}

export async function closeSlowRegistries(): Promise<void> {
  await Promise.all(started.splice(0).map((s) => s.close()))
}
