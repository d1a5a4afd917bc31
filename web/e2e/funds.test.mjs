import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { BASE, SHOTS, launch, signIn, ownersDecided } from './helpers.mjs'

// The demo's database (scripts/e2e sets it): the owners' vote is closed there rather than waited for.
const DB = process.env.HUANXIN_E2E_DB

let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

const call = async (page, method, url, body) =>
  page.evaluate(async ([method, url, body]) => {
    const r = await fetch(url, { method, headers: { 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined })
    return r.json()
  }, [method, url, body])

// Chooses an option of the dropdown that is open (several selects hold the same options), then waits
// for it to close so that the next dropdown's options are the only ones shown.
const pick = async (page, name) => {
  await page.locator('li[role=option]:visible').filter({ hasText: new RegExp(`^${name}$`) }).last().click()
  await page.waitForFunction(() => ![...document.querySelectorAll('li[role=option]')].some((li) => li.checkVisibility()))
}

test('the county plans who pays, allocates, pays its contractor for a passed inspection, records residents\' money, reports and exports', async () => {
  const page = await signIn(browser, 'county_admin')
  // A project of the county's last estate by code, with its supervisor, who passes an inspection (through the API).
  const estate = (await call(page, 'GET', '/api/v1/estates?sort=-code&per_page=1')).items[0]
  const { project } = await call(page, 'POST', '/api/v1/projects', { code: 'FUND-2026-01', name: '资金测试项目', estate_ids: [estate.id] })
  const supervisorId = (await call(page, 'GET', '/api/v1/users')).find((u) => u.username === 'supervisor').id
  await call(page, 'POST', `/api/v1/projects/${project.id}/parties`, { role: 'supervisor', company: '惠安监理', user_id: supervisorId })
  // The owners decided the scheme and the site is under way ahead of its permit (the bureau's recorded
  // exception), so the checkpoint may be inspected.
  ownersDecided(estate.id)
  assert.equal(await page.evaluate(async (id) => (await fetch(`/api/v1/estates/${id}/construction/permit-exception`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason: '资金测试：应急先行施工' }) })).status, estate.id), 204)
  const supervisor = await signIn(browser, 'supervisor')
  const inspection = await call(supervisor, 'POST', `/api/v1/estates/${estate.id}/construction/inspections`, { checkpoint: 'site_control', passed: true })
  assert.ok(inspection.id, JSON.stringify(inspection))
  await supervisor.context().close()

  // The co-funding plan on the project page: central money and residents' share; the contract sum.
  await page.click('text=改造项目')
  await page.click(`[data-test=projects] >> text=资金测试项目`)
  await page.waitForSelector('[data-test=project-funding][data-loaded=yes]')
  await page.fill('input[data-test=contract-amount]', '800000')
  await Promise.all([page.waitForResponse((r) => r.url().endsWith('/contract') && r.ok()), page.click('[data-test=contract-save]')])
  await page.click('[data-test=plan-add]')
  await page.click('[data-test=plan-source-0]')
  await pick(page, '中央补助')
  await page.fill('input[data-test=plan-item-0]', '管网改造')
  await page.fill('input[data-test=plan-amount-0]', '600000')
  await page.click('[data-test=plan-add]')
  await page.click('[data-test=plan-source-1]')
  await pick(page, '居民出资')
  await page.fill('input[data-test=plan-amount-1]', '200000.001')
  await page.click('[data-test=plan-save]')
  await page.waitForSelector('.el-message--error >> text=最多两位小数')
  await page.fill('input[data-test=plan-amount-1]', '200000')
  await page.click('[data-test=plan-save]')
  await page.waitForFunction(() => document.querySelector('[data-test=plan-total]')?.textContent.includes('800,000.00'))
  // The differences: nothing has arrived yet.
  await page.waitForSelector('[data-test=project-funding] >> text=到位少于计划')

  // A resident's contribution by provident fund.
  const building = (await call(page, 'GET', `/api/v1/estates/${estate.id}/buildings`))[0]
  const dwelling = (await call(page, 'GET', `/api/v1/estates/${estate.id}/dwellings?building_id=${building.id}`)).items[0]
  await page.click('[data-test=contrib-building]')
  await pick(page, building.number)
  await page.click('[data-test=contrib-dwelling]')
  await pick(page, dwelling.number)
  await page.fill('input[data-test=contrib-amount]', '3000')
  await page.click('[data-test=contrib-method]')
  await pick(page, '住房公积金')
  await page.click('[data-test=contrib-save]')
  await page.waitForSelector('[data-test=contributions] >> text=住房公积金')
  // The same money entered twice by mistake (by the clerk) is reversed (冲正) by another hand, the
  // admin's: kept in the list, marked, no longer counted.
  const clerk = await signIn(browser, 'county_staff')
  const twice = await call(clerk, 'POST', `/api/v1/projects/${project.id}/contributions`, { estate_id: estate.id, dwelling_id: dwelling.id, amount: '500', method: 'cash', paid_on: new Date().toISOString().slice(0, 10) })
  assert.ok(twice.id, JSON.stringify(twice))
  await page.reload()
  await page.click(`[data-test=projects] >> text=资金测试项目`)
  await page.waitForSelector('[data-test=project-funding][data-loaded=yes]')
  await page.waitForSelector('[data-test=contributions] >> text=500.00')
  await page.click(`[data-test=reverse-contribution-${twice.id}]`)
  await page.click('.el-message-box__btns .el-button--primary')
  await page.waitForSelector('.el-message-box >> text=请说明冲正原因')
  await page.fill('.el-message-box__input input', '重复登记')
  await page.click('.el-message-box__btns .el-button--primary')
  await page.waitForSelector('[data-test=contributions] >> text=已冲正')
  await page.waitForSelector('.el-overlay-message-box', { state: 'hidden' })
  assert.equal((await call(page, 'GET', `/api/v1/projects/${project.id}/contributions`)).total_fen, 300_000)
  assert.match(await page.textContent('[data-test=participation]'), /1\/\d+ 户/)
  await page.locator('[data-test=project-funding]').screenshot({ path: `${SHOTS}/project-funding.png` })

  // Allocation on the funds page, with a bad amount refused first.
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

  // A share earmarked for the project and basic works (through the API), then a payment for the passed inspection.
  const top = (await call(page, 'GET', '/api/v1/allocations')).find((a) => a.purpose === '2026年中央补助资金')
  const child = (await call(page, 'POST', '/api/v1/allocations', { parent_id: top.id, region_code: top.region_code, year: new Date().getFullYear(), purpose: '资金测试项目基础类', amount: '600000', categories: ['basic'], projects: [project.id] })).id
  await page.reload()
  await page.waitForSelector('[data-test=disbursements]')
  await page.click('[data-test=pay-project]')
  await pick(page, '资金测试项目')
  await page.waitForFunction(() => document.querySelector('[data-test=pay-basis]')?.textContent.includes('检查通过'))
  // Only what may pay the project is offered: the top allocation and the project's own share, with what is left.
  await page.click('[data-test=pay-allocation]')
  await page.waitForSelector(`li[role=option]:visible:has-text("#${child} 资金测试项目基础类")`)
  const offered = await page.locator('li[role=option]:visible').allTextContents()
  assert.ok(offered.some((o) => o.startsWith(`#${child} 资金测试项目基础类`) && o.includes('结余 60')), offered.join(' | '))
  await page.click(`li[role=option]:visible:has-text("#${child} 资金测试项目基础类")`)
  await page.fill('input[data-test=pay-payee]', '惠安建工集团')
  await page.fill('input[data-test=pay-amount]', '300000')
  await page.click('[data-test=pay-request]')
  await page.waitForSelector('[data-test=disbursement-list] >> text=待审批')
  // Four eyes: the one who asked may not approve; a colleague does.
  await page.click('[data-test=disbursement-list] .el-table__body tr:first-child button')
  await page.waitForSelector('.el-message--error >> text=双人复核')
  const asked = (await call(page, 'GET', '/api/v1/disbursements?status=requested')).items[0]
  assert.equal((await call(clerk, 'POST', `/api/v1/disbursements/${asked.id}/approve`, {})).status, 'approved')
  await page.reload()
  await page.waitForSelector('[data-test=disbursement-list] >> text=已拨付')
  // The list filters by status: nothing is waiting for approval any more.
  await page.click('[data-test=disbursement-status]')
  await pick(page, '待审批')
  await page.waitForSelector('[data-test=disbursement-pages] >> text=共 0 条')
  await page.click('[data-test=disbursement-status]')
  await pick(page, '已拨付')
  await page.waitForSelector('[data-test=disbursement-pages] >> text=共 1 条')
  const left = (await call(page, 'GET', '/api/v1/allocations')).find((a) => a.id === child).left
  assert.equal(left, 30_000_000, '600,000 − 300,000 yuan, in fen')
  // A share cut by mistake goes back to the allocation it came from.
  const wrong = (await call(clerk, 'POST', '/api/v1/allocations', { parent_id: top.id, region_code: top.region_code, year: new Date().getFullYear(), purpose: '错拨的资金', amount: '1000' })).id
  await page.reload()
  await page.click(`[data-test=reverse-allocation-${wrong}]`)
  await page.fill('.el-message-box__input input', '错拨')
  await page.click('.el-message-box__btns .el-button--primary')
  await page.waitForSelector(`[data-test=allocation-list] tr:has-text("错拨的资金") >> text=已冲正`)
  await page.waitForSelector('.el-overlay-message-box', { state: 'hidden' })
  await page.click('[data-test=ledger-verify]')
  await page.waitForSelector('[data-test=ledger-check]')
  assert.match(await page.textContent('[data-test=ledger-check]'), /台账完整：8 笔分录/)
  // Which server of the cluster ran the check (its name: host, process, a random tag).
  assert.match(await page.textContent('[data-test=ledger-job-server]'), /由服务器 \S+:\d+:\w+ 核验/)

  // The report: the county's rate this year, by source and month, and the workbooks.
  await page.waitForSelector('[data-test=report-sources] >> text=中央补助')
  await page.reload()
  await page.waitForFunction(() => document.querySelector('[data-test=report-rate]')?.textContent.includes('%'))
  const rate = await page.textContent('[data-test=report-rate]')
  assert.match(rate, /[1-9]/, `paid 300,000 of what came in: ${rate}`)
  for (const link of ['[data-test=ledger-export]', '[data-test=report-export]']) {
    const href = await page.getAttribute(link, 'href')
    const workbook = await page.evaluate(async (href) => { const r = await fetch(href); return [r.status, r.headers.get('content-type'), (await r.arrayBuffer()).byteLength] }, href)
    assert.equal(workbook[0], 200)
    assert.match(workbook[1], /spreadsheetml/)
    assert.ok(workbook[2] > 1000, 'a real workbook')
  }
  await page.locator('[data-test=funds-report]').scrollIntoViewIfNeeded()
  await page.screenshot({ path: `${SHOTS}/funds.png`, fullPage: true })

  // The estate's page: who pays what, and its maintenance fund — parking revenue in, spending needs the owners.
  await page.goto(`${BASE}/estates/${estate.id}?tab=funds`)
  await page.waitForSelector(`[data-test=estate-funding-${project.id}] >> text=中央补助`)
  await page.fill('input[data-test=upkeep-credit-amount]', '12000')
  await page.fill('input[data-test=upkeep-credit-memo]', '上半年停车收益')
  await page.click('[data-test=upkeep-credit]')
  await page.waitForSelector('[data-test=upkeep-movements] >> text=停车收益')
  await page.fill('input[data-test=upkeep-spend-amount]', '2000')
  await page.fill('input[data-test=upkeep-spend-memo]', '单元门禁维修')
  await page.fill('input[data-test=upkeep-spend-payee]', '惠安安防')
  await page.click('[data-test=upkeep-spend]')
  await page.waitForSelector('.el-message--error >> text=动用维修资金须经业主表决通过')
  await page.click('[data-test=upkeep-emergency]')
  await page.click('[data-test=upkeep-spend]')
  // Four eyes: the spending waits; the one who asked cannot approve it; a colleague does, then it is paid.
  await page.waitForSelector('.el-message--success >> text=待另一位同事审核')
  await page.waitForSelector('[data-test=upkeep-requests] button[data-test=upkeep-approve][disabled]')
  assert.ok((await page.textContent('[data-test=upkeep-balance]')).includes('12,000'), 'nothing paid before the approval')
  const approveAsked = async () => {
    const asked = (await call(page, 'GET', `/api/v1/estates/${estate.id}/upkeep`)).requests.find((r) => r.status === 'requested')
    await call(clerk, 'POST', `/api/v1/upkeep-requests/${asked.id}/approve`, {})
    await page.reload()
  }
  await approveAsked()
  await page.waitForSelector('[data-test=upkeep-movements] >> text=应急')
  await page.waitForSelector('[data-test=upkeep-requests] >> text=已支出')
  await page.waitForFunction(() => document.querySelector('[data-test=upkeep-balance]')?.textContent.includes('10,000'))
  if (DB) {
    // The owners allowed up to 3,000 yuan for the door entry system: more is refused, that much is paid.
    const now = Date.now()
    const decision = (await call(page, 'POST', `/api/v1/estates/${estate.id}/decisions`, { title: '使用维修资金修缮门禁', matter: 'use_maintenance_fund', scope: 'estate', amount: '3,000', opens_at: new Date(now - 3600e3).toISOString(), closes_at: new Date(now + 7 * 86400e3).toISOString() })).decision
    assert.equal(decision.amount, 300_000)
    execFileSync('sqlite3', ['-cmd', '.timeout 10000', DB, `UPDATE decisions SET closed_at = '${new Date().toISOString()}', passed = 1 WHERE id = ${decision.id}`])
    await page.reload()
    await page.click('[data-test=upkeep-decision]')
    await pick(page, '使用维修资金修缮门禁（3,000.00）')
    await page.fill('input[data-test=upkeep-spend-amount]', '3000.01')
    await page.fill('input[data-test=upkeep-spend-memo]', '单元门禁更换')
    await page.fill('input[data-test=upkeep-spend-payee]', '惠安安防')
    await page.click('[data-test=upkeep-spend]')
    await page.waitForSelector('.el-message--error >> text=超出表决额度')
    await page.fill('input[data-test=upkeep-spend-amount]', '3000')
    await page.click('[data-test=upkeep-spend]')
    await page.waitForSelector('.el-message--success >> text=待另一位同事审核')
    await approveAsked()
    await page.waitForFunction(() => document.querySelector('[data-test=upkeep-balance]')?.textContent.includes('7,000'))
  }
  await page.locator('[data-test=estate-funding]').screenshot({ path: `${SHOTS}/estate-funding.png` })
  await clerk.context().close()
  await page.context().close()
})

