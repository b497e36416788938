import { describe, expect, it } from 'vitest'
import { TokenCache, tokenKey } from '../src/registry/token-cache.ts'

describe('tokenKey', () => {
  const base = { realm: 'https://auth/token', service: 'reg', scopes: ['repository:a:pull', 'registry:catalog:*'] }
  it('ignores scope order and repeats', () => {
    expect(tokenKey(base)).toBe(tokenKey({ ...base, scopes: ['registry:catalog:*', 'repository:a:pull', 'repository:a:pull'] }))
  })
  it('differs by realm, service, scopes, username and password', () => {
    const keys = [
      base,
      { ...base, realm: 'https://other/token' },
      { ...base, service: 'other' },
      { ...base, scopes: ['repository:b:pull'] },
      { ...base, username: 'u', password: 'p' },
      { ...base, username: 'u', password: 'q' },
      { ...base, username: 'v', password: 'p' },
    ].map(tokenKey)
    expect(new Set(keys).size).toBe(keys.length)
  })
  it('holds no password in clear', () => {
    expect(tokenKey({ ...base, username: 'u', password: 'hunter2' })).not.toContain('hunter2')
  })
})

describe('TokenCache', () => {
  it('fetches once for concurrent callers and reuses the token until it expires', async () => {
    let now = 0
    const cache = new TokenCache(() => now)
    let fetches = 0
    const fetch = async () => {
      fetches++
      await new Promise((r) => setTimeout(r, 5))
      return { token: `t${fetches}`, expiresInMs: 60_000 }
    }
    const got = await Promise.all([cache.get('k', fetch), cache.get('k', fetch), cache.get('k', fetch)])
    expect(got).toEqual(['t1', 't1', 't1'])
    expect(fetches).toBe(1)
    now = 50_000
    expect(await cache.get('k', fetch)).toBe('t1')
    now = 56_000 // within the safety margin of expiry
    expect(await cache.get('k', fetch)).toBe('t2')
    expect(fetches).toBe(2)
  })

  it('forgets an invalidated token, and a failed fetch is not cached', async () => {
    const cache = new TokenCache(() => 0)
    let n = 0
    const fetch = async () => ({ token: `t${++n}`, expiresInMs: 60_000 })
    expect(await cache.get('k', fetch)).toBe('t1')
    cache.invalidate('k', 'not-this-one')
    expect(await cache.get('k', fetch)).toBe('t1')
    cache.invalidate('k', 't1')
    expect(await cache.get('k', fetch)).toBe('t2')
    await expect(cache.get('e', async () => Promise.reject(new Error('down')))).rejects.toThrow('down')
    expect(await cache.get('e', fetch)).toBe('t3')
  })
})
