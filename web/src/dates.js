// Dates as the user's own calendar shows them (in China: China Standard Time), YYYY-MM-DD.
export function today() {
  const d = new Date()
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 10)
}
