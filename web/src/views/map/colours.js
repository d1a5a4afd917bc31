// Colours shared by the map and the charts: warm for the oldest stock, cool for the newest.
export const DECADE_COLOURS = { 1960: '#7f0000', 1970: '#b30000', 1980: '#e34a33', 1990: '#fc8d59', 2000: '#74add1', 2010: '#4575b4', 2020: '#313695' }

export const STATUS_COLOURS = {
  surveyed: '#9e9e9e', assessed: '#8d6e63', ranked: '#ab47bc', in_plan: '#5c6bc0', scheme_drafted: '#29b6f6', notice_1: '#26c6da', notice_2: '#26a69a',
  decided: '#66bb6a', approved: '#9ccc65', in_construction: '#ffa726', completed: '#ff7043', accepted: '#2e7d32', reviewed: '#1b5e20', in_upkeep: '#004d40',
}
