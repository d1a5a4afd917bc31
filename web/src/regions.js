// Region names for codes shown in tables (plans, projects, rankings): asked once per code and
// kept; the code stands in until the name arrives or when the region cannot be read.
import { reactive } from 'vue'
import { api } from './api'

const names = reactive({})

export function regionName(code) {
  if (!code) return ''
  if (!(code in names)) {
    names[code] = code
    api.region(code).then((r) => { names[code] = r.name || code }).catch(() => {})
  }
  return names[code]
}
