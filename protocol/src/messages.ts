/**
 * The wire protocol between a delegate and the manager: JSON text frames over one WebSocket
 * that the delegate dials (`GET /api/v1/delegates/stream`, `Authorization: Bearer <token>`).
 *
 *   delegate                                    manager
 *      │── hello {protocol, name, tags, capacity} ──▶│  refuses an unknown protocol (close 1002)
 *      │◀──────────── welcome {delegateId} ──────────│
 *      │── heartbeat {active} (every heartbeatMs) ──▶│  silent past the timeout → tasks released
 *      │◀──── task.assign {taskId, attemptId, …} ────│  only while active < capacity
 *      │── task.result.chunk {…, seq, entries} ─────▶│  a list over one frame, in order (see below)
 *      │── task.result {taskId, attemptId, …} ──────▶│  dropped unless this attempt is current
 *      │◀──── task.cancel {taskId, attemptId} ───────│  timeout: the delegate aborts the task
 *      │── drain ───────────────────────────────────▶│  SIGTERM: no new tasks for this delegate
 *      │◀──────────── probe {probeId, url} ──────────│  eligibility preview: can you reach it?
 *      │── probe.result {reachable, code, ms} ──────▶│
 *
 * `attemptId` names one hand-over of a task to one delegate, so that a result from an earlier
 * attempt (a delegate the manager gave up on) can never end the task twice.
 *
 * A list result larger than `LIMITS.chunkBytes` travels as `task.result.chunk` frames (seq 0, 1,
 * …, each a slice of the entries, in order) and then the `task.result` itself, whose `chunks`
 * says how many came before and whose own list holds the last entries. A delegate streams one
 * such result at a time; the manager keeps the slices only for attempts the delegate holds and
 * only up to `LIMITS.resultBytes`, and drops them when the attempt ends.
 */

import type { TaskErrorCode } from './error-codes.ts'
import type { RegistryProfile } from './profile.ts'

export const PROTOCOL_VERSION = 1

/** Where delegates dial, on the manager's HTTP port. */
export const STREAM_PATH = '/api/v1/delegates/stream'

export const TaskType = {
  validateConnector: 'validate-connector',
  listImages: 'list-images',
  listTags: 'list-tags',
} as const
export type TaskType = (typeof TaskType)[keyof typeof TaskType]
export const TASK_TYPES: readonly TaskType[] = Object.values(TaskType)

/** What a delegate needs to reach one registry. Exactly one of password / passwordRef, or none. */
export interface RegistryTarget {
  /** The connector URL as the user typed it; the delegate normalises it. */
  url: string
  username?: string
  /** Decrypted by the manager; only ever sent to an authenticated delegate. */
  password?: string
  /** A delegate-side reference (`env:NAME`, `file:/path`) resolved on the delegate. */
  passwordRef?: string
}

export interface TaskSpec {
  type: TaskType
  registry: RegistryTarget
  /** Repository name, for list-tags. */
  image?: string
}

/** A failure as it travels: stable code, a message for humans, and whether to try again. */
export interface WireFailure {
  code: TaskErrorCode
  message: string
  retryable: boolean
  /** Network-level: this delegate cannot reach the registry at all (SPEC §4.5). */
  cannotReach?: boolean
  status?: number
  retryAfterMs?: number
  /** The registry's own `errors[]`, trimmed. */
  registryErrors?: unknown[]
  url?: string
}

export interface ValidateResult {
  type: 'validate-connector'
  url: string
  apiVersion: string | null
  authScheme: 'none' | 'basic' | 'bearer'
  /** What else the validation learned (SPEC §8); absent from older delegates. */
  profile?: RegistryProfile
}
export interface ListImagesResult {
  type: 'list-images'
  images: string[]
  truncated: boolean
  /** names the registry listed that do not fit the distribution grammar, left out (SPEC §7) */
  skipped?: number
}
export interface ListTagsResult {
  type: 'list-tags'
  image: string
  tags: string[]
  truncated: boolean
  /** tags the registry listed that do not fit the distribution grammar, left out (SPEC §7) */
  skipped?: number
}
export type TaskResult = ValidateResult | ListImagesResult | ListTagsResult

// ── delegate → manager ──────────────────────────────────────────────────────────────────────
export interface Hello {
  type: 'hello'
  protocol: number
  name: string
  tags: string[]
  capacity: number
  version: string
}
export interface Heartbeat {
  type: 'heartbeat'
  /** Attempt ids the delegate is running right now. */
  active: string[]
}
export interface TaskResultMessage {
  type: 'task.result'
  taskId: string
  attemptId: string
  outcome: { ok: true; result: TaskResult } | { ok: false; error: WireFailure }
  /** `task.result.chunk` frames sent before this one; their entries come before the result's own */
  chunks?: number
}
export interface TaskResultChunk {
  type: 'task.result.chunk'
  taskId: string
  attemptId: string
  /** 0, 1, 2, … in sending order */
  seq: number
  entries: string[]
}
export interface Drain {
  type: 'drain'
}
/** Whether this delegate reaches a registry at all (network and TLS; no credentials sent). */
export interface ProbeResult {
  type: 'probe.result'
  probeId: string
  reachable: boolean
  /** not reachable: the network code (CONNECTION_REFUSED, DNS_NOT_FOUND, TLS_UNTRUSTED …) */
  code?: TaskErrorCode
  message?: string
  /** reachable: the HTTP status of `GET /v2/` */
  status?: number
  latencyMs: number
}
export type DelegateMessage = Hello | Heartbeat | TaskResultChunk | TaskResultMessage | Drain | ProbeResult

// ── manager → delegate ──────────────────────────────────────────────────────────────────────
export interface Welcome {
  type: 'welcome'
  protocol: number
  delegateId: string
  heartbeatMs: number
}
export interface TaskAssign {
  type: 'task.assign'
  taskId: string
  attemptId: string
  task: TaskSpec
  /** Epoch ms after which the manager no longer wants the answer. */
  deadline: number
  /** W3C trace context of the manager's attempt: the delegate's work continues the task's trace. */
  traceparent?: string
}
export interface TaskCancel {
  type: 'task.cancel'
  taskId: string
  attemptId: string
  reason: string
}
/** Asks a delegate whether it reaches this registry URL (the eligibility preview's probe). */
export interface Probe {
  type: 'probe'
  probeId: string
  url: string
}
export type ManagerMessage = Welcome | TaskAssign | TaskCancel | Probe
