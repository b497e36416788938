/**
 * The WebSocket endpoint delegates dial. It authenticates the upgrade (401 before any protocol
 * runs), speaks the protocol of protocol/, keeps liveness (ws ping/pong plus the delegate's own
 * heartbeats) and feeds the dispatcher, which keeps one record per connected delegate; the
 * socket is that record's transport.
 */
import { createHash } from 'node:crypto'
import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import { WebSocket, WebSocketServer } from 'ws'
import {
  CloseCode,
  closeReason,
  decodeDelegateMessage,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  STREAM_PATH,
  ProtocolError,
  type DelegateMessage,
  type Hello,
  type ManagerMessage,
  type ProbeResult,
} from '../../protocol/src/index.ts'
import type { DelegateRecord } from './delegate-record.ts'
import type { Dispatcher } from './dispatcher.ts'
import type { TokenStore } from './token-store.ts'

const HELLO_TIMEOUT_MS = 10_000

export interface GatewayOptions {
  server: Server
  tokens: TokenStore
  dispatcher: Dispatcher
  log: Logger
  heartbeatIntervalMs: number
  heartbeatTimeoutMs: number
  /** counts frames that could not be decoded (metrics) */
  onDecodeFailure?(reason: string): void
  /** a delegate answered a probe (prober.ts) */
  onProbeResult?(message: ProbeResult): void
  /** counts sockets that ended in an error (reset, timeout) before or after the upgrade (metrics) */
  onConnectionError?(stage: 'upgrade' | 'websocket'): void
}

interface Conn {
  ws: WebSocket
  tokenId: string
  link: DelegateRecord | null
  alive: boolean
}

export class DelegateGateway {
  readonly #opts: GatewayOptions
  readonly #wss: WebSocketServer
  readonly #conns = new Set<Conn>()
  readonly #timers: NodeJS.Timeout[] = []
  #closing = false

