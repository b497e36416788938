import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { SecretUnreadableError } from '../src/errors.ts'
import { SecretBox } from '../src/secret-crypto.ts'

const key = () => randomBytes(32).toString('base64')

describe('SecretBox (AES-256-GCM)', () => {
  it('opens what it sealed, and the stored form holds no plaintext', () => {
    const box = new SecretBox(key())
    const sealed = box.seal('p@ssw0rd-ünïcode', 'id-1')
    expect(box.open(sealed, 'id-1')).toBe('p@ssw0rd-ünïcode')
    expect(JSON.stringify(sealed)).not.toContain('p@ssw0rd')
    expect(Buffer.from(sealed.box, 'base64').toString('latin1')).not.toContain('p@ssw0rd')
    expect(sealed.kid).toMatch(/^[0-9a-f]{8}$/)
  })

  it('uses a fresh nonce for every value', () => {
    const box = new SecretBox(key())
    const a = box.seal('same', 'id')
    const b = box.seal('same', 'id')
    expect(a.box).not.toBe(b.box)
    expect(Buffer.from(a.box, 'base64').subarray(0, 12)).not.toEqual(Buffer.from(b.box, 'base64').subarray(0, 12))
  })

  it('opens a value sealed under the old key once that key is configured as the old key', () => {
    const oldKey = key()
    const sealedBefore = new SecretBox(oldKey).seal('before rotation', 'id-1')
    const rotated = new SecretBox(key(), oldKey)
    expect(rotated.open(sealedBefore, 'id-1')).toBe('before rotation')
    expect(rotated.isStale(sealedBefore)).toBe(true)
    const resealed = rotated.seal('before rotation', 'id-1')
    expect(rotated.isStale(resealed)).toBe(false)
    expect(resealed.kid).not.toBe(sealedBefore.kid)
  })

  it('refuses a value sealed under a key that is no longer configured, naming the setting', () => {
    const sealed = new SecretBox(key()).seal('x', 'id-1')
    expect(() => new SecretBox(key()).open(sealed, 'id-1')).toThrow(/MANAGER_SECRETS_OLD_KEY/)
  })

  it('refuses a box moved to another record id', () => {
    const box = new SecretBox(key())
    const sealed = box.seal('x', 'id-1')
    expect(() => box.open(sealed, 'id-2')).toThrow(SecretUnreadableError)
  })

  it('refuses a tampered box or a box relabelled with another key id', () => {
    const oldKey = key()
    const box = new SecretBox(key(), oldKey)
    const sealed = box.seal('secret value', 'id-1')
    const raw = Buffer.from(sealed.box, 'base64')
    for (const at of [0, 12, raw.length - 1]) {
      const flipped = Buffer.from(raw)
      flipped[at]! ^= 1
      expect(() => box.open({ ...sealed, box: flipped.toString('base64') }, 'id-1')).toThrow()
    }
    const oldKid = new SecretBox(oldKey).seal('y', 'z').kid
    expect(() => box.open({ ...sealed, kid: oldKid }, 'id-1')).toThrow()
    expect(() => box.open({ ...sealed, box: raw.subarray(0, 20).toString('base64') }, 'id-1')).toThrow()
  })
})
