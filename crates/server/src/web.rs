//! The web UI, built by Vite into web/dist and embedded in the binary at compile time.

use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::RustEmbed)]
#[folder = "$OUT_DIR/web"]
struct Assets;

/// Serves a built asset, or the page of the app a path belongs to: `m/index.html` for the residents'
/// phone pages under `/m/`, else `index.html` (the desk app's own routes, history mode).
pub async fn static_file(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("api/") || path.starts_with("tiles/") {
        return crate::error::ApiError::NotFound.into_response();
    }
    let (file, name) = match Assets::get(path) {
        Some(f) if !path.is_empty() => (f, path.to_string()),
        _ => {
            let page = if path == "m" || path.starts_with("m/") { "m/index.html" } else { "index.html" };
            match Assets::get(page) {
                Some(f) => (f, page.to_string()),
                None => return (StatusCode::NOT_FOUND, "web UI not built").into_response(),
            }
        }
    };
    let mime = mime_guess::from_path(&name).first_or_octet_stream();
    let cache = if name.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
    ([(header::CONTENT_TYPE, mime.as_ref().to_string()), (header::CACHE_CONTROL, cache.to_string())], file.data).into_response()
}
