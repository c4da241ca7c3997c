//! Developer and CI tasks, run as `cargo xtask <task>` from the repository root.
//!
//! - `adapters`: installs the `wasm32-wasip2` target if missing, builds the
//!   adapter components (release) and lays them out with their manifests in
//!   `target/adapters/` (bundled) and `target/adapter-fixtures/` (test fixtures).
//! - `run`: builds everything, starts the Test CRM and the server with
//!   embedded defaults (SQLite under `data/`, the bundled adapters).
//! - `test [args]`: builds the adapters, runs their native unit tests, then
//!   `cargo test --workspace [args]`.
//! - `switchboard [args]`: the server's own commands (`workspace create …`)
//!   against the database and keys `run` uses.
//! - `ci`: what `.ci/run` does: adapters, fmt, clippy, the tests with PostgreSQL.
//! - `bench`: release build, then `switchboard-bench` runs the host and the
//!   fake CRM as processes and prints what the host costs beside the upstream
//!   (README.md, "Measuring"; PostgreSQL at `SWITCHBOARD_BENCH_POSTGRES_URL`).
//!
//! No dependencies, so it compiles in a second.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};

const WASM_TARGET: &str = "wasm32-wasip2";
/// Adapters shipped with the server.
const BUNDLED: &[&str] = &["testcrm", "clio", "pipedrive", "jira"];
/// Adapters that exist to test containment; never loaded by `run`. A crate
/// directory with several `<platform>.toml` manifests is installed once per
/// manifest (one hostile component, many misbehaviours).
const FIXTURES: &[(&str, &str)] = &[
    ("trapcrm", "fixtures/trapcrm"),
    ("hostile", "fixtures/hostile"),
    ("futurecrm", "fixtures/futurecrm"),
    ("legacycrm", "fixtures/legacycrm"),
];
const TESTCRM_ADDR: &str = "127.0.0.1:8181";
const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("adapters") => build_adapters().map(|_| ()),
        Some("run") => run(),
        Some("test") => test(&args[1..]),
        Some("ci") => ci(),
        Some("bench") => bench(),
        Some("switchboard") => switchboard(&args[1..]),
        _ => Err("usage: cargo xtask <adapters|run|test [cargo test args]|ci|bench|switchboard [args]>".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_owned()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // `cargo run` gave us xtask's own package variables; some build scripts
    // (ring's) watch CARGO_MANIFEST_DIR, so passing them on would make the
    // nested build recompile what a plain `cargo build` already built.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_")
            || ["CARGO_CRATE_NAME", "CARGO_BIN_NAME", "CARGO_PRIMARY_PACKAGE"].contains(&key.as_str())
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn status(cmd: &mut Command) -> Result {
    // Program and arguments only: the environment may hold secrets.
    let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    let shown = format!("{} {}", cmd.get_program().to_string_lossy(), args.join(" "));
    eprintln!("xtask: running {shown}");
    let st = cmd.status().map_err(|e| format!("cannot run {shown}: {e}"))?;
    if st.success() { Ok(()) } else { Err(format!("{shown} failed ({st})")) }
}

fn ensure_wasm_target() -> Result {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("rustup is needed to add the {WASM_TARGET} target: {e}"))?;
    if String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == WASM_TARGET) {
        return Ok(());
    }
    status(Command::new("rustup").args(["target", "add", WASM_TARGET]))
}

