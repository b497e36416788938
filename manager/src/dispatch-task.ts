import type { TaskSpec } from '../../protocol/src/index.ts'
import type { DelegateRef } from './task-outcome.ts'

/** A task as the dispatcher places it: everything prepared, the credentials included. */
export interface DispatchTask {
  taskId: string
  connectorId: string
  /** the connector's updatedAt this task was prepared from (a hand-over checks it) */
  connectorRev: string
  /** host[:port] of the registry API, the unit of "cannot reach" marks */
  registryHost: string
  /** connector's and task's selectors, normalised */
  selectors: string[]
  createdAt: number
  deadline: number
  /** carried from earlier stints of this task (it may have waited, backed off or moved replica) */
  attempts: number
  retries: number
  /** the last wait reason already written to the selection log */
  waitReason: string | null
  spec: TaskSpec
}

/** Where a task stands while it is not finished: kept in its BullMQ job's `progress` field. */
export interface TaskProgress {
  status: 'queued' | 'running'
  delegate: DelegateRef | null
  attempts: number
  retries: number
  waitReason: string | null
  /** epoch ms it went back to the queue (parked), for the trace's queue wait */
  queuedAt?: number
  /** the selector set this task waits in, while it is parked (waiting-room.ts) */
  parkedIn?: string | null
}
