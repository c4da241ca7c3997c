//! The server's version and release notes, as App Connect clients read them
//! (`GET /serverVersionInfo`, `GET /releaseNotes`). Both come from the build:
//! the crate version, and `host/release-notes.json` embedded in the binary,
//! keyed by version, then `global` or a platform, each note `{type, description}`.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The version clients compare and show (also the manifest's `version`).
pub(crate) const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");

const RELEASE_NOTES: &str = include_str!("../../release-notes.json");

#[derive(Serialize)]
pub(crate) struct VersionInfo {
    version: &'static str,
}

/// `GET /serverVersionInfo`
pub(crate) async fn server_version_info() -> Json<VersionInfo> {
    Json(VersionInfo { version: SERVER_VERSION })
}

/// `GET /releaseNotes`
pub(crate) async fn release_notes() -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], RELEASE_NOTES).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_version_has_release_notes_in_the_shape_clients_read() {
        let notes: serde_json::Value = serde_json::from_str(RELEASE_NOTES).unwrap();
        let global = notes[SERVER_VERSION]["global"].as_array().expect("notes for this version");
        assert!(!global.is_empty());
        for note in global {
            assert!(note["type"].is_string() && note["description"].is_string(), "{note}");
        }
    }
}
