/** An error the REST API answers with `{error: {code, message}}` and an HTTP status. */
export class ApiError extends Error {
  override name = 'ApiError'
  readonly code: string
  readonly statusCode: number
  /** Extra fields merged into the response body beside `error` (e.g. the failed task). */
  readonly extra: Record<string, unknown> | undefined
  constructor(statusCode: number, code: string, message: string, extra?: Record<string, unknown>) {
    super(message)
    this.statusCode = statusCode
    this.code = code
    this.extra = extra
  }
}

export const notFound = (what: string, id: string) =>
  new ApiError(404, 'NOT_FOUND', `${what} ${JSON.stringify(id)} does not exist; list them with GET to find the right id`)
