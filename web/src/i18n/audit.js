// Chinese names of what the audit log records: its actions and the kinds of record they touch.
// The server keeps stable codes; English shows the code in words. Unknown codes show as they are.

import { i18n } from './index.js'

const ACTIONS = {
  create: '新增', update: '修改', import: '导入', attach: '关联小区', set_password: '设置密码', read_personal_data: '查看个人信息',
  add_estates: '列入计划', add_evidence: '上传整改佐证', add_party: '添加参建单位', add_photos: '上传照片', add_schedule_node: '新增施工节点',
  advance: '推进阶段', allocate: '下达资金', answer: '答复意见', approve: '审批', ballot_refused: '拒收选票', bind: '居民绑定',
  bind_by_phone: '手机号绑定', carry_over: '结转', close: '结束', comment: '提交意见', contribute: '登记居民出资', deliver_design_change: '交付设计变更',
  file: '归档', file_document: '归档文件', finish: '完成', finish_step: '完成审批环节', handle: '办理诉求', hold_review: '组织回头看',
  issue: '发布方案', issue_codes: '生成邀请码', name_representatives: '确定居民代表', open: '发起', permit_exception: '许可前施工例外',
  post: '发布公示', rate: '评价', record_inspection: '记录检查', record_material: '记录材料进场', refuse_upkeep_spending: '退回维修资金支出',
  report_progress: '报告进度', request: '申请拨付', request_design_change: '申请设计变更', request_upkeep_spending: '申请维修资金支出',
  reverse: '冲正', save: '保存', save_draft: '保存草稿', set: '设置', set_contract: '设置合同额', set_funding_plan: '设置筹资计划',
  sign: '签字', spend_upkeep: '维修资金支出', credit_upkeep: '维修资金收入', start_approval: '启动审批', verify_owner: '核验业主',
  write_site_log: '填写施工日志',
}

const ENTITIES = {
  acceptance: '竣工验收', allocation: '资金下达', archive_line: '档案清单', assessment: '体检', building: '楼栋', checklist_item: '体检清单',
  contribution: '居民出资', decision: '业主表决', decision_rules: '表决规则', design_change: '设计变更', disbursement: '资金拨付',
  dwelling: '房屋', estate: '小区', estates: '小区清单', estate_public_page: '小区公开页', ledger_entry: '台账分录', menu_item: '改造内容清单',
  notice: '公示', notice_comment: '公示意见', plan: '年度计划', project: '项目', public_pages: '公开页设置', ranking: '改造排序',
  rectification: '整改任务', schedule_node: '施工节点', scheme: '改造方案', service_request: '居民诉求', survey: '调查',
  upkeep_movement: '维修资金收支', upkeep_request: '维修资金支出申请', user: '用户',
}

const words = (code) => String(code || '').replaceAll('_', ' ')

/** The name of an audited action in the UI's language. */
export function actionLabel(code, locale) {
  return locale?.startsWith('zh') ? ACTIONS[code] || code : words(code)
}

/** The name of an audited kind of record in the UI's language. */
export function entityLabel(code, locale) {
  return locale?.startsWith('zh') ? ENTITIES[code] || code : words(code)
}

/** The actions offered as filters: the common ones first. */
export const FILTER_ACTIONS = ['create', 'update', 'import', 'attach', 'set_password', 'read_personal_data', 'approve', 'request',
  'reverse', 'request_upkeep_spending', 'spend_upkeep', 'refuse_upkeep_spending', 'permit_exception', 'verify_owner', 'sign']

/** The kinds of record offered as filters. */
export const FILTER_ENTITIES = ['estate', 'building', 'dwelling', 'user', 'disbursement', 'allocation', 'ledger_entry',
  'upkeep_request', 'upkeep_movement', 'decision', 'notice', 'project']

// Where the UI's messages name a stored code, by the field that holds it (and the record's kind
// where one field means different things): the first path that has the code wins.
const WORD_PATHS = {
  status: { service_request: ['requests.status'], disbursement: ['funds.statuses'], upkeep_request: ['funds.requestStatuses'], '': ['status'] },
  from_status: { '': ['status'] },
  to_status: { '': ['status'] },
  stage: { '': ['scheme.stage', 'status'] },
  role: { '': ['roles'] },
  category: { service_request: ['requests.category'], '': ['funds.category', 'requests.category'] },
  categories: { '': ['funds.category'] },
  source: { '': ['funds.sources'] },
  kind: { notice_comment: ['notices.kind'], '': ['notices.kind', 'funds.kinds'] },
  matter: { '': ['decisions.matters'] },
  method: { '': ['funds.methods'] },
  payer: { '': ['scheme.payers'] },
}

function word(entity, key, code) {
  const paths = WORD_PATHS[key]
  if (!paths || typeof code !== 'string') return null
  for (const base of paths[entity] || paths['']) {
    if (i18n.global.te(`${base}.${code}`)) return i18n.global.t(`${base}.${code}`)
  }
  return null
}

// Money is kept in fen: shown in yuan.
const isMoney = (key) => key === 'amount' || key.endsWith('_fen')

function shown(v, key, entity, locale) {
  const zh = locale?.startsWith('zh')
  if (v === undefined || v === null || v === '') return '—'
  if (typeof v === 'boolean') return zh ? (v ? '是' : '否') : (v ? 'yes' : 'no')
  if (typeof v === 'number' && isMoney(key)) return `${(v / 100).toLocaleString(locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 })} ${zh ? '元' : 'yuan'}`
  if (Array.isArray(v)) {
    if (v.every((x) => x === null || typeof x !== 'object')) return v.map((x) => word(entity, key, x) ?? String(x)).join(zh ? '、' : ', ') || '—'
    // A list of records (a scheme's changed lines…): how many; the raw record below has them.
    return zh ? `${v.length} 项` : `${v.length} item${v.length === 1 ? '' : 's'}`
  }
  if (typeof v === 'object') return zh ? `${Object.keys(v).length} 项` : `${Object.keys(v).length} fields`
  return word(entity, key, v) ?? String(v)
}

function parsed(json) {
  if (!json) return {}
  try {
    const v = JSON.parse(json)
    return v && typeof v === 'object' && !Array.isArray(v) ? v : { value: v }
  } catch {
    return { value: json }
  }
}

/**
 * What a record's before and after say, field by field, in words: `{ key, before, after, changed }`,
 * changed fields first. `label` names a field in the UI's language; `entity` is the record's kind
 * (a status means one thing on a request, another on a payment).
 */
export function changes(beforeJson, afterJson, label, locale, entity = '') {
  const before = parsed(beforeJson)
  const after = parsed(afterJson)
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])]
  const rows = keys.map((k) => {
    const b = shown(before[k], k, entity, locale)
    const a = shown(after[k], k, entity, locale)
    return { key: k, field: label(k), before: b, after: a, changed: beforeJson && afterJson ? b !== a : true }
  })
  return rows.sort((x, y) => Number(y.changed) - Number(x.changed))
}

/** One line for the list: the first changed fields, e.g. `状态：ranked → in_plan`. */
export function changeSummary(rows, locale) {
  const colon = locale?.startsWith('zh') ? '：' : ': '
  const changed = rows.filter((r) => r.changed && r.key !== 'updated_at')
  const line = changed.slice(0, 2).map((r) => (r.before === '—' ? `${r.field}${colon}${r.after}` : `${r.field}${colon}${r.before} → ${r.after}`))
  const more = changed.length - line.length
  return line.join(locale?.startsWith('zh') ? '；' : '; ') + (more > 0 ? (locale?.startsWith('zh') ? ` 等 ${changed.length} 项` : ` (+${more})`) : '')
}
