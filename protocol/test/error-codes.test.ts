import { describe, expect, it } from 'vitest'
import { CANNOT_REACH_CODES, TASK_ERROR_CODES, TaskErrorCode, isTaskErrorCode } from '../src/index.ts'

describe('the task error codes', () => {
  it('name each code of the one list by itself, and nothing else', () => {
    expect(Object.keys(TaskErrorCode).sort()).toEqual([...TASK_ERROR_CODES].sort())
    for (const code of TASK_ERROR_CODES) expect(TaskErrorCode[code]).toBe(code)
    expect(Object.isFrozen(TaskErrorCode)).toBe(true)
  })

  it('are unique, and the cannot-reach ones are among them', () => {
    expect(new Set(TASK_ERROR_CODES).size).toBe(TASK_ERROR_CODES.length)
    for (const code of CANNOT_REACH_CODES) expect(isTaskErrorCode(code)).toBe(true)
    expect(isTaskErrorCode('NOT_A_CODE')).toBe(false)
    expect(isTaskErrorCode(undefined)).toBe(false)
  })
})
