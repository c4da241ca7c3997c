//! The Switchboard adapter SDK.
//!
//! An adapter is a WebAssembly component implementing the `switchboard:crm/adapter`
//! world (see `wit/`). This crate gives adapter authors:
//! - the generated bindings ([`bindings`]) and the [`export_adapter!`] macro,
//! - [`http`]: JSON requests over the host's `http` import, with CRM status codes
//!   mapped to [`CrmError`] (401 → `unauthorized`, 429 → `rate-limited`...),
//! - [`phone`]: E.164 parsing and App Connect `overridingFormat` patterns,
//! - [`log`]: logging into the host's structured logs, and a panic hook that
//!   reports the panic message before the component aborts,
//! - `harness` (native builds only): unit-test an adapter with `cargo test`
//!   against scripted HTTP, without building wasm or starting the host.
//!
//! ```ignore
//! use switchboard_sdk::prelude::*;
//! struct MyCrm;
//! impl Adapter for MyCrm { /* one method per CRM operation */ }
//! switchboard_sdk::export_adapter!(MyCrm);
//! ```

pub mod bindings {
    //! Raw bindings generated from the WIT world by wit-bindgen.
    wit_bindgen::generate!({
        world: "adapter",
        path: "../wit/since_v0.1.0",
        pub_export_macro: true,
        export_macro_name: "export_adapter",
        default_bindings_module: "switchboard_sdk::bindings",
    });
}

pub mod call_log;
#[cfg(not(target_arch = "wasm32"))]
pub mod harness;
pub mod http;
pub mod log;
pub mod phone;

/// The version of the WIT world this SDK builds adapters against.
pub const WIT_VERSION: &str = "0.1.0";

pub use bindings::export_adapter;
pub use bindings::exports::switchboard::crm::crm::Guest as Adapter;
pub use bindings::switchboard::crm::types::{
    CallContext, CallLog, CallLogInput, CallLogUpdate, Contact, CrmError, Direction, Message, MessageLogInput,
    NewContact, UserInfo,
};

/// Reads a non-secret setting the operator gave this adapter.
pub fn config(key: &str) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    return bindings::switchboard::crm::config::get(key);
    #[cfg(not(target_arch = "wasm32"))]
    return harness::config(key);
}

/// Everything an adapter usually needs, in one `use`.
pub mod prelude {
    pub use crate::http::{Request, Response};
    pub use crate::{
        Adapter, CallContext, CallLog, CallLogInput, CallLogUpdate, Contact, CrmError, Direction, Message,
        MessageLogInput, NewContact, UserInfo,
    };
}

impl From<serde_json::Error> for CrmError {
    fn from(e: serde_json::Error) -> Self {
        CrmError::Upstream(format!("unexpected JSON from the CRM: {e}"))
    }
}
