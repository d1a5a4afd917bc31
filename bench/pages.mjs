// Measures page loads in Chromium for bench/pages.sh: median and worst of ROUNDS full loads (the
// app's scripts included), each from navigation until the page's content shows.
// The browser tests' own launch and sign-in (HUANXIN_URL names the server).
import { BASE, launch, signIn as deskSignIn } from '../web/e2e/helpers.mjs'

const ROUNDS = Number(process.env.ROUNDS || 5)
const browser = await launch()

async function signIn(user) {
  const page = await deskSignIn(browser, user)
  await page.waitForLoadState('networkidle')
  return { page, context: page.context() }
}

async function time(page, url, selector) {
  const runs = []
  for (let i = 0; i < ROUNDS; i++) {
    await page.goto('about:blank')
    const start = performance.now()
    await page.goto(url)
    await page.waitForSelector(selector, { timeout: 30000 })
    // Until the content shows; "network idle" is not timed (it waits 500 ms of quiet by definition).
    runs.push(performance.now() - start)
    await page.waitForLoadState('networkidle')
  }
  runs.sort((a, b) => a - b)
  return { median: runs[Math.floor(runs.length / 2)], worst: runs[runs.length - 1] }
}

const fmt = (ms) => `${ms.toFixed(0).padStart(5)} ms`
const { page, context } = await signIn('county_admin')
const shell = await time(page, `${BASE}/login`, 'input[name=username]')
console.log(`  bare app shell (/login, no data):            median ${fmt(shell.median)}  worst ${fmt(shell.worst)}`)
const line = (label, r) => console.log(`  ${label.padEnd(44)} median ${fmt(r.median)}  worst ${fmt(r.worst)}  ratio ${(r.median / shell.median).toFixed(2)}`)

const stages = ['surveyed', 'assessed', 'in_plan', 'notice_1', 'notice_2', 'decided', 'in_construction', 'completed', 'accepted', 'reviewed', 'in_upkeep']
let worst = 0
for (const status of stages) {
  const estate = await page.evaluate(async (s) => (await (await fetch(`/api/v1/estates?status=${s}&per_page=1`)).json()).items[0], status)
  if (!estate) continue
  const r = await time(page, `${BASE}/estates/${estate.id}`, '[data-test=estate-tabs] .el-tab-pane:not([style*="display: none"]) .el-card, [data-test=not-yet]')
  worst = Math.max(worst, r.median)
  line(`estate page, ${status} (${estate.households} households)`, r)
}
await context.close()
for (const user of ['county_admin', 'contractor', 'street_staff', 'city_admin']) {
  const s = await signIn(user)
  const selector = user === 'city_admin' ? '[data-test=work-regions] .el-table__body tr' : '[data-test=work-items] .el-table__body tr, [data-test=work-items] .el-table__empty-text'
  line(`work page, ${user}`, await time(s.page, `${BASE}/`, selector))
  await s.context.close()
}
console.log(`  slowest estate page median: ${worst.toFixed(0)} ms (target < 1000 ms)`)
await browser.close()
