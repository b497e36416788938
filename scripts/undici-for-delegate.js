/**
 * What the delegate's bundle takes of undici, in place of its index (scripts/build.ts): the
 * dispatchers and the `request` API that delegate/src/registry/http.ts uses, from undici's own
 * modules. undici's index also loads fetch, WebSocket, EventSource, the caches, mocks and every
 * interceptor, which the delegate never runs: without them its first task loads half as much code.
 * An import of anything else from 'undici' in the delegate fails the build (no such export here).
 */
import Agent from 'undici/lib/dispatcher/agent.js'
import Dispatcher from 'undici/lib/dispatcher/dispatcher.js'
import EnvHttpProxyAgent from 'undici/lib/dispatcher/env-http-proxy-agent.js'
import api from 'undici/lib/api/index.js'
import util from 'undici/lib/core/util.js'
import errors from 'undici/lib/core/errors.js'

// as undici's index does: every dispatcher gets request(), stream(), pipeline() …
Object.assign(Dispatcher.prototype, api)

// the error classes, so that http.ts decides on a failure's class (RequestAbortedError from a proxy)
export { Agent, EnvHttpProxyAgent, errors }

/** undici's `request(url, opts)`, for callers that always name their dispatcher. */
export function request(url, opts) {
  const dispatcher = opts?.dispatcher
  if (!dispatcher) throw new TypeError("the delegate's undici needs opts.dispatcher (scripts/undici-for-delegate.js)")
  const u = util.parseURL(url)
  return dispatcher.request({
    ...opts,
    origin: u.origin,
    path: u.search ? `${u.pathname}${u.search}` : u.pathname,
    method: opts.method || (opts.body ? 'PUT' : 'GET'),
  })
}
