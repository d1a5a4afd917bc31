// The demo in full swing, as each of its accounts sees it: every page of the menu opens without
// an error in the console or a refused call, and the pages a running programme fills are not
// empty. scripts/e2e starts this server with `huanxin demo` (the other tests use `demo --empty`).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { launch, SHOTS } from './helpers.mjs'

const FULL = process.env.HUANXIN_FULL_URL
let browser
before(async () => {
  if (FULL) browser = await launch()
})
after(async () => {
  await browser?.close()
})

// Opens the desk as `user` and watches for errors: uncaught exceptions, console errors and API
// calls answered 400 or above.
async function desk(user) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, locale: 'zh-CN' })
  const page = await context.newPage()
  const problems = []
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`))
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`)
  })
  page.on('response', (r) => {
    if (r.url().includes('/api/') && r.status() >= 400) problems.push(`${r.status()} ${r.request().method()} ${r.url()}`)
  })
  await page.goto(`${FULL}/login`)
  await page.fill('input[name=username]', user)
  await page.fill('input[name=password]', 'huanxin-demo')
  await page.click('button[type=submit]')
  return { page, problems, context }
}

// Rows in the first table of the page once it has loaded.
async function rows(page) {
  await page.waitForSelector('.el-table__body tr, .el-table__empty-text', { timeout: 20000 })
  await page.waitForLoadState('networkidle')
  return page.locator('.el-table__body tr').count()
}

const filled = {
  county_admin: ['/estates', '/projects', '/plans', '/ranking', '/funds', '/audit', '/users'],
  county_staff: ['/estates', '/projects', '/plans', '/funds'],
  city_admin: ['/estates', '/projects', '/plans', '/funds'],
  ministry_admin: ['/estates', '/plans', '/funds'],
  licheng_admin: ['/estates', '/projects', '/plans', '/funds'],
  contractor: ['/estates', '/projects'],
  supervisor: ['/estates', '/projects'],
  designer: ['/estates', '/projects'],
  property_company: ['/estates'],
  street_staff: ['/estates'],
  community_staff: ['/estates'],
}

for (const [user, pages] of Object.entries(filled)) {
  test(`${user} finds the programme's records on every page`, { skip: !FULL && 'needs HUANXIN_FULL_URL (scripts/e2e starts the full demo)' }, async () => {
    const { page, problems, context } = await desk(user)
    await page.waitForSelector('[data-test=who]')
    await page.waitForLoadState('networkidle')
    for (const path of pages) {
      await page.goto(`${FULL}${path}`)
      assert.ok((await rows(page)) > 0, `${user}: ${path} is not empty`)
    }
    // The overview of a county or above shows estates at many stages.
    await page.goto(`${FULL}/`)
    await page.waitForLoadState('networkidle')
    await page.screenshot({ path: `${SHOTS}/demo-${user}.png` })
    assert.deepEqual(problems, [], `${user}: no error on any page`)
    await context.close()
  })
}

test('the county sees one estate of each kind: in construction, in upkeep, with an open vote', { skip: !FULL && 'needs HUANXIN_FULL_URL' }, async () => {
  const { page, problems, context } = await desk('county_admin')
  await page.waitForSelector('[data-test=who]')
  const estates = await page.evaluate(async () => {
    const get = async (status) => (await (await fetch(`/api/v1/estates?status=${status}&per_page=1`)).json()).items[0]
    return { building: await get('in_construction'), upkeep: await get('in_upkeep'), deciding: await get('notice_2') }
  })
  for (const [kind, estate] of Object.entries(estates)) {
    assert.ok(estate, `an estate ${kind}`)
    await page.goto(`${FULL}/estates/${estate.id}`)
    await page.waitForSelector('[data-test=lifecycle]')
    await page.waitForSelector('[data-test=timeline]')
    await page.waitForLoadState('networkidle')
    // The timeline carries the walk's real past dates, years back for an estate in upkeep.
    const timeline = await page.textContent('[data-test=timeline]')
    assert.match(timeline, /20(2[1-6])/, `${kind}: the timeline is dated`)
  }
  assert.deepEqual(problems, [], 'no error on the estate pages')
  await context.close()
})

test('the resident signs in at the desk and lands on the phone pages: their home, an open vote, an open survey', { skip: !FULL && 'needs HUANXIN_FULL_URL' }, async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: 'zh-CN' })
  const page = await context.newPage()
  const problems = []
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`))
  await page.goto(`${FULL}/login`)
  await page.fill('input[name=username]', 'resident')
  await page.fill('input[name=password]', 'huanxin-demo')
  await page.click('button[type=submit]')
  await page.waitForURL(/\/m\//)
  await page.waitForSelector('[data-test=stage]')
  await page.click('[data-test=tab-votes]')
  await page.waitForSelector('[data-test^=m-decision-]')
  await page.click('[data-test^=m-decision-]')
  await page.waitForSelector('[data-test=m-vote-state]')
  assert.match(await page.textContent('[data-test=m-vote-state]'), /表决中/)
  await page.click('[data-test=tab-surveys]')
  await page.waitForSelector('[data-test^=m-survey-]')
  assert.ok((await page.locator('[data-test^=m-survey-]').count()) >= 2, 'the needs survey and the open one on the shared space')
  await page.screenshot({ path: `${SHOTS}/demo-resident.png` })
  assert.deepEqual(problems, [], 'no error on the phone pages')
  await context.close()
})
