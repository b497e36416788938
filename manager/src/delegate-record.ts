/**
 * One delegate as the dispatcher sees it: a record only the dispatcher changes, plus the
 * transport that reaches it (its socket on this replica, or a hand-over to the replica that owns
 * it). Every slot has exactly one owner: the replica that holds the delegate's socket counts its
 * slots exactly; other replicas count only their own hand-overs and believe the owner's word
 * about the rest (`full`), never that the delegate is freer than the owner said.
 */
import type { Probe, TaskAssign, TaskCancel } from '../../protocol/src/index.ts'
import type { DispatchTask } from './dispatch-task.ts'

/** How a task reaches a delegate. */
export interface Transport {
  /** `task`: the prepared task, for hand-overs to another replica (null when relaying one) */
  assign(message: TaskAssign, task: DispatchTask | null): void
  cancel(message: TaskCancel): void
  probe(message: Probe): void
}

export interface DelegateRecord {
  readonly id: string
  name: string
  tags: string[]
  /** tags and name, trimmed and lower-cased (SPEC §4.1) */
  selectors: ReadonlySet<string>
  version: string
  capacity: number
  draining: boolean
  connectedAt: number
  /** the replica that holds its socket */
  owner: string
  /** owned here: slots counted exactly; else a remote record */
  local: boolean
  /** owned here: every attempt in flight on it (this replica's and relayed ones); remote: this replica's hand-overs in flight */
  active: number
  /** remote: the owner says there is no free slot */
  full: boolean
  /** the owner's change counter (owned here: ours) */
  rev: number
  /** remote: the owner refused a hand-over at this rev; no free slot until a newer rev arrives */
  refusedRev: number
  /** owned here: last heartbeat; remote: the owner vouches for liveness */
  lastHeartbeatAt: number
  /** epoch ms of this replica's last assignment to it (round robin) */
  lastAssignedAt: number
  tokenId: string
  transport: Transport
}

export function selectorsOf(name: string, tags: readonly string[]): Set<string> {
  return new Set([...tags, name.toLowerCase()])
}

/** Tags as delegates send them, trimmed, lower-cased, de-duplicated and sorted. */
export function normalizeTags(tags: readonly string[]): string[] {
  return [...new Set(tags.map((t) => t.trim().toLowerCase()).filter((t) => t !== ''))].sort()
}

/** No free slot, as far as this replica may know. */
export function isFull(d: DelegateRecord): boolean {
  if (d.active >= d.capacity) return true
  return !d.local && (d.full || d.refusedRev >= d.rev)
}
