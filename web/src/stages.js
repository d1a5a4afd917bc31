// The stages of an estate's life, in order (as the server's EstateStatus::ALL).
export const STAGES = ['surveyed', 'assessed', 'ranked', 'in_plan', 'scheme_drafted', 'notice_1', 'notice_2', 'decided', 'approved',
  'in_construction', 'completed', 'accepted', 'reviewed', 'in_upkeep']
