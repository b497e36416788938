/** A small seeded PRNG (mulberry32) for fuzz tests: the same seed gives the same inputs. */
export class Prng {
  #state: number
  constructor(seed: number) {
    this.#state = seed >>> 0
  }

  /** [0, 1) */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0)
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive)
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!
  }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n)
    for (let i = 0; i < n; i++) b[i] = this.int(256)
    return b
  }

  /** A string mixing ASCII, controls, quotes, backslashes, astral and lone surrogates. */
  string(maxLen = 40): string {
    const alphabet = ['a', 'Z', '0', ' ', '"', '\\', '/', '\u0000', '\n', '%', '{', '}', '[', ']', ':', ',', 'é', '漢', '😀', '\ud800', '$', '.', '*']
    let s = ''
    const n = this.int(maxLen + 1)
    for (let i = 0; i < n; i++) s += this.pick(alphabet)
    return s
  }

  /** Any JSON value, nested up to `depth`. */
  json(depth = 3): unknown {
    const kind = this.int(depth > 0 ? 9 : 6)
    switch (kind) {
      case 0:
        return null
      case 1:
        return this.next() < 0.5
      case 2:
        return this.pick([0, -1, 1.5, 1e308, -1e-9, 2 ** 53, 100, 3_600_001])
      case 3:
      case 4:
        return this.string()
      case 5:
        return ''
      case 6:
        return Array.from({ length: this.int(4) }, () => this.json(depth - 1))
      default: {
        const o: Record<string, unknown> = {}
        for (let i = this.int(4); i > 0; i--) o[this.string(10)] = this.json(depth - 1)
        return o
      }
    }
  }
}
