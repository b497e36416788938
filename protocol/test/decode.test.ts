import { describe, expect, it } from 'vitest'
import { CloseCode, decodeDelegateMessage, decodeHandoverMessage, decodeManagerMessage, encodeReplicaMessage, LIMITS, PROTOCOL_VERSION, ProtocolError } from '../src/index.ts'

const hello = { type: 'hello', protocol: PROTOCOL_VERSION, name: 'd1', tags: ['eu'], capacity: 4, version: '0.1.0' }

describe('decodeDelegateMessage', () => {
  it('turns a valid hello into a typed message', () => {
    expect(decodeDelegateMessage(JSON.stringify(hello))).toEqual(hello)
  })

  it('accepts a Buffer frame as ws delivers it', () => {
    expect(decodeDelegateMessage(Buffer.from(JSON.stringify({ type: 'heartbeat', active: ['a'] })))).toEqual({
      type: 'heartbeat',
      active: ['a'],
    })
  })

  it('decodes a failed task result with its failure fields', () => {
    const msg = {
      type: 'task.result',
      taskId: 't',
      attemptId: 'a',
      outcome: { ok: false, error: { code: 'CONNECTION_REFUSED', message: 'm', retryable: true, cannotReach: true } },
    }
    expect(decodeDelegateMessage(JSON.stringify(msg))).toEqual(msg)
  })

  it('keeps an error code it does not know as INTERNAL naming the code, rather than dropping the connection', () => {
    const msg = { type: 'task.result', taskId: 't', attemptId: 'a', outcome: { ok: false, error: { code: 'FROM_THE_FUTURE', message: 'm', retryable: false } } }
    expect(decodeDelegateMessage(JSON.stringify(msg))).toMatchObject({ outcome: { error: { code: 'INTERNAL', message: 'unknown error code FROM_THE_FUTURE: m' } } })
  })

  it('decodes a probe answer, reachable or with its network code', () => {
    const up = { type: 'probe.result', probeId: 'p', reachable: true, status: 401, latencyMs: 3 }
    expect(decodeDelegateMessage(JSON.stringify(up))).toEqual(up)
    const down = { type: 'probe.result', probeId: 'p', reachable: false, code: 'TLS_UNTRUSTED', message: 'm', latencyMs: 40 }
    expect(decodeDelegateMessage(JSON.stringify(down))).toEqual(down)
    expect(() => decodeDelegateMessage(JSON.stringify({ ...up, latencyMs: -1 }))).toThrow(ProtocolError)
  })

  it('decodes a list-tags result', () => {
    const msg = {
      type: 'task.result',
      taskId: 't',
      attemptId: 'a',
      outcome: { ok: true, result: { type: 'list-tags', image: 'x', tags: ['1', '2'], truncated: false } },
    }
    expect(decodeDelegateMessage(JSON.stringify(msg))).toEqual(msg)
  })

  it('decodes a result chunk and the chunk count of the final result', () => {
    const chunk = { type: 'task.result.chunk', taskId: 't', attemptId: 'a', seq: 3, entries: ['1', '2'] }
    expect(decodeDelegateMessage(JSON.stringify(chunk))).toEqual(chunk)
    const last = { type: 'task.result', taskId: 't', attemptId: 'a', chunks: 4, outcome: { ok: true, result: { type: 'list-images', images: [], truncated: false, skipped: 7 } } }
    expect(decodeDelegateMessage(JSON.stringify(last))).toEqual(last)
  })

  const bad: [string, unknown, RegExp][] = [
    ['a chunk with a negative seq', JSON.stringify({ type: 'task.result.chunk', taskId: 't', attemptId: 'a', seq: -1, entries: [] }), /seq/],
    ['a chunk entry over the entry limit', JSON.stringify({ type: 'task.result.chunk', taskId: 't', attemptId: 'a', seq: 0, entries: ['x'.repeat(LIMITS.entry + 1)] }), /entries/],
    [
      'a Retry-After past the limit',
      JSON.stringify({ type: 'task.result', taskId: 't', attemptId: 'a', outcome: { ok: false, error: { code: 'RATE_LIMITED', message: 'm', retryable: true, retryAfterMs: LIMITS.retryAfterMs + 1 } } }),
      /retryAfterMs/,
    ],
    ['binary garbage', Buffer.from([0xff, 0xfe, 0x00]), /not JSON/],
    ['a JSON array', '[]', /must be an object/],
    ['an unknown type', JSON.stringify({ type: 'nope' }), /unknown message type/],
    ['a hello with a string capacity', JSON.stringify({ ...hello, capacity: '4' }), /capacity/],
    ['a hello with zero capacity', JSON.stringify({ ...hello, capacity: 0 }), /capacity/],
    ['a hello with non-string tags', JSON.stringify({ ...hello, tags: [1] }), /tags/],
    ['a result without outcome', JSON.stringify({ type: 'task.result', taskId: 't', attemptId: 'a' }), /outcome/],
    [
      'a result with an unknown task type',
      JSON.stringify({ type: 'task.result', taskId: 't', attemptId: 'a', outcome: { ok: true, result: { type: 'x' } } }),
      /result.type/,
    ],
    ['a number', 42, /text/],
  ]
  it.each(bad)('refuses %s with a protocol error (close 1002)', (_name, frame, message) => {
    let caught: unknown
    try {
      decodeDelegateMessage(frame)
    } catch (e) {
      caught = e
    }
    expect(caught).toBeInstanceOf(ProtocolError)
    expect((caught as ProtocolError).message).toMatch(message)
    expect((caught as ProtocolError).closeCode).toBe(CloseCode.protocolError)
  })
})

