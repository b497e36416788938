/**
 * The eligibility preview's probe (SPEC §8): asks delegates, in parallel, whether they reach a
 * registry at all (network and TLS, no credentials), over their socket or through the replica
 * that owns them. A delegate that does not answer in time counts as TIMEOUT.
 */
import { randomUUID } from 'node:crypto'
import { TaskErrorCode, type ProbeResult } from '../../protocol/src/index.ts'
import type { DelegateRecord } from './delegate-record.ts'

export type ProbeAnswer = Omit<ProbeResult, 'type' | 'probeId'>

/** The delegate's own probe gives up after 5 s; this covers the trip there and back. */
const PROBE_WAIT_MS = 8_000

export class Prober {
  readonly #pending = new Map<string, (answer: ProbeAnswer) => void>()
  /** probe id → origin replica: probes other replicas sent to a delegate owned here */
  readonly #relayed = new Map<string, string>()
  readonly #relay: (origin: string, result: ProbeResult) => void

  constructor(relay: (origin: string, result: ProbeResult) => void) {
    this.#relay = relay
  }

  async probe(delegates: readonly DelegateRecord[], url: string): Promise<Map<string, ProbeAnswer>> {
    const answers = await Promise.all(delegates.map((d) => this.#one(d, url)))
    return new Map(delegates.map((d, i) => [d.id, answers[i]!]))
  }

  /** Another replica probes a delegate owned here: its answer goes back to `origin`. */
  relay(origin: string, probeId: string, delegate: DelegateRecord | undefined, url: string): void {
    if (!delegate) {
      this.#relay(origin, { type: 'probe.result', probeId, reachable: false, code: TaskErrorCode.INTERNAL, message: 'the delegate left its replica', latencyMs: 0 })
      return
    }
    this.#relayed.set(probeId, origin)
    setTimeout(() => this.#relayed.delete(probeId), PROBE_WAIT_MS).unref()
    delegate.transport.probe({ type: 'probe', probeId, url })
  }

  /** An answer from a delegate owned here, or relayed back by the owner of a remote one. */
  onResult(result: ProbeResult): void {
    const origin = this.#relayed.get(result.probeId)
    if (origin !== undefined) {
      this.#relayed.delete(result.probeId)
      this.#relay(origin, result)
      return
    }
    const { type: _type, probeId, ...answer } = result
    this.#pending.get(probeId)?.(answer)
  }

  #one(d: DelegateRecord, url: string): Promise<ProbeAnswer> {
    const probeId = randomUUID()
    return new Promise<ProbeAnswer>((resolve) => {
      const timer = setTimeout(() => finish({ reachable: false, code: TaskErrorCode.TIMEOUT, message: `${d.name} did not answer the probe within ${PROBE_WAIT_MS / 1000} s`, latencyMs: PROBE_WAIT_MS }), PROBE_WAIT_MS)
      const finish = (answer: ProbeAnswer) => {
        clearTimeout(timer)
        this.#pending.delete(probeId)
        resolve(answer)
      }
      this.#pending.set(probeId, finish)
      d.transport.probe({ type: 'probe', probeId, url })
    })
  }
}
