//! The WIT worlds this host serves, one module per released version (`wit/`):
//! [`v0_2_0`], the newest, is the internal model; [`v0_1_0`] is adapted to it.
//! [`Crm`] is one instantiated adapter of any served version, with the newest
//! world's operations: the API calls it without knowing the version.
//!
//! Adding a version: a module with its `bindgen!`, the previous newest module
//! gains the adaptation to it, a variant in [`AdapterPre`] and [`Crm`], and
//! [`SUPPORTED`] lists it.

pub mod v0_1_0;
pub mod v0_2_0;

pub use v0_2_0 as latest;

use super::host_state::HostState;
use anyhow::{Context, Result, bail};
use latest::switchboard::crm::types::{
    CallContext, CallLog, CallLogInput, CallLogUpdate, Contact, CrmError, MessageLogInput, NewContact, UserInfo,
};
use wasmtime::Store;
use wasmtime::component::{HasSelf, InstancePre, Linker};

/// The `switchboard:crm` versions this host serves, oldest first.
pub const SUPPORTED: &[&str] = &["0.1.0", "0.2.0"];

type Answer<T> = wasmtime::Result<Result<T, CrmError>>;

/// Operations of the newest world that older worlds lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    FindContactByName,
    SetCallDisposition,
}

impl Operation {
    /// The WIT name, for messages.
    pub fn wit_name(self) -> &'static str {
        match self {
            Operation::FindContactByName => "find-contact-by-name",
            Operation::SetCallDisposition => "set-call-disposition",
        }
    }
}

/// Links the imports of every served version.
pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    v0_1_0::Adapter::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)
        .map_err(anyhow::Error::from)
        .context("failed to link the switchboard:crm@0.1.0 imports")?;
    v0_2_0::Adapter::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)
        .map_err(anyhow::Error::from)
        .context("failed to link the switchboard:crm@0.2.0 imports")?;
    Ok(())
}

/// A type-checked adapter component of one served version, ready to instantiate.
pub enum AdapterPre {
    V0_1_0(v0_1_0::AdapterPre<HostState>),
    V0_2_0(v0_2_0::AdapterPre<HostState>),
}

impl AdapterPre {
    /// Checks that `pre` exports the world of `version`.
    pub(super) fn new(version: &str, pre: InstancePre<HostState>) -> Result<AdapterPre> {
        Ok(match version {
            "0.1.0" => AdapterPre::V0_1_0(v0_1_0::AdapterPre::new(pre).map_err(anyhow::Error::from)?),
            "0.2.0" => AdapterPre::V0_2_0(v0_2_0::AdapterPre::new(pre).map_err(anyhow::Error::from)?),
            other => bail!("switchboard:crm@{other} is not served by this host (it serves {})", SUPPORTED.join(", ")),
        })
    }

    pub(super) async fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<Crm> {
        Ok(match self {
            AdapterPre::V0_1_0(p) => Crm::V0_1_0(p.instantiate_async(store).await?),
            AdapterPre::V0_2_0(p) => Crm::V0_2_0(p.instantiate_async(store).await?),
        })
    }

    /// Whether the adapter's world has `op` (whether it implements it is the
    /// adapter's answer: it may still say `unsupported`).
    pub fn has(&self, op: Operation) -> bool {
        match (self, op) {
            (AdapterPre::V0_1_0(_), _) => false,
            (AdapterPre::V0_2_0(_), Operation::FindContactByName | Operation::SetCallDisposition) => true,
        }
    }
}

/// One instantiated adapter, whatever its version, with the newest world's operations.
pub enum Crm {
    V0_1_0(v0_1_0::Adapter),
    V0_2_0(v0_2_0::Adapter),
}

/// What an older adapter answers for an operation its world lacks.
fn lacking<T>(op: Operation, version: &str) -> Answer<T> {
    Ok(Err(CrmError::Unsupported(format!(
        "this adapter is built against switchboard:crm@{version}, which has no {}",
        op.wit_name()
    ))))
}

impl Crm {
    pub async fn call_get_user_info(&self, s: &mut Store<HostState>, ctx: &CallContext) -> Answer<UserInfo> {
        match self {
            Crm::V0_1_0(a) => v0_1_0::Operations(a).get_user_info(s, ctx).await,
            Crm::V0_2_0(a) => a.switchboard_crm_crm().call_get_user_info(s, ctx).await,
        }
    }

