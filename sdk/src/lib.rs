//! The Switchboard adapter SDK.
//!
//! An adapter is a WebAssembly component implementing the `switchboard:crm/adapter`
//! world (see `wit/`). This crate gives adapter authors:
//! - the generated bindings ([`bindings`]) and the [`export_adapter!`] macro,
//!   which exports your type and installs the panic hook before every operation,
//! - [`http`]: JSON requests over the host's `http` import, with CRM status codes
//!   mapped to [`CrmError`] (401 → `unauthorized`, 429 → `rate-limited`...) by a
//!   [`http::StatusMap`] an adapter can adjust to its CRM's error answers,
//! - [`phone`]: E.164 parsing, App Connect `overridingFormat` patterns, digits,
//! - [`call_log`] and [`text`]: default subjects, direction words and durations
//!   for the notes adapters write,
//! - [`log`]: logging into the host's structured logs, and the panic hook that
//!   reports the panic message before the component aborts,
//! - [`config`] and [`request_budget`]: the operator's settings and the call's
//!   outbound request budget,
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
    //!
    //! Their export macro, `__export_raw`, is internal: adapters use
    //! [`crate::export_adapter!`], which wraps it.
    wit_bindgen::generate!({
        world: "adapter",
        path: "../wit/since_v0.2.0",
        pub_export_macro: true,
        export_macro_name: "__export_raw",
        default_bindings_module: "switchboard_sdk::bindings",
    });
}

pub mod call_log;
#[cfg(not(target_arch = "wasm32"))]
pub mod harness;
pub mod http;
pub mod log;
pub mod phone;
pub mod text;

/// The version of the WIT world this SDK builds adapters against.
pub const WIT_VERSION: &str = "0.2.0";

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

/// The reserved [`config`] key under which the host gives the call's total
/// outbound request budget (the operator's `limits.outbound_requests_per_call`),
/// as a decimal string. Read it with [`request_budget`].
pub const REQUEST_BUDGET_KEY: &str = "switchboard.outbound_requests_per_call";

/// The host's default outbound request budget of one call.
pub const DEFAULT_REQUEST_BUDGET: usize = 25;

/// How many outbound requests this call may send in all (each request of an
/// [`http::send_all`] batch counts): what the host says under
/// [`REQUEST_BUDGET_KEY`], else [`DEFAULT_REQUEST_BUDGET`] (a host that does
/// not say, or an answer that is not a number). Past it the host refuses
/// further requests, so an adapter that fans out (pages, enrichment) should
/// plan within it. The native test harness answers 25 unless the test sets
/// it (`Harness::request_budget`).
pub fn request_budget() -> usize {
    config(REQUEST_BUDGET_KEY).and_then(|v| v.trim().parse().ok()).unwrap_or(DEFAULT_REQUEST_BUDGET)
}

/// What an adapter implements: one function per operation of the
/// `switchboard:crm` world. Export your type with [`export_adapter!`].
///
/// The operations that came after WIT 0.1.0 ([`Adapter::find_contact_by_name`],
/// [`Adapter::set_call_disposition`]) have a default that declines them with
/// [`CrmError::Unsupported`]: implement them where the CRM can.
pub trait Adapter {
    /// Who the connection's credentials belong to; also validates them at login.
    fn get_user_info(ctx: CallContext) -> Result<UserInfo, CrmError>;
    /// Contacts matching an E.164 number or any of the `overriding_formats`
    /// (App Connect patterns such as `(***) ***-****`).
    fn find_contact(
        ctx: CallContext,
        phone_number: String,
        overriding_formats: Vec<String>,
    ) -> Result<Vec<Contact>, CrmError>;
    /// Creates a contact.
    fn create_contact(ctx: CallContext, contact: NewContact) -> Result<Contact, CrmError>;
    /// Records a call; returns the CRM's id of the new log. Use
    /// `log.idempotency_key` where the CRM can, so a retry after a crash
    /// finds the first record.
    fn create_call_log(ctx: CallContext, log: CallLogInput) -> Result<String, CrmError>;
    /// Changes fields of a logged call; `None` leaves a field unchanged.
    fn update_call_log(ctx: CallContext, update: CallLogUpdate) -> Result<(), CrmError>;
    /// Reads a logged call back.
    fn get_call_log(ctx: CallContext, log_id: String) -> Result<CallLog, CrmError>;
    /// Starts the CRM record of a conversation with its first message; returns its id.
    fn create_message_log(ctx: CallContext, log: MessageLogInput) -> Result<String, CrmError>;
    /// Adds a later message of the same conversation to its record.
    fn update_message_log(ctx: CallContext, log_id: String, log: MessageLogInput) -> Result<(), CrmError>;
    /// Revokes the connection at the CRM where it supports that.
    fn unauthorize(ctx: CallContext) -> Result<(), CrmError>;
    /// Contacts whose name matches what the user typed (two characters or more).
    /// Default: `unsupported`.
    fn find_contact_by_name(_ctx: CallContext, _name: String) -> Result<Vec<Contact>, CrmError> {
        Err(CrmError::Unsupported("this adapter does not offer searching contacts by name".into()))
    }
    /// Sets a logged call's dispositions: the log form's fields (a deal, a
    /// matter...) as a JSON object.
    /// Default: `unsupported`.
    fn set_call_disposition(_ctx: CallContext, _log_id: String, _dispositions_json: String) -> Result<(), CrmError> {
        Err(CrmError::Unsupported("this adapter does not offer call dispositions".into()))
    }
}

