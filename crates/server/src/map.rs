//! The map (一张图): estates as Mapbox Vector Tiles, cut from an in-memory point cache and
//! clustered on a grid at low zoom, so a country's worth of estates stays fast.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiPath};
use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use huanxin_domain::access::Scope;
use huanxin_domain::estates::EstateStatus;
use huanxin_domain::reason;
use std::collections::{HashMap, HashSet};
use std::f64::consts::PI;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Tile extent in MVT units.
const EXTENT: u32 = 4096;
/// Below this zoom, points are clustered on a grid of this many cells per tile side.
const CLUSTER_BELOW_ZOOM: u32 = 13;
const GRID: u32 = 48;
/// How long cached points live before a reload (writes through the API invalidate at once).
const TTL: Duration = Duration::from_secs(60);

/// One estate on the map, projected to Web Mercator (0..1 on both axes).
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub id: i64,
    /// The 12-digit community code as a number: compact, and a prefix test is one division.
    pub community: u64,
    pub x: f64,
    pub y: f64,
    pub decade: i64,
    pub status: &'static str,
}

/// True when a community code lies under a region prefix of `len` digits with value `value`.
pub fn under_prefix(community: u64, value: u64, len: usize) -> bool {
    len == 0 || community / 10u64.pow(12u32.saturating_sub(len as u32)) == value
}

/// A cached tile: the scope it was drawn for, zoom, x and y.
type TileKey = (String, u32, u32, u32);

/// The points of every located estate, sorted by x for range scans, reloaded when stale; and the
/// tiles already cut for region scopes, since the same country- and province-level tiles are
/// asked for again and again.
#[derive(Default)]
pub struct TileCache {
    points: RwLock<Option<(Instant, Arc<Vec<Point>>)>>,
    tiles: RwLock<HashMap<TileKey, Arc<Vec<u8>>>>,
    /// Held while the points load, so that concurrent requests load them once.
    loading: tokio::sync::Mutex<()>,
    /// The registry's stamp when the points were read: a periodic reload that finds it unchanged
    /// keeps the points, instead of reading and sorting every estate again on the request threads.
    stamp: std::sync::Mutex<Option<(i64, Option<String>)>>,
}

/// Most tiles kept; the cache is emptied when full (tiles are cheap to cut again).
const MAX_CACHED_TILES: usize = 20_000;

impl TileCache {
    /// Forgets the cached points and tiles (after a change to estates).
    pub fn invalidate(&self) {
        if let Ok(mut p) = self.points.write() {
            *p = None;
        }
        if let Ok(mut t) = self.tiles.write() {
            t.clear();
        }
        if let Ok(mut s) = self.stamp.lock() {
            *s = None;
        }
    }

    /// Loads the points now (at start-up), so that the first map view does not wait for them.
    pub async fn warm(&self, st: &AppState) -> Result<(), ApiError> {
        self.get(st).await.map(|_| ())
    }

    /// A tile cut before; tiles are dropped whenever the points change, so a hit is never older
    /// than the points it would be cut from.
    fn cached_tile(&self, key: &(String, u32, u32, u32)) -> Option<Arc<Vec<u8>>> {
        self.tiles.read().ok()?.get(key).cloned()
    }

    fn store_tile(&self, key: (String, u32, u32, u32), tile: Arc<Vec<u8>>) {
        if let Ok(mut t) = self.tiles.write() {
            if t.len() >= MAX_CACHED_TILES {
                t.clear();
            }
            t.insert(key, tile);
        }
    }

    fn current(&self) -> Option<(Instant, Arc<Vec<Point>>)> {
        self.points.read().ok()?.as_ref().map(|(at, p)| (*at, p.clone()))
    }

    /// The points: fresh ones at once; stale ones while a single background reload runs; and
    /// after a change, one load that concurrent requests wait for.
    async fn get(&self, st: &AppState) -> Result<Arc<Vec<Point>>, ApiError> {
        if let Some((at, pts)) = self.current() {
            if at.elapsed() >= TTL && self.loading.try_lock().is_ok() {
                let st = st.clone();
                tokio::spawn(async move {
                    if let Err(e) = st.tiles.reload(&st).await {
                        tracing::warn!(error = %e, "map points not reloaded");
                    }
                });
            }
            return Ok(pts);
        }
        let _guard = self.loading.lock().await;
        if let Some((_, pts)) = self.current() {
            return Ok(pts);
        }
        self.load(st).await
    }

