/**
 * A registry's profile (SPEC §8): what a successful validation learned about the registry
 * beyond "it works". Every part may be unknown (null): a probe that fails never fails the
 * validation. Decoded here with its own limits, since it arrives from a delegate.
 */
import { ProtocolError } from './errors.ts'

export const CATALOG_STATES = ['supported', 'unsupported', 'forbidden'] as const
export type CatalogState = (typeof CATALOG_STATES)[number]

export interface RegistryProfile {
  /** `Docker-Distribution-Api-Version`, e.g. `registry/2.0`. */
  apiVersion: string | null
  auth: {
    scheme: 'none' | 'basic' | 'bearer'
    /** Host of the Bearer token realm (the token service). */
    realmHost: string | null
    /** The `service` the token realm is asked for. */
    service: string | null
    /** Anonymous clients are let in at `/v2/` (through the token flow): public repositories can be pulled without credentials. */
    anonymousPull: boolean | null
  }
  /** `GET /v2/_catalog` with the connector's credentials. */
  catalog: CatalogState
  /** How the catalog pages; null when it cannot be read. */
  pagination: {
    /** `link`: next pages come in `Link: <…>; rel="next"`; `none`: no Link header was seen. */
    mode: 'link' | 'none'
    /** The largest `n` (1000, 100) the registry accepted; null: only a page without `n`. */
    largestPageSize: number | null
    /** The registry refused `n=1000`. */
    steppedDown: boolean
  } | null
  /** `RateLimit-Limit` / `RateLimit-Remaining` as sent (e.g. `100;w=21600`), when present. */
  rateLimit: { limit: string; remaining: string | null } | null
  /** The certificate the registry presented (https only). */
  tls: {
    protocol: string
    issuer: string
    subject: string
    /** ISO 8601 */
    notAfter: string
    daysUntilExpiry: number
  } | null
}

type Obj = Record<string, unknown>
const AUTH_SCHEMES = ['none', 'basic', 'bearer'] as const

/** What decodeProfile accepts; encode-result.ts fits a delegate's profile to the same numbers. */
export const PROFILE_LIMITS = {
  text: 256,
  rateLimit: 128,
  pageSize: 1_000_000,
  notAfter: 64,
  tlsProtocol: 32,
  certName: 512,
  days: 100_000,
} as const
const SHORT = PROFILE_LIMITS.text

function fail(message: string): never {
  throw new ProtocolError(message)
}

function obj(v: unknown, at: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`${at} must be an object`)
  return v as Obj
}

function nullable<T>(v: unknown, decode: (v: unknown) => T): T | null {
  return v === null ? null : decode(v)
}

function text(v: unknown, at: string, max: number = SHORT): string {
  if (typeof v !== 'string' || v.length > max) fail(`${at} must be a string of at most ${max} characters`)
  return v
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], at: string): T {
  if (!allowed.includes(v as T)) fail(`${at} must be one of ${allowed.join(', ')}`)
  return v as T
}

function integer(v: unknown, at: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(`${at} must be an integer from ${min} to ${max}`)
  return v
}

function boolean(v: unknown, at: string): boolean {
  if (typeof v !== 'boolean') fail(`${at} must be a boolean`)
  return v
}

export function decodeProfile(v: unknown): RegistryProfile {
  const o = obj(v, 'profile')
  const auth = obj(o.auth, 'profile.auth')
  return {
    apiVersion: nullable(o.apiVersion, (x) => text(x, 'profile.apiVersion')),
    auth: {
      scheme: oneOf(auth.scheme, AUTH_SCHEMES, 'profile.auth.scheme'),
      realmHost: nullable(auth.realmHost, (x) => text(x, 'profile.auth.realmHost')),
      service: nullable(auth.service, (x) => text(x, 'profile.auth.service')),
      anonymousPull: nullable(auth.anonymousPull, (x) => boolean(x, 'profile.auth.anonymousPull')),
    },
    catalog: oneOf(o.catalog, CATALOG_STATES, 'profile.catalog'),
    pagination: nullable(o.pagination, (x) => {
      const p = obj(x, 'profile.pagination')
      return {
        mode: oneOf(p.mode, ['link', 'none'] as const, 'profile.pagination.mode'),
        largestPageSize: nullable(p.largestPageSize, (n) => integer(n, 'profile.pagination.largestPageSize', 1, PROFILE_LIMITS.pageSize)),
        steppedDown: boolean(p.steppedDown, 'profile.pagination.steppedDown'),
      }
    }),
    rateLimit: nullable(o.rateLimit, (x) => {
      const r = obj(x, 'profile.rateLimit')
      return {
        limit: text(r.limit, 'profile.rateLimit.limit', PROFILE_LIMITS.rateLimit),
        remaining: nullable(r.remaining, (s) => text(s, 'profile.rateLimit.remaining', PROFILE_LIMITS.rateLimit)),
      }
    }),
    tls: nullable(o.tls, (x) => {
      const t = obj(x, 'profile.tls')
      const notAfter = text(t.notAfter, 'profile.tls.notAfter', PROFILE_LIMITS.notAfter)
      if (Number.isNaN(Date.parse(notAfter))) fail('profile.tls.notAfter must be a date')
      return {
        protocol: text(t.protocol, 'profile.tls.protocol', PROFILE_LIMITS.tlsProtocol),
        issuer: text(t.issuer, 'profile.tls.issuer', PROFILE_LIMITS.certName),
        subject: text(t.subject, 'profile.tls.subject', PROFILE_LIMITS.certName),
        notAfter,
        daysUntilExpiry: integer(t.daysUntilExpiry, 'profile.tls.daysUntilExpiry', -PROFILE_LIMITS.days, PROFILE_LIMITS.days),
      }
    }),
  }
}
