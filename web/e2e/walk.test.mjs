// One estate's whole renewal, from assessment to upkeep, in the browser: each step is taken with the
// estate page's "next step" button, after the records it waits for are made (through the pages for
// the residents' parts, through the API for the rest). Where the law wants time to pass — a notice's
// working days, a vote's window — the test moves those dates into the past in the database, as the
// HTTP tests do, since nobody waits a week in a test.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { BASE, SHOTS, launch, signIn } from './helpers.mjs'

const DB = process.env.HUANXIN_E2E_DB
let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

// China's date today (deadlines and notices are counted on it).
const today = () => new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10)

function travel(sql) {
  execFileSync('sqlite3', ['-cmd', '.timeout 10000', DB, sql])
}

async function client(user) {
  const res = await fetch(`${BASE}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: user, password: 'huanxin-demo' }) })
  const { token } = await res.json()
  return async (method, path, body) => {
    const r = await fetch(`${BASE}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
    const text = await r.text()
    if (!r.ok) throw new Error(`${user} ${method} ${path}: ${r.status} ${text}`)
    return text ? JSON.parse(text) : null
  }
}

// Takes the next step with the page's button and waits until the estate shows the new stage.
async function advance(page, id, to, label, note) {
  await page.goto(`${BASE}/estates/${id}`)
  await page.waitForSelector('[data-test=lifecycle]')
  await page.waitForFunction(() => !document.querySelector('[data-test=advance]')?.disabled, null, { timeout: 15000 })
  await page.click('[data-test=advance]')
  await page.fill('.el-message-box input', note)
  await page.click('.el-message-box__btns .el-button--primary')
  await page.waitForSelector(`[data-test=timeline] >> text=${label}`)
  await page.waitForSelector('.el-message-box', { state: 'hidden' })
}

