// The API client: JSON in and out, the session cookie for auth, problem+json errors as exceptions.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `HTTP ${status}`)
    this.status = status
    this.problem = problem || {}
  }
}

// Where a signed-out caller is sent: the desk's sign-in page, or the phone pages' binding page.
let onUnauthorized = () => window.location.assign('/login')
export function setUnauthorizedHandler(f) {
  onUnauthorized = f
}

/** For an app's error handler: a page that failed because the caller is signed out has already
 * been sent to the sign-in (or binding) page, so its error is not one to report. */
export function quietErrors(app) {
  app.config.errorHandler = (err) => {
    if (err instanceof ApiError && err.status === 401) return
    console.error(err)
  }
  return app
}

async function request(method, path, body, isForm = false) {
  const opts = { method, credentials: 'same-origin', headers: {} }
  if (body !== undefined) {
    if (isForm) {
      opts.body = body
    } else {
      opts.headers['content-type'] = 'application/json'
      opts.body = JSON.stringify(body)
    }
  }
  const res = await fetch(path, opts)
  if (res.status === 401 && !path.endsWith('/auth/login') && !path.endsWith('/auth/me')) {
    onUnauthorized()
  }
  if (res.status === 204) return null
  const type = res.headers.get('content-type') || ''
  const data = type.includes('json') ? await res.json() : await res.text()
  if (!res.ok) throw new ApiError(res.status, typeof data === 'object' ? data : { detail: data })
  return data
}

function qs(params) {
  const p = new URLSearchParams()
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') p.set(k, v)
  }
  const s = p.toString()
  return s ? `?${s}` : ''
}

