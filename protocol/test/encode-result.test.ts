import { describe, expect, it } from 'vitest'
import { Prng } from '../../test/prng.ts'
import { decodeDelegateMessage, fitProbeResult, LIMITS, resultFrames, type RegistryProfile, type ResultFrame, type TaskResultChunk, type TaskResultMessage, type WireFailure } from '../src/index.ts'
import { cut } from '../src/encode-result.ts'

const ids = { taskId: 't'.repeat(LIMITS.id), attemptId: 'a'.repeat(LIMITS.id) }

/** Every frame must decode; returns the decoded messages. */
function decodeAll(frames: Iterable<ResultFrame>) {
  const all = [...frames]
  expect(all.map((f) => f.last)).toEqual(all.map((_, i) => i === all.length - 1))
  return all.map((f) => {
    expect(Buffer.byteLength(f.text)).toBeLessThanOrEqual(LIMITS.frameBytes)
    return decodeDelegateMessage(f.text)
  })
}

function tagsMessage(tags: string[], over: { truncated?: boolean } = {}): TaskResultMessage {
  return { type: 'task.result', ...ids, outcome: { ok: true, result: { type: 'list-tags', image: 'team/app', tags, truncated: over.truncated ?? false } } }
}

function failure(f: Partial<WireFailure>): TaskResultMessage {
  return { type: 'task.result', ...ids, outcome: { ok: false, error: { code: 'RATE_LIMITED', message: 'm', retryable: true, ...f } } }
}

