/**
 * What delegatectl prints comes partly from registries (names, tags, error messages) and from
 * peers it does not control: a control character there could move the cursor, rewrite the
 * screen, set the window title or a hyperlink (ESC sequences, C1 CSI), or reorder text (bidi
 * overrides). Every line goes out through these, which show such characters as escapes.
 */

// C0 controls but tab and newline, DEL, C1 controls, bidi marks, embeddings, overrides and isolates
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g
// the same, without tab and newline: one table cell or value stays on one line
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE_IN_LINE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

const escape = (c: string) => {
  const n = c.charCodeAt(0)
  return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`
}

/** Text for the terminal: lines and tabs kept, every other control shown as \xNN or \uNNNN. */
export function printable(text: string): string {
  return text.replace(UNSAFE, escape)
}

/** One value inside a line (a table cell): newlines and tabs escaped too. */
export function printableInLine(text: string): string {
  return text.replace(UNSAFE_IN_LINE, escape)
}

/** JSON for the terminal: JSON.stringify escapes C0 itself; C1 and bidi controls become \uNNNN, still valid JSON. */
export function printableJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