    pub async fn call_find_contact(
        &self,
        s: &mut Store<HostState>,
        ctx: &CallContext,
        phone: &str,
        formats: &[String],
    ) -> Answer<Vec<Contact>> {
        match self {
            Crm::V0_1_0(a) => v0_1_0::Operations(a).find_contact(s, ctx, phone, formats).await,
            Crm::V0_2_0(a) => a.switchboard_crm_crm().call_find_contact(s, ctx, phone, formats).await,
        }
    }

    pub async fn call_find_contact_by_name(
        &self,
        s: &mut Store<HostState>,
        ctx: &CallContext,
        name: &str,
    ) -> Answer<Vec<Contact>> {
        match self {
            Crm::V0_1_0(_) => lacking(Operation::FindContactByName, "0.1.0"),
            Crm::V0_2_0(a) => a.switchboard_crm_crm().call_find_contact_by_name(s, ctx, name).await,
        }
    }

    pub async fn call_create_contact(
        &self,
        s: &mut Store<HostState>,
        ctx: &CallContext,
        contact: &NewContact,
    ) -> Answer<Contact> {
        match self {
            Crm::V0_1_0(a) => v0_1_0::Operations(a).create_contact(s, ctx, contact).await,
            Crm::V0_2_0(a) => a.switchboard_crm_crm().call_create_contact(s, ctx, contact).await,
        }
    }

    pub async fn call_create_call_log(
        &self,
        s: &mut Store<HostState>,
        ctx: &CallContext,
        log: &CallLogInput,
    ) -> Answer<String> {
        match self {
            Crm::V0_1_0(a) => v0_1_0::Operations(a).create_call_log(s, ctx, log).await,
            Crm::V0_2_0(a) => a.switchboard_crm_crm().call_create_call_log(s, ctx, log).await,
        }
    }

    pub async fn call_update_call_log(
        &self,
        s: &mut Store<HostState>,
        ctx: &CallContext,
        update: &CallLogUpdate,
    ) -> Answer<()> {
        match self {
            Crm::V0_1_0(a) => v0_1_0::Operations(a).update_call_log(s, ctx, update).await,
            Crm::V0_2_0(a) => a.switchboard_crm_crm().call_update_call_log(s, ctx, update).await,
        }
    }

    pub async fn call_get_call_log(
        &self,
        s: &mut Store<HostState>,
        ctx: &CallContext,
        log_id: &str,
    ) -> Answer<CallLog> {
        match self {
            Crm::V0_1_0(a) => v0_1_0::Operations(a).get_call_log(s, ctx, log_id).await,
            Crm::V0_2_0(a) => a.switchboard_crm_crm().call_get_call_log(s, ctx, log_id).await,
        }
    }

    pub async fn call_set_call_disposition(
        &self,
        s: &mut Store<HostState>,
        ctx: &CallContext,
        log_id: &str,
        dispositions_json: &str,
    ) -> Answer<()> {
        match self {
            Crm::V0_1_0(_) => lacking(Operation::SetCallDisposition, "0.1.0"),
            Crm::V0_2_0(a) => {
                a.switchboard_crm_crm().call_set_call_disposition(s, ctx, log_id, dispositions_json).await
            }
        }
    }

    pub async fn call_create_message_log(
        &self,
        s: &mut Store<HostState>,
        ctx: &CallContext,
        log: &MessageLogInput,
    ) -> Answer<String> {
        match self {
            Crm::V0_1_0(a) => v0_1_0::Operations(a).create_message_log(s, ctx, log).await,
            Crm::V0_2_0(a) => a.switchboard_crm_crm().call_create_message_log(s, ctx, log).await,
        }
    }

    pub async fn call_update_message_log(
        &self,
        s: &mut Store<HostState>,
        ctx: &CallContext,
        log_id: &str,
        log: &MessageLogInput,
    ) -> Answer<()> {
        match self {
            Crm::V0_1_0(a) => v0_1_0::Operations(a).update_message_log(s, ctx, log_id, log).await,
            Crm::V0_2_0(a) => a.switchboard_crm_crm().call_update_message_log(s, ctx, log_id, log).await,
        }
    }

    pub async fn call_unauthorize(&self, s: &mut Store<HostState>, ctx: &CallContext) -> Answer<()> {
        match self {
            Crm::V0_1_0(a) => v0_1_0::Operations(a).unauthorize(s, ctx).await,
            Crm::V0_2_0(a) => a.switchboard_crm_crm().call_unauthorize(s, ctx).await,
        }
    }
}
