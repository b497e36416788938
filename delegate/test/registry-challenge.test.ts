import { describe, expect, it } from 'vitest'
import { parseChallenges, pickChallenge } from '../src/registry/challenge.ts'

describe('parseChallenges (RFC 7235)', () => {
  it.each([
    ['Basic realm="Registry Realm"', [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]],
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
      [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/nginx:pull' } }],
    ],
    ['Bearer realm="/token", service=reg , error="insufficient_scope"', [{ scheme: 'bearer', params: { realm: '/token', service: 'reg', error: 'insufficient_scope' } }]],
    [
      'Bearer realm="https://a/token",scope="repository:a:pull,push", Basic realm="x, y"',
      [
        { scheme: 'bearer', params: { realm: 'https://a/token', scope: 'repository:a:pull,push' } },
        { scheme: 'basic', params: { realm: 'x, y' } },
      ],
    ],
    ['Basic realm="a \\"quoted\\" \\\\ realm"', [{ scheme: 'basic', params: { realm: 'a "quoted" \\ realm' } }]],
    ['BEARER REALM="r"', [{ scheme: 'bearer', params: { realm: 'r' } }]],
    ['Basic, Bearer realm=r', [{ scheme: 'basic', params: {} }, { scheme: 'bearer', params: { realm: 'r' } }]],
    ['Negotiate abc123==, Basic realm="r"', [{ scheme: 'negotiate', params: {}, token68: 'abc123==' }, { scheme: 'basic', params: { realm: 'r' } }]],
    ['Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"', [
      { scheme: 'newauth', params: { realm: 'apps', type: '1', title: 'Login to "apps"' } },
      { scheme: 'basic', params: { realm: 'simple' } },
    ]],
    ['', []],
    [',,  ,', []],
    ['Bearer realm="unterminated', [{ scheme: 'bearer', params: { realm: 'unterminated' } }]],
  ])('%s', (header, expected) => {
    expect(parseChallenges(header)).toEqual(expected)
  })

  it('reads challenges across several headers', () => {
    expect(parseChallenges(['Basic realm="a"', 'Bearer realm="b",service="s"'])).toEqual([
      { scheme: 'basic', params: { realm: 'a' } },
      { scheme: 'bearer', params: { realm: 'b', service: 's' } },
    ])
    expect(parseChallenges(undefined)).toEqual([])
  })

  it('prefers Bearer over Basic', () => {
    expect(pickChallenge(parseChallenges(['Basic realm="a"', 'Bearer realm="b"']))?.scheme).toBe('bearer')
    expect(pickChallenge(parseChallenges('Basic realm="a"'))?.scheme).toBe('basic')
    expect(pickChallenge([])).toBeUndefined()
  })
})
