/** A registry's profile (SPEC §8) and a connector's health, for humans. */
import type { RegistryProfile, ValidateResult } from '../protocol/src/index.ts'
import type { ConnectorHealth } from '../manager/src/health-store.ts'
import type { Connector } from '../manager/src/connector-store.ts'
import { table, duration } from './table.ts'

const known = (v: boolean | null, yes: string, no: string) => (v === null ? 'unknown' : v ? yes : no)

export function profileLines(result: ValidateResult): string[] {
  const p: RegistryProfile | undefined = result.profile
  if (!p) return ['registry profile: none (the delegate is older than profiles)']
  const auth = [p.auth.scheme, p.auth.realmHost ? `token service ${p.auth.realmHost}` : null, p.auth.service ? `service ${p.auth.service}` : null]
  const pagination = p.pagination
    ? [p.pagination.mode === 'link' ? 'Link' : 'no Link header seen', p.pagination.largestPageSize ? `n up to ${p.pagination.largestPageSize}` : 'no n accepted', p.pagination.steppedDown ? 'refused n=1000' : null]
    : ['the catalog cannot be read']
  const tls = p.tls
    ? `${p.tls.protocol} · ${p.tls.issuer} · expires ${p.tls.notAfter} (in ${p.tls.daysUntilExpiry} day${p.tls.daysUntilExpiry === 1 ? '' : 's'})`
    : result.url.startsWith('https:')
      ? 'not inspected (behind a proxy)'
      : 'plain http'
  const facts: [string, string][] = [
    ['api version', p.apiVersion ?? 'no version header'],
    ['auth', auth.filter(Boolean).join(' · ')],
    ['anonymous pulls', known(p.auth.anonymousPull, 'allowed', 'refused')],
    ['catalog', p.catalog],
    ['pagination', pagination.filter(Boolean).join(' · ')],
    ['rate limit', p.rateLimit ? `${p.rateLimit.limit}${p.rateLimit.remaining ? ` (${p.rateLimit.remaining} remaining)` : ''}` : 'no RateLimit headers'],
    ['tls', tls],
  ]
  const width = Math.max(...facts.map(([k]) => k.length))
  return ['registry profile:', ...facts.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)]
}

export function healthText(c: Connector, h: ConnectorHealth & { nextCheckAt?: string }): string {
  const state = h.state === 'unknown' ? 'unknown (no check yet)' : `${h.state} since ${h.since}`
  const schedule = c.healthCheck ? `checked every ${c.healthCheck.intervalSeconds}s${h.nextCheckAt ? `, next check ${h.nextCheckAt}` : ''}` : 'no scheduled check (connectors create --health-check SECONDS)'
  const rows = h.checks.map((x) => [x.at, x.outcome, x.code, x.delegate?.name, duration(x.durationMs), x.task])
  return [`${c.name}: ${state}, ${schedule}`, table(['at', 'outcome', 'code', 'delegate', 'duration', 'task'], rows)].join('\n')
}