  constructor(opts: GatewayOptions) {
    this.#opts = opts
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false })
  }

  start(): void {
    this.#opts.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // Node hands the socket over without an error listener: a peer that resets it (before,
      // during or after our answer) must end this one connection, never the process. The
      // listener stays after the upgrade: ws destroys the socket on errors, we count them.
      let upgraded = false
      socket.on('error', (err: NodeJS.ErrnoException) => {
        this.#opts.onConnectionError?.(upgraded ? 'websocket' : 'upgrade')
        this.#opts.log.debug({ err: err.code ?? err.message, upgraded }, 'delegate socket error')
        socket.destroy()
      })
      this.#upgrade(req, socket, head, () => (upgraded = true)).catch((err: unknown) => {
        this.#opts.log.error({ err }, 'delegate upgrade failed')
        reject(socket, 500, 'Internal Server Error')
      })
    })
    const { heartbeatIntervalMs } = this.#opts
    this.#timers.push(
      setInterval(() => this.#checkSilence(), Math.min(1_000, heartbeatIntervalMs)),
      setInterval(() => this.#ping(), Math.max(5_000, 2 * heartbeatIntervalMs)),
      setInterval(() => void this.#checkTokens(), 5_000),
    )
    for (const t of this.#timers) t.unref()
  }

  /** Disconnects every delegate that uses this token (revocation). */
  revokeToken(tokenId: string): void {
    for (const conn of this.#conns) {
      if (conn.tokenId === tokenId) close(conn.ws, CloseCode.tokenRevoked, 'delegate token revoked')
    }
  }

  /** Closes every socket with 1001 "going away" so that delegates reconnect elsewhere. */
  async close(): Promise<void> {
    if (this.#closing) return
    this.#closing = true
    for (const t of this.#timers) clearInterval(t)
    const closed = [...this.#conns].map(
      (conn) =>
        new Promise<void>((resolve) => {
          if (conn.ws.readyState === WebSocket.CLOSED) return resolve()
          conn.ws.once('close', () => resolve())
          close(conn.ws, CloseCode.goingAway, 'manager shutting down')
          setTimeout(() => {
            conn.ws.terminate()
            resolve()
          }, 2_000).unref()
        }),
    )
    await Promise.all(closed)
    this.#wss.close()
  }

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, onUpgraded: () => void): Promise<void> {
    const path = (req.url ?? '').split('?')[0]
    if (path !== STREAM_PATH) return reject(socket, 404, 'Not Found')
    if (this.#closing) return reject(socket, 503, 'Service Unavailable')
    const auth = req.headers.authorization ?? ''
    const token = auth.startsWith('Bearer ') ? auth.slice(7).trim() : ''
    const tokenId = token ? await this.#opts.tokens.verify(token) : null
    if (tokenId === null) {
      this.#opts.log.warn({ remote: req.socket.remoteAddress }, 'delegate connection refused: missing or invalid token')
      return reject(socket, 401, 'Unauthorized')
    }
    // the peer may have gone while the token was checked
    if (socket.destroyed) return
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      onUpgraded()
      this.#accept(ws, tokenId, req)
    })
  }

  #accept(ws: WebSocket, tokenId: string, req: IncomingMessage): void {
    const conn: Conn = { ws, tokenId, link: null, alive: true }
    this.#conns.add(conn)
    let log = this.#opts.log.child({ remote: req.socket.remoteAddress })
    const helloTimer = setTimeout(() => close(ws, CloseCode.policyViolation, 'no hello within 10 s'), HELLO_TIMEOUT_MS)
    ws.on('pong', () => (conn.alive = true))
    ws.on('error', (err: Error & { code?: string }) => {
      // ws refuses bad frames itself (too big, bad opcode, invalid UTF-8, unmasked) and closes
      // with 1002/1007/1009: decode failures too, one level down
      if (err.code?.startsWith('WS_ERR_')) this.#opts.onDecodeFailure?.(err.message)
      log.warn({ err }, 'delegate socket error')
    })
    ws.on('message', (data, isBinary) => {
      try {
        onMessage(data, isBinary)
      } catch (err) {
        // a bug in handling one frame ends that delegate's connection, not the manager
        log.error({ err }, 'delegate frame handling failed; closing its connection')
        close(ws, CloseCode.internalError, 'internal error')
      }
    })
    const onMessage = (data: WebSocket.RawData, isBinary: boolean) => {
      let message: DelegateMessage
      try {
        if (isBinary) throw new ProtocolError('binary frames are not part of the protocol', CloseCode.policyViolation)
        message = decodeDelegateMessage(data)
      } catch (err) {
        const e = err instanceof ProtocolError ? err : new ProtocolError(String(err))
        this.#opts.onDecodeFailure?.(e.message)
        log.warn({ reason: e.message, closeCode: e.closeCode }, 'delegate frame refused')
        close(ws, e.closeCode, e.message)
        return
      }
      if (conn.link === null) {
        if (message.type !== 'hello') {
          close(ws, CloseCode.policyViolation, 'the first message must be hello')
          return
        }
        clearTimeout(helloTimer)
        const link = this.#hello(conn, message)
        if (link) log = log.child({ delegateId: link.id, delegate: link.name })
        return
      }
      this.#handle(conn.link, message, log)
    }
    ws.on('close', (code, reason) => {
      clearTimeout(helloTimer)
      this.#conns.delete(conn)
      const link = conn.link
      if (!link) return
      log.info({ code, reason: reason.toString() }, 'delegate disconnected')
      // A replaced connection must not take the new one's registration with it.
      if (this.#opts.dispatcher.local(link.id) === link) this.#drop(link, `disconnected (${code})`)
    })
  }

  #hello(conn: Conn, hello: Hello): DelegateRecord | null {
    const { ws } = conn
    if (hello.protocol !== PROTOCOL_VERSION) {
      close(ws, CloseCode.protocolError, `protocol ${hello.protocol} not supported; this manager speaks ${PROTOCOL_VERSION}`)
      return null
    }
    const name = hello.name.trim()
    if (name === '') {
      close(ws, CloseCode.policyViolation, 'hello.name must not be empty')
      return null
    }
    const id = delegateIdOf(name)
    const previous = [...this.#conns].find((c) => c !== conn && c.link?.id === id)
    if (previous) {
      this.#opts.log.warn({ delegateId: id, delegate: name }, 'a new connection with this delegate name replaces the old one')
      previous.link = null
      close(previous.ws, CloseCode.replaced, 'replaced by a new connection with the same name')
    }
    const send = (message: ManagerMessage) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message))
    }
    send({ type: 'welcome', protocol: PROTOCOL_VERSION, delegateId: id, heartbeatMs: this.#opts.heartbeatIntervalMs })
    const link = this.#opts.dispatcher.addLocal(
      { id, name, tags: hello.tags, capacity: hello.capacity, version: hello.version, tokenId: conn.tokenId },
      { assign: send, cancel: send, probe: send },
    )
    conn.link = link
    this.#opts.log.info({ delegateId: id, delegate: name, tags: link.tags, capacity: hello.capacity, version: hello.version }, 'delegate connected')
    return link
  }

  #handle(link: DelegateRecord, message: DelegateMessage, log: Logger): void {
    switch (message.type) {
      case 'hello':
        this.#closeLink(link, CloseCode.policyViolation, 'hello sent twice')
        return
      case 'heartbeat':
        this.#opts.dispatcher.heartbeat(link.id)
        return
      case 'task.result':
        this.#opts.dispatcher.heartbeat(link.id)
        this.#opts.dispatcher.onResult(link.id, message)
        return
      case 'drain':
        log.info('delegate draining: no new tasks for it')
        this.#opts.dispatcher.drain(link.id)
        return
      case 'probe.result':
        this.#opts.onProbeResult?.(message)
        return
      default: {
        const never: never = message
        throw new Error(`unhandled message ${JSON.stringify(never)}`)
      }
    }
  }

  /** The delegate is gone from this replica: its tasks (ours and relayed ones) run elsewhere. */
  #drop(link: DelegateRecord, reason: string): void {
    this.#opts.dispatcher.removeDelegate(link.id, reason)
  }

  #closeLink(link: DelegateRecord, code: number, reason: string): void {
    for (const conn of this.#conns) if (conn.link === link) close(conn.ws, code, reason)
  }

  #checkSilence(): void {
    for (const link of this.#opts.dispatcher.silentDelegates()) {
      this.#opts.log.warn({ delegateId: link.id, delegate: link.name }, 'delegate silent past the heartbeat timeout; dropping it')
      this.#drop(link, 'heartbeat timeout')
      for (const conn of this.#conns) {
        if (conn.link === link) {
          conn.link = null
          conn.ws.terminate()
        }
      }
    }
  }

  /** ws-level ping/pong (ws's `isAlive` pattern): ends half-open TCP connections, hello or not. */
  #ping(): void {
    for (const conn of this.#conns) {
      if (!conn.alive) {
        conn.ws.terminate()
        continue
      }
      conn.alive = false
      conn.ws.ping()
    }
  }

  async #checkTokens(): Promise<void> {
    const ids = [...new Set([...this.#conns].map((c) => c.tokenId))]
    let live: Set<string>
    try {
      live = await this.#opts.tokens.exists(ids)
    } catch (err) {
      this.#opts.log.warn({ err }, 'token check skipped: Redis unavailable')
      return
    }
    for (const id of ids) if (!live.has(id)) this.revokeToken(id)
  }
}

/** Stable across reconnects, so that history and marks follow the delegate, not the socket. */
export function delegateIdOf(name: string): string {
  return createHash('sha256').update(name.toLowerCase()).digest('hex').slice(0, 16)
}

/** Every close goes through here: the reason may quote a peer, and ws throws past 123 bytes. */
function close(ws: WebSocket, code: number, reason: string): void {
  ws.close(code, closeReason(reason))
}

function reject(socket: Duplex, status: number, text: string): void {
  if (socket.destroyed) return
  const body = JSON.stringify({ error: { code: status === 401 ? 'UNAUTHORIZED' : 'UPGRADE_REFUSED', message: text } })
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
}
