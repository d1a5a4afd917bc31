// Refusals in the user's language, by their stable code. The API sends every refusal as a code
// with named parameters (and an English sentence for integrations); the sentences in both
// languages live in one catalogue, crates/domain/src/reasons.json, which the server and the CLI
// read too. A test on the server checks every code the source uses is there, with its parameters.
import catalogue from '../../../crates/domain/src/reasons.json'

// Fills `{name}` and `{name|terms}` (each of a comma-separated list named by the language's term list).
function render(template, params, zh) {
  return template.replace(/\{(\w+)(?:\|(\w+))?\}/g, (whole, name, terms) => {
    const value = params?.[name]
    if (value === undefined || value === null) return whole
    const dict = terms ? (zh ? catalogue.terms : catalogue.terms_en)?.[terms] : null
    if (!dict) return String(value)
    return String(value).split(', ').map((v) => dict[v] || v).join(zh ? '、' : ', ')
  })
}

/** The sentence of a code in a language, or null when the catalogue does not know the code. */
export function reasonText(code, params, locale) {
  const w = catalogue.reasons[code]
  if (!w) return null
  const zh = !locale || locale.startsWith('zh')
  return render(zh ? w.zh : w.en, params || {}, zh)
}

/**
 * A refusal in the user's language. Takes what the API sent: a field error or import row
 * ({code, params, reason}), a refusal object ({code, params}), an ApiError (its problem), or text
 * as is (a message that did not come from the API).
 */
export function translateReason(x, locale) {
  if (!x) return x
  if (typeof x === 'string') return x
  if (x.problem && typeof x.problem === 'object') return problemText(x, locale, { withField: true })
  if (x.code) return reasonText(x.code, x.params, locale) ?? x.reason ?? x.detail ?? x.code
  return x.reason ?? x.message ?? String(x)
}

// What to tell the user about a failed call: the first field the API named ("field: reason", or
// just the reason where the field is obvious on the form), else the problem's detail; translated.
// The fields a person fills in, by their API name, as the forms call them.
const FIELDS = {
  estate_ids: '小区', allocation_id: '资金', basis: '付款依据', project_id: '项目', category: '类别', respondent: '反映人',
  title: '标题', body: '内容', scheme_version: '方案版本', starts_on: '开始日期', working_days: '工作日', text: '内容', author: '提出人',
  certificate_no: '不动产权证书号', reason: '理由', document_no: '批复文号', confirm: '确认', amount: '金额', memo: '说明', payee: '收款单位',
  display_name: '姓名', username: '用户名', password: '密码', current: '当前密码', phone: '电话', region_code: '行政区划', role: '角色',
  name: '名称', code: '编码', closes_at: '截止时间', opens_at: '开始时间', scope: '表决范围', matter: '事项类别', choice: '意见', voter: '签名人',
  signatory: '签字方', note: '说明', file: '文件', date: '日期', start: '开始日期', purpose: '用途', source: '来源', year: '年度',
  planned_start: '计划开始日期', planned_end: '计划完成日期', actual_start: '实际开始日期', actual_end: '实际完成日期',
  aliases: '别名', answer: '答复', answers: '答卷', build_year: '建成年份', building_id: '楼栋', checkpoint: '关口', closes_on: '截止日期',
  community_code: '社区', company: '单位', contact: '联系人', day: '日期', days: '天数', deadline: '整改期限', due_on: '期限',
  decision_id: '表决', document_id: '文件', dwelling_id: '房屋', estate_id: '小区', exclusive_area_m2: '专有面积', finding: '问题',
  findings: '体检记录', floor: '楼层', floor_area_m2: '建筑面积', floors: '层数', from: '起', to: '至', households: '户数',
  items: '改造内容', menu_code: '改造内容', kind: '类型', label_en: '英文名称', label_zh: '中文名称', lat: '纬度', lon: '经度',
  level: '层级', lines: '资金计划', method: '方式', name_zh: '名称', occupancy: '居住情况', on_scheme: '方案表决', outline: '轮廓',
  owner: '责任账号', owners: '业主', ownership_type: '产权类型', paid_on: '付款日期', payer: '出资方', photos: '照片',
  progress_pct: '进度', proposal: '提议', proxy_document_id: '委托书', quantity: '数量', questions: '题目', region: '区划',
  representatives: '居民代表', round: '公示轮次', section: '档案阶段', sheet: '工作表', signatories: '签字方', spec: '规格',
  special_matters: '特别事项', stage: '版本阶段', stairwell: '单元', stairwells: '单元数', status: '状态', structure: '结构',
  summary: '情况', unit: '单位', unit_price_fen: '单价', user_id: '账号', usernames: '账号', weather: '天气', weight: '权重',
  weights: '权重', correction_reason: '更正理由', supplier: '供应商', material: '材料', certificate: '合格证', rating: '评价',
  building_count: '楼栋数', floor_area: '建筑面积', management_status: '物业管理', person_in_charge: '负责人', targets: '目标',
  estate: '小区', field: '字段', ends_on: '截止日期', total_fen: '总金额', cost_fen: '金额', comment_id: '意见', merge_design: '合并审批',
  active: '启用', changes: '改动', from_status: '原阶段', to_status: '新阶段', ballots: '选票', entries: '分录', count: '数量', refused: '拒绝原因', added: '数量', from_plan: '来源计划',
  zh: '中文名称', en: '英文名称', unit_kind: '首派单位', retired: '在用',
  checklist: '体检清单', rules: '表决规则', quorum: '参与门槛', approval: '同意门槛', channel: '渠道', contributions: '居民出资',
}

