/**
 * A TaskRunner that builds the real one on first use. The registry client brings undici, a whole
 * second HTTP stack beside the node:http under the manager connection; an idle delegate never
 * needs it, so it is neither evaluated nor allocated until a task arrives (README, Performance).
 */
import type { TaskResult, TaskSpec } from '../../protocol/src/index.ts'
import type { TaskRunner } from './delegate.ts'

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

  async run(task: TaskSpec, signal: AbortSignal, opts?: { deadline?: number }): Promise<TaskResult> {
    return (await this.ready()).run(task, signal, opts)
  }

  async close(): Promise<void> {
    if (this.#runner === null) return
    const runner = await this.#runner.catch(() => null)
    await runner?.close()
  }
}
