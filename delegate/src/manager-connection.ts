/**
 * The delegate's one WebSocket to a manager, kept open: it dials, says hello, reconnects with
 * jittered back-off and fails over across the MANAGER_URL list.
 *
 *   state: 'idle' → 'connecting' → 'open' ─(close/error)→ 'backoff' → 'connecting' …
 *                                      └──── close() ───→ 'closed'
 */
import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import type { Logger } from 'pino'
import WebSocket from 'ws'
import {
  CloseCode,
  closeReason,
  decodeManagerMessage,
  MAX_FRAME_BYTES,
  ProtocolError,
  STREAM_PATH,
  type DelegateMessage,
  type ManagerMessage,
} from '../../protocol/src/index.ts'
import { fullJitter } from './backoff.ts'

export type ConnectionState = 'idle' | 'connecting' | 'open' | 'backoff' | 'closed'

export interface ManagerConnectionOptions {
  urls: readonly string[]
  token: string
  log: Logger
  /** sent first on every new socket */
  hello(): DelegateMessage
  onMessage(message: ManagerMessage): void
  /** the socket closed (the manager releases what this delegate held) */
  onDisconnect(): void
  /** a dial after a closed or failed connection (metrics) */
  onReconnecting?(): void
  proxy?: { httpProxy?: string; httpsProxy?: string; noProxy?: string }
}


export class ManagerConnection {
  #state: ConnectionState = 'idle'
  #ws: WebSocket | null = null
  #urlIndex = 0
  #failures = 0
  #timer: NodeJS.Timeout | null = null
  readonly #opts: ManagerConnectionOptions

  constructor(opts: ManagerConnectionOptions) {
    this.#opts = opts
  }

  get state(): ConnectionState {
    return this.#state
  }

  start(): void {
    if (this.#state !== 'idle') return
    this.#connect()
  }

  /** The manager accepted us: forget earlier failures for the back-off. */
  welcomed(): void {
    this.#failures = 0
  }

  send(message: DelegateMessage): boolean {
    if (this.#state !== 'open' || !this.#ws) return false
    this.#ws.send(JSON.stringify(message))
    return true
  }

  /**
   * Sends encoded frames in order on the current socket, each once the previous one is written
   * (so that a large result is never queued whole a second time). Stops, false, when that
   * socket closes or is replaced: the rest would reach a manager that no longer waits for it.
   */
  async sendFrames(frames: Iterable<string>): Promise<boolean> {
    const ws = this.#ws
    if (this.#state !== 'open' || !ws) return false
    for (const frame of frames) {
      if (this.#ws !== ws || ws.readyState !== WebSocket.OPEN) return false
      const sent = await new Promise<boolean>((resolve) => ws.send(frame, (err) => resolve(err === undefined || err === null)))
      if (!sent) return false
    }
    return true
  }

  /** Closes with 1000 and stops reconnecting. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    if (this.#timer) clearTimeout(this.#timer)
    const ws = this.#ws
    if (!ws || ws.readyState === WebSocket.CLOSED) return
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve())
      ws.close(CloseCode.normal, 'delegate stopping')
      setTimeout(() => {
        ws.terminate()
        resolve()
      }, 2_000).unref()
    })
  }

  #connect(): void {
    const url = streamUrl(this.#opts.urls[this.#urlIndex % this.#opts.urls.length]!)
    this.#state = 'connecting'
    const log = this.#opts.log.child({ manager: url })
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${this.#opts.token}` },
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
      agent: proxyAgent(url, this.#opts.proxy),
    })
    this.#ws = ws
    ws.on('open', () => {
      if (this.#state === 'closed') return
      this.#state = 'open'
      log.info('connected to manager')
      ws.send(JSON.stringify(this.#opts.hello()))
    })
    ws.on('message', (data) => {
      let message: ManagerMessage
      try {
        message = decodeManagerMessage(data)
      } catch (err) {
        const e = err instanceof ProtocolError ? err : new ProtocolError(String(err))
        log.error({ reason: e.message }, 'manager frame refused')
        ws.close(e.closeCode, closeReason(e.message))
        return
      }
      try {
        this.#opts.onMessage(message)
      } catch (err) {
        // a bug in handling one message costs this connection (we dial again), not the process
        log.error({ err }, 'manager message handling failed; reconnecting')
        ws.close(CloseCode.internalError, 'internal error')
      }
    })
    ws.on('unexpected-response', (_req, res) => {
      const hint = res.statusCode === 401 ? ': the delegate token was refused (revoked or wrong DELEGATE_TOKEN)' : ''
      log.error({ status: res.statusCode }, `manager refused the connection${hint}`)
      res.resume()
      ws.terminate()
    })
    ws.on('error', (err) => log.warn({ err: err.message }, 'manager connection error'))
    ws.on('close', (code, reason) => {
      const wasOpen = this.#state === 'open'
      if (this.#ws === ws) this.#ws = null
      if (wasOpen) {
        log.warn({ code, reason: reason.toString() }, 'manager connection closed')
        this.#opts.onDisconnect()
      }
      if (this.#state === 'closed') return
      // "going away" means this manager is stopping: try the next one at once.
      if (code === CloseCode.goingAway || !wasOpen) this.#urlIndex++
      this.#failures++
      const delay = fullJitter(this.#failures - 1, 250, 15_000)
      this.#state = 'backoff'
      log.info({ delayMs: delay }, 'reconnecting')
      this.#timer = setTimeout(() => {
        this.#opts.onReconnecting?.()
        this.#connect()
      }, delay)
    })
  }
}

/** http(s)://host → ws(s)://host/api/v1/delegates/stream */
export function streamUrl(base: string): string {
  const u = new URL(base)
  if (u.protocol === 'http:') u.protocol = 'ws:'
  else if (u.protocol === 'https:') u.protocol = 'wss:'
  u.pathname = u.pathname.replace(/\/+$/, '') + STREAM_PATH
  return u.toString()
}

/**
 * HTTPS_PROXY / HTTP_PROXY / NO_PROXY for the manager connection, as curl reads them: Node's own
 * agents implement them (`proxyEnv`, Node ≥ 24.5), so no proxy library is needed.
 */
function proxyAgent(url: string, proxy: ManagerConnectionOptions['proxy']): HttpAgent | undefined {
  if (!proxy || (!proxy.httpProxy && !proxy.httpsProxy)) return undefined
  const proxyEnv = { HTTP_PROXY: proxy.httpProxy, HTTPS_PROXY: proxy.httpsProxy, NO_PROXY: proxy.noProxy }
  const Agent = url.startsWith('wss:') ? HttpsAgent : HttpAgent
  return new Agent({ proxyEnv })
}