describe('resultFrames', () => {
  it('sends a small list in one frame, as it is', () => {
    const [only, ...rest] = decodeAll(resultFrames(tagsMessage(['1.0', '2.0'])))
    expect(rest).toEqual([])
    expect(only).toEqual({ type: 'task.result', ...ids, outcome: { ok: true, result: { type: 'list-tags', image: 'team/app', tags: ['1.0', '2.0'], truncated: false, skipped: 0 } } })
  })

  it('sends 1,000,000 tags as chunks in order, then the result naming how many came before', () => {
    const tags = Array.from({ length: 1_000_000 }, (_, i) => `v${i}.${'x'.repeat(i % 20)}`)
    const messages = decodeAll(resultFrames(tagsMessage(tags)))
    const chunks = messages.slice(0, -1) as TaskResultChunk[]
    const last = messages.at(-1) as TaskResultMessage
    expect(chunks.length).toBeGreaterThan(10)
    expect(chunks.map((c) => c.type)).toEqual(chunks.map(() => 'task.result.chunk'))
    expect(chunks.map((c) => c.seq)).toEqual(chunks.map((_, i) => i))
    expect(last.chunks).toBe(chunks.length)
    if (!last.outcome.ok || last.outcome.result.type !== 'list-tags') throw new Error('not a tag list')
    const all = [...chunks.flatMap((c) => c.entries), ...last.outcome.result.tags]
    expect(all.length).toBe(tags.length)
    // (toEqual on a million entries takes longer than the encoding)
    expect(all.every((t, i) => t === tags[i])).toBe(true)
    expect(last.outcome.result.truncated).toBe(false)
  }, 30_000)

  it('leaves out entries longer than the decoder takes, counting them as skipped', () => {
    const [m] = decodeAll(resultFrames(tagsMessage(['ok', 'x'.repeat(LIMITS.entry + 1)])))
    expect(m).toMatchObject({ outcome: { result: { tags: ['ok'], skipped: 1 } } })
  })

  it('ends a list past the byte limit with truncated: true instead of sending what the manager refuses', () => {
    const budget = { chunkBytes: 64 * 1024, resultBytes: 1024 * 1024 }
    const big = 'b'.repeat(LIMITS.entry - 10)
    const tags = Array.from({ length: 2 * Math.ceil(budget.resultBytes / big.length) }, (_, i) => `${i}${big}`)
    let bytes = 0
    let entries = 0
    let last: TaskResultMessage | undefined
    for (const f of resultFrames(tagsMessage(tags), budget)) {
      bytes += Buffer.byteLength(f.text)
      const m = decodeDelegateMessage(f.text)
      if (m.type === 'task.result.chunk') entries += m.entries.length
      else last = m as TaskResultMessage
    }
    expect(bytes).toBeLessThanOrEqual(budget.resultBytes)
    expect(last?.outcome).toMatchObject({ ok: true, result: { truncated: true } })
    expect(entries).toBeGreaterThan(0)
    expect(entries).toBeLessThan(tags.length)
  })

  it('fits every failure field to the decoder: a 999 status, a huge Retry-After, a long message and URL', () => {
    const [m] = decodeAll(resultFrames(failure({ status: 999, retryAfterMs: 1e23, message: '€'.repeat(20_000), url: `https://r/${'p'.repeat(5000)}`, registryErrors: Array(50).fill({ code: 'X' }) })))
    if (m?.type !== 'task.result' || m.outcome.ok) throw new Error('not a failure')
    expect(m.outcome.error).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: LIMITS.retryAfterMs })
    expect(m.outcome.error.status).toBeUndefined()
    expect(m.outcome.error.url).toBeUndefined()
    expect(m.outcome.error.message).toHaveLength(LIMITS.errorMessage)
    expect(m.outcome.error.registryErrors).toHaveLength(LIMITS.registryErrors)
    const [neg] = decodeAll(resultFrames(failure({ retryAfterMs: -5, status: 429 })))
    expect(neg).toMatchObject({ outcome: { error: { retryAfterMs: 0, status: 429 } } })
  })

  it('cuts a validation answer to the decoder limits', () => {
    const msg: TaskResultMessage = { type: 'task.result', ...ids, outcome: { ok: true, result: { type: 'validate-connector', url: 'u'.repeat(9000), apiVersion: 'v'.repeat(9000), authScheme: 'none' } } }
    const [m] = decodeAll(resultFrames(msg))
    expect(m).toMatchObject({ outcome: { result: { url: 'u'.repeat(LIMITS.url), apiVersion: 'v'.repeat(LIMITS.apiVersion) } } })
  })

  it('fits a registry profile to the decoder: a long version header, a long service, a certificate valid until 9999', () => {
    const profile: RegistryProfile = {
      apiVersion: 'v'.repeat(600),
      auth: { scheme: 'bearer', realmHost: `${'h'.repeat(1000)}.example`, service: 's'.repeat(5000), anonymousPull: null },
      catalog: 'supported',
      pagination: { mode: 'link', largestPageSize: 5_000_000, steppedDown: false },
      rateLimit: { limit: 'l'.repeat(1000), remaining: 'r'.repeat(1000) },
      tls: { protocol: 'TLSv1.3', issuer: 'i'.repeat(2000), subject: 's', notAfter: '9999-12-31T23:59:59.000Z', daysUntilExpiry: 2_911_000 },
    }
    const msg: TaskResultMessage = { type: 'task.result', ...ids, outcome: { ok: true, result: { type: 'validate-connector', url: 'u', apiVersion: 'v', authScheme: 'bearer', profile } } }
    const [m] = decodeAll(resultFrames(msg))
    expect(m).toMatchObject({ outcome: { result: { profile: { tls: { daysUntilExpiry: 100_000, notAfter: '9999-12-31T23:59:59.000Z' }, pagination: { largestPageSize: 1_000_000 } } } } })
  })

  it('fits a probe answer: a 999 status is left out, long messages cut', () => {
    const r = fitProbeResult({ type: 'probe.result', probeId: 'p', reachable: true, status: 999, message: 'm'.repeat(20_000), latencyMs: 1e12 })
    expect(decodeDelegateMessage(JSON.stringify(r))).toEqual({ type: 'probe.result', probeId: 'p', reachable: true, message: 'm'.repeat(LIMITS.errorMessage), latencyMs: LIMITS.latencyMs })
  })

  it('whatever the strings, every frame decodes (seeded)', () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1_000_000)
    const prng = new Prng(seed)
    try {
      for (let i = 0; i < 200; i++) {
        const tags = Array.from({ length: prng.int(50) }, () => prng.string(prng.pick([10, 300, 2000])))
        decodeAll(resultFrames(tagsMessage(tags), { chunkBytes: 200 }))
        decodeAll(resultFrames(failure({ message: prng.string(prng.pick([10, 9000])), status: prng.int(1200), retryAfterMs: prng.pick([0, -1, 2 ** 40, Infinity, 5.5]) })))
      }
    } catch (err) {
      throw new Error(`seed ${seed}: ${(err as Error).message}`, { cause: err })
    }
  })
})

describe('cut', () => {
  it('never ends inside a surrogate pair', () => {
    expect(cut('ab😀', 3)).toBe('ab')
    expect(cut('ab😀', 4)).toBe('ab😀')
    expect(cut('abc', 2)).toBe('ab')
  })
})
