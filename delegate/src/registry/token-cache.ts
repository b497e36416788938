/**
 * Bearer tokens cached by realm + service + scopes + credentials until they expire, with at most
 * one fetch in flight per key: forty parallel tag listings against one registry cost one token
 * request, not forty.
 */
import { createHash } from 'node:crypto'

export interface TokenKeyParts {
  realm: string
  service?: string | undefined
  scopes: readonly string[]
  username?: string | undefined
  password?: string | undefined
}

export interface FetchedToken {
  token: string
  /** Lifetime from now in ms. */
  expiresInMs: number
}

interface Entry {
  token: string
  expiresAt: number
}

/** Tokens are dropped this long before they expire, so none expires on its way to the registry. */
const EXPIRY_MARGIN_MS = 5_000
const MAX_ENTRIES = 1_000

export function tokenKey(p: TokenKeyParts): string {
  const creds = p.username === undefined ? '-' : createHash('sha256').update(`${p.username}\0${p.password ?? ''}`).digest('base64url')
  return JSON.stringify([p.realm, p.service ?? '', [...new Set(p.scopes)].sort(), creds])
}

export class TokenCache {
  readonly #entries = new Map<string, Entry>()
  readonly #inFlight = new Map<string, Promise<string>>()
  readonly #now: () => number

  constructor(now: () => number = Date.now) {
    this.#now = now
  }

  /** A cached token for `key`, or the one `fetch` brings (shared by concurrent callers). */
  async get(key: string, fetch: () => Promise<FetchedToken>): Promise<string> {
    const hit = this.#entries.get(key)
    if (hit && hit.expiresAt - EXPIRY_MARGIN_MS > this.#now()) return hit.token
    if (hit) this.#entries.delete(key)
    let p = this.#inFlight.get(key)
    if (!p) {
      p = (async () => {
        try {
          const t = await fetch()
          if (this.#entries.size >= MAX_ENTRIES) this.#evict()
          this.#entries.set(key, { token: t.token, expiresAt: this.#now() + t.expiresInMs })
          return t.token
        } finally {
          this.#inFlight.delete(key)
        }
      })()
      this.#inFlight.set(key, p)
    }
    return p
  }

  /** Forget a token the registry called `invalid_token`. */
  invalidate(key: string, token: string): void {
    if (this.#entries.get(key)?.token === token) this.#entries.delete(key)
  }

  #evict(): void {
    const now = this.#now()
    for (const [k, e] of this.#entries) if (e.expiresAt <= now) this.#entries.delete(k)
    // still full: drop the oldest inserted
    while (this.#entries.size >= MAX_ENTRIES) {
      const first = this.#entries.keys().next()
      if (first.done) break
      this.#entries.delete(first.value)
    }
  }
}
