import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync, mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { tmpdir } from 'node:os'
import { BASE, SHOTS, launch, signIn } from './helpers.mjs'

let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

async function summaryCount(page) {
  const text = await page.textContent('[data-test=summary]')
  return Number(text.match(/^(\d+)/)[1])
}

test('wrong password is refused with a message', async () => {
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.goto(`${BASE}/login`)
  await page.fill('input[name=username]', 'county_admin')
  await page.fill('input[name=password]', 'not-the-password')
  await page.click('button[type=submit]')
  await page.waitForSelector('.el-alert--error')
  assert.match(await page.textContent('.el-alert--error'), /错误/)
  await context.close()
})

test('county admin signs in, sees the dashboard, lists and filters estates', async () => {
  const page = await signIn(browser, 'county_admin')
  // The first page is the user's work; the overview holds the charts.
  await page.waitForSelector('[data-test=work]')
  await page.click('text=总览')
  await page.waitForSelector('canvas')
  assert.match(await page.textContent('[data-test=who]'), /惠安县/)
  await page.screenshot({ path: `${SHOTS}/dashboard.png` })
  await page.click('text=小区清单')
  await page.waitForSelector('[data-test=summary]')
  const all = await summaryCount(page)
  assert.ok(all >= 300, `demo has at least 300 estates, saw ${all}`)
  const rows = await page.locator('[data-test=estates] .el-table__body tr').count()
  assert.equal(rows, 20)
  await page.screenshot({ path: `${SHOTS}/estates.png` })
  // Filter: only ineligible estates (built 2001 and later).
  await page.click('[data-test=eligible]')
  await page.click('.el-select-dropdown__item >> text=否')
  await page.click('[data-test=search]')
  await page.waitForFunction((n) => !document.querySelector('[data-test=summary]').textContent.startsWith(n + ' '), all)
  const ineligible = await summaryCount(page)
  assert.ok(ineligible > 0 && ineligible < all, `${ineligible} of ${all}`)
  const years = await page.locator('[data-test=estates] .el-table__body tr td:nth-child(5)').allTextContents()
  assert.ok(years.every((y) => Number(y) >= 2001), years.join(','))
  // Open one estate: its buildings and dwellings are there.
  await page.locator('[data-test=estates] .el-table__body tr').first().click()
  await page.waitForSelector('[data-test=estate-detail]')
  // Buildings and dwellings have their own tab, read when it opens.
  await page.click('[data-test=tab-registry]')
  await page.waitForSelector('[data-test=buildings] .el-table__body tr')
  await page.waitForSelector('[data-test=dwellings] .el-table__body tr')
  // The phone is masked until revealed; revealing it is logged.
  assert.match(await page.textContent('[data-test=phone]'), /\*{4}/)
  await page.click('[data-test=reveal]')
  await page.waitForFunction(() => !document.querySelector('[data-test=phone]').textContent.includes('*'))
  await page.screenshot({ path: `${SHOTS}/estate-detail.png`, fullPage: true })
  // The reveal is in the audit log, named in Chinese rather than by its code.
  await page.goto(`${BASE}/audit`)
  await page.waitForSelector('[data-test=audit] >> text=查看个人信息')
  assert.ok(!(await page.textContent('[data-test=audit]')).includes('read_personal_data'))
  // What it read is said in words, field by field, not as raw JSON.
  const newest = '[data-test=audit] > .el-table__inner-wrapper > .el-table__body-wrapper tr.el-table__row:first-child'
  const said = await page.textContent(`${newest} [data-test=audit-summary]`)
  assert.ok(said.includes('字段：phone') && said.includes('小区：'), said)
  await page.click(`${newest} .el-table__expand-icon`)
  await page.waitForSelector('[data-test=audit-changes] >> text=修改后')
  assert.ok(!(await page.textContent('[data-test=audit-changes]')).includes('{'))
  await page.context().close()
})

test('an import with errors shows the error table and changes nothing', async () => {
  const page = await signIn(browser, 'county_staff')
  await page.goto(`${BASE}/estates`)
  await page.waitForSelector('[data-test=summary]')
  const before = await summaryCount(page)
  const dir = mkdtempSync(join(tmpdir(), 'hx-e2e-'))
  const file = join(dir, 'bad.csv')
  writeFileSync(file, '小区编码,小区名称,社区代码,建成年份\nE2E-1,好小区,350521100001,1990\nE2E-2,,350521100001,1850\nE2E-3,外县小区,350502001001,1990\n')
  await page.click('text=数据导入')
  await page.setInputFiles('[data-test=upload] input[type=file]', file)
  await page.click('[data-test=run-import]')
  await page.waitForSelector('[data-test=import-errors] .el-table__body tr')
  const cells = await page.locator('[data-test=import-errors] .el-table__body tr td:first-child').allTextContents()
  assert.ok(cells.includes('3') && cells.includes('4'), cells.join(','))
  const reasons = await page.locator('[data-test=import-errors] .el-table__body tr td:last-child').allTextContents()
  assert.ok(reasons.includes('必填') && reasons.includes('不在您负责的辖区内'), reasons.join(' | '))
  await page.screenshot({ path: `${SHOTS}/import-errors.png`, fullPage: true })
  await page.goto(`${BASE}/estates`)
  await page.waitForSelector('[data-test=summary]')
  assert.equal(await summaryCount(page), before)
  await page.context().close()
})