    async fn reload(&self, st: &AppState) -> Result<(), ApiError> {
        let _guard = self.loading.lock().await;
        if self.current().map(|(at, _)| at.elapsed() < TTL).unwrap_or(false) {
            return Ok(());
        }
        let stamp = st.db.map_stamp().await?;
        let same = self.stamp.lock().map(|s| s.as_ref() == Some(&stamp)).unwrap_or(false);
        if same {
            if let Ok(mut p) = self.points.write() {
                if let Some((at, _)) = p.as_mut() {
                    *at = Instant::now();
                    return Ok(());
                }
            }
        }
        self.load(st).await.map(|_| ())
    }

    async fn load(&self, st: &AppState) -> Result<Arc<Vec<Point>>, ApiError> {
        // Read before the points, so that a change made meanwhile shows at the next reload.
        let stamp = st.db.map_stamp().await?;
        let rows = st.db.map_points().await?;
        let mut pts: Vec<Point> = rows
            .into_iter()
            .map(|r| {
                let (x, y) = mercator(r.lon, r.lat);
                Point {
                    id: r.id,
                    community: r.community_code.parse().unwrap_or(0),
                    x,
                    y,
                    decade: (r.build_year / 10) * 10,
                    status: EstateStatus::parse(&r.status).unwrap_or(EstateStatus::Surveyed).as_str(),
                }
            })
            .collect();
        pts.sort_by(|a, b| a.x.total_cmp(&b.x));
        // Tiles cut from the same points stay: dropping them on every periodic reload made every
        // client cut the country tile again at once.
        let unchanged = self.current().is_some_and(|(_, old)| *old == pts);
        let pts = Arc::new(pts);
        if let Ok(mut p) = self.points.write() {
            *p = Some((Instant::now(), pts.clone()));
        }
        if let Ok(mut s) = self.stamp.lock() {
            *s = Some(stamp);
        }
        if !unchanged {
            if let Ok(mut t) = self.tiles.write() {
                t.clear();
            }
        }
        Ok(pts)
    }
}

/// Longitude and latitude to Web Mercator, both in 0..1 (y grows southwards).
pub fn mercator(lon: f64, lat: f64) -> (f64, f64) {
    let lat = lat.clamp(-85.05112878, 85.05112878).to_radians();
    let x = (lon + 180.0) / 360.0;
    let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / PI) / 2.0;
    (x, y)
}

/// A vector tile of the estates the caller may see: layer `estates` (points with `id`, `decade`,
/// `status`) at street zoom, layer `clusters` (points with `count`, `decade`) below it.
#[utoipa::path(get, path = "/tiles/{z}/{x}/{y}", tag = "map",
    params(("z" = u32, Path), ("x" = u32, Path), ("y" = String, Path, description = "row, followed by .mvt")),
    responses((status = 200, content_type = "application/vnd.mapbox-vector-tile")))]
pub async fn tile(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath((z, x, y)): ApiPath<(u32, u32, String)>,
) -> Result<Response, ApiError> {
    let y: u32 = y.trim_end_matches(".mvt").parse().map_err(|_| ApiError::field("y", &y, reason!("map.tile_form")))?;
    if z > 22 || x >= (1 << z) || y >= (1 << z) {
        return Err(ApiError::field("z", z, reason!("map.tile_out_range")));
    }
    let key = match &cu.scope {
        Scope::Region(rc) => Some((rc.prefix().to_string(), z, x, y)),
        Scope::Attached { .. } => None,
    };
    if let Some(hit) = key.as_ref().and_then(|k| st.tiles.cached_tile(k)) {
        return Ok(mvt_response(hit.as_ref().clone()));
    }
    let points = st.tiles.get(&st).await?;
    let attached: Option<HashSet<i64>> = match &cu.scope {
        Scope::Attached { user_id } => Some(st.db.attached_estate_ids(*user_id).await?.into_iter().collect()),
        Scope::Region(_) => None,
    };
    let (prefix_value, prefix_len) = match &cu.scope {
        Scope::Region(rc) => (rc.prefix().parse::<u64>().unwrap_or(0), rc.prefix().len()),
        Scope::Attached { .. } => (0, 0),
    };
    let visible = |p: &Point| match &attached {
        Some(ids) => ids.contains(&p.id),
        None => under_prefix(p.community, prefix_value, prefix_len),
    };
    let bytes = cut_tile(&points, z, x, y, visible);
    if let Some(k) = key {
        st.tiles.store_tile(k, Arc::new(bytes.clone()));
    }
    Ok(mvt_response(bytes))
}

fn mvt_response(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/vnd.mapbox-vector-tile"), (header::CACHE_CONTROL, "private, max-age=30")], bytes).into_response()
}

