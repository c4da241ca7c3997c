//! The server's version and release notes, as App Connect clients read them
//! (`GET /serverVersionInfo`, `GET /releaseNotes`). The extension compares
//! `version` with its own release (an update prompt when they differ, release
//! notes when it is newer than the one it saw last), so `version` is the App
//! Connect release whose API is served (`app_connect.version`); Switchboard's
//! own version is `serverVersion`. The notes come from the build:
//! `host/release-notes.json` embedded in the binary, keyed by Switchboard
//! version, then `global` or a platform, each note `{type, description}`;
//! this version's notes are also served under the App Connect version.

use super::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::Value;

/// The version clients compare and show (also the manifest's `version`).
pub(crate) const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");

const RELEASE_NOTES: &str = include_str!("../../release-notes.json");

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VersionInfo {
    version: String,
    server_version: &'static str,
}

/// `GET /serverVersionInfo`
pub(crate) async fn server_version_info(State(state): State<AppState>) -> Json<VersionInfo> {
    Json(VersionInfo { version: state.config.app_connect.version.clone(), server_version: SERVER_VERSION })
}

/// The embedded notes, with this version's also under `app_connect_version`.
fn notes_for(app_connect_version: &str) -> Value {
    let mut notes: Value = serde_json::from_str(RELEASE_NOTES).unwrap_or_default();
    if let Some(map) = notes.as_object_mut()
        && let Some(current) = map.get(SERVER_VERSION).cloned()
    {
        map.entry(app_connect_version.to_owned()).or_insert(current);
    }
    notes
}

/// `GET /releaseNotes`
pub(crate) async fn release_notes(State(state): State<AppState>) -> Json<Value> {
    Json(notes_for(&state.config.app_connect.version))
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
        assert_eq!(notes_for("1.6.7")["1.6.7"], notes[SERVER_VERSION], "also under the App Connect release");
    }
}
