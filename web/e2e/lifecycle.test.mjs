import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { BASE, SHOTS, launch, signIn } from './helpers.mjs'

let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

test('an estate is assessed, scored and moved to its next stage; the next step names what it lacks', async () => {
  const page = await signIn(browser, 'county_admin')
  const id = await page.evaluate(async () => {
    const res = await fetch('/api/v1/estates?status=surveyed&sort=id&per_page=1')
    return (await res.json()).items[0].id
  })
  await page.goto(`${BASE}/estates/${id}`)
  await page.waitForSelector('[data-test=lifecycle]')
  assert.match(await page.textContent('[data-test=blocked-by]'), /尚无已完成并评分的体检/)
  assert.ok(await page.isDisabled('[data-test=advance]'), 'the next step waits for the assessment')
  // Record two findings: parking shortfall for the estate, and the first building's gas hazard.
  await page.waitForSelector('[data-test=checklist] .el-table__body tr')
  await page.click('[data-test=found-parking_shortfall]')
  await page.locator('[data-test=checklist] .el-table__body tr', { hasText: '燃气安全隐患' }).locator('.el-checkbox').first().click()
  await page.click('[data-test=finish]')
  await page.waitForFunction(() => !document.querySelector('[data-test=score] b').textContent.startsWith('0.00'))
  const score = Number(await page.textContent('[data-test=score] b'))
  assert.ok(score > 4 && score <= 16, `parking (4) plus gas in some buildings (up to 12): ${score}`)
  await page.waitForSelector('[data-test=assessment] canvas')
  await page.waitForFunction(() => !document.querySelector('[data-test=advance]').disabled)
  await page.click('[data-test=advance]')
  await page.fill('.el-message-box input', '体检完成，进入排序')
  await page.click('.el-message-box__btns .el-button--primary')
  await page.waitForSelector('[data-test=timeline]')
  assert.match(await page.textContent('[data-test=timeline]'), /已普查 → 已体检.*体检完成，进入排序/)
  assert.match(await page.textContent('[data-test=blocked-by]'), /尚未进入已保存的排序/)
  await page.waitForSelector('.el-message-box', { state: 'hidden' })
  await page.screenshot({ path: `${SHOTS}/lifecycle.png` })
  await page.context().close()
})

test('the county ranks its candidates and puts the top ten into next year\'s plan', async () => {
  const page = await signIn(browser, 'county_admin')
  await page.click('text=改造排序')
  await page.waitForSelector('[data-test=rank]')
  await page.click('[data-test=rank]')
  await page.waitForSelector('[data-test=ranking] .el-table__body tr')
  const rows = await page.locator('[data-test=ranking] .el-table__body tr').count()
  assert.ok(rows >= 10, `ranked ${rows}`)
  const first = await page.textContent('[data-test=ranking] .el-table__body tr:first-child td:first-child')
  assert.equal(first.trim(), '1')
  await page.screenshot({ path: `${SHOTS}/ranking.png` })
  await page.click('text=年度计划')
  await page.click('[data-test=create-plan]')
  await page.waitForSelector('[data-test=plan]')
  await page.click('[data-test=add-top]')
  await page.waitForFunction(() => document.querySelectorAll('[data-test=plan] .el-table__body tr').length === 10)
  await page.waitForSelector('[data-test=plans] .el-table__body tr')
  assert.match(await page.textContent('[data-test=plans]'), /10 \/ 10/)
  await page.screenshot({ path: `${SHOTS}/plans.png` })
  await page.context().close()
})

test('the county creates a project of two estates and names its contractor', async () => {
  const page = await signIn(browser, 'county_admin')
  await page.click('text=改造项目')
  await page.fill('input[data-test=project-code]', 'HA-2027-01')
  await page.fill('input[data-test=project-name]', '螺城片区改造')
  await page.click('[data-test=project-estates]')
  await page.locator('.el-select-dropdown__item').nth(0).click()
  await page.locator('.el-select-dropdown__item').nth(1).click()
  await page.click('[data-test=create-project]')
  await page.waitForSelector('[data-test=project]')
  await page.fill('.party-form input[placeholder=单位]', '惠安建工集团')
  await page.click('[data-test=add-party]')
  await page.waitForSelector('[data-test=parties] .el-table__body tr')
  assert.match(await page.textContent('[data-test=parties]'), /惠安建工集团/)
  await page.screenshot({ path: `${SHOTS}/projects.png` })
  await page.context().close()
})
