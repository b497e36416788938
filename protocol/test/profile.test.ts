import { describe, expect, it } from 'vitest'
import { decodeDelegateMessage, ProtocolError } from '../src/index.ts'

const profile = {
  apiVersion: 'registry/2.0',
  auth: { scheme: 'bearer', realmHost: 'auth.example.com', service: 'registry.example.com', anonymousPull: true },
  catalog: 'supported',
  pagination: { mode: 'link', largestPageSize: 100, steppedDown: true },
  rateLimit: { limit: '100;w=21600', remaining: '76;w=21600' },
  tls: { protocol: 'TLSv1.3', issuer: 'Example CA', subject: 'registry.example.com', notAfter: '2030-01-01T00:00:00.000Z', daysUntilExpiry: 900 },
}

const frame = (result: unknown) => JSON.stringify({ type: 'task.result', taskId: 't', attemptId: 'a', outcome: { ok: true, result } })
const validate = { type: 'validate-connector', url: 'https://registry.example.com', apiVersion: 'registry/2.0', authScheme: 'bearer' }

describe('a validation result with a registry profile', () => {
  it('decodes every field', () => {
    const msg = decodeDelegateMessage(frame({ ...validate, profile }))
    expect(msg).toMatchObject({ outcome: { ok: true, result: { ...validate, profile } } })
  })

  it('decodes the unknowns as null and leaves out fields it does not know', () => {
    const sparse = {
      apiVersion: null,
      auth: { scheme: 'none', realmHost: null, service: null, anonymousPull: null },
      catalog: 'forbidden',
      pagination: null,
      rateLimit: null,
      tls: null,
    }
    const msg = decodeDelegateMessage(frame({ ...validate, profile: { ...sparse, extra: 'from a newer delegate' } }))
    expect(msg).toMatchObject({ outcome: { result: { profile: sparse } } })
    expect(JSON.stringify(msg)).not.toContain('newer delegate')
  })

  it('still decodes a result without a profile (an older delegate)', () => {
    const msg = decodeDelegateMessage(frame(validate))
    expect(msg).toMatchObject({ outcome: { result: validate } })
    expect((msg as any).outcome.result.profile).toBeUndefined()
  })

  const bad: [string, unknown, RegExp][] = [
    ['an unknown catalog state', { ...profile, catalog: 'maybe' }, /profile.catalog/],
    ['an unknown auth scheme', { ...profile, auth: { ...profile.auth, scheme: 'ntlm' } }, /profile.auth.scheme/],
    ['a huge issuer', { ...profile, tls: { ...profile.tls, issuer: 'x'.repeat(2000) } }, /profile.tls.issuer/],
    ['a page size that is not a whole number', { ...profile, pagination: { ...profile.pagination, largestPageSize: 1.5 } }, /largestPageSize/],
    ['days that are not a number', { ...profile, tls: { ...profile.tls, daysUntilExpiry: '9' } }, /daysUntilExpiry/],
    ['a notAfter that is not a date', { ...profile, tls: { ...profile.tls, notAfter: 'soon' } }, /notAfter/],
    ['an anonymousPull that is not a boolean', { ...profile, auth: { ...profile.auth, anonymousPull: 'yes' } }, /anonymousPull/],
  ]
  for (const [what, p, message] of bad) {
    it(`refuses ${what}`, () => {
      expect(() => decodeDelegateMessage(frame({ ...validate, profile: p }))).toThrow(ProtocolError)
      expect(() => decodeDelegateMessage(frame({ ...validate, profile: p }))).toThrow(message)
    })
  }
})
