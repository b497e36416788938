import { describe, expect, it } from 'vitest'
import { CloseCode, LIMITS, ProtocolError, type TaskResultChunk, type TaskResultMessage } from '../../protocol/src/index.ts'
import { ResultAssembly } from '../src/result-assembly.ts'

const chunk = (attemptId: string, seq: number, entries: string[], taskId = 't'): TaskResultChunk => ({ type: 'task.result.chunk', taskId, attemptId, seq, entries })
const final = (attemptId: string, chunks: number, tags: string[], taskId = 't'): TaskResultMessage => ({
  type: 'task.result',
  taskId,
  attemptId,
  chunks,
  outcome: { ok: true, result: { type: 'list-tags', image: 'x', tags, truncated: false, skipped: 0 } },
})

function refusal(f: () => unknown): ProtocolError {
  try {
    f()
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError)
    return e as ProtocolError
  }
  throw new Error('no protocol error')
}

describe('ResultAssembly', () => {
  it('joins chunks in order in front of the final list, and forgets them', () => {
    const a = new ResultAssembly()
    a.chunk(chunk('a1', 0, ['1', '2']), 100, true)
    a.chunk(chunk('a1', 1, ['3']), 50, true)
    expect(a.bytes).toBe(150)
    const whole = a.complete(final('a1', 2, ['4']), true)
    expect(whole).toEqual({ type: 'task.result', taskId: 't', attemptId: 'a1', outcome: { ok: true, result: { type: 'list-tags', image: 'x', tags: ['1', '2', '3', '4'], truncated: false, skipped: 0 } } })
    expect(a.bytes).toBe(0)
  })

  it('passes a one-frame result through untouched', () => {
    const m = final('a1', 0, ['1'])
    expect(new ResultAssembly().complete(m, true)).toBe(m)
  })

  it('drops chunks of attempts the delegate does not hold, and a late final result unjoined', () => {
    const a = new ResultAssembly()
    a.chunk(chunk('gone', 0, ['1']), 10, false)
    a.chunk(chunk('gone', 1, ['2']), 10, false)
    expect(a.bytes).toBe(0)
    const late = final('gone', 2, [])
    expect(a.complete(late, false)).toBe(late)
    // and a new stream may begin at once
    a.chunk(chunk('a2', 0, ['x']), 10, true)
    expect(a.bytes).toBe(10)
  })

  it('drops a stream when its attempt ends, so the next may begin', () => {
    const a = new ResultAssembly()
    a.chunk(chunk('a1', 0, ['1']), 10, true)
    a.drop('a1')
    expect(a.bytes).toBe(0)
    a.chunk(chunk('a2', 0, ['1']), 10, true)
    expect(a.complete(final('a2', 1, []), true)).toMatchObject({ outcome: { result: { tags: ['1'] } } })
  })

  it('refuses a second stream while one is open (one partial result per delegate)', () => {
    const a = new ResultAssembly()
    a.chunk(chunk('a1', 0, ['1']), 10, true)
    expect(refusal(() => a.chunk(chunk('a2', 0, ['1']), 10, true)).closeCode).toBe(CloseCode.policyViolation)
  })

  it('refuses chunks out of order, a count that does not match, and chunks of a validation', () => {
    const a = new ResultAssembly()
    expect(refusal(() => a.chunk(chunk('a1', 1, ['1']), 10, true)).message).toMatch(/out of order/)
    a.chunk(chunk('a1', 0, ['1']), 10, true)
    expect(refusal(() => a.chunk(chunk('a1', 2, ['1']), 10, true)).message).toMatch(/out of order/)
    const b = new ResultAssembly()
    b.chunk(chunk('a1', 0, ['1']), 10, true)
    expect(refusal(() => b.complete(final('a1', 3, []), true)).message).toMatch(/names 3 chunk/)
    expect(refusal(() => new ResultAssembly().complete(final('a1', 1, []), true)).message).toMatch(/names 1 chunk/)
    const c = new ResultAssembly()
    c.chunk(chunk('a1', 0, ['1']), 10, true)
    const validate: TaskResultMessage = { type: 'task.result', taskId: 't', attemptId: 'a1', chunks: 1, outcome: { ok: true, result: { type: 'validate-connector', url: 'u', apiVersion: null, authScheme: 'none' } } }
    expect(refusal(() => c.complete(validate, true)).message).toMatch(/only a list/)
  })

  it('closes with 1009 past the byte bound, holding nothing after', () => {
    const a = new ResultAssembly()
    a.chunk(chunk('a1', 0, ['1']), LIMITS.resultBytes - 5, true)
    expect(refusal(() => a.chunk(chunk('a1', 1, ['2']), 10, true)).closeCode).toBe(CloseCode.messageTooBig)
    expect(a.bytes).toBe(0)
  })
})
