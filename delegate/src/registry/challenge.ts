/**
 * `WWW-Authenticate` parsing per RFC 7235 §4.1:
 *
 *   challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 *   auth-param = token BWS "=" BWS ( token / quoted-string )
 *
 * Several challenges may share one header value and several headers may carry them. A comma
 * separates both parameters and challenges: a token followed by "=" is a parameter, otherwise
 * it starts the next challenge. Quoted strings may hold commas and backslash escapes.
 */
export interface Challenge {
  /** Lower-cased: `bearer`, `basic`. */
  scheme: string
  /** Parameter names lower-cased; values as sent, unquoted. */
  params: Record<string, string>
  token68?: string
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/
const TOKEN68_CHAR = /[A-Za-z0-9\-._~+/]/

class Scanner {
  readonly s: string
  i = 0
  constructor(s: string) {
    this.s = s
  }
  get done(): boolean {
    return this.i >= this.s.length
  }
  peek(): string {
    return this.s[this.i] ?? ''
  }
  skipSpace(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.i++
  }
  /** Skips whitespace and commas (empty list elements are allowed). */
  skipSeparators(): void {
    while (this.peek() === ' ' || this.peek() === '\t' || this.peek() === ',') this.i++
  }
  token(): string {
    const start = this.i
    while (!this.done && TCHAR.test(this.peek())) this.i++
    return this.s.slice(start, this.i)
  }
  quoted(): string {
    // at the opening quote
    this.i++
    let out = ''
    while (!this.done) {
      const c = this.s[this.i++]!
      if (c === '"') return out
      if (c === '\\' && !this.done) out += this.s[this.i++]!
      else out += c
    }
    return out // unterminated: take what is there
  }
}

export function parseChallenges(headers: string | string[] | undefined | null): Challenge[] {
  if (headers == null) return []
  const values = Array.isArray(headers) ? headers : [headers]
  const out: Challenge[] = []
  for (const v of values) out.push(...parseOne(v))
  return out
}

function parseOne(value: string): Challenge[] {
  const sc = new Scanner(value)
  const out: Challenge[] = []
  let current: Challenge | undefined
  while (true) {
    sc.skipSeparators()
    if (sc.done) break
    const start = sc.i
    const name = sc.token()
    if (name === '') {
      // garbage: skip one character and carry on
      sc.i++
      continue
    }
    sc.skipSpace()
    if (sc.peek() === '=' && current) {
      // auth-param, unless this is a token68 such as "abc==" (then '=' runs to a separator)
      const save = sc.i
      sc.i++
      sc.skipSpace()
      const next = sc.peek()
      if (next === '=' || next === ',' || next === '' ) {
        // token68 padding after the scheme's first word
        sc.i = save
        while (sc.peek() === '=') sc.i++
        if (Object.keys(current.params).length === 0 && current.token68 === undefined) {
          current.token68 = value.slice(start, sc.i).trim()
        }
        continue
      }
      const v = next === '"' ? sc.quoted() : sc.token()
      current.params[name.toLowerCase()] = v
      continue
    }
    // a new challenge: scheme, then maybe a token68
    current = { scheme: name.toLowerCase(), params: {} }
    out.push(current)
    sc.skipSpace()
    const t68start = sc.i
    while (!sc.done && TOKEN68_CHAR.test(sc.peek())) sc.i++
    const after = sc.i
    sc.skipSpace()
    if (after > t68start && (sc.peek() === '=' || sc.peek() === ',' || sc.done)) {
      // Could be token68 ("Basic abc==") or the first auth-param name ("Bearer realm=…").
      const word = value.slice(t68start, after)
      if (sc.peek() === '=' && TCHAR.test(word[0] ?? '') && [...word].every((c) => TCHAR.test(c))) {
        const save = sc.i
        sc.i++
        sc.skipSpace()
        const next = sc.peek()
        if (next !== '=' && next !== ',' && next !== '') {
          const v = next === '"' ? sc.quoted() : sc.token()
          current.params[word.toLowerCase()] = v
          continue
        }
        sc.i = save
      }
      while (sc.peek() === '=') sc.i++
      current.token68 = value.slice(t68start, sc.i).trim()
    } else {
      sc.i = t68start
    }
  }
  return out
}

/** Bearer is preferred over Basic (a registry offering both issues scoped tokens). */
export function pickChallenge(challenges: Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic') ?? challenges[0]
}
