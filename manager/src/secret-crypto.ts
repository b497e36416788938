/**
 * Secrets at rest: AES-256-GCM with a random 96-bit nonce per value. The stored form names the
 * key it was sealed with (a short fingerprint), so that after a rotation values sealed under
 * the old key (MANAGER_SECRETS_OLD_KEY) still open while new ones use the new key.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'
import { SecretUnreadableError } from './errors.ts'

export interface Sealed {
  /** key id: first 8 hex chars of sha256(key) */
  kid: string
  /** base64 of nonce(12) ‖ ciphertext ‖ tag(16) */
  box: string
}

export class SecretBox {
  readonly #keys = new Map<string, Buffer>()
  readonly #current: string

  constructor(currentKeyB64: string, oldKeyB64 = '') {
    const current = Buffer.from(currentKeyB64, 'base64')
    this.#current = keyId(current)
    this.#keys.set(this.#current, current)
    if (oldKeyB64) {
      const old = Buffer.from(oldKeyB64, 'base64')
      this.#keys.set(keyId(old), old)
    }
  }

  /** `aad` binds the ciphertext to its record (the secret id): a box moved to another id will not open. */
  seal(plaintext: string, aad: string): Sealed {
    const key = this.#keys.get(this.#current)!
    const nonce = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', key, nonce)
    cipher.setAAD(Buffer.from(aad))
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    return { kid: this.#current, box: Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64') }
  }

  open(sealed: Sealed, aad: string): string {
    const key = this.#keys.get(sealed.kid)
    if (!key) {
      throw new SecretUnreadableError(`secret sealed with key ${sealed.kid}, which is not configured; set the key it was sealed with as MANAGER_SECRETS_OLD_KEY`)
    }
    const raw = Buffer.from(sealed.box, 'base64')
    if (raw.length < 12 + 16) throw new SecretUnreadableError('stored secret is truncated; store the value again')
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12))
      decipher.setAAD(Buffer.from(aad))
      decipher.setAuthTag(raw.subarray(raw.length - 16))
      return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8')
    } catch {
      throw new SecretUnreadableError('stored secret fails authentication (altered, or moved to another record); store the value again')
    }
  }

  /** True when the value should be re-sealed under the current key. */
  isStale(sealed: Sealed): boolean {
    return sealed.kid !== this.#current
  }
}

function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8)
}
