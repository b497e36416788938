/**
 * Reassembles results that arrive in `task.result.chunk` frames (protocol/src/messages.ts), one
 * instance per delegate connection.
 *
 * Memory stays bounded by one result per connection, whatever the delegate's capacity: a
 * delegate streams one chunked result at a time (a second stream opening while one is open is
 * a protocol violation), a stream counts at most `LIMITS.resultBytes` bytes and
 * `LIMITS.resultEntries` entries, chunks for attempts the delegate does not hold are dropped
 * unread, and the gateway drops a stream when its attempt ends (cancel, loss, disconnect).
 */
import { CloseCode, LIMITS, ProtocolError, type TaskResultChunk, type TaskResultMessage } from '../../protocol/src/index.ts'

interface Stream {
  attemptId: string
  taskId: string
  parts: string[][]
  entries: number
  bytes: number
}

export class ResultAssembly {
  #open: Stream | null = null

  /** Bytes held for the open stream (metrics, tests). */
  get bytes(): number {
    return this.#open?.bytes ?? 0
  }

  /**
   * One chunk of `frameBytes` bytes. `held`: the delegate holds this attempt; otherwise the
   * chunk is a late one (the attempt was cancelled or given to another delegate) and is dropped.
   */
  chunk(m: TaskResultChunk, frameBytes: number, held: boolean): void {
    if (!held) {
      if (this.#open?.attemptId === m.attemptId) this.#open = null
      return
    }
    let s = this.#open
    if (m.seq === 0) {
      if (s !== null) throw violation(`a result stream for attempt ${m.attemptId} began while attempt ${s.attemptId}'s was still open`)
      s = this.#open = { attemptId: m.attemptId, taskId: m.taskId, parts: [], entries: 0, bytes: 0 }
    } else if (s === null || s.attemptId !== m.attemptId || s.taskId !== m.taskId || s.parts.length !== m.seq) {
      throw violation(`result chunk ${m.seq} of attempt ${m.attemptId} arrived out of order`)
    }
    s.bytes += frameBytes
    s.entries += m.entries.length
    if (s.bytes > LIMITS.resultBytes || s.entries > LIMITS.resultEntries) {
      this.#open = null
      throw new ProtocolError(`a result over ${LIMITS.resultBytes} bytes or ${LIMITS.resultEntries} entries`, CloseCode.messageTooBig)
    }
    s.parts.push(m.entries)
  }

  /** The final `task.result`, whole: the chunks' entries put in front of its own list. */
  complete(m: TaskResultMessage, held: boolean): TaskResultMessage {
    const chunks = m.chunks ?? 0
    const s = this.#open?.attemptId === m.attemptId ? this.#open : null
    if (s) this.#open = null
    // not held: a late answer the dispatcher drops anyway; nothing to check or join
    if (!held || (chunks === 0 && s === null)) return m
    if (s === null || s.parts.length !== chunks || s.taskId !== m.taskId) {
      throw violation(`the result of attempt ${m.attemptId} names ${chunks} chunk(s), ${s?.parts.length ?? 0} arrived`)
    }
    if (!m.outcome.ok || m.outcome.result.type === 'validate-connector') throw violation('only a list result may come in chunks')
    const result = m.outcome.result
    const { chunks: _chunks, ...rest } = m
    const joined = ([] as string[]).concat(...s.parts, result.type === 'list-tags' ? result.tags : result.images)
    return {
      ...rest,
      outcome: { ok: true, result: result.type === 'list-tags' ? { ...result, tags: joined } : { ...result, images: joined } },
    }
  }

  /** The attempt ended (cancelled, lost): its partial result goes. */
  drop(attemptId: string): void {
    if (this.#open?.attemptId === attemptId) this.#open = null
  }
}

function violation(message: string): ProtocolError {
  return new ProtocolError(message, CloseCode.policyViolation)
}
