import { describe, expect, it } from 'vitest'
import { bucketOf, DURATION_BUCKETS_MS, quantile } from '../src/activity-stats.ts'

const empty = () => Array<number>(DURATION_BUCKETS_MS.length + 1).fill(0)
const withCounts = (counts: Record<number, number>) => {
  const b = empty()
  for (const [i, n] of Object.entries(counts)) b[Number(i)] = n
  return b
}

describe('task duration buckets', () => {
  it.each([
    [0, 0],
    [25, 0],
    [26, 1],
    [1_000, 5],
    [1_001, 6],
    [300_000, 12],
    [300_001, 13],
  ])('%i ms falls in bucket %i', (ms, bucket) => {
    expect(bucketOf(ms)).toBe(bucket)
  })

  it.each([
    ['no task', empty(), 0.5, null],
    ['all in one bucket: linear inside it', withCounts({ 5: 10 }), 0.5, 750],
    ['the top of a bucket', withCounts({ 5: 10 }), 1, 1_000],
    ['the median across buckets', withCounts({ 0: 50, 5: 50 }), 0.5, 25],
    ['p99 lands in the slow tail', withCounts({ 0: 98, 9: 2 }), 0.99, 20_000],
    ['the open bucket answers its lower bound', withCounts({ 13: 4 }), 0.5, 300_000],
  ] as const)('%s', (_what, buckets, q, expected) => {
    expect(quantile(q, buckets)).toBe(expected)
  })
})
