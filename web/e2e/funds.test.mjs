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

test('the county allocates central funds, earmarks a share for a project, pays its contractor and verifies the ledger', async () => {
  const page = await signIn(browser, 'county_admin')
  // A project of the county's last estate by code, with its contract sum (through the API).
  const pid = await page.evaluate(async () => {
    const post = async (method, url, body) => (await fetch(url, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()
    const estate = (await (await fetch('/api/v1/estates?sort=-code&per_page=1')).json()).items[0].id
    const { project } = await post('POST', '/api/v1/projects', { code: 'FUND-2026-01', name: '资金测试项目', estate_ids: [estate] })
    await post('PUT', `/api/v1/projects/${project.id}/contract`, { amount: '800000' })
    return project.id
  })
  await page.click('text=资金')
  await page.waitForSelector('[data-test=allocations]')
  await page.click('[data-test=allocation-new]')
  await page.fill('input[data-test=allocation-purpose]', '2026年中央补助资金')
  await page.fill('input[data-test=allocation-amount]', '1,000,000.005')
  await page.click('[data-test=allocation-save]')
  await page.waitForSelector('.el-message--error >> text=最多两位小数')
  await page.fill('input[data-test=allocation-amount]', '1,000,000')
  await page.click('[data-test=allocation-save]')
  await page.waitForSelector('[data-test=allocation-list] >> text=2026年中央补助资金')
  assert.match(await page.textContent('[data-test=allocation-list] .el-table__body tr:first-child'), /中央补助.*100/)

  // A share earmarked for the project and basic works (through the API), then a payment asked for and approved on the page.
  const child = await page.evaluate(async (pid) => {
    const top = (await (await fetch('/api/v1/allocations')).json()).find((a) => a.purpose === '2026年中央补助资金')
    const res = await fetch('/api/v1/allocations', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ parent_id: top.id, region_code: top.region_code, year: 2026, purpose: '资金测试项目基础类', amount: '500000', categories: ['basic'], projects: [pid] }) })
    return (await res.json()).id
  }, pid)
  await page.reload()
  await page.waitForSelector('[data-test=disbursements]')
  await page.click('[data-test=pay-allocation]')
  await page.click(`.el-select-dropdown__item:has-text("#${child} 资金测试项目基础类")`)
  await page.click('[data-test=pay-project]')
  await page.getByRole('option', { name: '资金测试项目', exact: true }).click()
  await page.fill('input[data-test=pay-payee]', '惠安建工集团')
  await page.fill('input[data-test=pay-amount]', '300000')
  await page.click('[data-test=pay-request]')
  await page.waitForSelector('[data-test=disbursement-list] >> text=待审批')
  await page.click('[data-test=disbursement-list] .el-table__body tr:first-child button')
  await page.waitForSelector('[data-test=disbursement-list] >> text=已拨付')
  const left = await page.evaluate(async (child) => (await (await fetch('/api/v1/allocations')).json()).find((a) => a.id === child).left, child)
  assert.equal(left, 20_000_000, '500,000 − 300,000 yuan, in fen')
  await page.click('[data-test=ledger-verify]')
  await page.waitForSelector('[data-test=ledger-check]')
  assert.match(await page.textContent('[data-test=ledger-check]'), /台账完整：3 笔分录/)
  const href = await page.getAttribute('[data-test=ledger-export]', 'href')
  const workbook = await page.evaluate(async (href) => { const r = await fetch(href); return [r.status, r.headers.get('content-type'), (await r.arrayBuffer()).byteLength] }, href)
  assert.equal(workbook[0], 200)
  assert.match(workbook[1], /spreadsheetml/)
  assert.ok(workbook[2] > 1000, 'a real workbook')
  await page.screenshot({ path: `${SHOTS}/funds.png` })
  await page.context().close()
})
