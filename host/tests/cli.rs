//! The binary refuses to start, saying what to fix, when configuration is missing or wrong.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

use std::process::Command;

fn switchboard(envs: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.current_dir(dir.path()).env_clear();
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.arg("check-config").output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn refuses_to_start_without_a_secret() {
    let (code, text) = switchboard(&[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("refusing to start") && text.contains("APP_SERVER_SECRET_KEY is not set"), "{text}");
}

#[test]
fn refuses_a_missing_adapters_directory_and_accepts_a_valid_config() {
    let secret = "s".repeat(40);
    let key = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
    let (code, text) = switchboard(&[
        ("APP_SERVER_SECRET_KEY", &secret),
        ("SWITCHBOARD_ENCRYPTION_KEY", key),
        ("SWITCHBOARD_ADAPTERS_DIR", "/nonexistent/adapters"),
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("/nonexistent/adapters") && text.contains("cargo xtask adapters"), "{text}");

    let adapters = tempfile::tempdir().unwrap();
    let (code, text) = switchboard(&[
        ("APP_SERVER_SECRET_KEY", &secret),
        ("SWITCHBOARD_ENCRYPTION_KEY", key),
        ("SWITCHBOARD_ADAPTERS_DIR", adapters.path().to_str().unwrap()),
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("configuration is valid"), "{text}");
}
