/** "Full jitter" exponential back-off (AWS architecture blog): random in [0, min(cap, base·2^n)]. */
export function fullJitter(attempt: number, baseMs = 500, capMs = 30_000, random = Math.random): number {
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30)))
}
