import { describe, expect, it } from 'vitest'
import { waitFor, WaitTimeoutError } from './wait-for.ts'

describe('waitFor', () => {
  it('answers what the condition returned once it holds', async () => {
    let polls = 0
    expect(await waitFor(() => (++polls >= 3 ? { polls } : false), { timeoutMs: 1_000, what: 'three polls', intervalMs: 1 })).toEqual({ polls: 3 })
  })

  it('polls again when the condition throws, and reports the last error past the bound', async () => {
    let polls = 0
    const failing = waitFor(
      () => {
        polls++
        throw new Error('not up yet')
      },
      { timeoutMs: 50, what: 'a server to start', intervalMs: 5 },
    )
    await expect(failing).rejects.toThrow(WaitTimeoutError)
    await expect(failing).rejects.toThrow(/waited 50 ms for a server to start; last saw .*not up yet/)
    expect(polls).toBeGreaterThan(1)
  })

  it('names what was awaited and what was last seen when it gives up', async () => {
    await expect(waitFor(async () => null, { timeoutMs: 30, what: 'the task to end', describe: () => ({ status: 'running' }) })).rejects.toThrow(
      "waited 30 ms for the task to end; last saw { status: 'running' }",
    )
  })
})
