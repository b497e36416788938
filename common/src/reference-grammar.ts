/**
 * Distribution's reference grammar (distribution/reference, regexp.go), for names and tags
 * that come from a registry or a user:
 *
 *   name           := path-component ['/' path-component]*     (at most 255 characters)
 *   path-component := alpha-numeric [separator alpha-numeric]*
 *   alpha-numeric  := /[a-z0-9]+/
 *   separator      := /[_.]|__|[-]+/
 *   tag            := /[\w][\w.-]{0,127}/
 *
 * Whatever fits is printable ASCII: no control character, escape sequence or look-alike
 * reaches a terminal or a page (SPEC §7).
 */
export const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
const NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/

export const MAX_NAME_LENGTH = 255

export function isRepositoryName(s: string): boolean {
  return s.length <= MAX_NAME_LENGTH && NAME.test(s)
}

export function isTag(s: string): boolean {
  return TAG.test(s)
}
