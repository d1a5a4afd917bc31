// The base map. Huanxin needs no outside service: by default the map shows a plain background
// under our own estate tiles. A deployment with a licensed basemap (Tianditu with its key, an
// internal tile server) sets HUANXIN_BASEMAP to its tile URL templates; the server hands them to
// the pages (GET /api/v1/map/config) and lets them through its content security policy.
import { api } from '../../api/index.js'

let config

/** The deployment's basemap settings, asked for once. */
export async function mapConfig() {
  config ??= api.mapConfig().catch(() => ({ basemap: [], attribution: '' }))
  return config
}

/** A MapLibre style: the background, then each configured raster layer in order. */
export function baseStyle(cfg = { basemap: [], attribution: '' }) {
  const style = {
    version: 8,
    sources: {},
    layers: [{ id: 'background', type: 'background', paint: { 'background-color': '#eef2f6' } }],
  }
  cfg.basemap.forEach((url, i) => {
    style.sources[`basemap${i}`] = { type: 'raster', tiles: [url], tileSize: 256, attribution: i === 0 ? cfg.attribution : '' }
    style.layers.push({ id: `basemap${i}`, type: 'raster', source: `basemap${i}` })
  })
  return style
}
