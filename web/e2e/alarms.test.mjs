import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import mqtt from 'mqtt'
import { BASE, SHOTS, launch, signIn } from './helpers.mjs'

let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

// A device as it speaks: MQTT 5, QoS 1, each message signed with its key (docs/alarms.md).
async function device(serial, key) {
  const root = process.env.HUANXIN_E2E_MQTT_ROOT
  if (!root) throw new Error('needs HUANXIN_E2E_MQTT_ROOT (scripts/e2e sets it)')
  const client = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { protocolVersion: 5, clientId: `e2e-${serial}` })
  return {
    send: async (channel, body) => {
      const topic = `${root}/v1/${serial}/${channel}`
      const payload = JSON.stringify(body)
      const sig = createHmac('sha256', key).update(`${topic}\n${payload}`).digest('hex')
      await client.publishAsync(topic, payload, { qos: 1, properties: { userProperties: { sig } } })
    },
    close: () => client.endAsync(),
  }
}

test('a gas detector registered by the desk reports a leak over MQTT; the board shows it, the chart its readings, and the desk acknowledges, clears with a note and closes it', async () => {
  const desk = await signIn(browser, 'county_staff')
  const made = await desk.evaluate(async () => {
    const id = (await (await fetch('/api/v1/estates?region=350521100001&sort=id&per_page=1')).json()).items[0].id
    const r = await fetch(`/api/v1/estates/${id}/devices`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'gas_detector', serial: `GD-E2E-${Date.now()}`, place: '3号楼地下室' }),
    })
    return r.json()
  })
  assert.ok(made.device_key, JSON.stringify(made))
  const gas = await device(made.serial, made.device_key)
  // The ingest picks new devices up within seconds: readings until the leak is on the board.
  const t0 = Date.now()
  let seen = false
  for (let i = 0; i < 60 && !seen; i++) {
    await gas.send('telemetry', { ts: t0 - 30_000 + i * 1000, values: { lel: 32.5 } })
    seen = await desk.evaluate(async (serial) => {
      const list = await (await fetch('/api/v1/alarms?state=open&alarm_type=gas_leak')).json()
      return list.some((a) => a.serial === serial)
    }, made.serial)
    if (!seen) await new Promise((r) => setTimeout(r, 500))
  }
  await gas.close()
  assert.ok(seen, 'the leak reached the board')

  await desk.click('[data-test=nav-alarms]')
  await desk.waitForSelector('[data-test=alarm-list] .el-table__row')
  const row = desk.locator('[data-test=alarm-list] .el-table__row', { hasText: '3号楼地下室' })
  assert.match(await row.textContent(), /紧急.*燃气泄漏.*可燃气体探测器 · 3号楼地下室.*待处置/)
  assert.match(await desk.textContent('[data-test=alarm-count-critical]'), /紧急 [1-9]/)
  assert.match(await desk.textContent('[data-test=ingest-status]'), /设备接入正常/)

  await row.locator('[data-test=alarm-ack]').click()
  await desk.waitForSelector('.el-message--success')
  await desk.locator('[data-test=alarm-list] .el-table__row', { hasText: '处置中' }).first().waitFor()
  await row.locator('[data-test=alarm-clear]').click()
  await desk.fill('.el-message-box input', '已关阀通风，复测为 0%')
  await desk.click('.el-message-box .el-button--primary')
  await desk.waitForSelector('.el-message--success:has-text("已解除")')

  // Cleared alarms are off the open board; all states show it, with its chart and timeline.
  await desk.click('[data-test=alarm-state]')
  await desk.click('.el-select-dropdown__item:has-text("全部状态")')
  const cleared = desk.locator('[data-test=alarm-list] .el-table__row', { hasText: '3号楼地下室' })
  await cleared.locator('[data-test=alarm-close]').waitFor()
  await cleared.click()
  await desk.waitForSelector('[data-test=device-chart] canvas')
  // The drawer has slid in (for the screenshot).
  await desk.waitForFunction(() => Math.abs(document.querySelector('[data-test=alarm-drawer]')?.getBoundingClientRect().right - window.innerWidth) < 1)
  assert.match(await desk.textContent('[data-test=alarm-drawer]'), /county_staff 手动解除：已关阀通风，复测为 0%/)
  await desk.screenshot({ path: `${SHOTS}/alarms-board.png` })
  await desk.keyboard.press('Escape')
  await cleared.locator('[data-test=alarm-close]').click()
  await desk.waitForSelector('.el-message--success:has-text("已关闭")')
  await cleared.locator('.el-tag', { hasText: '已关闭' }).waitFor()
  await desk.context().close()
})

