// Chinese wording for the API's validation reasons. The API speaks English (stable for integrations);
// the UI shows these in Chinese. Unknown reasons are shown as they are.
const RULES = [
  [/^is required.*$/, () => '必填'],
  [/^must be between (-?\d+) and (-?\d+)(, and not 0)?$/, (m) => `应在 ${m[1]} 到 ${m[2]} 之间${m[3] ? '，且不为 0' : ''}`],
  [/^is not a whole number$/, () => '不是整数'],
  [/^is not a number( of m²)?$/, () => '不是数字'],
  [/^'.*' is not a number of m²$/, () => '不是面积数字'],
  [/^is outside the region you work in$/, () => '不在您负责的辖区内'],
  [/^is not a known community committee$/, () => '不是已知的社区居委会代码'],
  [/^is not a known region$/, () => '不是已知的行政区划代码'],
  [/^repeats the code of row (\d+)$/, (m) => `与第 ${m[1]} 行的编码重复`],
  [/^repeats the (building|dwelling) of row (\d+)$/, (m) => `与第 ${m[2]} 行重复`],
  [/^no estate with this code in your region$/, () => '辖区内没有此编码的小区'],
  [/^no such building in this estate; import buildings first$/, () => '该小区没有此楼栋，请先导入楼栋'],
  [/^merged cells are not allowed.*$/, () => '不允许合并单元格：请取消合并并逐行填写'],
  [/^a formula without a computed value.*$/, () => '公式没有计算结果：请在 Excel 中打开并保存，或粘贴为数值'],
  [/^unknown column; expected one of: (.*)$/, (m) => `未知列，应为：${m[1]}`],
  [/^required column is missing$/, () => '缺少必填列'],
  [/^must be one of (.*)$/, (m) => `应为以下之一：${m[1]}`],
  [/^must not be negative$/, () => '不能为负数'],
  [/^has more than two decimals$/, () => '小数不能超过两位'],
  [/^is longer than (\d+) characters$/, (m) => `超过 ${m[1]} 个字符`],
  [/^is more than ([\d,]+).*$/, (m) => `超过 ${m[1]}，请核对`],
  [/^is larger than 100 km².*$/, () => '超过 100 平方公里，请核对单位（㎡）'],
  [/^must be a community committee.*$/, () => '应为社区居委会代码（12 位，末三位不为 000）'],
  [/^the point is outside China.*$/, () => '坐标不在中国境内（请填写经纬度，单位为度）'],
  [/^is required when (lon|lat) is given$/, () => '经度和纬度须同时填写'],
  [/^(phone )?is not a mainland mobile or landline number$/, () => '不是有效的手机或固定电话号码'],
  [/^belongs to an estate outside the region you work in$/, () => '属于您辖区以外的小区'],
  [/^must be more than 0$/, () => '必须大于 0'],
  [/^'.*' is not 是 or 否$/, () => '应填“是”或“否”'],
  [/^give one percentage per owner.*$/, () => '每位业主填写一个份额，如 50、50'],
  [/^give a share for every owner or for none$/, () => '要么每位业主都填份额，要么都不填'],
  [/^owners' shares must be positive and add up to 100%$/, () => '业主份额须为正数且合计 100%'],
  [/^must be WGS84, CGCS2000 or GCJ02$/, () => '应为 WGS84、CGCS2000 或 GCJ02'],
  [/^the file has no data rows$/, () => '文件没有数据行'],
  [/^the (file|sheet) is empty$/, () => '文件为空'],
  [/^not a readable xlsx file.*$/, () => '无法读取的 xlsx 文件'],
  [/^not a readable CSV row.*$/, () => '无法读取的 CSV 行'],
  [/^not valid GeoJSON.*$/, () => '不是有效的 GeoJSON'],
  [/^geometry must be a Point or a Polygon$/, () => '几何类型应为点或面'],
  [/^must have at least 8 characters$/, () => '至少 8 个字符'],
  [/^3 to 40 letters, digits, _ - or \.$/, () => '3–40 个字母、数字或 _ - .'],
  [/^is not a known role$/, () => '不是已知的角色'],
  [/^'(\d*)' has (\d+) digits; a region code has 12$/, (m) => `有 ${m[2]} 位，区划代码应为 12 位`],
  [/^'.*' is not a region code \(12 digits\)$/, () => '不是区划代码（12 位数字）'],
  [/^role (\S+) needs a region at level (\S+).*$/, () => '区划级别与角色不符'],
]

export function translateReason(reason, locale) {
  if (locale === 'en' || !reason) return reason
  for (const [re, f] of RULES) {
    const m = reason.match(re)
    if (m) return f(m)
  }
  return reason
}
