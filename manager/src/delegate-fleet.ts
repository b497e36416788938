/**
 * Every delegate this replica knows (its own and other replicas'), indexed by selector so that
 * placing a task looks only at the delegates that match its selectors (SPEC §6: the cost of a
 * placement grows at most with the delegates that match).
 */
import type { DelegateRecord } from './delegate-record.ts'

export class DelegateFleet {
  readonly #all = new Map<string, DelegateRecord>()
  /** selector → ids of the delegates that offer it */
  readonly #bySelector = new Map<string, Set<string>>()

  get size(): number {
    return this.#all.size
  }

  get(id: string): DelegateRecord | undefined {
    return this.#all.get(id)
  }

  values(): IterableIterator<DelegateRecord> {
    return this.#all.values()
  }

  add(record: DelegateRecord): void {
    this.delete(record.id)
    this.#all.set(record.id, record)
    this.#index(record)
  }

  delete(id: string): DelegateRecord | undefined {
    const record = this.#all.get(id)
    if (!record) return undefined
    this.#unindex(record)
    this.#all.delete(id)
    return record
  }

  /** Tags or name changed (a remote delegate's new state): index it again. */
  reindex(record: DelegateRecord, selectors: ReadonlySet<string>): void {
    this.#unindex(record)
    record.selectors = selectors
    this.#index(record)
  }

  /** The delegates whose selectors include every one of `selectors` (all of them for none). */
  matching(selectors: readonly string[]): DelegateRecord[] {
    if (selectors.length === 0) return [...this.#all.values()]
    let smallest: Set<string> | undefined
    for (const s of selectors) {
      const ids = this.#bySelector.get(s)
      if (!ids) return []
      if (!smallest || ids.size < smallest.size) smallest = ids
    }
    const out: DelegateRecord[] = []
    for (const id of smallest!) {
      const record = this.#all.get(id)!
      if (selectors.length === 1 || selectors.every((s) => record.selectors.has(s))) out.push(record)
    }
    return out
  }

  #index(record: DelegateRecord): void {
    for (const s of record.selectors) {
      let ids = this.#bySelector.get(s)
      if (!ids) this.#bySelector.set(s, (ids = new Set()))
      ids.add(record.id)
    }
  }

  #unindex(record: DelegateRecord): void {
    for (const s of record.selectors) {
      const ids = this.#bySelector.get(s)
      ids?.delete(record.id)
      if (ids?.size === 0) this.#bySelector.delete(s)
    }
  }
}
