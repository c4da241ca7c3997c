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
use std::sync::Arc;
use wasmtime::Store;
use wasmtime::component::{
    ComponentExportIndex, ComponentNamedList, HasSelf, Instance, InstancePre, Lift, Linker, Lower,
};

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
    /// Type-checked whole once, here; each call then finds only the export it calls.
    V0_2_0(v0_2_0::AdapterPre<HostState>, Arc<LatestExports>),
}

/// Where the newest world's operations are among a component's exports.
///
/// Why not the bindings' instantiation: it type-checks every export again
/// at every instantiation, a fresh instance per call (~4 % of a
/// `GET /contact`'s instructions, callgrind). The component was checked
/// against the whole world when it was loaded ([`AdapterPre::new`]); a
/// call checks the one function it calls.
pub struct LatestExports {
    get_user_info: ComponentExportIndex,
    find_contact: ComponentExportIndex,
    find_contact_by_name: ComponentExportIndex,
    create_contact: ComponentExportIndex,
    create_call_log: ComponentExportIndex,
    update_call_log: ComponentExportIndex,
    get_call_log: ComponentExportIndex,
    set_call_disposition: ComponentExportIndex,
    create_message_log: ComponentExportIndex,
    update_message_log: ComponentExportIndex,
    unauthorize: ComponentExportIndex,
}

/// The newest world's interface, as the component exports it.
const LATEST_INTERFACE: &str = "switchboard:crm/crm@0.2.0";

impl LatestExports {
    fn of(pre: &InstancePre<HostState>) -> Result<LatestExports> {
        let component = pre.component();
        let interface = component
            .get_export_index(None, LATEST_INTERFACE)
            .with_context(|| format!("the component does not export {LATEST_INTERFACE}"))?;
        let func = |name: &str| {
            component
                .get_export_index(Some(&interface), name)
                .with_context(|| format!("{LATEST_INTERFACE} has no export {name}"))
        };
        Ok(LatestExports {
            get_user_info: func("get-user-info")?,
            find_contact: func("find-contact")?,
            find_contact_by_name: func("find-contact-by-name")?,
            create_contact: func("create-contact")?,
            create_call_log: func("create-call-log")?,
            update_call_log: func("update-call-log")?,
            get_call_log: func("get-call-log")?,
            set_call_disposition: func("set-call-disposition")?,
            create_message_log: func("create-message-log")?,
            update_message_log: func("update-message-log")?,
            unauthorize: func("unauthorize")?,
        })
    }
}

/// Calls one export of a newest-world instance, type-checking only it.
async fn call_latest<P, R>(
    instance: &Instance,
    store: &mut Store<HostState>,
    export: &ComponentExportIndex,
    params: P,
) -> Answer<R>
where
    P: ComponentNamedList + Lower + Send + Sync,
    (Result<R, CrmError>,): ComponentNamedList + Lift + Send + Sync + 'static,
{
    let func = instance.get_typed_func::<P, (Result<R, CrmError>,)>(&mut *store, export)?;
    let (answer,) = func.call_async(&mut *store, params).await?;
    Ok(answer)
}

impl AdapterPre {
    /// Checks that `pre` exports the world of `version`.
    pub(super) fn new(version: &str, pre: InstancePre<HostState>) -> Result<AdapterPre> {
        Ok(match version {
            "0.1.0" => AdapterPre::V0_1_0(v0_1_0::AdapterPre::new(pre).map_err(anyhow::Error::from)?),
            "0.2.0" => {
                // The bindings' check first: its message names what is wrong.
                let checked = v0_2_0::AdapterPre::new(pre.clone()).map_err(anyhow::Error::from)?;
                AdapterPre::V0_2_0(checked, Arc::new(LatestExports::of(&pre)?))
            }
            other => bail!("switchboard:crm@{other} is not served by this host (it serves {})", SUPPORTED.join(", ")),
        })
    }

    pub(super) async fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<Crm> {
        Ok(match self {
            AdapterPre::V0_1_0(p) => Crm::V0_1_0(p.instantiate_async(store).await?),
            AdapterPre::V0_2_0(p, exports) => {
                Crm::V0_2_0(p.instance_pre().instantiate_async(store).await?, exports.clone())
            }
        })
    }

    /// Whether the adapter's world has `op` (whether it implements it is the
    /// adapter's answer: it may still say `unsupported`).
    pub fn has(&self, op: Operation) -> bool {
        match (self, op) {
            (AdapterPre::V0_1_0(_), _) => false,
            (AdapterPre::V0_2_0(..), Operation::FindContactByName | Operation::SetCallDisposition) => true,
        }
    }
}

/// One instantiated adapter, whatever its version, with the newest world's operations.
pub enum Crm {
    V0_1_0(v0_1_0::Adapter),
    V0_2_0(Instance, Arc<LatestExports>),
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
            Crm::V0_2_0(i, e) => call_latest(i, s, &e.get_user_info, (ctx,)).await,
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
            Crm::V0_2_0(i, e) => call_latest(i, s, &e.find_contact, (ctx, phone, formats)).await,
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
            Crm::V0_2_0(i, e) => call_latest(i, s, &e.find_contact_by_name, (ctx, name)).await,
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
            Crm::V0_2_0(i, e) => call_latest(i, s, &e.create_contact, (ctx, contact)).await,
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
            Crm::V0_2_0(i, e) => call_latest(i, s, &e.create_call_log, (ctx, log)).await,
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
            Crm::V0_2_0(i, e) => call_latest(i, s, &e.update_call_log, (ctx, update)).await,
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
            Crm::V0_2_0(i, e) => call_latest(i, s, &e.get_call_log, (ctx, log_id)).await,
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
            Crm::V0_2_0(i, e) => call_latest(i, s, &e.set_call_disposition, (ctx, log_id, dispositions_json)).await,
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
            Crm::V0_2_0(i, e) => call_latest(i, s, &e.create_message_log, (ctx, log)).await,
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
            Crm::V0_2_0(i, e) => call_latest(i, s, &e.update_message_log, (ctx, log_id, log)).await,
        }
    }

    pub async fn call_unauthorize(&self, s: &mut Store<HostState>, ctx: &CallContext) -> Answer<()> {
        match self {
            Crm::V0_1_0(a) => v0_1_0::Operations(a).unauthorize(s, ctx).await,
            Crm::V0_2_0(i, e) => call_latest(i, s, &e.unauthorize, (ctx,)).await,
        }
    }
}
