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
  type TaskCancel,
} from '../../protocol/src/index.ts'
import type { DelegateRecord } from './delegate-record.ts'
import type { Dispatcher } from './dispatcher.ts'
import { ResultAssembly } from './result-assembly.ts'
import type { TokenStore } from './token-store.ts'

const HELLO_TIMEOUT_MS = 10_000
/** How often this replica asks Redis whether its sockets' tokens still exist (revocation on another replica). */
const TOKEN_CHECK_MS = 2_000
/** A revoked socket gets this long to answer our close frame; then it is cut (SPEC §7: closed within 5 s). */
const REVOKE_GRACE_MS = 1_000

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
  /** the token may connect only as this delegate name (null: any) */
  boundName: string | null
  link: DelegateRecord | null
  alive: boolean
  /** results arriving in chunks */
  results: ResultAssembly
  /** its token was revoked: every frame from now on is ignored */
  revoked: boolean
}

export class DelegateGateway {
  readonly #opts: GatewayOptions
  readonly #wss: WebSocketServer
  readonly #conns = new Set<Conn>()
  /** the connection each delegate record arrived on (a reconnect storm must not scan every connection per hello) */
  readonly #connOf = new WeakMap<DelegateRecord, Conn>()
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
      everyUnlessStalled(Math.min(1_000, heartbeatIntervalMs), () => this.#checkSilence()),
      everyUnlessStalled(Math.max(5_000, 2 * heartbeatIntervalMs), () => this.#ping()),
      setInterval(() => void this.#checkTokens(), TOKEN_CHECK_MS),
    )
    for (const t of this.#timers) t.unref()
  }

  /**
   * Disconnects every delegate that uses this token (revocation): out of dispatch at once (its
   * tasks run elsewhere), its frames ignored from now on, its socket closed with 4001 and cut
   * after a short grace even if the peer never answers the close.
   */
  revokeToken(tokenId: string): void {
    for (const conn of this.#conns) {
      if (conn.tokenId !== tokenId || conn.revoked) continue
      conn.revoked = true
      const link = conn.link
      conn.link = null
      if (link && this.#opts.dispatcher.local(link.id) === link) {
        this.#opts.log.warn({ delegateId: link.id, delegate: link.name }, 'delegate token revoked; disconnecting it')
        this.#drop(link, 'its token was revoked')
      }
      close(conn.ws, CloseCode.tokenRevoked, 'delegate token revoked')
      setTimeout(() => conn.ws.terminate(), REVOKE_GRACE_MS).unref()
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
    const verified = token ? await this.#opts.tokens.verify(token) : null
    if (verified === null) {
      this.#opts.log.warn({ remote: req.socket.remoteAddress }, 'delegate connection refused: missing or invalid token')
      return reject(socket, 401, 'Unauthorized')
    }
    // the peer may have gone while the token was checked
    if (socket.destroyed) return
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      onUpgraded()
      this.#accept(ws, verified.id, verified.delegateName, req)
    })
  }

  #accept(ws: WebSocket, tokenId: string, boundName: string | null, req: IncomingMessage): void {
    const conn: Conn = { ws, tokenId, boundName, link: null, alive: true, results: new ResultAssembly(), revoked: false }
    this.#conns.add(conn)
    // this connection's logger, made on first use: a child logger per connection costs more than
    // the connection's whole hello when thousands of delegates reconnect at once
    let bindings: Record<string, unknown> = { remote: req.socket.remoteAddress }
    let child: Logger | undefined
    const log = () => (child ??= this.#opts.log.child(bindings))
    const helloTimer = setTimeout(() => close(ws, CloseCode.policyViolation, 'no hello within 10 s'), HELLO_TIMEOUT_MS)
    ws.on('pong', () => (conn.alive = true))
    ws.on('error', (err: Error & { code?: string }) => {
      // ws refuses bad frames itself (too big, bad opcode, invalid UTF-8, unmasked) and closes
      // with 1002/1007/1009: decode failures too, one level down
      if (err.code?.startsWith('WS_ERR_')) this.#opts.onDecodeFailure?.(err.message)
      log().warn({ err }, 'delegate socket error')
    })
    ws.on('message', (data, isBinary) => {
      if (conn.revoked) return
      try {
        onMessage(data, isBinary)
      } catch (err) {
        if (err instanceof ProtocolError) {
          // a frame that decodes but breaks the protocol's order or bounds (result chunks)
          this.#opts.onDecodeFailure?.(err.message)
          log().warn({ reason: err.message, closeCode: err.closeCode }, 'delegate frame refused')
          close(ws, err.closeCode, err.message)
          return
        }
        // a bug in handling one frame ends that delegate's connection, not the manager
        log().error({ err }, 'delegate frame handling failed; closing its connection')
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
        log().warn({ reason: e.message, closeCode: e.closeCode }, 'delegate frame refused')
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
        if (link) {
          bindings = { ...bindings, delegateId: link.id, delegate: link.name }
          child = undefined
        }
        return
      }
      this.#handle(conn, conn.link, message, frameBytes(data), log)
    }
    ws.on('close', (code, reason) => {
      clearTimeout(helloTimer)
      this.#conns.delete(conn)
      const link = conn.link
      if (!link) return
      log().info({ code, reason: reason.toString() }, 'delegate disconnected')
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
    if (conn.boundName !== null && delegateIdOf(conn.boundName) !== id) {
      this.#opts.log.warn({ delegate: name, boundTo: conn.boundName }, 'delegate refused: its token is bound to another name')
      close(ws, CloseCode.policyViolation, `this token is bound to delegate ${conn.boundName}: set DELEGATE_NAME=${conn.boundName}, or use a token for ${name}`)
      return null
    }
    const held = this.#opts.dispatcher.local(id)
    const holder = held ? this.#connOf.get(held) : undefined
    const previous = holder && holder !== conn && holder.link === held ? holder : undefined
    if (previous && !mayReplace(conn, previous, id)) {
      this.#opts.log.warn({ delegateId: id, delegate: name }, 'delegate refused: its name is held by a connection with another token')
      close(ws, CloseCode.policyViolation, `delegate name ${name} is in use by a connection with another token: pick another DELEGATE_NAME, or wait for that one to go`)
      return null
    }
    if (previous) {
      this.#opts.log.warn({ delegateId: id, delegate: name }, 'a new connection with this delegate name replaces the old one')
      previous.link = null
      close(previous.ws, CloseCode.replaced, 'replaced by a new connection with the same name')
    }
    const send = (message: ManagerMessage) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message))
    }
    send({ type: 'welcome', protocol: PROTOCOL_VERSION, delegateId: id, heartbeatMs: this.#opts.heartbeatIntervalMs })
    const cancel = (message: TaskCancel) => {
      // a cancelled attempt's partial result is of no use any more
      conn.results.drop(message.attemptId)
      send(message)
    }
    const link = this.#opts.dispatcher.addLocal(
      { id, name, tags: hello.tags, capacity: hello.capacity, version: hello.version, tokenId: conn.tokenId },
      { assign: send, cancel, probe: send },
    )
    conn.link = link
    this.#connOf.set(link, conn)
    this.#opts.log.info({ delegateId: id, delegate: name, tags: link.tags, capacity: hello.capacity, version: hello.version }, 'delegate connected')
    return link
  }

  #handle(conn: Conn, link: DelegateRecord, message: DelegateMessage, bytes: number, log: () => Logger): void {
    const { dispatcher } = this.#opts
    switch (message.type) {
      case 'hello':
        this.#closeLink(link, CloseCode.policyViolation, 'hello sent twice')
        return
      case 'heartbeat':
        dispatcher.heartbeat(link.id)
        return
      case 'task.result.chunk':
        dispatcher.heartbeat(link.id)
        conn.results.chunk(message, bytes, dispatcher.holds(link.id, message.attemptId))
        return
      case 'task.result':
        dispatcher.heartbeat(link.id)
        dispatcher.onResult(link.id, conn.results.complete(message, dispatcher.holds(link.id, message.attemptId)))
        return
      case 'drain':
        log().info('delegate draining: no new tasks for it')
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
    const conn = this.#connOf.get(link)
    if (conn?.link === link) close(conn.ws, code, reason)
  }

  #checkSilence(): void {
    for (const link of this.#opts.dispatcher.silentDelegates()) {
      this.#opts.log.warn({ delegateId: link.id, delegate: link.name }, 'delegate silent past the heartbeat timeout; dropping it')
      this.#drop(link, 'heartbeat timeout')
      const conn = this.#connOf.get(link)
      if (conn?.link === link) {
        conn.link = null
        conn.ws.terminate()
      }
    }
  }

  /**
   * ws-level ping/pong (ws's `isAlive` pattern) for connections without a delegate (before hello,
   * or revoked): ends half-open TCP connections. A delegate's own heartbeats prove it alive
   * (`#checkSilence`), so it is not pinged: at 5,000 delegates the pings were about a quarter of the
   * manager's idle CPU.
   */
  #ping(): void {
    for (const conn of this.#conns) {
      if (conn.link !== null) {
        conn.alive = true
        continue
      }
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

/**
 * Who may take over a name that is connected (README security model): the same token (a
 * delegate restarting before its old socket timed out) or a token bound to that name. Anyone
 * else waits until the name is free, so no token can kick off another token's delegate.
 */
function mayReplace(next: Conn, previous: Conn, id: string): boolean {
  return next.tokenId === previous.tokenId || (next.boundName !== null && delegateIdOf(next.boundName) === id)
}

/** A timer firing this late means this process was busy (e.g. storing a very large result). */
const STALL_MS = 1_000

/**
 * `check` every `ms`, except right after this process itself stalled: timers run before the
 * sockets are read, so the heartbeats and pongs that arrived meanwhile are still unread, and a
 * delegate must not be dropped for the manager's own pause. The next round judges.
 */
function everyUnlessStalled(ms: number, check: () => void): NodeJS.Timeout {
  let last = performance.now()
  return setInterval(() => {
    const now = performance.now()
    const late = now - last - ms
    last = now
    if (late < STALL_MS) check()
  }, ms)
}

function frameBytes(data: WebSocket.RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0)
  return data.byteLength
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
