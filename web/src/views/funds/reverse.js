// Correcting a ledger entry (冲正): the user says why; the server writes the reversing entry.
import { ElMessageBox } from 'element-plus'
import { api } from '../../api/index.js'

/** Asks for the reason and reverses entry `seq`; false when the user cancels, throws what the server refused. */
export async function reverseEntry(t, seq) {
  let memo
  try {
    ;({ value: memo } = await ElMessageBox.prompt(t('funds.reversePrompt', { seq }), t('funds.reverse'), {
      inputValidator: (v) => (v && v.trim() ? true : t('funds.reverseWhy')),
    }))
  } catch {
    return false
  }
  await api.reverseEntry(seq, memo.trim())
  return true
}