/// Cuts one tile from points sorted by x; `visible` applies the caller's scope.
pub fn cut_tile(points: &[Point], z: u32, x: u32, y: u32, visible: impl Fn(&Point) -> bool) -> Vec<u8> {
    let n = f64::from(1u32 << z);
    // A small buffer so symbols at tile edges are not clipped.
    let buf = 8.0 / 256.0 / n;
    let (x0, x1) = (f64::from(x) / n - buf, f64::from(x + 1) / n + buf);
    let (y0, y1) = (f64::from(y) / n - buf, f64::from(y + 1) / n + buf);
    let start = points.partition_point(|p| p.x < x0);
    let in_tile = points[start..].iter().take_while(|p| p.x < x1).filter(|p| p.y >= y0 && p.y < y1 && visible(p));
    let to_tile = |px: f64, py: f64| -> (i64, i64) {
        (((px * n - f64::from(x)) * f64::from(EXTENT)).round() as i64, ((py * n - f64::from(y)) * f64::from(EXTENT)).round() as i64)
    };
    let mut layer = Layer::new(if z < CLUSTER_BELOW_ZOOM { "clusters" } else { "estates" });
    if z < CLUSTER_BELOW_ZOOM {
        // A flat grid with one spare cell on each side for the buffer: (count, sum x, sum y, sum
        // decade, an estate's id); a cell of one estate carries its id, so one click opens it.
        let side = (GRID + 2) as usize;
        let mut cells = vec![(0u64, 0.0f64, 0.0f64, 0i64, 0i64); side * side];
        let cell_size = f64::from(EXTENT / GRID);
        for p in in_tile {
            let cx = (((p.x * n - f64::from(x)) * f64::from(EXTENT)) / cell_size).floor() as i64 + 1;
            let cy = (((p.y * n - f64::from(y)) * f64::from(EXTENT)) / cell_size).floor() as i64 + 1;
            let (cx, cy) = (cx.clamp(0, side as i64 - 1) as usize, cy.clamp(0, side as i64 - 1) as usize);
            let c = &mut cells[cy * side + cx];
            c.0 += 1;
            c.1 += p.x;
            c.2 += p.y;
            c.3 += p.decade;
            c.4 = p.id;
        }
        for (count, sx, sy, sd, id) in cells.into_iter().filter(|c| c.0 > 0) {
            let (tx, ty) = to_tile(sx / count as f64, sy / count as f64);
            let decade = (sd / count as i64 / 10) * 10;
            let mut tags = vec![("count", Value::Int(count as i64)), ("decade", Value::Int(decade))];
            if count == 1 {
                tags.push(("id", Value::Int(id)));
            }
            layer.point(None, tx, ty, &tags);
        }
    } else {
        for p in in_tile {
            let (tx, ty) = to_tile(p.x, p.y);
            layer.point(
                Some(p.id as u64),
                tx,
                ty,
                &[("id", Value::Int(p.id)), ("decade", Value::Int(p.decade)), ("status", Value::Str(p.status.to_string()))],
            );
        }
    }
    let mut tile = Vec::new();
    if !layer.features.is_empty() {
        pb_bytes(&mut tile, 3, &layer.encode());
    }
    tile
}

#[derive(Clone, PartialEq)]
enum Value {
    Int(i64),
    Str(String),
}

/// One MVT layer being built: features with tags into shared key and value tables.
struct Layer {
    name: String,
    keys: Vec<String>,
    values: Vec<Value>,
    features: Vec<Vec<u8>>,
}

impl Layer {
    fn new(name: &str) -> Layer {
        Layer { name: name.into(), keys: vec![], values: vec![], features: vec![] }
    }

