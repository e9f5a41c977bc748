//! The stylesheet and script, compiled into the binary and served under a
//! content-hashed path, so browsers may cache them forever and a new build is
//! never served a stale copy.

use std::sync::OnceLock;

use poem::{http::StatusCode, web::Path, Response};
use sha2::{Digest, Sha256};

const CSS: &str = include_str!("../assets/app.css");
const JS: &str = include_str!("../assets/app.js");
const ICON: &str = include_str!("../assets/favicon.svg");

struct Asset {
    path: String,
    body: &'static str,
    content_type: &'static str,
}

fn hashed(name: &str, ext: &str, body: &'static str, content_type: &'static str) -> Asset {
    let digest = Sha256::digest(body.as_bytes());
    let short: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    Asset {
        path: format!("{name}.{short}.{ext}"),
        body,
        content_type,
    }
}

fn assets() -> &'static [Asset; 3] {
    static ASSETS: OnceLock<[Asset; 3]> = OnceLock::new();
    ASSETS.get_or_init(|| {
        [
            hashed("app", "css", CSS, "text/css; charset=utf-8"),
            hashed("app", "js", JS, "text/javascript; charset=utf-8"),
            hashed("icon", "svg", ICON, "image/svg+xml"),
        ]
    })
}

/// The stylesheet's URL.
pub(crate) fn css_href() -> String {
    format!("/dashboard/assets/{}", assets()[0].path)
}

/// The script's URL.
pub(crate) fn js_href() -> String {
    format!("/dashboard/assets/{}", assets()[1].path)
}

/// The icon's URL.
pub(crate) fn icon_href() -> String {
    format!("/dashboard/assets/{}", assets()[2].path)
}

/// `GET /dashboard/assets/:file`.
#[poem::handler]
pub(crate) fn serve(Path(file): Path<String>) -> Response {
    match assets().iter().find(|a| a.path == file) {
        Some(asset) => Response::builder()
            .content_type(asset.content_type)
            .header("Cache-Control", "public, max-age=31536000, immutable")
            .body(asset.body),
        None => Response::builder().status(StatusCode::NOT_FOUND).finish(),
    }
}