test('one estate from assessment to review and upkeep', { skip: !DB && 'needs HUANXIN_E2E_DB (scripts/e2e sets it) to let a notice period and a vote window pass' }, async () => {
  const admin = await client('county_admin')
  const page = await signIn(browser, 'county_admin')
  // The estate the companies and the demo resident are attached to: the first of 北关社区.
  const id = (await admin('GET', '/api/v1/estates?region=350521100001&sort=id&per_page=1')).items[0].id
  const status = async () => (await admin('GET', `/api/v1/estates/${id}/lifecycle`)).status
  const buildings = await admin('GET', `/api/v1/estates/${id}/buildings`)

  // Assessment (体检) on the page.
  if ((await status()) === 'surveyed') {
    await page.goto(`${BASE}/estates/${id}`)
    await page.waitForSelector('[data-test=checklist] .el-table__body tr')
    await page.click('[data-test=found-parking_shortfall]')
    await page.click('[data-test=finish]')
    await page.waitForFunction(() => !document.querySelector('[data-test=score] b').textContent.startsWith('0.00'))
    await advance(page, id, 'assessed', '已普查 → 已体检', '体检完成')
  }
  if ((await status()) === 'assessed') {
    await admin('POST', '/api/v1/rankings', {})
    await advance(page, id, 'ranked', '已体检 → 已排序', '进入排序')
  }
  if ((await status()) === 'ranked') {
    const plan = await admin('POST', '/api/v1/plans', { year: 2028, targets: { estates: 1 } })
    await admin('POST', `/api/v1/plans/${plan.plan?.id ?? plan.id}/estates`, { estate_ids: [id], reason: '补录计划' })
    // Listed in the plan, the estate is 列入计划 at once: no separate step.
    await page.goto(`${BASE}/estates/${id}`)
    await page.waitForSelector('[data-test=timeline] >> text=已排序 → 列入计划')
  }
  if ((await status()) === 'in_plan') {
    await admin('PUT', `/api/v1/estates/${id}/scheme`, { items: [{ menu_code: 'B13', building_id: buildings[0].id, quantity: 800 }, { menu_code: 'B02', quantity: 260 }] })
    await advance(page, id, 'scheme_drafted', '列入计划 → 方案编制', '方案初稿')
  }

  // Two rounds of notice (两上两下): posted on the page, the working days let pass.
  for (const [round, from, label] of [[1, 'scheme_drafted', '方案编制 → 一轮公示完成'], [2, 'notice_1', '一轮公示完成 → 二轮公示完成']]) {
    if ((await status()) !== from) continue
    const version = await admin('POST', `/api/v1/estates/${id}/scheme/versions`, { stage: `notice_${round}` })
    await page.goto(`${BASE}/estates/${id}`)
    await page.waitForSelector('[data-test=voice]')
    await page.click('[data-test=notice-new]')
    if (round === 2) {
      await page.click('[data-test=notice-round]')
      await page.click('.el-select-dropdown__item:has-text("方案第二轮")')
    }
    await page.fill('[data-test=notice-version] input', String(version.version_no))
    await page.fill('[data-test=notice-title]', `改造方案第${round === 1 ? '一' : '二'}轮公示`)
    await page.click('[data-test=notice-post]')
    await page.waitForSelector(`[data-test=voice] >> text=改造方案第${round === 1 ? '一' : '二'}轮公示`)
    travel(`UPDATE notices SET starts_on = '2026-01-05', ends_on = '2026-01-09' WHERE estate_id = ${id} AND round = ${round}`)
    await advance(page, id, `notice_${round}`, label, `第${round}轮公示期满`)
  }

  // The owners' vote on the scheme: set up on the page, paper ballots from every owner, the window let pass, counted on the page.
  if ((await status()) === 'notice_2') {
    await page.goto(`${BASE}/estates/${id}`)
    await page.waitForSelector('[data-test=decisions]')
    await page.click('[data-test=decision-new]')
    await page.fill('[data-test=decision-title]', '同意小区改造方案（定稿前）')
    await page.click('[data-test=decision-create]')
    await page.waitForSelector('[data-test=decisions] >> text=同意小区改造方案（定稿前）')
    const decision = (await admin('GET', `/api/v1/estates/${id}/decisions`)).find((d) => d.on_scheme && !d.closed_at)
    assert.ok(decision, 'a decision on the scheme')
    const staff = await client('community_staff')
    let page_ = 1
    for (;;) {
      const dw = await admin('GET', `/api/v1/estates/${id}/dwellings?per_page=500&page=${page_}`)
      for (const d of dw.items) {
        try {
          await staff('POST', `/api/v1/decisions/${decision.id}/ballots`, { dwelling_id: d.id, choice: 'agree', voter: d.owners[0]?.name || '住户' })
        } catch (err) {
          // An owner of several dwellings already voted once for all of them: still one vote.
          if (!/already voted|voted agree/.test(err.message)) throw err
        }
      }
      if (page_ * 500 >= dw.total) break
      page_ += 1
    }
    travel(`UPDATE decisions SET closes_at = '2026-01-01T00:00:00.000Z' WHERE id = ${decision.id}`)
    await page.reload()
    await page.waitForSelector(`[data-test=decision-close-${decision.id}]`)
    await page.click(`[data-test=decision-close-${decision.id}]`)
    await page.waitForSelector(`[data-test=decision-${decision.id}] [data-test=decision-result]`)
    assert.match(await page.textContent(`[data-test=decision-${decision.id}] [data-test=decision-result]`), /通过/)
    // An owner sees the result on the phone.
    const dwelling = (await admin('GET', `/api/v1/estates/${id}/dwellings?per_page=50`)).items.find((d) => d.owners.length)
    const owner = (await admin('POST', `/api/v1/estates/${id}/dwellings/${dwelling.id}/reveal`)).owners[0]
    const invitation = (await admin('POST', `/api/v1/estates/${id}/invitations`, { building_id: dwelling.building_id })).invitations.find((i) => i.dwelling_id === dwelling.id)
    const phoneContext = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: 'zh-CN' })
    const phone = await phoneContext.newPage()
    await phone.goto(`${BASE}/m/#/bind?code=${invitation.code}`)
    await phone.fill('[data-test=bind-name] input', owner.name)
    await phone.fill('[data-test=bind-phone] input', owner.phone)
    await phone.click('[data-test=bind-submit]')
    await phone.waitForSelector(`[data-test=estate-${id}]`)
    // The desk confirms the owner against the property certificate.
    const me = await phone.evaluate(async () => (await (await fetch('/api/v1/auth/me')).json()).id)
    await admin('POST', `/api/v1/estates/${id}/residents/verify`, { dwelling_id: dwelling.id, user_id: me, certificate_no: '闽(2018)惠安县不动产权第0004321号' })
    await phone.goto(`${BASE}/m/#/votes/${decision.id}`)
    await phone.waitForSelector('[data-test=m-result]')
    assert.match(await phone.textContent('[data-test=m-result]'), /已通过/)
    await phone.screenshot({ path: `${SHOTS}/phone-result.png` })
    await phoneContext.close()
    await admin('POST', `/api/v1/estates/${id}/scheme/versions`, { stage: 'final' })
    await advance(page, id, 'decided', '二轮公示完成 → 已表决', '业主表决通过')
  }

  // Approval: a project, its merged design approval, every step finished today.
  if ((await status()) === 'decided') {
    const { project } = await admin('POST', '/api/v1/projects', { code: `WALK-${id}`, name: '北关片区改造', estate_ids: [id] })
    const path = `/api/v1/projects/${project.id}/approval`
    await admin('POST', path, { merge_design: true, start: today() })
    for (let i = 0; i < 10; i++) {
      const open = (await admin('GET', path)).filter((s) => s.started_on && !s.done_on)
      if (!open.length) break
      for (const s of open) await admin('POST', `${path}/${s.code}`, { date: today(), document_no: `惠建审〔2026〕${s.code}号` })
    }
    await advance(page, id, 'approved', '已表决 → 已审批', '审批办结')
  }

  // Construction: a node done in a day, the four checkpoints passed, completion.
  if ((await status()) === 'approved') {
    const contractor = await client('contractor')
    const node = await contractor('POST', `/api/v1/estates/${id}/construction/nodes`, { name: '外墙保温', planned_start: today(), planned_end: today(), weight: 100 })
    await contractor('PUT', `/api/v1/schedule-nodes/${node.id}`, { progress_pct: 100 })
    await advance(page, id, 'in_construction', '已审批 → 施工中', '开工')
    const supervisor = await client('supervisor')
    for (const checkpoint of ['design', 'team_selection', 'material_entry', 'site_control']) {
      await supervisor('POST', `/api/v1/estates/${id}/construction/inspections`, { checkpoint, passed: true })
    }
    await advance(page, id, 'completed', '施工中 → 已竣工', '竣工')
  }

  // Acceptance: every party signs with its own account.
  if ((await status()) === 'completed') {
    await admin('POST', `/api/v1/estates/${id}/acceptance`, {})
    const parties = { contractor: 'contractor', supervisor: 'supervisor', designer: 'designer', bureau: 'county_staff', street: 'street_staff', community: 'community_staff', residents: 'resident' }
    // The residents sign through a representative named on the acceptance (chosen by the owners).
    const resident = await (await client('resident'))('GET', '/api/v1/auth/me')
    const candidates = await admin('GET', `/api/v1/estates/${id}/acceptance/candidates`)
    assert.ok(candidates.some((c) => c.user_id === resident.id), 'the demo resident may represent the residents')
    await admin('PUT', `/api/v1/estates/${id}/acceptance/representatives`, { representatives: [{ user_id: resident.id, chosen_by: 'owners' }] })
    const { missing } = await admin('GET', `/api/v1/estates/${id}/acceptance`)
    for (const party of missing) await (await client(parties[party]))('POST', `/api/v1/estates/${id}/acceptance/signatures`, { signatory: party })
    await advance(page, id, 'accepted', '已竣工 → 已验收', '验收合格')
  }

  // The review (回头看) with no findings, then upkeep.
  if ((await status()) === 'accepted') {
    await admin('POST', `/api/v1/estates/${id}/review`, { summary: '走访 30 户，未发现问题', tasks: [] })
    await advance(page, id, 'reviewed', '已验收 → 已回头看', '回头看完成')
  }
  if ((await status()) === 'reviewed') await advance(page, id, 'in_upkeep', '已回头看 → 长效管理', '转入长效管理')

  assert.equal(await status(), 'in_upkeep')
  // The timeline shows its last three steps; all of them on demand.
  await page.click('[data-test=timeline-all]')
  await page.waitForFunction(() => document.querySelectorAll('[data-test=timeline] .el-timeline-item').length > 3)
  const timeline = await page.textContent('[data-test=timeline]')
  for (const stage of ['已体检', '已排序', '列入计划', '方案编制', '一轮公示完成', '二轮公示完成', '已表决', '已审批', '施工中', '已竣工', '已验收', '已回头看', '长效管理']) {
    assert.ok(timeline.includes(stage), `the timeline shows ${stage}`)
  }
  const archive = await admin('GET', `/api/v1/estates/${id}/archive`)
  const records = archive.sections.flatMap((s) => s.records)
  for (const r of ['assessment', 'final_scheme', 'vote_result', 'acceptance', 'review']) assert.ok(records.includes(r), `the archive holds ${r}: ${records}`)
  await page.screenshot({ path: `${SHOTS}/walk.png`, fullPage: false })
  await page.context().close()
})
