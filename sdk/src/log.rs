//! Logging into the host's tracing output, tagged by the host with the adapter,
//! the operation and the request id.

use crate::bindings::switchboard::crm::log::Level;

fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::switchboard::crm::log::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    crate::harness::log(level_name(level), message);
}

#[cfg(not(target_arch = "wasm32"))]
fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "TRACE",
        Level::Debug => "DEBUG",
        Level::Info => "INFO",
        Level::Warn => "WARN",
        Level::Error => "ERROR",
    }
}

pub fn debug(message: &str) {
    log(Level::Debug, message);
}

pub fn info(message: &str) {
    log(Level::Info, message);
}

pub fn warn(message: &str) {
    log(Level::Warn, message);
}

pub fn error(message: &str) {
    log(Level::Error, message);
}

/// Installs a panic hook that sends the panic message to the host's log.
///
/// A panic in a component aborts with an `unreachable` trap and loses its
/// message; with this hook the operator sees why. [`crate::export_adapter!`]
/// calls it before every operation, so an adapter need not; call it yourself
/// only in code that runs outside an operation (it is cheap and idempotent).
pub fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The previous hook still runs: natively (unit tests) it is the test
        // runner's, which prints the failed assertion.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            error(&format!("adapter panicked: {info}"));
            previous(info);
        }));
    });
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use crate::harness::Harness;

    #[test]
    fn log_lines_read_level_then_message() {
        let h = Harness::new();
        h.run(|| {
            super::warn("slow CRM");
            super::info("found 2");
        });
        assert_eq!(h.logs(), vec!["WARN slow CRM".to_string(), "INFO found 2".to_string()]);
    }
}