test('a leak on the property company\'s estate rings on the desk\'s live feed; the company acknowledges on the phone and clears with a photo; the desk sees who was told', async () => {
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: 'zh-CN' })
  const m = await phone.newPage()
  await m.goto(`${BASE}/m/#/alarms`)
  await m.fill('[data-test=m-alarms-user] input', 'property_company')
  await m.fill('[data-test=m-alarms-password] input', 'huanxin-demo')
  await m.click('[data-test=m-alarms-login]')
  await m.waitForSelector('.van-tabs')
  const estate = await m.evaluate(async () => (await (await fetch('/api/v1/estates?per_page=1')).json()).items[0])

  const desk = await signIn(browser, 'county_staff')
  await desk.click('[data-test=nav-alarms]')
  await desk.waitForSelector('[data-test=alarm-board]')
  const made = await desk.evaluate(async (id) => {
    const r = await fetch(`/api/v1/estates/${id}/devices`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'gas_detector', serial: `GD-FEED-${Date.now()}`, place: '5号楼车库' }),
    })
    return r.json()
  }, estate.id)
  assert.ok(made.device_key, JSON.stringify(made))
  const gas = await device(made.serial, made.device_key)
  const t0 = Date.now()
  // Readings until the desk's feed rings: the escalation's first step tells the property company and the desks.
  let rang = false
  for (let i = 0; i < 60 && !rang; i++) {
    await gas.send('telemetry', { ts: t0 - 30_000 + i * 1000, values: { lel: 41 } })
    rang = await desk.locator('.el-notification', { hasText: '燃气泄漏' }).first().isVisible()
    if (!rang) await new Promise((r) => setTimeout(r, 500))
  }
  await gas.close()
  assert.ok(rang, 'the desk heard of the leak on its live feed')
  assert.match(await desk.locator('.el-notification', { hasText: '燃气泄漏' }).first().textContent(), new RegExp(estate.name))
  // The map shows the estate with an open alarm; its badge opens the board on that estate.
  await desk.click('[data-test=alarm-on-map]')
  const badge = desk.locator(`[data-test=map-alarm][title^="${estate.name}"]`)
  await badge.waitFor()
  assert.match(await badge.getAttribute('class'), /alarm-critical/)
  await desk.screenshot({ path: `${SHOTS}/alarms-map.png` })
  await badge.click()
  await desk.locator('[data-test=alarm-estate-filter]', { hasText: estate.name }).waitFor()

  // On the phone: the alarm is listed; acknowledge, then clear with what was found and a photo.
  const item = m.locator('.van-cell', { hasText: '5号楼车库' })
  await item.waitFor()
  await item.click()
  await m.click('[data-test=m-alarm-ack]')
  await m.locator('[data-test=m-alarm-state]', { hasText: '处置中' }).waitFor()
  await m.fill('[data-test=m-alarm-note] textarea', '燃气表后阀门漏气，已关阀通风，复测 0%')
  // A real picture (one red pixel), so that both pages show it.
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64')
  await m.setInputFiles('[data-test=m-alarm-photo-input] input[type=file]', { name: 'scene.png', mimeType: 'image/png', buffer: png })
  await m.click('[data-test=m-alarm-clear]')
  await m.locator('[data-test=m-alarm-state]', { hasText: '已解除' }).waitFor()
  await m.locator('[data-test=m-alarm-photos] img').first().waitFor()
  await m.screenshot({ path: `${SHOTS}/alarms-phone.png` })

  // The desk: the alarm's timeline names who was told and how; the photo is there.
  await desk.click('[data-test=alarm-state]')
  await desk.click('.el-select-dropdown__item:has-text("全部状态")')
  await desk.locator('[data-test=alarm-list] .el-table__row', { hasText: '5号楼车库' }).click()
  await desk.locator('[data-test=alarm-told]').first().waitFor()
  const timeline = await desk.textContent('[data-test=alarm-drawer]')
  assert.match(timeline, /第 1 步 通知物业（值班台）/)
  assert.match(timeline, /property_company 手动解除：燃气表后阀门漏气/)
  assert.match(timeline, /可燃气体探测器告警规则采用国家默认规则/, 'the rules that raised it')
  await desk.locator('[data-test=alarm-photos] img').first().waitFor()
  await phone.close()
  await desk.context().close()
})

test('the desk imports an installer\'s device list: a wrong row is named by row and column and nothing is imported; the corrected list shows each key once', async () => {
  const desk = await signIn(browser, 'county_staff')
  const code = await desk.evaluate(async () => (await (await fetch('/api/v1/estates?region=350521100001&sort=id&per_page=1')).json()).items[0].code)
  await desk.click('[data-test=nav-alarms]')
  await desk.click('[data-test=device-import-open]')
  const run = Date.now()
  const csv = (rows) => ({ name: 'devices.csv', mimeType: 'text/csv', buffer: Buffer.from(['小区编码,设备类型,设备序列号,安装位置', ...rows].join('\n')) })
  await desk.setInputFiles('[data-test=device-import-file]', csv([`${code},烟感,SD-${run},1号楼楼道`, `${code},电饭煲,SD-${run}-2,2号楼楼道`]))
  const errors = desk.locator('[data-test=device-import-errors] .el-table__row')
  await errors.first().waitFor()
  assert.equal(await errors.count(), 1)
  assert.match(await errors.first().textContent(), /3设备类型电饭煲/)
  await desk.setInputFiles('[data-test=device-import-file]', csv([`${code},烟感,SD-${run},1号楼楼道`, `${code},AI摄像机,CAM-${run},东门`]))
  const done = desk.locator('[data-test=device-import-done] .el-table__row')
  await done.nth(1).waitFor()
  assert.match(await desk.textContent('[data-test=device-import]'), /已导入 2 台设备/)
  assert.match(await done.first().textContent(), new RegExp(`SD-${run}烟感[0-9a-f]{48}`))
  await desk.context().close()
})
