import { describe, expect, it } from 'vitest'
import { InvalidRegistryReference, normalizeRegistryUrl, normalizeRepository } from '../src/normalize-url.ts'

describe('normalizeRegistryUrl', () => {
  const hub = { url: 'https://registry-1.docker.io', origin: 'https://registry-1.docker.io', prefix: '', dockerHub: true }
  it.each([
    ['https://registry.hub.docker.com/v2/', hub],
    ['https://index.docker.io/v2/', hub],
    ['index.docker.io/v1/', { ...hub, typedV1: true }],
    ['docker.io', hub],
    ['registry-1.docker.io:443', hub],
    ['http://docker.io', hub],
    ['registry.example.com', { url: 'https://registry.example.com', origin: 'https://registry.example.com', prefix: '', dockerHub: false }],
    ['registry.example.com:5000', { url: 'https://registry.example.com:5000', origin: 'https://registry.example.com:5000', prefix: '' }],
    ['https://registry.example.com:443/', { url: 'https://registry.example.com', prefix: '' }],
    ['http://registry.example.com', { url: 'http://registry.example.com', origin: 'http://registry.example.com' }],
    ['  Registry.Example.COM/v2  ', { url: 'https://registry.example.com' }],
    ['localhost:5000', { url: 'http://localhost:5000' }],
    ['127.0.0.1:5000/v2/', { url: 'http://127.0.0.1:5000' }],
    ['127.1.2.3', { url: 'http://127.1.2.3' }],
    ['[::1]:5000', { url: 'http://[::1]:5000', origin: 'http://[::1]:5000' }],
    ['https://localhost:5000', { url: 'https://localhost:5000' }],
    ['registry.example.com/team/sub/', { url: 'https://registry.example.com/team/sub', prefix: 'team/sub/' }],
    ['registry.example.com/team/v2', { url: 'https://registry.example.com/team', prefix: 'team/' }],
    ['registry.example.com//v1//', { url: 'https://registry.example.com', prefix: '', typedV1: true }],
    ['https://registry.example.com/?token=abc#frag', { url: 'https://registry.example.com' }],
  ])('%s', (input, expected) => {
    expect(normalizeRegistryUrl(input)).toMatchObject(expected)
  })

  it('moves userinfo to credentials and never echoes it', () => {
    const r = normalizeRegistryUrl('https://al%40ice:s3cr%3At@registry.example.com/v2/')
    expect(r).toMatchObject({ url: 'https://registry.example.com', username: 'al@ice', password: 's3cr:t' })
    expect(JSON.stringify({ url: r.url, origin: r.origin })).not.toContain('s3cr')
  })

  it.each(['', '   ', 'ftp://registry.example.com', 'https://', 'registry example.com', 'https://registry.example.com/Team', 'http://[zz]'])(
    'rejects %j before any request',
    (input) => {
      let err: unknown
      try {
        normalizeRegistryUrl(input)
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(InvalidRegistryReference)
      expect((err as InvalidRegistryReference).code).toBe('INVALID_INPUT')
      expect((err as InvalidRegistryReference).message).toMatch(/^The (registry URL|repository)|^.+: /)
    },
  )
})

describe('normalizeRepository', () => {
  const hub = normalizeRegistryUrl('docker.io')
  const plain = normalizeRegistryUrl('127.0.0.1:5000')
  const team = normalizeRegistryUrl('registry.example.com/team')
  it.each([
    [hub, 'nginx', 'library/nginx'],
    [hub, 'library/nginx', 'library/nginx'],
    [hub, 'docker.io/nginx', 'library/nginx'],
    [hub, 'bitnami/redis', 'bitnami/redis'],
    [plain, 'nginx', 'nginx'],
    [plain, '/a/b/', 'a/b'],
    [plain, '127.0.0.1:5000/a/b', 'a/b'],
    [plain, 'a.b/c_d/e__f/g-h--i', 'a.b/c_d/e__f/g-h--i'],
    [team, 'app', 'team/app'],
    [team, 'team/app', 'team/app'],
  ])('%#: %s', (reg, image, expected) => {
    expect(normalizeRepository(reg, image)).toBe(expected)
  })

  it.each([undefined, '', 'Nginx', 'nginx:latest', 'nginx@sha256:abc', 'a//b', '-a', 'a_', 'a...b', 'a'.repeat(256)])('rejects %j', (image) => {
    expect(() => normalizeRepository(plain, image)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }))
  })
})
