//! The adapter runtime: one wasmtime `Engine`, adapters loaded from a directory,
//! and a fresh sandboxed `Store` for every call.
//!
//! Invariants:
//! - an adapter sees no files, environment, sockets or credentials; it reaches
//!   the network only through [`outbound`], which enforces its allow-list;
//! - every call gets a fresh store from a cached `InstancePre`, so a trap or a
//!   runaway call poisons nothing but itself;
//! - every call has a memory cap, a CPU deadline (epochs) and a wall-clock
//!   deadline (epochs do not advance while the guest waits in a host call).

pub mod engine;
pub mod host_state;
pub mod manifest;
pub mod outbound;
pub mod registry;

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
    CallContext, CallLog, CallLogInput, CallLogUpdate, Contact, CrmError, Direction, Message,
    MessageLogInput, NewContact, UserInfo,
};
pub use registry::{InvokeError, LoadedAdapter, Runtime};
