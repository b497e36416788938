/**
 * A TaskRunner that builds the real one on first use. The registry client brings undici, a whole
 * second HTTP stack beside the node:http under the manager connection; an idle delegate never
 * needs it, so it is neither evaluated nor allocated until a task arrives (README, Performance).
 */
import { TaskErrorCode, type ProbeResult, type TaskResult, type TaskSpec } from '../../protocol/src/index.ts'
import type { RunOptions, TaskRunner } from './delegate.ts'

type ProbeAnswer = Omit<ProbeResult, 'type' | 'probeId'>

export class LazyRunner implements TaskRunner {
  readonly #load: () => Promise<TaskRunner>
  #runner: Promise<TaskRunner> | null = null

  constructor(load: () => Promise<TaskRunner>) {
    this.#load = load
  }

  /** Builds the runner now; resolves once it is ready, rejects with what building it threw. */
  ready(): Promise<TaskRunner> {
    // a failed load is not cached: the next task tries again rather than failing forever
    this.#runner ??= this.#load().catch((err: unknown) => {
      this.#runner = null
      throw err
    })
    return this.#runner
  }

  async run(task: TaskSpec, signal: AbortSignal, opts?: RunOptions): Promise<TaskResult> {
    return (await this.ready()).run(task, signal, opts)
  }

  /** Never throws, as TaskRunner.probe promises: a runner that cannot be built answers INTERNAL. */
  async probe(url: string, signal: AbortSignal): Promise<ProbeAnswer> {
    let runner: TaskRunner
    try {
      runner = await this.ready()
    } catch (err) {
      return { reachable: false, code: TaskErrorCode.INTERNAL, message: `the registry client failed to load: ${(err as Error).message}`, latencyMs: 0 }
    }
    if (!runner.probe) return { reachable: false, code: TaskErrorCode.INTERNAL, message: 'this delegate cannot probe registries', latencyMs: 0 }
    return runner.probe(url, signal)
  }

  async close(): Promise<void> {
    if (this.#runner === null) return
    const runner = await this.#runner.catch(() => null)
    await runner?.close()
  }
}
