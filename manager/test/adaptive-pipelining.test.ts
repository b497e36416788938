import { setImmediate as turn } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { adaptivePipelining } from '../src/adaptive-pipelining.ts'
import { waitFor } from '../../test/wait-for.ts'

/** Keeps this event loop busy for `ms`, yielding a turn every 10 ms so that timers can run. */
async function busyFor(ms: number): Promise<void> {
  const until = performance.now() + ms
  while (performance.now() < until) {
    const slice = performance.now() + 10
    while (performance.now() < slice) {
      // spin
    }
    await turn()
  }
}

describe('adaptive pipelining', () => {
  it('pipelines while the event loop is busy and sends each command at once when it is idle', async () => {
    // counts the decisions, so that "stays off while idle" is checked after real samples
    let decisions = 0
    let on = false
    const options = {
      get enableAutoPipelining() {
        return on
      },
      set enableAutoPipelining(value: boolean) {
        decisions++
        on = value
      },
    }
    const redis = { options } as unknown as Redis
    const stop = adaptivePipelining(redis, { everyMs: 50 })
    try {
      await waitFor(() => decisions >= 2, { timeoutMs: 1_000, what: 'two idle samples' })
      expect(redis.options.enableAutoPipelining).toBe(false)
      const busy = busyFor(2_000)
      await waitFor(() => redis.options.enableAutoPipelining, { timeoutMs: 1_500, what: 'pipelining to turn on under load' })
      await busy
      await waitFor(() => !redis.options.enableAutoPipelining, { timeoutMs: 1_000, what: 'pipelining to turn off once idle' })
    } finally {
      stop()
    }
  })
})