test('central money goes down the ladder on the funds page, ministry to province to city to county, and pays a county project', async () => {
  // Each level gives part of what came to it to a region one level down, choosing it in the form.
  const give = async (user, parent, region, purpose, amount) => {
    const page = await signIn(browser, user)
    await page.click('text=资金')
    await page.waitForSelector('[data-test=allocations]')
    await page.click('[data-test=allocation-new]')
    if (parent) {
      // Offered with what is left of it: only money that came to this region.
      await page.click('[data-test=allocation-parent]')
      const option = page.locator('li[role=option]:visible', { hasText: `#${parent.id} ${parent.purpose}` })
      assert.match(await option.textContent(), /结余/)
      await option.click()
      await page.waitForFunction(() => ![...document.querySelectorAll('li[role=option]')].some((li) => li.checkVisibility()))
    }
    await page.click('[data-test=allocation-region]')
    await pick(page, region)
    await page.fill('input[data-test=allocation-purpose]', purpose)
    await page.fill('input[data-test=allocation-amount]', amount)
    await page.click('[data-test=allocation-save]')
    await page.waitForSelector(`.el-message--success >> text=已下达至${region}`)
    await page.waitForSelector(`[data-test=allocation-list] >> text=${purpose}`)
    const made = (await call(page, 'GET', '/api/v1/allocations')).find((a) => a.purpose === purpose)
    await page.context().close()
    return made
  }
  const central = await give('ministry_admin', null, '福建省', '2026年中央补助资金（下达福建）', '1,000,000')
  assert.equal(central.source, 'central')
  assert.equal(central.region_code, '350000000000')
  const province = await give('province_admin', central, '泉州市', '2026年中央补助资金（转下达泉州）', '600,000')
  assert.equal(province.region_code, '350500000000')
  const city = await give('city_admin', province, '惠安县', '2026年中央补助资金（转下达惠安）', '200,000')
  assert.deepEqual([city.region_code, city.source, city.parent_id], ['350521000000', 'central', province.id])

  // The county pays its project's contractor from it; a colleague approves.
  const page = await signIn(browser, 'county_admin')
  const project = (await call(page, 'GET', '/api/v1/projects')).find((p) => p.code === 'FUND-2026-01')
  const payable = await call(page, 'GET', `/api/v1/projects/${project.id}/payable-allocations`)
  assert.ok(payable.some((a) => a.id === city.id), 'the city\'s allocation may pay the county\'s project')
  const basis = (await call(page, 'GET', `/api/v1/projects/${project.id}/payment-bases`))[0].basis
  const asked = await call(page, 'POST', '/api/v1/disbursements', { allocation_id: city.id, project_id: project.id, category: 'basic', payee: '惠安建工集团', amount: '100000', basis })
  assert.equal(asked.status, 'requested', JSON.stringify(asked))
  const clerk = await signIn(browser, 'county_staff')
  assert.equal((await call(clerk, 'POST', `/api/v1/disbursements/${asked.id}/approve`, {})).status, 'approved')
  await clerk.context().close()
  // Each level sees what is left of what it was given.
  const ministry = await signIn(browser, 'ministry_admin')
  const all = await call(ministry, 'GET', '/api/v1/allocations')
  const left = (a) => all.find((x) => x.id === a.id).left
  assert.deepEqual([left(central), left(province), left(city)], [40_000_000, 40_000_000, 10_000_000])
  await ministry.click('text=资金')
  await ministry.waitForSelector('[data-test=allocation-list] >> text=2026年中央补助资金（转下达惠安）')
  await ministry.screenshot({ path: `${SHOTS}/funds-ladder.png` })
  await ministry.context().close()
  await page.context().close()
})
