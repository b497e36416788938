import { describe, expect, it } from 'vitest'
import { REGISTRY_ERROR_CODES, RegistryError, registryErrorsOf } from '../src/registry/errors.ts'
import { compareCodePoints, sortedUnique } from '../src/registry/paginate.ts'
import { redactUrl } from '../src/registry/redact.ts'

describe('RegistryError', () => {
  const network = ['DNS_NOT_FOUND', 'CONNECTION_REFUSED', 'TIMEOUT', 'TLS_UNTRUSTED', 'TLS_PROTOCOL_MISMATCH']
  const retryable = [...network, 'RATE_LIMITED', 'SERVER_ERROR']
  it.each(REGISTRY_ERROR_CODES.map((c) => [c]))('%s: retryable and cannotReach follow the code table', (code) => {
    const e = new RegistryError(code, 'm')
    expect(e.retryable).toBe(retryable.includes(code))
    expect(e.cannotReach).toBe(network.includes(code))
    const wire = e.toWire()
    expect(wire).toMatchObject({ code, message: 'm', retryable: retryable.includes(code) })
    expect(wire.cannotReach).toBe(network.includes(code) ? true : undefined)
  })

  it('carries status, Retry-After, the registry errors and the url on the wire', () => {
    const e = new RegistryError('RATE_LIMITED', 'wait', { status: 429, retryAfterMs: 5000, registryErrors: [{ code: 'TOOMANYREQUESTS' }], url: 'https://r/v2/' })
    expect(e.toWire()).toEqual({
      code: 'RATE_LIMITED',
      message: 'wait',
      retryable: true,
      status: 429,
      retryAfterMs: 5000,
      registryErrors: [{ code: 'TOOMANYREQUESTS' }],
      url: 'https://r/v2/',
    })
  })

  it('trims the registry errors envelope', () => {
    const body = { errors: Array.from({ length: 9 }, (_, i) => ({ code: `E${i}`, message: 'x'.repeat(900), detail: { big: 'y'.repeat(900) }, extra: 1 })) }
    const errs = registryErrorsOf(body) as { code: string; message: string; detail: unknown }[]
    expect(errs).toHaveLength(5)
    expect(errs[0]!.code).toBe('E0')
    expect(errs[0]!.message).toHaveLength(500)
    expect(errs[0]).not.toHaveProperty('extra')
    expect(registryErrorsOf({ errors: [] })).toBeUndefined()
    expect(registryErrorsOf('text')).toBeUndefined()
  })
})

describe('redactUrl', () => {
  it.each([
    ['https://user:pw@r.example/v2/', 'https://r.example/v2/'],
    ['https://r.example/blob?X-Amz-Signature=abc&X-Amz-Credential=k&n=5', 'https://r.example/blob?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED&n=5'],
    ['https://auth.example/token?service=s&scope=repository:a:pull&access_token=zzz', 'https://auth.example/token?service=s&scope=repository%3Aa%3Apull&access_token=REDACTED'],
    ['not a url //user:pw@host', 'not a url //host'],
  ])('%s', (input, expected) => {
    expect(redactUrl(input)).toBe(expected)
  })
})

describe('tag order', () => {
  it('sorts by code point and drops duplicates', () => {
    expect(sortedUnique(['b', 'a', 'B', '10', '9', 'a', '1.0', '1-0', '1_0'])).toEqual(['1-0', '1.0', '10', '1_0', '9', 'B', 'a', 'b'])
  })
  it('puts astral characters after U+E000–U+FFFF, unlike UTF-16 order', () => {
    const astral = '\u{1F600}'
    const bmpHigh = '\uFF21'
    expect([astral, bmpHigh].sort()).toEqual([astral, bmpHigh]) // code-unit order: wrong
    expect([astral, bmpHigh].sort(compareCodePoints)).toEqual([bmpHigh, astral])
    expect(compareCodePoints('abc', 'abcd')).toBeLessThan(0)
    expect(compareCodePoints('x', 'x')).toBe(0)
  })
})
