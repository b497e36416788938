/** Shared by the manager's and the delegate's config.ts. */

/** Rewrites convict's "key: message: value" lines to name the environment variable, never the value. */
export function explain(message: string, s: Record<string, { env?: string; sensitive?: boolean }>): string {
  return message
    .split('\n')
    .map((line) => {
      const key = line.split(':')[0]?.trim() ?? ''
      const entry = s[key]
      if (!entry) return line
      const reason = line.slice(key.length + 1).split(': value was')[0]?.trim()
      return `${entry.env ?? key} ${reason}`
    })
    .join('\n')
}
