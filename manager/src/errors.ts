/**
 * The manager's failures: one class per kind under one base, each with a stable `code` (undici
 * `lib/core/errors.js`). They say nothing of HTTP: the fastify error handler in app.ts is the
 * one place that turns them into a status and `{error: {code, message}}`. Match on the class or
 * the code, never on the message. Anything thrown that is not a ManagerError is a bug (INTERNAL).
 */
import { TaskErrorCode } from '../../protocol/src/index.ts'
import { ApiErrorCode } from './api-error-codes.ts'

export class ManagerError extends Error {
  override name = 'ManagerError'
  readonly code: ApiErrorCode | TaskErrorCode
  protected constructor(code: ApiErrorCode | TaskErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}

/** For a `.catch()`: null when the record does not exist; any other failure (Redis) goes on. */
export function nullIfNotFound(err: unknown): null {
  if (err instanceof NotFoundError) return null
  throw err
}

/** No such connector, secret, delegate token, task (or route). */
export class NotFoundError extends ManagerError {
  override name = 'NotFoundError'
  declare readonly code: typeof ApiErrorCode.NOT_FOUND
  readonly what: string
  readonly id: string
  constructor(what: string, id: string, message = `${what} ${JSON.stringify(id)} does not exist; list them to find the right id`) {
    super(ApiErrorCode.NOT_FOUND, message)
    this.what = what
    this.id = id
  }
}

/** Input that cannot be right. `field` names the input field at fault (`passwordSecretId`). */
export class InvalidInputError extends ManagerError {
  override name = 'InvalidInputError'
  declare readonly code: typeof ApiErrorCode.INVALID_INPUT
  readonly field: string | undefined
  constructor(field: string | undefined, message: string, options?: ErrorOptions) {
    super(ApiErrorCode.INVALID_INPUT, message, options)
    this.field = field
  }
}

/** A connector of one project may not use another project's secret. */
export class SecretOutOfScopeError extends ManagerError {
  override name = 'SecretOutOfScopeError'
  declare readonly code: typeof ApiErrorCode.SECRET_OUT_OF_SCOPE
  constructor(secretName: string, project: string) {
    super(
      ApiErrorCode.SECRET_OUT_OF_SCOPE,
      `secret ${JSON.stringify(secretName)} belongs to project ${JSON.stringify(project)}; ` +
        'use it from a connector of that project, or create an account-level secret (no project)',
    )
  }
}

/** A secret is not deleted while connectors use it. */
export class SecretInUseError extends ManagerError {
  override name = 'SecretInUseError'
  declare readonly code: typeof ApiErrorCode.SECRET_IN_USE
  readonly usedBy: readonly string[]
  constructor(secretName: string, usedBy: readonly string[]) {
    super(
      ApiErrorCode.SECRET_IN_USE,
      `secret ${JSON.stringify(secretName)} is used by connector(s) ${usedBy.map((name) => JSON.stringify(name)).join(', ')}; change or delete them first`,
    )
    this.usedBy = usedBy
  }
}

/** A stored secret that cannot be opened: wrong or missing key, or altered at rest. Ends a task SECRET_UNREADABLE. */
export class SecretUnreadableError extends ManagerError {
  override name = 'SecretUnreadableError'
  declare readonly code: typeof TaskErrorCode.SECRET_UNREADABLE
  constructor(message: string) {
    super(TaskErrorCode.SECRET_UNREADABLE, message)
  }
}

/** Redis does not answer (down, restarting, unreachable): nothing that needs it can be done now. */
export class RedisUnavailableError extends ManagerError {
  override name = 'RedisUnavailableError'
  declare readonly code: typeof ApiErrorCode.REDIS_UNAVAILABLE
  constructor(options?: ErrorOptions) {
    super(ApiErrorCode.REDIS_UNAVAILABLE, 'Redis does not answer; check that it runs and that REDIS_URL points at it, then try again', options)
  }
}

/** Missing or wrong API key. */
export class UnauthorizedError extends ManagerError {
  override name = 'UnauthorizedError'
  declare readonly code: typeof ApiErrorCode.UNAUTHORIZED
  constructor() {
    super(ApiErrorCode.UNAUTHORIZED, 'missing or wrong API key: send Authorization: Bearer <MANAGER_API_KEY>')
  }
}

/**
 * A task a route ran and waited for did not succeed: the answer carries the task's own code
 * and the task itself (its selection log says what happened).
 */
export class TaskFailedError extends ManagerError {
  override name = 'TaskFailedError'
  declare readonly code: TaskErrorCode
  readonly task: unknown
  constructor(code: TaskErrorCode, message: string, task: unknown) {
    super(code, message)
    this.task = task
  }
}
