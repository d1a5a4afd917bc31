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

test('staff ask the needs, post a notice and set up a vote; an owner binds with the code on a phone, answers, objects, votes and sees the count', async () => {
  // The community's desk: an estate of 北关社区, a notice on the board and an owners' decision.
  const desk = await signIn(browser, 'county_staff')
  const { id, building, dwelling, owner } = await desk.evaluate(async () => {
    const get = async (u) => (await fetch(u)).json()
    const id = (await get('/api/v1/estates?region=350521100001&sort=id&per_page=1')).items[0].id
    const building = (await get(`/api/v1/estates/${id}/buildings`))[0].id
    const dwellings = (await get(`/api/v1/estates/${id}/dwellings?building_id=${building}&per_page=100`)).items
    const dwelling = dwellings.find((d) => d.owners.length > 0)
    const revealed = await (await fetch(`/api/v1/estates/${id}/dwellings/${dwelling.id}/reveal`, { method: 'POST' })).json()
    return { id, building, dwelling, owner: revealed.owners[0] }
  })
  await desk.goto(`${BASE}/estates/${id}?tab=decide`)
  await desk.waitForSelector('[data-test=voice]')
  await desk.click('[data-test=notice-new]')
  await desk.click('[data-test=notice-round]')
  await desk.click('.el-select-dropdown__item:has-text("其他公示")')
  await desk.fill('[data-test=notice-title]', '停车位与儿童游乐场布局征求意见')
  await desk.click('[data-test=notice-post]')
  await desk.waitForSelector('[data-test=voice] .notice')
  assert.match(await desk.textContent('[data-test=voice] .notice'), /停车位与儿童游乐场布局征求意见.*(公示中|未开始)/)

  // A needs survey from the template (willingness, needs, the contested yard, satisfaction).
  await desk.click('[data-test=tab-residents]')
  await desk.click('[data-test=survey-new]')
  await desk.click('[data-test=survey-create]')
  await desk.waitForSelector('[data-test=survey-results]')
  const surveyId = await desk.evaluate(async (id) => (await (await fetch(`/api/v1/estates/${id}/surveys`)).json())[0].id, id)

  await desk.click('[data-test=tab-decide]')
  await desk.click('[data-test=decision-new]')
  await desk.fill('[data-test=decision-title]', '同意小区改造方案')
  // Without an issued version of the scheme (another test may have issued one on this estate), a
  // vote on the scheme is refused, saying so; this vote is not on the scheme.
  const issued = await desk.evaluate(async (id) => (await (await fetch(`/api/v1/estates/${id}/scheme`)).json()).issued.length, id)
  if (!issued) {
    await desk.click('[data-test=decision-create]')
    await desk.waitForSelector('.el-message--error >> text=方案尚未发布任何版本')
  }
  await desk.click('[data-test=decision-on-scheme]')
  await desk.click('[data-test=decision-create]')
  await desk.waitForSelector('[data-test=decisions] .decision')
  const decisionId = await desk.evaluate(async (id) => (await (await fetch(`/api/v1/estates/${id}/decisions`)).json())[0].id, id)
  assert.match(await desk.textContent(`[data-test=decision-${decisionId}]`), /同意小区改造方案.*表决中/)
  const codes = await desk.evaluate(async ({ id, building }) => {
    const res = await fetch(`/api/v1/estates/${id}/invitations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ building_id: building }) })
    return (await res.json()).invitations
  }, { id, building })
  const code = codes.find((c) => c.dwelling_id === dwelling.id).code

  // The owner's phone: opens the slip's link, binds with the name and number in the register.
  const phoneContext = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: 'zh-CN' })
  const phone = await phoneContext.newPage()
  await phone.goto(`${BASE}/m/#/bind?code=${code}`)
  await phone.waitForSelector('[data-test=bind-form]')
  assert.equal(await phone.inputValue('[data-test=bind-code] input'), code, 'the link carries the code')
  await phone.fill('[data-test=bind-name] input', owner.name)
  await phone.fill('[data-test=bind-phone] input', owner.phone)
  await phone.click('[data-test=bind-submit]')
  await phone.waitForSelector(`[data-test=estate-${id}]`)
  // What was typed is only a claim: a resident until the desk checks the property certificate.
  assert.doesNotMatch(await phone.textContent(`[data-test=estate-${id}]`), /业主/)
  await desk.click('[data-test=tab-residents]')
  await desk.reload()
  await desk.waitForSelector(`[data-test=bound-residents] >> text=自称业主，待核验产权证`)
  const me = await phone.evaluate(async () => (await (await fetch('/api/v1/auth/me')).json()).id)
  await desk.fill(`input[data-test=certificate-${dwelling.id}-${me}]`, '闽(2020)惠安县不动产权第0001234号')
  await desk.click(`[data-test=verify-owner-${dwelling.id}-${me}]`)
  await desk.waitForSelector('[data-test=bound-residents] >> text=产权证核验')
  await desk.locator('[data-test=bound-residents]').screenshot({ path: `${SHOTS}/owners-verified.png` })
  await phone.reload()
  await phone.waitForSelector(`[data-test=estate-${id}]`)
  assert.match(await phone.textContent(`[data-test=estate-${id}]`), /业主/)
  // The stage arrives after the dwellings: wait for it rather than read the cell too early.
  await phone.waitForFunction(() => /已普查|已体检|已排序|列入计划|方案编制|公示|已表决|已审批|施工中|已竣工|已验收|已回头看|长效管理/.test(document.querySelector('[data-test=stage]')?.textContent || ''))

  // The needs survey on the phone.
  await phone.click('[data-test=tab-surveys]')
  await phone.click(`[data-test=m-survey-${surveyId}]`)
  await phone.waitForSelector('[data-test=m-q-q1]')
  await phone.click('[data-test=m-survey-submit]')
  await phone.waitForSelector('[data-test=m-q-q1] >> text=必填')
  await phone.click('[data-test=m-q-q1] >> text=愿意')
  await phone.click('[data-test=m-q-q3] >> text=加装电梯')
  await phone.click('[data-test=m-q-q4] >> text=儿童游乐场')
  await phone.click('[data-test=m-survey-submit]')
  await phone.waitForSelector('[data-test=m-survey-done]')
  await phone.screenshot({ path: `${SHOTS}/phone-survey.png` })

  // A code binds once.
  const again = await phone.evaluate(async (code) => (await fetch('/api/v1/residents/bind', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code, name: 'x' }) })).status, code)
  assert.equal(again, 409)

  // An objection while the notice is on the board.
  await phone.click('[data-test=tab-notices]')
  const noticeId = await desk.evaluate(async (id) => (await (await fetch(`/api/v1/estates/${id}/notices`)).json())[0].id, id)
  // Posted today, the notice is on the board from today.
  await phone.waitForSelector(`[data-test=m-comment-${noticeId}]`)
  await phone.fill(`[data-test=m-comment-${noticeId}] textarea`, '希望保留楼下的菜地')
  await phone.click(`[data-test=m-object-${noticeId}]`)
  await phone.waitForSelector(`[data-test=m-notice-${noticeId}] >> text=希望保留楼下的菜地`)

  // The vote: choose, confirm, get a receipt; the same dwelling cannot vote twice.
  await phone.click('[data-test=tab-votes]')
  // The list says when the vote closes and that this home has yet to vote.
  await phone.waitForSelector(`[data-test=m-decision-${decisionId}] [data-test=m-list-to-vote]`)
  assert.match(await phone.textContent(`[data-test=m-decision-${decisionId}]`), /截止/)
  await phone.click(`[data-test=m-decision-${decisionId}]`)
  await phone.waitForSelector('[data-test=m-vote-state]')
  assert.equal((await phone.textContent('[data-test=m-vote-state]')).trim(), '表决中')
  await phone.click('[data-test=m-choice-agree]')
  await phone.click('[data-test=m-vote]')
  await phone.click('.van-dialog__confirm')
  await phone.waitForSelector('[data-test=m-receipt]')
  await phone.waitForSelector('.van-dialog', { state: 'hidden' })
  assert.match(await phone.textContent('[data-test=m-receipt]'), /投票成功，凭证：第 1 张/)
  assert.match(await phone.textContent('[data-test=m-voted]'), /已投票：同意/)
  await phone.screenshot({ path: `${SHOTS}/phone-vote.png` })
  const twice = await phone.evaluate(async ({ decisionId, dwelling }) => {
    const res = await fetch(`/api/v1/decisions/${decisionId}/ballots`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ dwelling_id: dwelling, choice: 'disagree' }) })
    return [res.status, (await res.json()).detail]
  }, { decisionId, dwelling: dwelling.id })
  assert.deepEqual(twice, [409, 'this dwelling has already voted (online)'])
  await phone.click('[data-test=tab-votes]')
  await phone.waitForSelector(`[data-test=m-decision-${decisionId}] [data-test=m-list-voted]`)

  // A repair request from the phone.
  await phone.click('[data-test=tab-requests]')
  await phone.fill('[data-test=m-request-text] textarea', '3单元楼道灯不亮')
  await phone.click('[data-test=m-request-file]')
  await phone.waitForSelector('text=3单元楼道灯不亮')

  // Back at the desk: the turnout moved, the objection gets its answer, the chain verifies.
  await desk.click('[data-test=tab-decide]')
  await desk.reload()
  await desk.waitForSelector(`[data-test=turnout-area-${decisionId}]`)
  const turnout = await desk.textContent(`[data-test=decision-${decisionId}]`)
  assert.match(turnout, /同意 1/)
  const commentId = await desk.evaluate(async (id) => (await (await fetch(`/api/v1/estates/${id}/notices`)).json())[0].comments[0].id, id)
  assert.match(await desk.textContent('[data-test=voice] .notice'), /异议.*希望保留楼下的菜地/)
  await desk.fill(`[data-test=answer-${commentId}]`, '菜地保留在 3 号楼北侧')
  await desk.click(`[data-test=answer-send-${commentId}]`)
  await desk.waitForSelector('[data-test=voice] >> text=菜地保留在 3 号楼北侧')
  const requestId = await desk.evaluate(async (id) => (await (await fetch(`/api/v1/estates/${id}/requests`)).json())[0].id, id)
  await desk.click('[data-test=tab-residents]')
  await desk.fill(`[data-test=request-answer-${requestId}]`, '已更换灯具')
  await desk.click(`[data-test=request-resolve-${requestId}]`)
  await desk.waitForSelector('[data-test=request-list] >> text=已答复')
  await phone.reload()
  await phone.waitForSelector(`[data-test=m-request-${requestId}] >> text=已答复`)
  assert.match(await phone.textContent(`[data-test=m-request-${requestId}]`), /已更换灯具/)

  await desk.click('[data-test=survey-list] .el-table__body tr:first-child')
  await desk.waitForSelector('[data-test=demand-list] >> text=加装电梯')
  assert.match(await desk.textContent('[data-test=survey-results]'), /1 户答卷/)
  assert.match(await desk.textContent('[data-test=willingness]'), /改造意愿 100.0%/)
  await desk.click('[data-test=tab-decide]')
  await desk.click(`[data-test=decision-verify-${decisionId}]`)
  await desk.waitForSelector(`[data-test=verified-${decisionId}]`)
  assert.match(await desk.textContent(`[data-test=verified-${decisionId}]`), /选票链完整：1 张选票/)
  await desk.screenshot({ path: `${SHOTS}/decision-desk.png`, fullPage: false })

  // The county publishes this estate's progress page, confirmed: anyone with the link sees it, signed in or not.
  await desk.click('[data-test=public-switch]')
  await desk.waitForSelector('.el-message-box >> text=确定公开本小区的进度页')
  await desk.click('.el-message-box__btns .el-button--primary')
  await desk.waitForSelector('[data-test=public-link]')
  assert.match(await desk.textContent('[data-test=public-source]'), /本小区单独设置（辖区默认：不公开）/)
  const href = await desk.getAttribute('[data-test=public-link]', 'href')
  const visitor = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, locale: 'zh-CN' })
  const pub = await visitor.newPage()
  await pub.goto(`${BASE}${href}`)
  await pub.waitForSelector('[data-test=public-page]')
  assert.match(await pub.textContent('[data-test=public-stage]'), /当前阶段\s*(已普查|已体检|已排序|列入计划|方案编制|一轮公示完成|二轮公示完成|已表决)/)
  await pub.screenshot({ path: `${SHOTS}/public-page.png` })
  // Another code in the same tab (no reload) shows that estate, or says it is not published.
  const name = await pub.textContent('[data-test=public-page]')
  await pub.evaluate(() => { window.location.hash = '#/p/NO-SUCH-ESTATE' })
  await pub.waitForSelector('text=该小区暂未公开改造进度')
  assert.equal(await pub.locator('[data-test=public-page]').count(), 0)
  await pub.goBack()
  await pub.waitForSelector('[data-test=public-page]')
  assert.equal(await pub.textContent('[data-test=public-page]'), name)
  await visitor.close()
  await phoneContext.close()
  await desk.context().close()
})

test('a signed-out phone opening /m/ is taken to the binding page without an error', async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: 'zh-CN' })
  const page = await context.newPage()
  const errors = []
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`))
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().includes('401')) errors.push(`console: ${m.text()}`)
  })
  await page.goto(`${BASE}/m/`)
  await page.waitForSelector('[data-test=bind-form]')
  assert.match(page.url(), /#\/bind/)
  assert.deepEqual(errors, [])
  await context.close()
})
