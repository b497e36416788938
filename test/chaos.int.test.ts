/**
 * The chaos suite, bounded for `npm test` (test/chaos.ts says what runs and what passing means).
 * SEED=n reruns a failing seed; `npm run chaos -- --minutes N` runs it longer.
 */
import { describe, expect, inject, it } from 'vitest'
import { runChaos } from './chaos.ts'

describe('chaos', () => {
  it('no process exits, every task ends once with a known code, nothing leaks, under ≥ 2,000 random registry answers and hostile peers', async () => {
    const seed = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31))
    const report = await runChaos({ redisUrl: inject('redisUrl'), seed, minMs: 20_000, minRegistryAnswers: 2_000, maxMs: 75_000 })
    const summary = `seed ${seed} (rerun with SEED=${seed}): ${JSON.stringify({ ...report, problems: report.problems.length })}`
    expect(report.problems, summary).toEqual([])
    expect(report.processExits, summary).toBe(0)
    expect(report.registryAnswers, summary).toBeGreaterThanOrEqual(2_000)
    expect(report.tasks, summary).toBeGreaterThan(100)
    expect(report.connections, summary).toBeGreaterThan(50)
  }, 115_000)
})
