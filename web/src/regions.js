// Region names for codes shown in tables (plans, projects, rankings): asked once per code and
// kept; the code stands in until the name arrives or when the region cannot be read.
import { reactive } from 'vue'
import { api } from './api'

const names = reactive({})

export function regionName(code) {
  if (!code) return ''
  if (!(code in names)) {
    names[code] = code
    // GET /regions/{code} answers the region with its ancestors.
    api.region(code).then((r) => { names[code] = r.region?.name || code }).catch(() => {})
  }
  return names[code]
}
