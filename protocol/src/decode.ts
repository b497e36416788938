import { isTaskErrorCode } from './error-codes.ts'
import { CloseCode, ProtocolError } from './errors.ts'
import {
  TASK_TYPES,
  type DelegateMessage,
  type ManagerMessage,
  type ProbeResult,
  type RegistryTarget,
  type TaskAssign,
  type TaskResult,
  type TaskSpec,
  type TaskType,
  type WireFailure,
} from './messages.ts'
import { decodeProfile } from './profile.ts'

/** Frames above this size are refused before parsing (ws `maxPayload` uses the same number). */
export const MAX_FRAME_BYTES = 8 * 1024 * 1024

/** A W3C traceparent is 55 characters in version 00; later versions may only append. */
export const MAX_TRACEPARENT = 128

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
  const code = str(o, 'code', 'error', 64)
  const message = str(o, 'message', 'error', 8192)
  // A code this side does not know (a newer peer) is kept as a bug report, not a reason to drop
  // the connection: the task ends INTERNAL with the peer's code in the message.
  const known = isTaskErrorCode(code)
  const f: WireFailure = {
    code: known ? code : 'INTERNAL',
    message: known ? message : `unknown error code ${code}: ${message}`,
    retryable: bool(o, 'retryable', 'error'),
  }
  if (o.cannotReach !== undefined) f.cannotReach = bool(o, 'cannotReach', 'error')
  if (o.status !== undefined) f.status = int(o, 'status', 'error', 100, 599)
  if (o.retryAfterMs !== undefined) f.retryAfterMs = int(o, 'retryAfterMs', 'error', 0, 2 ** 31)
  if (o.url !== undefined) f.url = str(o, 'url', 'error')
  if (o.registryErrors !== undefined) {
    if (!Array.isArray(o.registryErrors)) fail('error.registryErrors must be an array')
    f.registryErrors = o.registryErrors.slice(0, 20)
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
      const apiVersion = o.apiVersion === null ? null : str(o, 'apiVersion', 'result', 256)
      const validated: TaskResult = { type, url: str(o, 'url', 'result'), apiVersion, authScheme: scheme }
      if (o.profile !== undefined) validated.profile = decodeProfile(o.profile)
      return validated
    }
    case 'list-images':
      return { type, images: strArray(o, 'images', 'result', 10_000_000), truncated: bool(o, 'truncated', 'result') }
    case 'list-tags':
      return {
        type,
        image: str(o, 'image', 'result', 1024),
        tags: strArray(o, 'tags', 'result', 10_000_000, 256),
        truncated: bool(o, 'truncated', 'result'),
      }
  }
}

/** Decodes one frame a delegate sent. Throws ProtocolError (with its close code) otherwise. */
export function decodeDelegateMessage(data: unknown): DelegateMessage {
  const o = parse(data)
  switch (o.type) {
    case 'hello':
      return {
        type: 'hello',
        protocol: int(o, 'protocol', 'hello', 0, 1_000_000),
        name: str(o, 'name', 'hello', 253),
        tags: strArray(o, 'tags', 'hello', 256, 253),
        capacity: int(o, 'capacity', 'hello', 1, 10_000),
        version: str(o, 'version', 'hello', 64),
      }
    case 'heartbeat':
      return { type: 'heartbeat', active: strArray(o, 'active', 'heartbeat', 10_000, 128) }
    case 'task.result': {
      const outcome = obj(o.outcome, 'task.result.outcome')
      const ok = bool(outcome, 'ok', 'task.result.outcome')
      return {
        type: 'task.result',
        taskId: str(o, 'taskId', 'task.result', 128),
        attemptId: str(o, 'attemptId', 'task.result', 128),
        outcome: ok ? { ok, result: result(outcome.result) } : { ok, error: failure(outcome.error) },
      }
    }
    case 'drain':
      return { type: 'drain' }
    case 'probe.result': {
      const r: ProbeResult = {
        type: 'probe.result',
        probeId: str(o, 'probeId', 'probe.result', 128),
        reachable: bool(o, 'reachable', 'probe.result'),
        latencyMs: int(o, 'latencyMs', 'probe.result', 0, 3_600_000),
      }
      if (o.code !== undefined) {
        const code = str(o, 'code', 'probe.result', 64)
        r.code = isTaskErrorCode(code) ? code : 'INTERNAL'
      }
      if (o.message !== undefined) r.message = str(o, 'message', 'probe.result', 8192)
      if (o.status !== undefined) r.status = int(o, 'status', 'probe.result', 100, 599)
      return r
    }
    default:
      fail(`unknown message type ${JSON.stringify(String(o.type)).slice(0, 64)}`)
  }
}

function target(v: unknown): RegistryTarget {
  const o = obj(v, 'task.registry')
  const t: RegistryTarget = { url: str(o, 'url', 'task.registry') }
  const username = optStr(o, 'username', 'task.registry')
  const password = optStr(o, 'password', 'task.registry')
  const passwordRef = optStr(o, 'passwordRef', 'task.registry')
  if (username !== undefined) t.username = username
  if (password !== undefined) t.password = password
  if (passwordRef !== undefined) t.passwordRef = passwordRef
  return t
}

function spec(v: unknown): TaskSpec {
  const o = obj(v, 'task')
  const s: TaskSpec = { type: taskType(o, 'type', 'task'), registry: target(o.registry) }
  const image = optStr(o, 'image', 'task', 1024)
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
        delegateId: str(o, 'delegateId', 'welcome', 128),
        heartbeatMs: int(o, 'heartbeatMs', 'welcome', 100, 600_000),
      }
    case 'task.assign': {
      const assign: TaskAssign = {
        type: 'task.assign',
        taskId: str(o, 'taskId', 'task.assign', 128),
        attemptId: str(o, 'attemptId', 'task.assign', 128),
        task: spec(o.task),
        deadline: int(o, 'deadline', 'task.assign', 0, Number.MAX_SAFE_INTEGER),
      }
      const traceparent = optStr(o, 'traceparent', 'task.assign', MAX_TRACEPARENT)
      if (traceparent !== undefined) assign.traceparent = traceparent
      return assign
    }
    case 'task.cancel':
      return {
        type: 'task.cancel',
        taskId: str(o, 'taskId', 'task.cancel', 128),
        attemptId: str(o, 'attemptId', 'task.cancel', 128),
        reason: str(o, 'reason', 'task.cancel', 1024),
      }
    case 'probe':
      return { type: 'probe', probeId: str(o, 'probeId', 'probe', 128), url: str(o, 'url', 'probe') }
    default:
      fail(`unknown message type ${JSON.stringify(String(o.type)).slice(0, 64)}`)
  }
}