    fn point(&mut self, id: Option<u64>, x: i64, y: i64, props: &[(&str, Value)]) {
        let mut tags = Vec::new();
        for (k, v) in props {
            let ki = self.keys.iter().position(|x| x == k).unwrap_or_else(|| {
                self.keys.push(k.to_string());
                self.keys.len() - 1
            });
            let vi = self.values.iter().position(|x| x == v).unwrap_or_else(|| {
                self.values.push(v.clone());
                self.values.len() - 1
            });
            tags.push(ki as u64);
            tags.push(vi as u64);
        }
        let mut f = Vec::new();
        if let Some(id) = id {
            pb_varint_field(&mut f, 1, id);
        }
        pb_packed(&mut f, 2, &tags);
        pb_varint_field(&mut f, 3, 1); // POINT
        pb_packed(&mut f, 4, &[9, zigzag(x), zigzag(y)]); // MoveTo(1), dx, dy
        self.features.push(f);
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        pb_varint_field(&mut out, 15, 2);
        pb_bytes(&mut out, 1, self.name.as_bytes());
        for f in &self.features {
            pb_bytes(&mut out, 2, f);
        }
        for k in &self.keys {
            pb_bytes(&mut out, 3, k.as_bytes());
        }
        for v in &self.values {
            let mut vb = Vec::new();
            match v {
                Value::Str(s) => pb_bytes(&mut vb, 1, s.as_bytes()),
                Value::Int(i) => pb_varint_field(&mut vb, 6, zigzag(*i)),
            }
            pb_bytes(&mut out, 4, &vb);
        }
        pb_varint_field(&mut out, 5, u64::from(EXTENT));
        out
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn pb_varint_field(out: &mut Vec<u8>, field: u64, v: u64) {
    varint(out, field << 3);
    varint(out, v);
}

fn pb_bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
    varint(out, (field << 3) | 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn pb_packed(out: &mut Vec<u8>, field: u64, vals: &[u64]) {
    let mut inner = Vec::new();
    for v in vals {
        varint(&mut inner, *v);
    }
    pb_bytes(out, field, &inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts() -> Vec<Point> {
        let mut v: Vec<Point> = [(118.80, 25.03, "350521100001"), (118.81, 25.04, "350521100002"), (116.4, 39.9, "110101001001")]
            .iter()
            .enumerate()
            .map(|(i, (lon, lat, cc))| {
                let (x, y) = mercator(*lon, *lat);
                Point { id: i as i64 + 1, community: cc.parse().unwrap(), x, y, decade: 1990, status: "surveyed" }
            })
            .collect();
        v.sort_by(|a, b| a.x.total_cmp(&b.x));
        v
    }

    #[test]
    fn country_tile_clusters_and_scope_filters() {
        let p = pts();
        let all = cut_tile(&p, 0, 0, 0, |_| true);
        assert!(!all.is_empty());
        let none = cut_tile(&p, 0, 0, 0, |_| false);
        assert!(none.is_empty());
        let only_huian = cut_tile(&p, 0, 0, 0, |p| under_prefix(p.community, 350521, 6));
        assert!(under_prefix(350521100001, 35, 2) && !under_prefix(350521100001, 11, 2) && under_prefix(1, 0, 0));
        assert!(only_huian.len() < all.len());
        // Far apart, each estate is a cluster of one that names it; together, a cluster does not.
        assert!(all.windows(2).any(|w| w == b"id"), "clusters of one carry the estate's id");
        let together: Vec<Point> = p.iter().map(|q| Point { x: p[0].x, y: p[0].y, ..q.clone() }).collect();
        let merged = cut_tile(&together, 0, 0, 0, |_| true);
        assert!(!merged.windows(2).any(|w| w == b"id"), "a cluster of several names none");
    }

    #[test]
    fn street_tile_has_the_point() {
        let p = pts();
        let z = 15;
        let n = f64::from(1u32 << z);
        let tx = (p[1].x * n) as u32;
        let ty = (p[1].y * n) as u32;
        let t = cut_tile(&p, z, tx, ty, |_| true);
        assert!(t.windows(7).any(|w| w == b"estates"));
        let empty = cut_tile(&p, z, tx + 5, ty, |_| true);
        assert!(empty.is_empty());
    }

    #[test]
    fn zigzag_encodes_signs() {
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }
}

/// The basemap's tile URL templates from the settings (separated by spaces).
pub fn basemap_layers(setting: &str) -> Vec<String> {
    setting.split_whitespace().filter(|u| u.starts_with("https://") || u.starts_with("http://")).map(String::from).collect()
}

/// The servers (`scheme://host[:port]`) a basemap's tiles come from, for the content security policy.
pub fn basemap_origins(setting: &str) -> Vec<String> {
    let mut origins: Vec<String> = basemap_layers(setting)
        .iter()
        .filter_map(|u| {
            let (scheme, rest) = u.split_once("://")?;
            let host = rest.split(['/', '?', '#']).next()?;
            // Only plain host names reach the policy (a template's `{s}` or a quote would break it).
            let plain = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
            plain.then(|| format!("{scheme}://{host}"))
        })
        .collect();
    origins.sort();
    origins.dedup();
    origins
}

/// The map's settings for the pages: the licensed basemap's layers, if any, and its attribution.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct MapConfig {
    pub basemap: Vec<String>,
    pub attribution: String,
}

/// The basemap the deployment configured (`HUANXIN_BASEMAP`), for the map pages.
#[utoipa::path(get, path = "/api/v1/map/config", tag = "map", responses((status = 200, body = MapConfig)))]
pub async fn config(State(st): State<AppState>) -> axum::Json<MapConfig> {
    axum::Json(MapConfig { basemap: basemap_layers(&st.config.basemap), attribution: st.config.basemap_attribution.clone() })
}
