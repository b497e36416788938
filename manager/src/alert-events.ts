/**
 * The alert events the manager POSTs to MANAGER_ALERT_WEBHOOK_URL (SPEC §8). Each names its
 * connector (id, name, URL: never credentials, which a connector URL cannot hold) or its selector
 * set. `id` is deterministic, so the same event is delivered once however many replicas see it.
 */
import { createHash } from 'node:crypto'
import type { Connector } from './connector-store.ts'
import type { HealthCheck } from './health-check.ts'
import type { DelegateRef } from './task-outcome.ts'

export const ALERT_TYPES = [
  'connector.failing',
  'connector.recovered',
  'connector.certificate-expiring',
  'selectors.last-delegate',
  'selectors.no-delegate',
] as const
export type AlertType = (typeof ALERT_TYPES)[number]

/** A certificate this close to its end (days) is worth an alert. */
export const CERTIFICATE_ALERT_DAYS = 14

export interface ConnectorRef {
  id: string
  name: string
  url: string
}

interface Base {
  /** Deterministic: the same event has the same id, whoever decides it. */
  id: string
  type: AlertType
  /** ISO 8601: when the manager decided it. */
  at: string
}

export interface ConnectorHealthEvent extends Base {
  type: 'connector.failing' | 'connector.recovered'
  connector: ConnectorRef
  /** The check that decided it. */
  check: HealthCheck
  /** Filled in by the atomic step that decides the event (health-store.ts). */
  failingSince?: string
  failedChecks?: number
}

export interface CertificateEvent extends Base {
  type: 'connector.certificate-expiring'
  connector: ConnectorRef
  certificate: { issuer: string; subject: string; notAfter: string; daysUntilExpiry: number }
}

export interface SelectorsEvent extends Base {
  type: 'selectors.last-delegate' | 'selectors.no-delegate'
  /** The selector set ([] means "any delegate"). */
  selectors: string[]
  /** The connected delegates still able to serve it (one, or none). */
  delegates: DelegateRef[]
  /** The connectors that need it. */
  connectors: { id: string; name: string }[]
}

export type AlertEvent = ConnectorHealthEvent | CertificateEvent | SelectorsEvent

export function connectorRef(c: Connector): ConnectorRef {
  return { id: c.id, name: c.name, url: c.url }
}

/** What a check may fire, built before the atomic step decides which (if any) it does. */
export function checkEventCandidates(
  connector: Connector,
  check: HealthCheck,
  certificate: CertificateEvent['certificate'] | undefined,
  now = new Date(),
): { failing: ConnectorHealthEvent; recovered: ConnectorHealthEvent; certificate: CertificateEvent | null } {
  const ref = connectorRef(connector)
  const at = now.toISOString()
  const base = (type: ConnectorHealthEvent['type']): ConnectorHealthEvent => ({ id: `${type}.${connector.id}.${check.task}`, type, at, connector: ref, check })
  return {
    failing: base('connector.failing'),
    recovered: base('connector.recovered'),
    certificate:
      certificate && certificate.daysUntilExpiry <= CERTIFICATE_ALERT_DAYS
        ? {
            // one alert per certificate: a renewed one (another notAfter) may alert again
            id: `connector.certificate-expiring.${connector.id}.${Date.parse(certificate.notAfter)}`,
            type: 'connector.certificate-expiring',
            at,
            connector: ref,
            certificate,
          }
        : null,
  }
}

export function selectorsEvent(
  type: SelectorsEvent['type'],
  selectors: readonly string[],
  delegates: DelegateRef[],
  connectors: { id: string; name: string }[],
  tick: number,
  now = new Date(),
): SelectorsEvent {
  // the watch tick is one BullMQ job whatever the number of replicas: its time names the event
  const set = createHash('sha256').update(selectors.join(',')).digest('hex').slice(0, 16)
  return { id: `${type}.${set}.${tick}`, type, at: now.toISOString(), selectors: [...selectors], delegates, connectors }
}
