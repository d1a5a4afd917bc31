// The request category tree (from the server, read once) and the names of its codes.
import { api } from './api/index.js'

let loading = null

/** The tree: each group followed by its kinds, with `leaf` marking the ones requests are filed under. */
export function categoryTree() {
  if (!loading) loading = api.requestCategories().catch((err) => { loading = null; throw err })
  return loading
}

/** Forgets the tree read, after the region changed it: the next `categoryTree()` reads it again. */
export function reloadCategoryTree() {
  loading = null
}

/** The name of a category code in the UI's language (the code itself when unknown). */
export function categoryName(tree, code, locale) {
  const c = (tree || []).find((x) => x.code === code)
  if (!c) return code
  return locale === 'en' ? c.en : c.zh
}

/** The groups with the leaves to file under (retired ones left out): a group without kinds is its own only leaf. */
export function groupedLeaves(tree) {
  const groups = (tree || []).filter((c) => !c.parent)
  return groups.map((g) => ({ group: g, leaves: tree.filter((c) => c.leaf && !c.retired && (c.parent === g.code || c.code === g.code)) }))
}
