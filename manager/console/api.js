// The REST API (SPEC §3) as the console uses it. The API key lives in sessionStorage: it goes
// with the tab, never into a URL, a cookie or localStorage.
const KEY = 'registry-delegates.apiKey'

export const session = {
  get key() {
    return sessionStorage.getItem(KEY)
  },
  signIn(key) {
    sessionStorage.setItem(KEY, key)
  },
  /** reason: the API error that ended the session, if any */
  signOut(reason) {
    sessionStorage.removeItem(KEY)
    window.dispatchEvent(new CustomEvent('signed-out', { detail: reason }))
  },
}

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message)
    this.status = status
    this.code = code
    this.body = body
  }
}

export async function api(method, path, body, { signal, key = session.key } = {}) {
  let res
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key ?? ''}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: 'no-store',
    })
  } catch (err) {
    if (signal?.aborted) throw err
    throw new ApiError(0, 'UNREACHABLE', `the manager does not answer (${err.message})`)
  }
  const text = await res.text()
  let json
  try {
    json = text ? JSON.parse(text) : undefined
  } catch {
    // a proxy or another server answered in the manager's place
    throw new ApiError(res.status, 'UNREACHABLE', `the manager did not answer: ${res.status} with something that is not JSON`)
  }
  if (res.ok) return json
  const error = typeof json?.error?.code === 'string' ? json.error : { code: 'UNREACHABLE', message: `the manager did not answer: ${res.status} ${res.statusText}` }
  if (res.status === 401 && key === session.key) session.signOut(error)
  throw new ApiError(res.status, error.code, error.message, json)
}

export const FINAL = new Set(['succeeded', 'failed', 'expired'])

/**
 * Starts a task and follows it to its end, calling onUpdate with each view (status, selection
 * log) so the page can show why it waits. The long-poll returns early when the task finishes.
 */
export async function runTask(request, { signal, onUpdate } = {}) {
  const { id } = await api('POST', '/tasks', request, { signal })
  return followTask(id, { signal, onUpdate })
}

export async function followTask(id, { signal, onUpdate, waitMs = 1000 } = {}) {
  let task = await api('GET', `/tasks/${encodeURIComponent(id)}`, undefined, { signal })
  onUpdate?.(task)
  while (!FINAL.has(task.status)) {
    task = await api('GET', `/tasks/${encodeURIComponent(id)}?waitMs=${waitMs}`, undefined, { signal })
    onUpdate?.(task)
  }
  return task
}
