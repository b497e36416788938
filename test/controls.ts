/** Characters a terminal or a page may act on (C0 but tab and newline, DEL, C1, bidi controls): printed output must hold none. */
// eslint-disable-next-line no-control-regex -- looking for control characters is the point
export const ANY_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/