// `representatives[0].user_id` → the form's name of `user_id` (or of `representatives`), else the field as sent.
function fieldName(field, locale) {
  // English: the API name in words (`starts_on` → "starts on"), the last part of a path.
  if (!locale?.startsWith('zh')) return String(field).split(/[.[\]]+/).filter((p) => p && !/^\d+$/.test(p)).pop()?.replaceAll('_', ' ') ?? field
  const parts = String(field).split(/[.[\]]+/).filter((p) => p && !/^\d+$/.test(p))
  for (const p of parts.reverse()) if (FIELDS[p]) return FIELDS[p]
  return field
}

// The registry's stored columns (an import's change report names them), as the templates call them.
const REGISTRY_FIELDS = {
  name: '小区名称', aliases: '别名', address: '地址', community_code: '社区代码', lon: '经度', lat: '纬度', outline: '轮廓',
  build_year: '建成年份', building_count: '楼栋数', households: '户数', floor_area: '建筑面积', ownership_type: '产权类型',
  management_status: '物业管理', has_owners_committee: '业委会', person_in_charge: '负责人', phone: '联系电话', owners: '业主',
}

/** The name of a stored registry column, in the UI's language. */
export function fieldLabel(field, locale) {
  if (locale?.startsWith('zh') && REGISTRY_FIELDS[field]) return REGISTRY_FIELDS[field]
  return fieldName(field, locale)
}

export function problemText(err, locale, { withField = true } = {}) {
  const problem = err?.problem || {}
  const first = problem.errors?.[0]
  if (!first) {
    if (problem.code) return reasonText(problem.code, problem.params, locale) ?? err.message
    return err?.message
  }
  const reason = translateReason(first, locale)
  return withField ? `${fieldName(first.field, locale)}${locale?.startsWith('zh') ? '：' : ': '}${reason}` : reason
}

/** Every field problem of a failed call, each with its field's name, in the user's language. */
export function fieldProblems(err, locale) {
  const zh = !locale || locale.startsWith('zh')
  return (err?.problem?.errors || []).map((e) => `${fieldName(e.field, locale)}${zh ? '：' : ': '}${translateReason(e, locale)}`).join(zh ? '；' : '; ')
}