/// Exports `MyType` (which implements [`Adapter`]) as the component's
/// `switchboard:crm/crm` implementation. Write it once, at the crate root:
///
/// ```ignore
/// struct MyCrm;
/// impl switchboard_sdk::Adapter for MyCrm { /* ... */ }
/// switchboard_sdk::export_adapter!(MyCrm);
/// ```
///
/// Every operation first installs [`log::install_panic_hook`], so a panic's
/// message reaches the host's log before the component traps; the operations
/// need not call it themselves. (The macro exports a private wrapper type that
/// installs the hook and then calls `<MyType as Adapter>::operation`.)
#[macro_export]
macro_rules! export_adapter {
    ($ty:ty) => {
        const _: () = {
            struct __SwitchboardExport;

            impl $crate::bindings::exports::switchboard::crm::crm::Guest for __SwitchboardExport {
                fn get_user_info(
                    ctx: $crate::CallContext,
                ) -> ::core::result::Result<$crate::UserInfo, $crate::CrmError> {
                    $crate::log::install_panic_hook();
                    <$ty as $crate::Adapter>::get_user_info(ctx)
                }
                fn find_contact(
                    ctx: $crate::CallContext,
                    phone_number: ::std::string::String,
                    overriding_formats: ::std::vec::Vec<::std::string::String>,
                ) -> ::core::result::Result<::std::vec::Vec<$crate::Contact>, $crate::CrmError> {
                    $crate::log::install_panic_hook();
                    <$ty as $crate::Adapter>::find_contact(ctx, phone_number, overriding_formats)
                }
                fn create_contact(
                    ctx: $crate::CallContext,
                    contact: $crate::NewContact,
                ) -> ::core::result::Result<$crate::Contact, $crate::CrmError> {
                    $crate::log::install_panic_hook();
                    <$ty as $crate::Adapter>::create_contact(ctx, contact)
                }
                fn create_call_log(
                    ctx: $crate::CallContext,
                    log: $crate::CallLogInput,
                ) -> ::core::result::Result<::std::string::String, $crate::CrmError> {
                    $crate::log::install_panic_hook();
                    <$ty as $crate::Adapter>::create_call_log(ctx, log)
                }
                fn update_call_log(
                    ctx: $crate::CallContext,
                    update: $crate::CallLogUpdate,
                ) -> ::core::result::Result<(), $crate::CrmError> {
                    $crate::log::install_panic_hook();
                    <$ty as $crate::Adapter>::update_call_log(ctx, update)
                }
                fn get_call_log(
                    ctx: $crate::CallContext,
                    log_id: ::std::string::String,
                ) -> ::core::result::Result<$crate::CallLog, $crate::CrmError> {
                    $crate::log::install_panic_hook();
                    <$ty as $crate::Adapter>::get_call_log(ctx, log_id)
                }
                fn create_message_log(
                    ctx: $crate::CallContext,
                    log: $crate::MessageLogInput,
                ) -> ::core::result::Result<::std::string::String, $crate::CrmError> {
                    $crate::log::install_panic_hook();
                    <$ty as $crate::Adapter>::create_message_log(ctx, log)
                }
                fn update_message_log(
                    ctx: $crate::CallContext,
                    log_id: ::std::string::String,
                    log: $crate::MessageLogInput,
                ) -> ::core::result::Result<(), $crate::CrmError> {
                    $crate::log::install_panic_hook();
                    <$ty as $crate::Adapter>::update_message_log(ctx, log_id, log)
                }
                fn unauthorize(ctx: $crate::CallContext) -> ::core::result::Result<(), $crate::CrmError> {
                    $crate::log::install_panic_hook();
                    <$ty as $crate::Adapter>::unauthorize(ctx)
                }
                fn find_contact_by_name(
                    ctx: $crate::CallContext,
                    name: ::std::string::String,
                ) -> ::core::result::Result<::std::vec::Vec<$crate::Contact>, $crate::CrmError> {
                    $crate::log::install_panic_hook();
                    <$ty as $crate::Adapter>::find_contact_by_name(ctx, name)
                }
                fn set_call_disposition(
                    ctx: $crate::CallContext,
                    log_id: ::std::string::String,
                    dispositions_json: ::std::string::String,
                ) -> ::core::result::Result<(), $crate::CrmError> {
                    $crate::log::install_panic_hook();
                    <$ty as $crate::Adapter>::set_call_disposition(ctx, log_id, dispositions_json)
                }
            }

    $crate::bindings::__export_raw!(__SwitchboardExport with_types_in $crate::bindings);
        };
    };
}

/// Everything an adapter usually needs, in one `use`.
pub mod prelude {
    pub use crate::http::{Request, Response, StatusMap};
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
