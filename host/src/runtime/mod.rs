//! The adapter runtime: one wasmtime `Engine`, adapters loaded (and hot
//! reloaded) from a directory, and a fresh sandboxed `Store` for every call.
//!
//! Invariants:
//! - an adapter sees no files, environment, sockets or credentials; it reaches
//!   the network only through [`outbound`], which enforces its allow-list;
//! - every call gets a fresh store from a cached `InstancePre`, so a trap or a
//!   runaway call poisons nothing but itself;
//! - every call has a memory cap, a CPU deadline (epochs), a wall-clock
//!   deadline (epochs do not advance while the guest waits in a host call),
//!   an outbound request budget and an output size cap ([`limits`]);
//! - the set of adapters is swapped whole; a call keeps the version it started on.

pub mod compile_cache;
pub mod engine;
pub mod host_state;
pub mod invoke;
pub mod limits;
pub mod loader;
pub mod manifest;
pub mod outbound;
pub mod registry;
pub mod watcher;

/// Host-side bindings of `wit/since_v0.1.0`.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.1.0",
        world: "adapter",
        imports: { default: async },
        exports: { default: async },
    });
}

pub use bindings::switchboard::crm::types::{
    CallContext, CallLog, CallLogInput, CallLogUpdate, Contact, CrmError, Direction, Message, MessageLogInput,
    NewContact, UserInfo,
};
pub use invoke::{CallFuture, Containment, InvokeError};
pub use loader::LoadedAdapter;
pub use registry::{AdapterStatus, ReloadReport, Runtime};

/// A call context for an operation.
pub fn call_context(request_id: &str, crm_user_id: &str, hostname: &str) -> CallContext {
    CallContext {
        request_id: request_id.to_owned(),
        crm_user_id: crm_user_id.to_owned(),
        hostname: hostname.to_owned(),
    }
}
