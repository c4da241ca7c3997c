//! Connect secrets signed by PyJWT (from PyPI): an implementation of JWT
//! independent of the host's, run as `python3`.

use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};

const SIGNER: &str = r#"
import json, sys, jwt
job = json.load(sys.stdin)
print(jwt.encode(job["claims"], job["key"], algorithm=job["alg"], headers=job["headers"]))
"#;

/// A JWT signed by PyJWT.
pub fn sign(key: &str, alg: &str, kid: &str, claims: &Value) -> String {
    let job = json!({"key": key, "alg": alg, "headers": {"kid": kid}, "claims": claims});
    let mut child = Command::new("python3")
        .args(["-c", SIGNER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child.stdin.take().unwrap().write_all(job.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "PyJWT (pip install 'pyjwt[crypto]'): {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Whether PyJWT is installed; skips where it is not, except under `CI=true`.
pub fn pyjwt() -> bool {
    let found = Command::new("python3").args(["-c", "import jwt, cryptography"]).status().is_ok_and(|s| s.success());
    if !found {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "PyJWT must be installed in CI (.ci/run does)");
        eprintln!("skipped: PyJWT is not installed (python3 -m pip install 'pyjwt[crypto]')");
    }
    found
}