/// Builds the components; returns the directory of the bundled adapters.
fn build_adapters() -> Result<PathBuf> {
    ensure_wasm_target()?;
    let root = root();
    let wasm_target_dir = root.join("target/wasm");
    // Built from inside adapters/ so its .cargo/config.toml (the target) applies.
    status(
        cargo()
            .current_dir(root.join("adapters"))
            .env("CARGO_TARGET_DIR", &wasm_target_dir)
            .args(["build", "--release"])
            .args(locked()),
    )?;
    let built = wasm_target_dir.join(WASM_TARGET).join("release");
    let bundled_dir = root.join("target/adapters");
    let fixtures_dir = root.join("target/adapter-fixtures");
    for dir in [&bundled_dir, &fixtures_dir] {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let crate_dirs =
        BUNDLED.iter().map(|n| (*n, *n, &bundled_dir)).chain(FIXTURES.iter().map(|(n, d)| (*n, *d, &fixtures_dir)));
    for (name, crate_dir, out) in crate_dirs {
        for (platform, manifest) in manifests(&root.join("adapters").join(crate_dir), name)? {
            copy(&built.join(format!("{name}.wasm")), &out.join(format!("{platform}.wasm")))?;
            copy(&manifest, &out.join(format!("{platform}.toml")))?;
        }
    }
    eprintln!("xtask: adapters ready in {} (fixtures in {})", bundled_dir.display(), fixtures_dir.display());
    Ok(bundled_dir)
}

/// `(install name, manifest)` pairs of a crate: `manifest.toml` installs under
/// the crate's own name, `<platform>.toml` under that platform.
fn manifests(crate_dir: &Path, name: &str) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let entries = fs::read_dir(crate_dir).map_err(|e| format!("cannot read {}: {e}", crate_dir.display()))?;
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        let (Some(stem), Some("toml")) =
            (path.file_stem().and_then(|s| s.to_str()), path.extension().and_then(|s| s.to_str()))
        else {
            continue;
        };
        match stem {
            "Cargo" => {}
            "manifest" => out.push((name.to_owned(), path.clone())),
            platform => out.push((platform.to_owned(), path.clone())),
        }
    }
    if out.is_empty() {
        return Err(format!("{} has no adapter manifest", crate_dir.display()));
    }
    Ok(out)
}

/// In CI the lock files must be up to date: `--locked` fails the run otherwise.
fn locked() -> &'static [&'static str] {
    if std::env::var("CI").is_ok_and(|v| v == "true") { &["--locked"] } else { &[] }
}

fn copy(from: &Path, to: &Path) -> Result {
    // Write to a temporary name and rename, so a watching server never sees half a file.
    let tmp = to.with_extension("partial");
    fs::copy(from, &tmp).map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), tmp.display()))?;
    fs::rename(&tmp, to).map_err(|e| format!("cannot rename {}: {e}", tmp.display()))
}

fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(buf)
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            (chunk[0] as u32) << 16 | (*chunk.get(1).unwrap_or(&0) as u32) << 8 | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Development secrets, generated once and kept in `data/dev-secrets.env`
/// (the admin token for the console too; added to an older file).
fn dev_secrets(data: &Path) -> Result<Vec<(String, String)>> {
    let file = data.join("dev-secrets.env");
    let hex = |n| -> Result<String> { Ok(random_bytes(n)?.iter().map(|b| format!("{b:02x}")).collect()) };
    if !file.exists() {
        fs::create_dir_all(data).map_err(|e| e.to_string())?;
        let key = base64(&random_bytes(32)?);
        fs::write(&file, format!("APP_SERVER_SECRET_KEY={}\nSWITCHBOARD_ENCRYPTION_KEY={key}\n", hex(32)?))
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    }
    let mut text = fs::read_to_string(&file).map_err(|e| e.to_string())?;
    if !text.lines().any(|l| l.starts_with("SWITCHBOARD_ADMIN_TOKEN=")) {
        text.push_str(&format!("SWITCHBOARD_ADMIN_TOKEN={}\n", hex(24)?));
        fs::write(&file, &text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    }
    Ok(text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run() -> Result {
    let root = root();
    let adapters = build_adapters()?;
    status(cargo().current_dir(&root).args(["build", "--workspace", "--bins"]))?;
    let _crm = KillOnDrop(
        Command::new(root.join("target/debug/testcrm-server"))
            .args(["--bind", TESTCRM_ADDR])
            .spawn()
            .map_err(|e| format!("cannot start the Test CRM: {e}"))?,
    );
    let bind = std::env::var("SWITCHBOARD_BIND").unwrap_or_else(|_| "127.0.0.1:8080".into());
    eprintln!(
        "\nxtask: starting switchboard on http://{bind} with SQLite in data/, adapters from target/adapters,\n\
         and the Test CRM on http://{TESTCRM_ADDR} (API key: demo-api-key).\n\
         The operator console: http://{bind}/admin (its admin token is SWITCHBOARD_ADMIN_TOKEN in data/dev-secrets.env).\n\
         A widget token for a page on http://localhost:3000: cargo xtask switchboard dev widget-token\n\
         Next: follow the curl session in README.md (\"Try it\"). Ctrl-C stops both.\n"
    );
    let mut host = dev_host(&root, &adapters)?;
    host.env("SWITCHBOARD_BIND", &bind);
    status(&mut host)
}

/// The server binary set up as `run` sets it up: its data, keys and adapters.
fn dev_host(root: &Path, adapters: &Path) -> Result<Command> {
    let data = root.join("data");
    let mut host = Command::new(root.join("target/debug/switchboard"));
    host.current_dir(root)
        .envs(dev_secrets(&data)?)
        .env("SWITCHBOARD_DATA_DIR", &data)
        .env("SWITCHBOARD_ADAPTERS_DIR", adapters)
        .env("SWITCHBOARD_UPSTREAM_OVERRIDES", format!("https://api.testcrm.example=http://{TESTCRM_ADDR}"));
    Ok(host)
}

/// `cargo xtask switchboard workspace create …`: one of the server's commands
/// on `run`'s database.
fn switchboard(args: &[String]) -> Result {
    let root = root();
    status(cargo().current_dir(&root).args(["build", "--workspace", "--bin", "switchboard"]))?;
    let mut host = dev_host(&root, &root.join("target/adapters"))?;
    status(host.args(args))
}

fn bench() -> Result {
    let root = root();
    let adapters = build_adapters()?;
    status(cargo().current_dir(&root).args(["build", "--release", "--workspace", "--bins"]))?;
    status(Command::new(root.join("target/release/switchboard-bench")).arg(adapters))
}

/// The adapters' native unit tests (through the SDK harness): the adapters
/// workspace targets wasm32-wasip2, so name the host's target explicitly.
fn adapter_unit_tests() -> Result {
    let out = Command::new("rustc").arg("-vV").output().map_err(|e| format!("cannot run rustc: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let host = text.lines().find_map(|l| l.strip_prefix("host: ")).ok_or("rustc -vV printed no host triple")?;
    let root = root();
    status(
        cargo()
            .current_dir(root.join("adapters"))
            .env("CARGO_TARGET_DIR", root.join("target/adapters-native"))
            .args(["test", "--target", host])
            .args(locked()),
    )
}

/// Installs playwright-core for the browser tests (`tests/browser`) when npm
/// is here and it is not: best effort, as the browser tests skip without it
/// (except under `CI=true`, where `.ci/run` installs chromium too).
fn browser_packages() {
    let dir = root().join("tests/browser");
    if dir.join("node_modules/playwright-core").exists() {
        return;
    }
    let done = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .status()
        .is_ok_and(|s| s.success());
    if !done {
        eprintln!("xtask: could not install tests/browser's npm packages; the browser tests will skip");
    }
}

fn test(args: &[String]) -> Result {
    build_adapters()?;
    browser_packages();
    adapter_unit_tests()?;
    status(cargo().current_dir(root()).args(["test", "--workspace"]).args(args))
}

fn ci() -> Result {
    let root = root();
    build_adapters()?;
    browser_packages();
    status(cargo().current_dir(&root).args(["fmt", "--all", "--", "--check"]))?;
    status(cargo().current_dir(root.join("adapters")).args(["fmt", "--all", "--", "--check"]))?;
    status(cargo().current_dir(root.join("adapters")).env("CARGO_TARGET_DIR", root.join("target/wasm")).args([
        "clippy",
        "--release",
        "--locked",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    status(cargo().current_dir(&root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;
    adapter_unit_tests()?;
    let pg = std::env::var("SWITCHBOARD_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.into());
    status(cargo().current_dir(&root).env("SWITCHBOARD_TEST_POSTGRES_URL", pg).args([
        "test",
        "--workspace",
        "--locked",
    ]))
}
