//! Logging into the host's tracing output, tagged by the host with the adapter,
//! the operation and the request id.

use crate::bindings::switchboard::crm::log::Level;

fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::switchboard::crm::log::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    crate::harness::log(&format!("{level:?}").to_uppercase(), message);
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
/// message; with this hook the operator sees why. Call it at the start of every
/// operation (it is cheap and idempotent), or use [`crate::guard`].
pub fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            error(&format!("adapter panicked: {info}"));
        }));
    });
}
