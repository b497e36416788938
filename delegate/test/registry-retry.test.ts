import { describe, expect, it } from 'vitest'
import { HostBackoff, backoffDelay, isRetryableStatus, parseRetryAfter } from '../src/registry/retry.ts'

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  it.each([
    ['5', 5000],
    ['0', 0],
    [' 120 ', 120_000],
    ['1.5', 1500],
    ['Thu, 01 Jan 2026 00:00:30 GMT', 30_000],
    ['Wed, 31 Dec 2025 23:59:00 GMT', 0],
    [['7', '9'], 7000],
    ['9'.repeat(400), 2 ** 31 - 1],
    ['Fri, 01 Jan 9999 00:00:00 GMT', 2 ** 31 - 1],
    ['soon', undefined],
    ['-3', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('%j → %j', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected)
  })
})

describe('backoffDelay', () => {
  it.each([
    [0, 0.999, 199],
    [1, 0.5, 200],
    [3, 0.999, 1598],
    [10, 0.999, 4995],
    [4, 0, 0],
  ])('attempt %i with random %f waits %i ms (full jitter, capped)', (attempt, r, expected) => {
    expect(backoffDelay(attempt, () => r)).toBe(expected)
  })
})

describe('isRetryableStatus', () => {
  it.each([
    [408, true],
    [429, true],
    [500, true],
    [502, true],
    [503, true],
    [504, true],
    [501, false],
    [505, false],
    [400, false],
    [401, false],
    [404, false],
    [200, false],
  ])('%i → %s', (status, expected) => {
    expect(isRetryableStatus(status)).toBe(expected)
  })
})

describe('HostBackoff', () => {
  it('holds every request to a host until the longest pause ends', () => {
    const b = new HostBackoff()
    b.pause('r:1', 1000, 0)
    b.pause('r:1', 500, 0)
    expect(b.waitFor('r:1', 200)).toBe(800)
    expect(b.waitFor('other:1', 200)).toBe(0)
    expect(b.waitFor('r:1', 1000)).toBe(0)
  })
})
