// The names accounts show, for the usernames records carry (who wrote a log, signed, answered).
// Asked for in one batch per tick and kept for the session; until a name arrives, or when the
// account is not the caller's to name, the username itself is shown.
import { reactive } from 'vue'
import { api } from './api/index.js'
import { i18n } from './i18n/index.js'

const names = reactive({})
const wanted = new Set()
let scheduled = false

async function fetchWanted() {
  scheduled = false
  const batch = [...wanted].slice(0, 200)
  batch.forEach((u) => wanted.delete(u))
  if (wanted.size) schedule()
  try {
    for (const p of await api.people(batch)) names[p.username] = p.display_name
  } catch { /* names are a courtesy: the usernames stay */ }
}

function schedule() {
  if (scheduled) return
  scheduled = true
  Promise.resolve().then(fetchWanted)
}

/** The display name of an account, by its username. */
function systemName(job) {
  const zh = String(i18n.global.locale.value).startsWith('zh')
  const jobs = { demo: ['演示数据', 'demo data'], import: ['导入', 'import'], cli: ['命令行', 'command line'] }
  const what = jobs[job]?.[zh ? 0 : 1] ?? job
  return zh ? `系统（${what}）` : `system (${what})`
}

export function who(username) {
  if (!username) return ''
  if (!(username in names)) {
    // system:* accounts are Huanxin's own jobs (imports, the demo): named as such, never looked up.
    names[username] = username.startsWith('system:') ? systemName(username.slice(7)) : username
    if (!username.startsWith('system')) {
      wanted.add(username)
      schedule()
    }
  }
  return names[username]
}
