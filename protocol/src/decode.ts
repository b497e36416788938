import { isTaskErrorCode, TaskErrorCode } from './error-codes.ts'
import { CloseCode, ProtocolError } from './errors.ts'
import { LIMITS } from './limits.ts'
import {
  TASK_TYPES,
  type DelegateMessage,
  type ListImagesResult,
  type ListTagsResult,
  type ManagerMessage,
  type ProbeResult,
  type RegistryTarget,
  type TaskAssign,
  type TaskResult,
  type TaskResultMessage,
  type TaskSpec,
  type TaskType,
  type WireFailure,
} from './messages.ts'
import { decodeProfile } from './profile.ts'

/** Frames above this size are refused before parsing (ws `maxPayload` uses the same number). */
export const MAX_FRAME_BYTES = LIMITS.frameBytes


type Obj = Record<string, unknown>

function fail(message: string): never {
  throw new ProtocolError(message)
}

function obj(v: unknown, at: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`${at} must be an object`)
  return v as Obj
}

function str(o: Obj, key: string, at: string, max = 4096): string {
  const v = o[key]
  if (typeof v !== 'string' || v.length > max) fail(`${at}.${key} must be a string of at most ${max} characters`)
  return v
}

function optStr(o: Obj, key: string, at: string, max = 4096): string | undefined {
  return o[key] === undefined ? undefined : str(o, key, at, max)
}

function int(o: Obj, key: string, at: string, min: number, max: number): number {
  const v = o[key]
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail(`${at}.${key} must be an integer from ${min} to ${max}`)
  }
  return v
}

function strArray(o: Obj, key: string, at: string, maxItems: number, maxLen = 1024): string[] {
  const v = o[key]
  if (!Array.isArray(v) || v.length > maxItems) fail(`${at}.${key} must be an array of at most ${maxItems} strings`)
  for (const s of v) if (typeof s !== 'string' || s.length > maxLen) fail(`${at}.${key} must hold strings`)
  return v as string[]
}

function bool(o: Obj, key: string, at: string): boolean {
  const v = o[key]
  if (typeof v !== 'boolean') fail(`${at}.${key} must be a boolean`)
  return v
}

function parse(data: unknown): Obj {
  let text: string
  if (typeof data === 'string') text = data
  else if (Buffer.isBuffer(data)) text = data.toString('utf8')
  else fail('frame must be text')
  if (Buffer.byteLength(text) > MAX_FRAME_BYTES) throw new ProtocolError('frame too large', CloseCode.messageTooBig)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    fail('frame is not JSON')
  }
  return obj(value, 'message')
}

function taskType(o: Obj, key: string, at: string): TaskType {
  const v = o[key]
  if (!TASK_TYPES.includes(v as TaskType)) fail(`${at}.${key} must be one of ${TASK_TYPES.join(', ')}`)
  return v as TaskType
}

function failure(v: unknown): WireFailure {
  const o = obj(v, 'error')
  const code = str(o, 'code', 'error', LIMITS.errorCode)
  const message = str(o, 'message', 'error', LIMITS.errorMessage)
  // A code this side does not know (a newer peer) is kept as a bug report, not a reason to drop
  // the connection: the task ends INTERNAL with the peer's code in the message.
  const known = isTaskErrorCode(code)
  const f: WireFailure = {
    code: known ? code : TaskErrorCode.INTERNAL,
    message: known ? message : `unknown error code ${code}: ${message}`,
    retryable: bool(o, 'retryable', 'error'),
  }
  if (o.cannotReach !== undefined) f.cannotReach = bool(o, 'cannotReach', 'error')
  if (o.status !== undefined) f.status = int(o, 'status', 'error', 100, 599)
  if (o.retryAfterMs !== undefined) f.retryAfterMs = int(o, 'retryAfterMs', 'error', 0, LIMITS.retryAfterMs)
  if (o.url !== undefined) f.url = str(o, 'url', 'error', LIMITS.url)
  if (o.registryErrors !== undefined) {
    if (!Array.isArray(o.registryErrors)) fail('error.registryErrors must be an array')
    f.registryErrors = o.registryErrors.slice(0, LIMITS.registryErrors)
  }
  return f
}

function result(v: unknown): TaskResult {
  const o = obj(v, 'result')
  const type = taskType(o, 'type', 'result')
  switch (type) {
    case 'validate-connector': {
      const scheme = o.authScheme
      if (scheme !== 'none' && scheme !== 'basic' && scheme !== 'bearer') fail('result.authScheme is invalid')
      const apiVersion = o.apiVersion === null ? null : str(o, 'apiVersion', 'result', LIMITS.apiVersion)
      const validated: TaskResult = { type, url: str(o, 'url', 'result', LIMITS.url), apiVersion, authScheme: scheme }
      if (o.profile !== undefined) validated.profile = decodeProfile(o.profile)
      return validated
    }
    case 'list-images':
      return withSkipped<ListImagesResult>(o, {
        type,
        images: strArray(o, 'images', 'result', LIMITS.resultEntries, LIMITS.entry),
        truncated: bool(o, 'truncated', 'result'),
      })
    case 'list-tags':
      return withSkipped<ListTagsResult>(o, {
        type,
        image: str(o, 'image', 'result', LIMITS.image),
        tags: strArray(o, 'tags', 'result', LIMITS.resultEntries, LIMITS.entry),
        truncated: bool(o, 'truncated', 'result'),
      })
  }
}

function withSkipped<R extends { skipped?: number }>(o: Obj, r: R): R {
  if (o.skipped !== undefined) r.skipped = int(o, 'skipped', 'result', 0, LIMITS.skipped)
  return r
}