test('a county sheet as it comes is imported, and the wizard lists what it passed over and what it would change', async () => {
  const page = await signIn(browser, 'county_staff')
  await page.goto(`${BASE}/estates`)
  await page.click('text=数据导入')
  // A legacy .xls with an instructions sheet, a merged title, 序号, headers with units and a 合计 row.
  const xls = fileURLToPath(new URL('../../crates/server/tests/fixtures/county-legacy.xls', import.meta.url))
  await page.setInputFiles('[data-test=upload] input[type=file]', xls)
  await page.click('[data-test=run-import]')
  await page.waitForSelector('[data-test=import-ok]')
  const ok = await page.textContent('[data-test=import-ok]')
  assert.match(ok, /新增 2 条/)
  assert.match(ok, /小区清单/)
  const skipped = await page.locator('[data-test=import-skipped] .el-table__body tr td:nth-child(2)').allTextContents()
  assert.deepEqual(skipped, ['标题行', '合计行'])
  await page.screenshot({ path: `${SHOTS}/import-county-sheet.png`, fullPage: true })
  // A check-only re-import with a new name: the change is listed from → to, and nothing is written.
  const dir = mkdtempSync(join(tmpdir(), 'hx-e2e-'))
  const file = join(dir, 'rename.csv')
  writeFileSync(file, '小区编码;小区名称;社区代码;建成年份（年）\nXLS-1;老县委宿舍（更名）;350521100001;1992年\n')
  await page.goto(`${BASE}/estates`)
  await page.click('text=数据导入')
  await page.setInputFiles('[data-test=upload] input[type=file]', file)
  await page.click('text=仅检查，不写入')
  await page.click('[data-test=run-import]')
  await page.waitForSelector('[data-test=import-changes] .el-table__body tr')
  const change = await page.textContent('[data-test=import-changes] .el-table__body tr')
  assert.ok(change.includes('小区名称') && change.includes('老县委宿舍') && change.includes('老县委宿舍（更名）'), change)
  await page.context().close()
})

test('the map shows the county estates as points from our own tiles', async () => {
  const page = await signIn(browser, 'county_admin')
  await page.click('text=一张图')
  await page.waitForSelector('[data-test=map] canvas')
  await page.waitForFunction(() => {
    const m = window.__huanxinMap
    return m && m.loaded() && m.getLayer('clusters') && m.queryRenderedFeatures({ layers: ['clusters', 'estates'] }).length > 0
  }, null, { timeout: 30000 })
  const n = await page.evaluate(() => window.__huanxinMap.queryRenderedFeatures({ layers: ['clusters', 'estates'] }).length)
  assert.ok(n > 0)
  // Clusters show how many estates they hold, and the counts add up to the county's located estates.
  await page.waitForSelector('[data-test=cluster-count]')
  const shown = await page.evaluate(() => {
    const m = window.__huanxinMap
    const fs = m.queryRenderedFeatures({ layers: ['clusters'] })
    return { labels: [...document.querySelectorAll('[data-test=cluster-count]')].map((e) => Number(e.textContent)), several: fs.filter((f) => f.properties.count > 1).length }
  })
  assert.ok(shown.labels.length > 0 && shown.labels.every((c) => c > 1), JSON.stringify(shown))
  await page.screenshot({ path: `${SHOTS}/map.png` })
  // Zoom to street level: single estates, and a click opens the card.
  await page.evaluate(() => window.__huanxinMap.jumpTo({ center: [118.797, 25.031], zoom: 15 }))
  await page.waitForFunction(() => {
    const m = window.__huanxinMap
    return m.loaded() && m.queryRenderedFeatures({ layers: ['estates'] }).length > 0
  }, null, { timeout: 30000 })
  const pt = await page.evaluate(() => {
    const m = window.__huanxinMap
    const f = m.queryRenderedFeatures({ layers: ['estates'] })[0]
    const p = m.project(f.geometry.coordinates)
    const r = m.getCanvas().getBoundingClientRect()
    return { x: r.left + p.x, y: r.top + p.y }
  })
  await page.mouse.click(pt.x, pt.y)
  await page.waitForSelector('[data-test=estate-card]')
  await page.screenshot({ path: `${SHOTS}/map-street.png` })
  await page.context().close()
})

test('a contractor sees only its estate and no import; English switch works', async () => {
  const page = await signIn(browser, 'contractor')
  await page.goto(`${BASE}/estates`)
  await page.waitForSelector('[data-test=summary]')
  assert.equal(await summaryCount(page), 1)
  assert.equal(await page.locator('text=数据导入').count(), 0)
  // Pages whose every call the role would be refused lead back to the overview, not to an empty table.
  for (const path of ['/users', '/audit']) {
    await page.goto(`${BASE}${path}`)
    await page.waitForURL(`${BASE}/`)
  }
  await page.goto(`${BASE}/estates`)
  await page.waitForSelector('[data-test=summary]')
  await page.click('text=English')
  await page.waitForSelector('text=Estates')
  assert.match(await page.textContent('[data-test=summary]'), /estates/)
  await page.screenshot({ path: `${SHOTS}/contractor-en.png` })
  await page.context().close()
})
