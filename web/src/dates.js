// Dates as the programme counts them: China's calendar (UTC+8, no daylight saving), YYYY-MM-DD, as the
// server does, whatever the browser's own time zone (a browser left on UTC was a day behind after 16:00 UTC,
// and a notice "starting today" was refused as starting in the past).
export function today() {
  return new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10)
}

/** The Beijing day of a stored instant (RFC 3339, UTC): what the desk calls its date. */
export function beijingDay(iso) {
  const t = Date.parse(iso)
  return Number.isNaN(t) ? String(iso || '').slice(0, 10) : new Date(t + 8 * 3600e3).toISOString().slice(0, 10)
}

/** The Beijing day and minute of a stored instant: 2026-12-06 09:30. */
export function beijingTime(iso) {
  const t = Date.parse(iso)
  return Number.isNaN(t) ? String(iso || '').slice(0, 16) : new Date(t + 8 * 3600e3).toISOString().slice(0, 16).replace('T', ' ')
}
