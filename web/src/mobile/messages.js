// Words of the phone pages, Chinese first.
export default {
  'zh-CN': {
    app: '我的小区',
    tabs: { home: '进度', surveys: '问卷', notices: '公示', votes: '表决', requests: '诉求' },
    requests: { new: '我要反映', kind: '类别', category: { repair: '报修', complaint: '投诉', suggestion: '建议', question: '咨询' }, text: '请描述您的诉求', send: '提交', sent: '已提交，社区将及时办理', due: '{d} 前办结', status: { submitted: '待受理', in_progress: '办理中', resolved: '已办结' }, answer: '答复', rate: '满意度评价' },
    satisfaction: '小区改造已验收，欢迎参与满意度调查',
    surveys: { none: '暂无问卷', open: '进行中', closed: '已结束', text: '请填写', submit: '提交问卷', thanks: '已提交，感谢您的参与！' },
    bind: { title: '绑定房屋', code: '邀请码', codeHint: '纸条上的 10 位邀请码', name: '姓名', nameHint: '与房产登记一致', phone: '手机号', phoneHint: '业主请填写登记的手机号', submit: '绑定', done: '已绑定 {place}', owner: '业主', resident: '住户', another: '再绑定一套房屋', privacy: '手机号仅用于核对业主身份。', byCode: '邀请码', bySms: '短信验证码', smsTitle: '业主手机号验证', smsPhoneHint: '房产登记的手机号', send: '获取验证码', resend: '{s} 秒后重发', sent: '如该号码已登记，验证码已发送', otp: '验证码', smsHint: '验证后，登记在该手机号下的房屋将全部绑定。未收到短信请使用社区发放的邀请码。' },
    home: { none: '尚未绑定房屋', stage: '当前阶段', timeline: '进展', noTimeline: '暂无进展记录' },
    notices: { none: '暂无公示', period: '{from} 至 {to}', open: '公示中', upcoming: '未开始', ended: '已结束', object: '提出异议', opinion: '提出意见', text: '请写明您的意见', send: '提交', sent: '已提交，社区将答复', answer: '答复' },
    votes: { none: '暂无表决', open: '表决中', upcoming: '未开始', closed: '已截止', passed: '已通过', failed: '未通过', turnout: '参与表决：面积 {a}%，人数 {o}%', dwelling: '房屋', notOwner: '您是住户，表决由业主进行', voted: '已投票：{c}', choose: '请选择', agree: '同意', disagree: '反对', abstain: '弃权', submit: '投票', confirm: '确认对 {place} 投“{c}”？投票后不能更改。', receipt: '投票成功，凭证：第 {seq} 张，{h}…', result: '表决结果', area: '面积', owners: '人数', rule: '参与门槛 {q}；通过门槛 {a}（以参与表决者计）' },
    public: { title: '小区改造进度', built: '建成年份', households: '户', progress: '改造进展', works: '改造内容', noWorks: '方案编制中', money: '投资估算 {total}', wan: '万元', photos: '现场照片', missing: '该小区暂未公开改造进度', stage: { draft: '草稿', notice_1: '第一轮公示稿', notice_2: '第二轮公示稿', final: '定稿' }, payer: { government: '政府', utility: '管线单位', residents: '居民', enterprise: '社会资本' } },
    stage: { surveyed: '已普查', assessed: '已体检', ranked: '已排序', in_plan: '列入计划', scheme_drafted: '方案编制', notice_1: '第一轮公示', notice_2: '第二轮公示', decided: '已表决', approved: '已审批', in_construction: '施工中', completed: '已竣工', accepted: '已验收', reviewed: '已回头看', in_upkeep: '长效管理' },
  },
  en: {
    app: 'My estate',
    tabs: { home: 'Progress', surveys: 'Surveys', notices: 'Notices', votes: 'Votes', requests: 'Requests' },
    requests: { new: 'Tell us', kind: 'Kind', category: { repair: 'Repair', complaint: 'Complaint', suggestion: 'Suggestion', question: 'Question' }, text: 'What is it about', send: 'Send', sent: 'Sent; the community will handle it', due: 'due {d}', status: { submitted: 'Submitted', in_progress: 'In progress', resolved: 'Resolved' }, answer: 'Answer', rate: 'How satisfied are you' },
    satisfaction: 'The renewal is accepted: tell us how satisfied you are',
    surveys: { none: 'No surveys', open: 'Open', closed: 'Closed', text: 'Your answer', submit: 'Send', thanks: 'Sent. Thank you!' },
    bind: { title: 'Bind your home', code: 'Code', codeHint: 'the 10-character code on your slip', name: 'Name', nameHint: 'as in the property register', phone: 'Mobile', phoneHint: 'owners: the number in the register', submit: 'Bind', done: 'Bound {place}', owner: 'owner', resident: 'resident', another: 'Bind another home', privacy: 'Your number is only used to check that you are the owner.', byCode: 'Invitation code', bySms: 'Text message', smsTitle: 'Owner\u2019s mobile', smsPhoneHint: 'the number in the register', send: 'Send code', resend: 'again in {s} s', sent: 'If the number is registered, a code is on its way', otp: 'Code', smsHint: 'Every home registered under this number is bound. No message? Use the code from the community.' },
    home: { none: 'No home bound yet', stage: 'Stage', timeline: 'Progress', noTimeline: 'Nothing recorded yet' },
    notices: { none: 'No notices', period: '{from} to {to}', open: 'On the board', upcoming: 'Upcoming', ended: 'Ended', object: 'Object', opinion: 'Give an opinion', text: 'Your comment', send: 'Send', sent: 'Sent; the community will answer', answer: 'Answer' },
    votes: { none: 'No votes', open: 'Voting', upcoming: 'Upcoming', closed: 'Closed', passed: 'Passed', failed: 'Not passed', turnout: 'Took part: area {a}%, owners {o}%', dwelling: 'Home', notOwner: 'You live here; owners vote', voted: 'Voted: {c}', choose: 'Choose', agree: 'Agree', disagree: 'Disagree', abstain: 'Abstain', submit: 'Vote', confirm: 'Vote "{c}" for {place}? A vote cannot be changed.', receipt: 'Vote recorded: ballot {seq}, {h}…', result: 'Result', area: 'Area', owners: 'Owners', rule: 'Quorum {q}; approval {a} of those taking part' },
    public: { title: 'Estate renewal progress', built: 'Built', households: 'households', progress: 'Progress', works: 'What is done', noWorks: 'The scheme is being drawn up', money: 'Estimated cost {total}', wan: '×10k yuan', photos: 'Photos', missing: 'This estate\u2019s progress is not published', stage: { draft: 'draft', notice_1: 'notice round 1', notice_2: 'notice round 2', final: 'final' }, payer: { government: 'Government', utility: 'Utilities', residents: 'Residents', enterprise: 'Social capital' } },
    stage: { surveyed: 'Surveyed', assessed: 'Assessed', ranked: 'Ranked', in_plan: 'In plan', scheme_drafted: 'Scheme drafted', notice_1: 'Notice round 1', notice_2: 'Notice round 2', decided: 'Decided', approved: 'Approved', in_construction: 'In construction', completed: 'Completed', accepted: 'Accepted', reviewed: 'Reviewed', in_upkeep: 'In upkeep' },
  },
}