describe('decodeManagerMessage', () => {
  it('decodes an assignment with registry credentials', () => {
    const msg = {
      type: 'task.assign',
      taskId: 't',
      attemptId: 'a',
      deadline: 123,
      task: { type: 'list-tags', image: 'library/nginx', registry: { url: 'docker.io', username: 'u', password: 'p' } },
    }
    expect(decodeManagerMessage(JSON.stringify(msg))).toEqual(msg)
  })

  it('takes a password as long as a secret may be', () => {
    const msg = { type: 'task.assign', taskId: 't', attemptId: 'a', deadline: 1, task: { type: 'validate-connector', registry: { url: 'r', username: 'u', password: 'p'.repeat(LIMITS.password) } } }
    expect(decodeManagerMessage(JSON.stringify(msg))).toEqual(msg)
  })

  it('decodes a probe request', () => {
    expect(decodeManagerMessage(JSON.stringify({ type: 'probe', probeId: 'p', url: 'registry.example.com' }))).toEqual({ type: 'probe', probeId: 'p', url: 'registry.example.com' })
    expect(() => decodeManagerMessage(JSON.stringify({ type: 'probe', probeId: 'p' }))).toThrow(ProtocolError)
  })

  it('keeps the W3C traceparent of an assignment, and refuses one longer than any version of it can be', () => {
    const base = { type: 'task.assign', taskId: 't', attemptId: 'a', deadline: 1, task: { type: 'validate-connector', registry: { url: 'x' } } }
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    expect(decodeManagerMessage(JSON.stringify({ ...base, traceparent }))).toEqual({ ...base, traceparent })
    expect(decodeManagerMessage(JSON.stringify(base))).not.toHaveProperty('traceparent')
    expect(() => decodeManagerMessage(JSON.stringify({ ...base, traceparent: `${traceparent}-${'f'.repeat(100)}` }))).toThrow(/task.assign.traceparent/)
    expect(() => decodeManagerMessage(JSON.stringify({ ...base, traceparent: 42 }))).toThrow(ProtocolError)
  })

  it('refuses an assignment of an unknown task type', () => {
    const msg = { type: 'task.assign', taskId: 't', attemptId: 'a', deadline: 1, task: { type: 'rm -rf', registry: { url: 'x' } } }
    expect(() => decodeManagerMessage(JSON.stringify(msg))).toThrow(/task.type/)
  })
})

describe('decodeHandoverMessage', () => {
  const assign = { t: 'assign', origin: 'r1', delegateId: 'd', taskId: 't', attemptId: 'a', connectorId: 'c', connectorRev: '1', deadline: 1, spec: { type: 'validate-connector', registry: { url: 'x' } } } as const

  it('carries the origin attempt\'s traceparent to the owner, and drops an assignment whose traceparent is not a short string', () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    expect(decodeHandoverMessage(encodeReplicaMessage({ ...assign, traceparent }))).toMatchObject({ traceparent })
    expect(decodeHandoverMessage(encodeReplicaMessage(assign))).toMatchObject({ t: 'assign' })
    expect(decodeHandoverMessage(JSON.stringify({ v: 1, ...assign, traceparent: 'x'.repeat(200) }))).toBeNull()
    expect(decodeHandoverMessage(JSON.stringify({ v: 1, ...assign, traceparent: {} }))).toBeNull()
  })
})