export const api = {
  login: (username, password) => request('POST', '/api/v1/auth/login', { username, password }),
  logout: () => request('POST', '/api/v1/auth/logout'),
  changeOwnPassword: (body) => request('POST', '/api/v1/auth/password', body),
  me: () => request('GET', '/api/v1/auth/me'),
  estates: (filter) => request('GET', `/api/v1/estates${qs(filter)}`),
  estateSummary: () => request('GET', '/api/v1/estates/summary'),
  estate: (id) => request('GET', `/api/v1/estates/${id}`),
  updateEstate: (id, body) => request('PUT', `/api/v1/estates/${id}`, body),
  revealContact: (id) => request('POST', `/api/v1/estates/${id}/reveal`),
  revealOwners: (id, dwellingId) => request('POST', `/api/v1/estates/${id}/dwellings/${dwellingId}/reveal`),
  buildings: (id) => request('GET', `/api/v1/estates/${id}/buildings`),
  lifecycle: (id) => request('GET', `/api/v1/estates/${id}/lifecycle`),
  advance: (id, body) => request('POST', `/api/v1/estates/${id}/lifecycle`, body),
  assessment: (id) => request('GET', `/api/v1/estates/${id}/assessment`),
  saveAssessment: (id, body) => request('PUT', `/api/v1/estates/${id}/assessment`, body),
  rankings: () => request('GET', '/api/v1/rankings'),
  ranking: (id) => request('GET', `/api/v1/rankings/${id}`),
  createRanking: (body) => request('POST', '/api/v1/rankings', body),
  projects: () => request('GET', '/api/v1/projects'),
  project: (id) => request('GET', `/api/v1/projects/${id}`),
  createProject: (body) => request('POST', '/api/v1/projects', body),
  addParty: (id, body) => request('POST', `/api/v1/projects/${id}/parties`, body),
  approval: (id) => request('GET', `/api/v1/projects/${id}/approval`),
  startApproval: (id, body) => request('POST', `/api/v1/projects/${id}/approval`, body),
  finishStep: (id, code, body) => request('POST', `/api/v1/projects/${id}/approval/${code}`, body),
  late: () => request('GET', '/api/v1/late'),
  work: () => request('GET', '/api/v1/work'),
  regionsWork: () => request('GET', '/api/v1/work/regions'),
  regionRequests: (filter) => request('GET', `/api/v1/requests${qs(filter)}`),
  alarms: (filter) => request('GET', `/api/v1/alarms${qs(filter)}`),
  alarmStep: (id, step, body) => request('POST', `/api/v1/alarms/${id}/${step}`, body),
  ingestStatus: () => request('GET', '/api/v1/alarms/ingest'),
  alarmNotifications: (id) => request('GET', `/api/v1/alarms/${id}/notifications`),
  alarmPhotos: (id) => request('GET', `/api/v1/alarms/${id}/photos`),
  addAlarmPhotos: (id, photos) => {
    const form = new FormData()
    for (const p of photos || []) form.append('photos', p)
    return request('POST', `/api/v1/alarms/${id}/photos`, form, true)
  },
  alarmChains: (estateId) => request('GET', `/api/v1/estates/${estateId}/alarm-chains`),
  setAlarmChain: (estateId, type, steps) => request('PUT', `/api/v1/estates/${estateId}/alarm-chains/${encodeURIComponent(type)}`, { steps }),
  importDevices: (file) => {
    const form = new FormData()
    form.append('file', file)
    return request('POST', '/api/v1/devices/import', form, true)
  },
  alarmMap: () => request('GET', '/api/v1/alarms/map'),
  alarmRules: (estateId) => request('GET', `/api/v1/estates/${estateId}/alarm-rules`),
  setAlarmRules: (estateId, kind, rules) => request('PUT', `/api/v1/estates/${estateId}/alarm-rules/${kind}`, rules),
  alarmResponse: (q) => request('GET', `/api/v1/alarms/response${qs(q)}`),
  deviceTelemetry: (id, q) => request('GET', `/api/v1/devices/${id}/telemetry${qs(q)}`),
  checklist: (region) => request('GET', `/api/v1/checklist${qs({ region })}`),
  setChecklistItem: (region, code, body) => request('PUT', `/api/v1/checklist/${region}/${encodeURIComponent(code)}`, body),
  archiveChecklist: (region) => request('GET', `/api/v1/archive-checklist${qs({ region })}`),
  setArchiveLine: (region, body) => request('PUT', `/api/v1/archive-checklist/${region}`, body),
  menu: (region) => request('GET', `/api/v1/menu${qs({ region })}`),
  setMenuItem: (region, code, body) => request('PUT', `/api/v1/menu/${region}/${encodeURIComponent(code)}`, body),
  scheme: (id) => request('GET', `/api/v1/estates/${id}/scheme`),
  saveScheme: (id, body) => request('PUT', `/api/v1/estates/${id}/scheme`, body),
  issueScheme: (id, body) => request('POST', `/api/v1/estates/${id}/scheme/versions`, body),
  schemeDiff: (id, from, to) => request('GET', `/api/v1/estates/${id}/scheme/diff${qs({ from, to })}`),
  acceptance: (id) => request('GET', `/api/v1/estates/${id}/acceptance`),
  openAcceptance: (id, body) => request('POST', `/api/v1/estates/${id}/acceptance`, body),
  signAcceptance: (id, body) => request('POST', `/api/v1/estates/${id}/acceptance/signatures`, body),
  boundResidents: (id) => request('GET', `/api/v1/estates/${id}/residents`),
  verifyOwner: (id, body) => request('POST', `/api/v1/estates/${id}/residents/verify`, body),
  representativeCandidates: (id) => request('GET', `/api/v1/estates/${id}/acceptance/candidates`),
  setRepresentatives: (id, body) => request('PUT', `/api/v1/estates/${id}/acceptance/representatives`, body),
  review: (id) => request('GET', `/api/v1/estates/${id}/review`),
  holdReview: (id, body) => request('POST', `/api/v1/estates/${id}/review`, body),
  closeTask: (id, body) => request('POST', `/api/v1/rectifications/${id}/close`, body),
  rectificationSummary: () => request('GET', '/api/v1/rectifications/summary'),
  statistics: (q) => request('GET', `/api/v1/statistics${qs(q)}`),
  statisticsMonths: (q) => request('GET', `/api/v1/statistics/months${qs(q)}`),
  statisticsCounted: (q) => request('GET', `/api/v1/statistics/counted${qs(q)}`),
  statisticsExportUrl: (q) => `/api/v1/statistics/export.xlsx${qs(q)}`,
  statisticsPlaces: (q) => request('GET', `/api/v1/statistics/places${qs(q)}`),
  evaluationScheme: (q) => request('GET', `/api/v1/evaluations/scheme${qs(q)}`),
  setEvaluationScheme: (body) => request('PUT', '/api/v1/evaluations/scheme', body),
  evaluations: (q) => request('GET', `/api/v1/evaluations${qs(q)}`),
  evaluationSheet: (q) => request('GET', `/api/v1/evaluations/sheet${qs(q)}`),
  evaluationDocuments: (q) => request('GET', `/api/v1/evaluations/documents${qs(q)}`),
  saveEvaluation: (body) => request('PUT', '/api/v1/evaluations/sheet', body),
  submitEvaluation: (body) => request('POST', '/api/v1/evaluations/submit', body),
  reviewEvaluation: (body) => request('POST', '/api/v1/evaluations/review', body),
  evaluationsXlsxUrl: (q) => `/api/v1/evaluations/export.xlsx${qs(q)}`,
  reportForms: () => request('GET', '/api/v1/reports/forms'),
  reportSheet: (q) => request('GET', `/api/v1/reports/sheet${qs(q)}`),
  saveReport: (body) => request('PUT', '/api/v1/reports/sheet', body),
  submitReport: (id) => request('POST', `/api/v1/reports/${id}/submit`, {}),
  reviewReport: (id, body) => request('POST', `/api/v1/reports/${id}/review`, body),
  correctReport: (id, body) => request('POST', `/api/v1/reports/${id}/correct`, body),
  reportFilings: (q) => request('GET', `/api/v1/reports/filings${qs(q)}`),
  reportsAwaiting: () => request('GET', '/api/v1/reports/awaiting'),
  reportXlsxUrl: (q) => `/api/v1/reports/sheet.xlsx${qs(q)}`,
  subsidySplit: (body) => request('POST', '/api/v1/funds/subsidy-split', body),
  construction: (id) => request('GET', `/api/v1/estates/${id}/construction`),
  permitException: (id, body) => request('POST', `/api/v1/estates/${id}/construction/permit-exception`, body),
  addScheduleNode: (id, body) => request('POST', `/api/v1/estates/${id}/construction/nodes`, body),
  reportProgress: (nodeId, body) => request('PUT', `/api/v1/schedule-nodes/${nodeId}`, body),
  inspect: (id, body) => request('POST', `/api/v1/estates/${id}/construction/inspections`, body),
  requestDesignChange: (id, body) => request('POST', `/api/v1/estates/${id}/construction/design-changes`, body),
  deliverDesignChange: (changeId, body) => request('POST', `/api/v1/design-changes/${changeId}/deliver`, body),
  writeSiteLog: (id, fields, photos) => {
    const form = new FormData()
    for (const [k, v] of Object.entries(fields)) form.append(k, v)
    for (const p of photos) form.append('photos', p)
    return request('POST', `/api/v1/estates/${id}/construction/logs`, form, true)
  },
  recordMaterial: (id, body) => request('POST', `/api/v1/estates/${id}/construction/materials`, body),
  addEvidence: (taskId, photos) => {
    const form = new FormData()
    for (const p of photos) form.append('photos', p)
    return request('POST', `/api/v1/rectifications/${taskId}/evidence`, form, true)
  },
  projectProgress: (id) => request('GET', `/api/v1/projects/${id}/progress`),
  archive: (id) => request('GET', `/api/v1/estates/${id}/archive`),
  // Through XMLHttpRequest, not fetch: fetch cannot tell how much of a large drawing has gone.
  // `onProgress(sent, total)` follows the upload; `signal` cancels it (the promise then rejects
  // with an AbortError).
  fileDocument: (id, fields, file, { onProgress, signal } = {}) => {
    const form = new FormData()
    for (const [k, v] of Object.entries(fields)) form.append(k, v)
    form.append('file', file)
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest()
      xhr.open('POST', `/api/v1/estates/${id}/archive`)
      xhr.withCredentials = true
      if (onProgress) xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded, e.total)
      xhr.onload = () => {
        let data = null
        try {
          data = JSON.parse(xhr.responseText)
        } catch {
          data = { detail: xhr.responseText }
        }
        if (xhr.status === 401) onUnauthorized()
        if (xhr.status >= 200 && xhr.status < 300) resolve(data)
        else reject(new ApiError(xhr.status, data))
      }
      xhr.onerror = () => reject(new ApiError(0, { detail: '网络中断，文件没有上传完，未归档 (the connection failed; nothing was filed)' }))
      xhr.onabort = () => reject(new DOMException('upload cancelled', 'AbortError'))
      signal?.addEventListener('abort', () => xhr.abort())
      xhr.send(form)
    })
  },
  plans: () => request('GET', '/api/v1/plans'),
  plan: (id) => request('GET', `/api/v1/plans/${id}`),
  createPlan: (body) => request('POST', '/api/v1/plans', body),
  addToPlan: (id, estateIds, reason = '') => request('POST', `/api/v1/plans/${id}/estates`, { estate_ids: estateIds, reason }),
  carryOver: (id) => request('POST', `/api/v1/plans/${id}/carry-over`),
  dwellings: (id, params) => request('GET', `/api/v1/estates/${id}/dwellings${qs(params)}`),
  exportUrl: (filter) => `/api/v1/estates/export.xlsx${qs(filter)}`,
  templateUrl: (kind, ext) => `/api/v1/imports/${kind}/template.${ext}`,
  importFile: (kind, file, params) => {
    const form = new FormData()
    form.append('file', file)
    return request('POST', `/api/v1/imports/${kind}${qs(params)}`, form, true)
  },
  region: (code) => request('GET', `/api/v1/regions/${code}`),
  regionChildren: (code) => request('GET', `/api/v1/regions/${code}/children`),
  users: () => request('GET', '/api/v1/users'),
  createUser: (body) => request('POST', '/api/v1/users', body),
  roles: () => request('GET', '/api/v1/auth/roles'),
  audit: (filter) => request('GET', `/api/v1/audit${qs(filter)}`),
  bindCode: (body) => request('POST', '/api/v1/residents/bind', body),
  sendOtp: (body) => request('POST', '/api/v1/residents/otp', body),
  verifyOtp: (body) => request('POST', '/api/v1/residents/otp/verify', body),
  publicPages: (region) => request('GET', `/api/v1/public-pages/${region}`),
  estatePublic: (id) => request('GET', `/api/v1/estates/${id}/public-page`),
  setEstatePublic: (id, body) => request('PUT', `/api/v1/estates/${id}/public-page`, body),
  setPublicPages: (region, body) => request('PUT', `/api/v1/public-pages/${region}`, body),
  requests: (id) => request('GET', `/api/v1/estates/${id}/requests`),
  fileRequest: (id, body) => request('POST', `/api/v1/estates/${id}/requests`, body),
  handleRequest: (id, body) => request('POST', `/api/v1/requests/${id}/handle`, body),
  rateRequest: (id, body) => request('POST', `/api/v1/requests/${id}/rating`, body),
  serviceRequest: (id) => request('GET', `/api/v1/requests/${id}`),
  returnRequest: (id, body) => request('POST', `/api/v1/requests/${id}/return`, body),
  transferRequest: (id, body) => request('POST', `/api/v1/requests/${id}/transfer`, body),
  mergeRequest: (id, body) => request('POST', `/api/v1/requests/${id}/merge`, body),
  confirmRequestCategory: (id, body) => request('POST', `/api/v1/requests/${id}/category`, body),
  callbackRequest: (id, body) => request('POST', `/api/v1/requests/${id}/callback`, body),
  requestCategories: () => request('GET', '/api/v1/request-categories'),
  setRequestCategory: (region, code, body) => request('PUT', `/api/v1/request-categories/${encodeURIComponent(region)}/${encodeURIComponent(code)}`, body),
  resetRequestCategory: (region, code) => request('POST', `/api/v1/request-categories/${encodeURIComponent(region)}/${encodeURIComponent(code)}/reset`, {}),
  suggestCategory: (text) => request('POST', '/api/v1/requests/suggest-category', { text }),
  requestUnits: () => request('GET', '/api/v1/request-units'),
  createRequestUnit: (body) => request('POST', '/api/v1/request-units', body),
  addUnitMember: (id, body) => request('POST', `/api/v1/request-units/${id}/members`, body),
  open311Clients: () => request('GET', '/api/v1/open311/clients'),
  createOpen311Client: (body) => request('POST', '/api/v1/open311/clients', body),
  revokeOpen311Client: (id) => request('POST', `/api/v1/open311/clients/${id}/revoke`, {}),
  requestWarnings: (q) => request('GET', `/api/v1/request-warnings${qs(q)}`),
  acknowledgeWarning: (id) => request('POST', `/api/v1/request-warnings/${id}/acknowledge`),
  requestHotspots: (q) => request('GET', `/api/v1/requests/hotspots${qs(q)}`),
  importHotline: (file) => {
    const form = new FormData()
    form.append('file', file)
    return request('POST', '/api/v1/requests/hotline', form, true)
  },
  hotlineUnmatched: () => request('GET', '/api/v1/requests/hotline/unmatched'),
  grids: () => request('GET', '/api/v1/grids'),
  saveGrid: (body) => request('POST', '/api/v1/grids', body),
  importGrids: (file, community) => {
    const form = new FormData()
    if (community) form.append('community', community)
    form.append('file', file)
    return request('POST', '/api/v1/grids/import', form, true)
  },
  setGridPeople: (id, body) => request('PUT', `/api/v1/grids/${id}/people`, body),
  gridCoverage: (q) => request('GET', `/api/v1/grids/coverage${qs(q)}`),
  gridPatrols: (q) => request('GET', `/api/v1/grids/patrols${qs(q)}`),
  gridWorkload: (q) => request('GET', `/api/v1/grids/workload${qs(q)}`),
  gridChecklist: () => request('GET', '/api/v1/grids/checklist'),
  gridRound: () => request('GET', '/api/v1/grids/round'),
  openOpinionRound: (id, body) => request('POST', `/api/v1/grids/${id}/opinion-rounds`, body),
  recordPatrol: (patrol, photos) => {
    const form = new FormData()
    form.append('patrol', JSON.stringify(patrol))
    for (const p of photos || []) form.append('photos', p)
    return request('POST', '/api/v1/grids/patrols', form, true)
  },
  mediations: (id) => request('GET', `/api/v1/estates/${id}/mediations`),
  recordMediation: (id, fields, file) => {
    const form = new FormData()
    for (const [k, v] of Object.entries(fields)) form.append(k, v)
    if (file) form.append('agreement_file', file)
    return request('POST', `/api/v1/estates/${id}/mediations`, form, true)
  },
  matchHotline: (id, body) => request('POST', `/api/v1/requests/hotline/unmatched/${id}/match`, body),
  myRequests: () => request('GET', '/api/v1/residents/requests'),
  allocations: (region) => request('GET', `/api/v1/allocations${qs({ region })}`),
  allocate: (body) => request('POST', '/api/v1/allocations', body),
  disbursements: (params) => request('GET', `/api/v1/disbursements${qs(params)}`),
  requestDisbursement: (body) => request('POST', '/api/v1/disbursements', body),
  approveDisbursement: (id) => request('POST', `/api/v1/disbursements/${id}/approve`),
  verifyLedger: () => request('GET', '/api/v1/ledger/verify'),
  reverseEntry: (seq, memo) => request('POST', `/api/v1/ledger/${seq}/reverse`, { memo }),
  startLedgerCheck: () => request('POST', '/api/v1/ledger/verify/job'),
  ledgerCheck: () => request('GET', '/api/v1/ledger/verify/job'),
  paymentBases: (projectId) => request('GET', `/api/v1/projects/${projectId}/payment-bases`),
  payableAllocations: (projectId) => request('GET', `/api/v1/projects/${projectId}/payable-allocations`),
  fundingPlan: (projectId) => request('GET', `/api/v1/projects/${projectId}/funding-plan`),
  saveFundingPlan: (projectId, lines) => request('PUT', `/api/v1/projects/${projectId}/funding-plan`, { lines }),
  contributions: (projectId) => request('GET', `/api/v1/projects/${projectId}/contributions`),
  contribute: (projectId, body) => request('POST', `/api/v1/projects/${projectId}/contributions`, body),
  projectReconciliation: (projectId) => request('GET', `/api/v1/projects/${projectId}/reconciliation`),
  setContract: (projectId, amount) => request('PUT', `/api/v1/projects/${projectId}/contract`, { amount }),
  fundsReport: (params) => request('GET', `/api/v1/funds/report${qs(params)}`),
  fundsBySource: (params) => request('GET', `/api/v1/funds/by-source${qs(params)}`),
  regionReconciliation: (params) => request('GET', `/api/v1/funds/reconciliation${qs(params)}`),
  estateFunds: (id) => request('GET', `/api/v1/estates/${id}/funds`),
  creditUpkeep: (id, body) => request('POST', `/api/v1/estates/${id}/upkeep/credits`, body),
  spendUpkeep: (id, body) => request('POST', `/api/v1/estates/${id}/upkeep/spendings`, body),
  approveUpkeep: (id, body) => request('POST', `/api/v1/upkeep-requests/${id}/approve`, body),
  refuseUpkeep: (id, body) => request('POST', `/api/v1/upkeep-requests/${id}/refuse`, body),
  estatePhotos: (id) => request('GET', `/api/v1/estates/${id}/photos`),
  myDwellings: () => request('GET', '/api/v1/residents/me'),
  surveys: (id) => request('GET', `/api/v1/estates/${id}/surveys`),
  createSurvey: (id, body) => request('POST', `/api/v1/estates/${id}/surveys`, body),
  survey: (id) => request('GET', `/api/v1/surveys/${id}`),
  surveyResults: (id) => request('GET', `/api/v1/surveys/${id}/results`),
  answerSurvey: (id, body) => request('POST', `/api/v1/surveys/${id}/answers`, body),
  surveyPhotos: (id, photos) => {
    const form = new FormData()
    for (const p of photos) form.append('photos', p)
    return request('POST', `/api/v1/surveys/${id}/photos`, form, true)
  },
  notices: (id) => request('GET', `/api/v1/estates/${id}/notices`),
  postNotice: (id, body) => request('POST', `/api/v1/estates/${id}/notices`, body),
  commentOnNotice: (noticeId, body) => request('POST', `/api/v1/notices/${noticeId}/comments`, body),
  answerComment: (commentId, body) => request('POST', `/api/v1/notice-comments/${commentId}/answer`, body),
  decisions: (id) => request('GET', `/api/v1/estates/${id}/decisions`),
  createDecision: (id, body) => request('POST', `/api/v1/estates/${id}/decisions`, body),
  decision: (id) => request('GET', `/api/v1/decisions/${id}`),
  mapConfig: () => request('GET', '/api/v1/map/config'),
  people: (usernames) => request('GET', `/api/v1/people${qs({ usernames: usernames.join(',') })}`),
  decisionScheme: (id) => request('GET', `/api/v1/decisions/${id}/scheme`),
  noticeScheme: (id) => request('GET', `/api/v1/notices/${id}/scheme`),
  castBallot: (id, body) => request('POST', `/api/v1/decisions/${id}/ballots`, body),
  ballots: (id) => request('GET', `/api/v1/decisions/${id}/ballots`),
  closeDecision: (id) => request('POST', `/api/v1/decisions/${id}/close`),
  verifyBallots: (id) => request('GET', `/api/v1/decisions/${id}/verify`),
  // Issues fresh invitation codes and downloads the printable sheet.
  invitationSheet: async (id, body) => {
    const res = await fetch(`/api/v1/estates/${id}/invitations.pdf`, {
      method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    })
    if (!res.ok) {
      const problem = await res.json().catch(() => ({}))
      throw new ApiError(res.status, problem)
    }
    return res.blob()
  },
}

// The signed-in user, shared by every view.
export const session = { me: null }

export async function loadMe() {
  try {
    session.me = await api.me()
  } catch {
    session.me = null
  }
  return session.me
}

export function can(permission) {
  return !!session.me?.permissions?.includes(permission)
}
