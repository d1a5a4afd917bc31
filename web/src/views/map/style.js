// The base map. Huanxin needs no outside service: by default the map shows a plain background
// with our own estate tiles. A deployment with a licensed basemap (Tianditu, an internal tile
// server) sets window.HUANXIN_BASEMAP to a raster tile URL template before the app loads.
export function baseStyle() {
  const style = {
    version: 8,
    sources: {},
    layers: [{ id: 'background', type: 'background', paint: { 'background-color': '#eef2f6' } }],
  }
  if (window.HUANXIN_BASEMAP) {
    style.sources.basemap = { type: 'raster', tiles: [window.HUANXIN_BASEMAP], tileSize: 256 }
    style.layers.push({ id: 'basemap', type: 'raster', source: 'basemap' })
  }
  return style
}
