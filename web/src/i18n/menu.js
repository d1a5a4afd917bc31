// English names of the national renovation menu and of its units. The server keeps each item's
// Chinese name (a region's own items have only that); English shows the national item's English
// name when the region has not renamed it, and the Chinese name otherwise.

const NATIONAL = {
  B01: ['供水管网改造', 'Water supply pipes'], B02: ['雨污分流改造', 'Separating rain and sewage'],
  B03: ['供电线路及设施改造', 'Power lines and facilities'], B04: ['弱电线路规整（架空线缆入地）', 'Low-voltage cables tidied (overhead lines underground)'],
  B05: ['小区道路修缮', 'Estate roads'], B06: ['燃气管道改造', 'Gas pipes'], B07: ['供热管网改造', 'Heating pipes'],
  B08: ['消防设施改造', 'Fire safety facilities'], B09: ['安防监控设施', 'Security cameras'], B10: ['垃圾分类设施', 'Waste sorting points'],
  B11: ['光纤入户与移动通信覆盖', 'Fibre to the home and mobile coverage'], B12: ['屋面防水修缮', 'Roof waterproofing'],
  B13: ['外墙修缮', 'External walls'], B14: ['楼道等公共部位维修', 'Stairwells and other common parts'],
  I01: ['拆除违法建设', 'Removing illegal structures'], I02: ['绿化提升', 'Greening'], I03: ['照明设施', 'Lighting'],
  I04: ['适老化改造（扶手、折叠座椅）', 'Elderly-friendly fittings (handrails, folding seats)'], I05: ['无障碍坡道', 'Barrier-free ramps'],
  I06: ['停车位施划与停车设施', 'Parking spaces and facilities'], I07: ['电动汽车、电动自行车充电设施', 'EV and e-bike charging'],
  I08: ['智能快件箱、信报箱', 'Parcel lockers and letter boxes'], I09: ['文化休闲与健身设施', 'Culture, leisure and fitness facilities'],
  I10: ['物业用房', 'Property management rooms'], I11: ['建筑节能改造', 'Energy-saving retrofit'], I12: ['加装电梯', 'Added lifts'],
  U01: ['社区综合服务设施', 'Community service centre'], U02: ['卫生服务站', 'Health station'], U03: ['幼儿园', 'Kindergarten'],
  U04: ['智慧安防与周界感知', 'Smart security and perimeter sensing'], U05: ['养老服务设施', 'Elderly care facility'],
  U06: ['托育设施', 'Childcare facility'], U07: ['助餐设施', 'Meal service for the elderly'], U08: ['家政保洁服务点', 'Housekeeping service point'],
  U09: ['便民市场、便利店', 'Market or convenience store'], U10: ['邮政快递末端网点', 'Post and parcel point'],
}

const UNITS = { 部: 'lift', 个: 'pc', 处: 'site', 套: 'set', 户: 'household', 栋: 'building', 项: 'item', 台: 'unit', 根: 'pole', 盏: 'lamp', 座: 'facility', 樘: 'door/window' }

/** A menu item's name in the UI's language. */
export function menuName(code, name, locale) {
  const national = NATIONAL[code]
  if (locale?.startsWith('zh') || !national || national[0] !== name) return name
  return national[1]
}

/** A unit in the UI's language (m, m² and m³ are the same in both). */
export function unitLabel(unit, locale) {
  return locale?.startsWith('zh') ? unit : (UNITS[unit] ?? unit)
}