/** Decodes one frame a delegate sent. Throws ProtocolError (with its close code) otherwise. */
export function decodeDelegateMessage(data: unknown): DelegateMessage {
  const o = parse(data)
  switch (o.type) {
    case 'hello':
      return {
        type: 'hello',
        protocol: int(o, 'protocol', 'hello', 0, 1_000_000),
        name: str(o, 'name', 'hello', LIMITS.name),
        tags: strArray(o, 'tags', 'hello', LIMITS.tags, LIMITS.tag),
        capacity: int(o, 'capacity', 'hello', 1, LIMITS.capacity),
        version: str(o, 'version', 'hello', LIMITS.version),
      }
    case 'heartbeat':
      return { type: 'heartbeat', active: strArray(o, 'active', 'heartbeat', LIMITS.active, LIMITS.id) }
    case 'task.result': {
      const outcome = obj(o.outcome, 'task.result.outcome')
      const ok = bool(outcome, 'ok', 'task.result.outcome')
      const m: TaskResultMessage = {
        type: 'task.result',
        taskId: str(o, 'taskId', 'task.result', LIMITS.id),
        attemptId: str(o, 'attemptId', 'task.result', LIMITS.id),
        outcome: ok ? { ok, result: result(outcome.result) } : { ok, error: failure(outcome.error) },
      }
      if (o.chunks !== undefined) m.chunks = int(o, 'chunks', 'task.result', 0, LIMITS.resultEntries)
      return m
    }
    case 'task.result.chunk':
      return {
        type: 'task.result.chunk',
        taskId: str(o, 'taskId', 'task.result.chunk', LIMITS.id),
        attemptId: str(o, 'attemptId', 'task.result.chunk', LIMITS.id),
        seq: int(o, 'seq', 'task.result.chunk', 0, LIMITS.resultEntries),
        entries: strArray(o, 'entries', 'task.result.chunk', LIMITS.resultEntries, LIMITS.entry),
      }
    case 'drain':
      return { type: 'drain' }
    case 'probe.result': {
      const r: ProbeResult = {
        type: 'probe.result',
        probeId: str(o, 'probeId', 'probe.result', LIMITS.id),
        reachable: bool(o, 'reachable', 'probe.result'),
        latencyMs: int(o, 'latencyMs', 'probe.result', 0, LIMITS.latencyMs),
      }
      if (o.code !== undefined) {
        const code = str(o, 'code', 'probe.result', LIMITS.errorCode)
        r.code = isTaskErrorCode(code) ? code : 'INTERNAL'
      }
      if (o.message !== undefined) r.message = str(o, 'message', 'probe.result', LIMITS.errorMessage)
      if (o.status !== undefined) r.status = int(o, 'status', 'probe.result', 100, 599)
      return r
    }
    default:
      fail(`unknown message type ${JSON.stringify(String(o.type)).slice(0, 64)}`)
  }
}

function target(v: unknown): RegistryTarget {
  const o = obj(v, 'task.registry')
  const t: RegistryTarget = { url: str(o, 'url', 'task.registry', LIMITS.url) }
  const username = optStr(o, 'username', 'task.registry', LIMITS.username)
  const password = optStr(o, 'password', 'task.registry', LIMITS.password)
  const passwordRef = optStr(o, 'passwordRef', 'task.registry', LIMITS.passwordRef)
  if (username !== undefined) t.username = username
  if (password !== undefined) t.password = password
  if (passwordRef !== undefined) t.passwordRef = passwordRef
  return t
}

function spec(v: unknown): TaskSpec {
  const o = obj(v, 'task')
  const s: TaskSpec = { type: taskType(o, 'type', 'task'), registry: target(o.registry) }
  const image = optStr(o, 'image', 'task', LIMITS.image)
  if (image !== undefined) s.image = image
  return s
}

/** Decodes one frame the manager sent. */
export function decodeManagerMessage(data: unknown): ManagerMessage {
  const o = parse(data)
  switch (o.type) {
    case 'welcome':
      return {
        type: 'welcome',
        protocol: int(o, 'protocol', 'welcome', 0, 1_000_000),
        delegateId: str(o, 'delegateId', 'welcome', LIMITS.id),
        heartbeatMs: int(o, 'heartbeatMs', 'welcome', LIMITS.heartbeatMs.min, LIMITS.heartbeatMs.max),
      }
    case 'task.assign': {
      const assign: TaskAssign = {
        type: 'task.assign',
        taskId: str(o, 'taskId', 'task.assign', LIMITS.id),
        attemptId: str(o, 'attemptId', 'task.assign', LIMITS.id),
        task: spec(o.task),
        deadline: int(o, 'deadline', 'task.assign', 0, Number.MAX_SAFE_INTEGER),
      }
      const traceparent = optStr(o, 'traceparent', 'task.assign', LIMITS.traceparent)
      if (traceparent !== undefined) assign.traceparent = traceparent
      return assign
    }
    case 'task.cancel':
      return {
        type: 'task.cancel',
        taskId: str(o, 'taskId', 'task.cancel', LIMITS.id),
        attemptId: str(o, 'attemptId', 'task.cancel', LIMITS.id),
        reason: str(o, 'reason', 'task.cancel', LIMITS.cancelReason),
      }
    case 'probe':
      return { type: 'probe', probeId: str(o, 'probeId', 'probe', LIMITS.id), url: str(o, 'url', 'probe', LIMITS.url) }
    default:
      fail(`unknown message type ${JSON.stringify(String(o.type)).slice(0, 64)}`)
  }
}
