// Shared browser setup for the end-to-end tests: Debian's Chromium, driven by playwright-core.
import { execFileSync } from 'node:child_process'
import { chromium } from 'playwright-core'

export const BASE = process.env.HUANXIN_URL || 'http://127.0.0.1:8080'
export const SHOTS = process.env.SCREENSHOTS || '/tmp'

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--use-gl=swiftshader', '--enable-unsafe-swiftshader'],
  })
}

export async function signIn(browser, user, opts = {}) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, locale: 'zh-CN', ...opts })
  const page = await context.newPage()
  await page.goto(`${BASE}/login`)
  await page.fill('input[name=username]', user)
  await page.fill('input[name=password]', 'huanxin-demo')
  await page.click('button[type=submit]')
  await page.waitForSelector('[data-test=who]')
  return page
}

// Puts an estate at a later stage in the demo's database, for tests of a stage's own work (an
// acceptance is opened once the works are built).
export function atStage(estateId, status) {
  const db = process.env.HUANXIN_E2E_DB
  if (!db) throw new Error('needs HUANXIN_E2E_DB (scripts/e2e sets it)')
  if (!/^[a-z_0-9]+$/.test(status)) throw new Error(`not a stage: ${status}`)
  execFileSync('sqlite3', ['-cmd', '.timeout 10000', db, `UPDATE estates SET status = '${status}' WHERE id = ${Number(estateId)}`])
}

// Marks an estate's scheme as decided by its owners in the demo's database (scripts/e2e sets
// HUANXIN_E2E_DB), for tests about what comes after the vote: construction waits for it.
export function ownersDecided(estateId) {
  const db = process.env.HUANXIN_E2E_DB
  if (!db) throw new Error('needs HUANXIN_E2E_DB (scripts/e2e sets it)')
  const before = "('surveyed', 'assessed', 'ranked', 'in_plan', 'scheme_drafted', 'notice_1', 'notice_2')"
  execFileSync('sqlite3', ['-cmd', '.timeout 10000', db, `UPDATE estates SET status = 'decided' WHERE id = ${Number(estateId)} AND status IN ${before}`])
}
