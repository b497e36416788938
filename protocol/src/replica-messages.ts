/**
 * What manager replicas tell each other over Redis pub/sub (SPEC §6). Two channels per
 * installation plus one per replica:
 *
 *   fleet channel     every replica → all: delegates joining, leaving and changing state, "cannot
 *                     reach" marks, selector sets that gained waiting tasks, changed connectors
 *   done channel      the task id of every task that ended (plain text: cheap to ignore)
 *   replica channel   hand-overs between an origin (whose worker holds the task) and the owner
 *                     (whose socket holds the delegate), both ways
 *
 *   origin                                   owner ── delegate
 *   assign {attemptId, connector revision} ─▶ free slot? ── task.assign ──▶
 *          ◀───────── refused {version} ──── no: the origin treats the delegate as full until
 *                                              a newer state of it arrives (no hand-over loops)
 *          ◀── result | lost ─────────────── task.result ◀──
 *   cancel ─────────────────────────────────▶ task.cancel ──▶
 *
 * Every message carries `v` (this file's version); a replica drops what it cannot decode, so a
 * rolling upgrade that changes a shape bumps the version and old and new replicas ignore each
 * other's messages rather than misread them. Credentials never cross Redis.
 */
import type { ProbeResult, TaskResultMessage, TaskSpec } from './messages.ts'
import { LIMITS } from './limits.ts'

export const REPLICA_PROTOCOL_VERSION = 1

/** A delegate as its owner describes it to other replicas. */
export interface DelegateState {
  id: string
  name: string
  tags: string[]
  version: string
  capacity: number
  draining: boolean
  /** no free slot right now */
  full: boolean
  connectedAt: number
  /** the owner's change counter for this delegate: a refusal names it, a newer one ends it */
  rev: number
}

export interface UnreachableMarkWire {
  code: string
  message: string
  until: number
}

export type FleetMessage =
  | { v: 1; t: 'up'; replica: string; delegate: DelegateState }
  | { v: 1; t: 'down'; replica: string; id: string }
  | { v: 1; t: 'replica-down'; replica: string }
  | { v: 1; t: 'mark'; host: string; delegateId: string; mark: UnreachableMarkWire }
  | { v: 1; t: 'waiting'; key: string; selectors: string[] }
  | { v: 1; t: 'connector'; id: string }

export type HandoverMessage =
  | {
      v: 1
      t: 'assign'
      origin: string
      delegateId: string
      taskId: string
      attemptId: string
      connectorId: string
      /** the connector's updatedAt the origin prepared the task from */
      connectorRev: string
      deadline: number
      /** the spec without any password; the owner adds it back from the connector */
      spec: TaskSpec
      traceparent?: string
    }
  | { v: 1; t: 'cancel'; delegateId: string; taskId: string; attemptId: string; reason: string }
  | { v: 1; t: 'refused'; delegateId: string; attemptId: string; rev: number; reason: string }
  | { v: 1; t: 'lost'; delegateId: string; attemptId: string; reason: string }
  /** `message` inline, or `ref`: a Redis key holding it (large results do not go through pub/sub) */
  | { v: 1; t: 'result'; delegateId: string; attemptId: string; message?: TaskResultMessage; ref?: string }
  /** the eligibility preview's probe, to a delegate another replica owns, and its answer */
  | { v: 1; t: 'probe'; origin: string; delegateId: string; probeId: string; url: string }
  | { v: 1; t: 'probe-result'; result: ProbeResult }

type Obj = Record<string, unknown>

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const isStr = (v: unknown, max = 4096): v is string => typeof v === 'string' && v.length <= max
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)
const isStrArray = (v: unknown): v is string[] => Array.isArray(v) && v.length <= 1024 && v.every((s) => isStr(s, 256))

function parse(raw: string): Obj | null {
  try {
    const value: unknown = JSON.parse(raw)
    return isObj(value) && value.v === REPLICA_PROTOCOL_VERSION ? value : null
  } catch {
    return null
  }
}

function delegateState(v: unknown): v is DelegateState {
  return (
    isObj(v) &&
    isStr(v.id, 128) &&
    isStr(v.name, 253) &&
    isStrArray(v.tags) &&
    isStr(v.version, 64) &&
    isNum(v.capacity) &&
    typeof v.draining === 'boolean' &&
    typeof v.full === 'boolean' &&
    isNum(v.connectedAt) &&
    isNum(v.rev)
  )
}

/** A fleet message, or null for anything else (another version, garbage). */
export function decodeFleetMessage(raw: string): FleetMessage | null {
  const o = parse(raw)
  if (!o) return null
  switch (o.t) {
    case 'up':
      return isStr(o.replica, 64) && delegateState(o.delegate) ? (o as FleetMessage) : null
    case 'down':
      return isStr(o.replica, 64) && isStr(o.id, 128) ? (o as FleetMessage) : null
    case 'replica-down':
      return isStr(o.replica, 64) ? (o as FleetMessage) : null
    case 'mark': {
      const m = o.mark
      return isStr(o.host, 512) && isStr(o.delegateId, 128) && isObj(m) && isStr(m.code, 64) && isStr(m.message, 8192) && isNum(m.until)
        ? (o as FleetMessage)
        : null
    }
    case 'waiting':
      return isStr(o.key, 128) && isStrArray(o.selectors) ? (o as FleetMessage) : null
    case 'connector':
      return isStr(o.id, 128) ? (o as FleetMessage) : null
    default:
      return null
  }
}

/**
 * A hand-over message, or null. The task spec and result inside come from replicas of the same
 * installation, which decoded them at their own edge; here only the envelope is checked.
 */
export function decodeHandoverMessage(raw: string): HandoverMessage | null {
  const o = parse(raw)
  if (!o) return null
  if (o.t === 'probe') return isStr(o.origin, 64) && isStr(o.delegateId, 128) && isStr(o.probeId, 128) && isStr(o.url) ? (o as HandoverMessage) : null
  if (o.t === 'probe-result') return isObj(o.result) && isStr(o.result.probeId, 128) && typeof o.result.reachable === 'boolean' ? (o as HandoverMessage) : null
  if (!isStr(o.delegateId, 128) || !isStr(o.attemptId, 128)) return null
  switch (o.t) {
    case 'assign':
      return isStr(o.origin, 64) && isStr(o.taskId, 128) && isStr(o.connectorId, 128) && isStr(o.connectorRev, 64) && isNum(o.deadline) && isObj(o.spec) && (o.traceparent === undefined || isStr(o.traceparent, LIMITS.traceparent))
        ? (o as HandoverMessage)
        : null
    case 'cancel':
      return isStr(o.taskId, 128) && isStr(o.reason) ? (o as HandoverMessage) : null
    case 'refused':
      return isNum(o.rev) && isStr(o.reason) ? (o as HandoverMessage) : null
    case 'lost':
      return isStr(o.reason) ? (o as HandoverMessage) : null
    case 'result':
      return isObj(o.message) || isStr(o.ref, 256) ? (o as HandoverMessage) : null
    default:
      return null
  }
}

/** Distributive Omit: the message without its version, which encoding adds. */
type Unversioned<T> = T extends unknown ? Omit<T, 'v'> : never

export function encodeReplicaMessage(message: Unversioned<FleetMessage> | Unversioned<HandoverMessage>): string {
  return JSON.stringify({ v: REPLICA_PROTOCOL_VERSION, ...message })
}
