//! `switchboard:crm@0.1.0` (`wit/since_v0.1.0`), adapted to the newest world:
//! its imports are served by the newest ones, its operations take and give the
//! newest types, and the operations it lacks answer `unsupported`.

wasmtime::component::bindgen!({
    path: "../wit/since_v0.1.0",
    world: "adapter",
    imports: { default: async },
    exports: { default: async },
});

use self::switchboard::crm::{config as old_config, http as old_http, log as old_log, types as old};
use super::latest::switchboard::crm::{config, http, log, types as new};
use crate::runtime::host_state::HostState;
use wasmtime::Store;

type Answer<T> = wasmtime::Result<Result<T, new::CrmError>>;

// The imports: a 0.1.0 adapter gets exactly what a 0.2.0 one gets.

impl old::Host for HostState {}

impl old_http::Host for HostState {
    async fn send(&mut self, request: old_http::Request) -> Result<old_http::Response, old_http::HttpError> {
        http::Host::send(self, request.into()).await.map(Into::into).map_err(Into::into)
    }

    async fn send_all(
        &mut self,
        requests: Vec<old_http::Request>,
    ) -> Vec<Result<old_http::Response, old_http::HttpError>> {
        let requests = requests.into_iter().map(Into::into).collect();
        http::Host::send_all(self, requests).await.into_iter().map(|r| r.map(Into::into).map_err(Into::into)).collect()
    }
}

impl old_log::Host for HostState {
    async fn log(&mut self, level: old_log::Level, message: String) {
        let level = match level {
            old_log::Level::Trace => log::Level::Trace,
            old_log::Level::Debug => log::Level::Debug,
            old_log::Level::Info => log::Level::Info,
            old_log::Level::Warn => log::Level::Warn,
            old_log::Level::Error => log::Level::Error,
        };
        log::Host::log(self, level, message).await
    }
}

impl old_config::Host for HostState {
    async fn get(&mut self, key: String) -> Option<String> {
        config::Host::get(self, key).await
    }
}

impl From<old_http::Request> for http::Request {
    fn from(r: old_http::Request) -> Self {
        let method = match r.method {
            old_http::Method::Get => http::Method::Get,
            old_http::Method::Post => http::Method::Post,
            old_http::Method::Put => http::Method::Put,
            old_http::Method::Patch => http::Method::Patch,
            old_http::Method::Delete => http::Method::Delete,
        };
        http::Request { method, url: r.url, headers: r.headers, body: r.body }
    }
}

impl From<http::Response> for old_http::Response {
    fn from(r: http::Response) -> Self {
        old_http::Response { status: r.status, headers: r.headers, body: r.body }
    }
}

impl From<http::HttpError> for old_http::HttpError {
    fn from(e: http::HttpError) -> Self {
        match e {
            http::HttpError::Denied(m) => old_http::HttpError::Denied(m),
            http::HttpError::Timeout => old_http::HttpError::Timeout,
            http::HttpError::Transport(m) => old_http::HttpError::Transport(m),
            http::HttpError::LimitExceeded(m) => old_http::HttpError::LimitExceeded(m),
        }
    }
}

// The operations' types, newest → 0.1.0 for inputs, 0.1.0 → newest for results.

fn ctx(c: &new::CallContext) -> old::CallContext {
    old::CallContext {
        request_id: c.request_id.clone(),
        crm_user_id: c.crm_user_id.clone(),
        hostname: c.hostname.clone(),
    }
}

fn direction(d: new::Direction) -> old::Direction {
    match d {
        new::Direction::Inbound => old::Direction::Inbound,
        new::Direction::Outbound => old::Direction::Outbound,
    }
}

fn crm_error(e: old::CrmError) -> new::CrmError {
    match e {
        old::CrmError::InvalidInput(m) => new::CrmError::InvalidInput(m),
        old::CrmError::NotFound(m) => new::CrmError::NotFound(m),
        old::CrmError::Unauthorized(m) => new::CrmError::Unauthorized(m),
        old::CrmError::RateLimited(s) => new::CrmError::RateLimited(s),
        old::CrmError::Upstream(m) => new::CrmError::Upstream(m),
        old::CrmError::Internal(m) => new::CrmError::Internal(m),
    }
}

fn contact(c: old::Contact) -> new::Contact {
    new::Contact {
        id: c.id,
        name: c.name,
        phone: c.phone,
        contact_type: c.contact_type,
        organization: c.organization,
        additional_info_json: c.additional_info_json,
    }
}

fn message_log(l: &new::MessageLogInput) -> old::MessageLogInput {
    let m = &l.message;
    old::MessageLogInput {
        contact_id: l.contact_id.clone(),
        contact_type: l.contact_type.clone(),
        contact_name: l.contact_name.clone(),
        message: old::Message {
            id: m.id.clone(),
            conversation_id: m.conversation_id.clone(),
            direction: direction(m.direction),
            message_type: m.message_type.clone(),
            subject: m.subject.clone(),
            from_number: m.from_number.clone(),
            creation_time: m.creation_time.clone(),
        },
        additional_submission_json: l.additional_submission_json.clone(),
    }
}

/// The 0.1.0 answer in the newest types.
fn answer<T, U>(r: wasmtime::Result<Result<T, old::CrmError>>, f: impl FnOnce(T) -> U) -> Answer<U> {
    r.map(|r| r.map(f).map_err(crm_error))
}

/// The newest world's operations on a 0.1.0 instance.
pub(super) struct Operations<'a>(pub(super) &'a Adapter);

impl Operations<'_> {
    fn crm(&self) -> &exports::switchboard::crm::crm::Guest {
        self.0.switchboard_crm_crm()
    }

    pub(super) async fn get_user_info(&self, s: &mut Store<HostState>, c: &new::CallContext) -> Answer<new::UserInfo> {
        let r = self.crm().call_get_user_info(s, &ctx(c)).await;
        answer(r, |u| new::UserInfo { id: u.id, name: u.name, hostname: u.hostname })
    }

    pub(super) async fn find_contact(
        &self,
        s: &mut Store<HostState>,
        c: &new::CallContext,
        phone: &str,
        formats: &[String],
    ) -> Answer<Vec<new::Contact>> {
        let r = self.crm().call_find_contact(s, &ctx(c), phone, formats).await;
        answer(r, |v| v.into_iter().map(contact).collect())
    }

    pub(super) async fn create_contact(
        &self,
        s: &mut Store<HostState>,
        c: &new::CallContext,
        n: &new::NewContact,
    ) -> Answer<new::Contact> {
        let n = old::NewContact {
            phone_number: n.phone_number.clone(),
            name: n.name.clone(),
            contact_type: n.contact_type.clone(),
            additional_submission_json: n.additional_submission_json.clone(),
        };
        answer(self.crm().call_create_contact(s, &ctx(c), &n).await, contact)
    }

    pub(super) async fn create_call_log(
        &self,
        s: &mut Store<HostState>,
        c: &new::CallContext,
        l: &new::CallLogInput,
    ) -> Answer<String> {
        // 0.1.0 has no idempotency key: a retry after a crash may log twice.
        let l = old::CallLogInput {
            session_id: l.session_id.clone(),
            contact_id: l.contact_id.clone(),
            contact_type: l.contact_type.clone(),
            contact_name: l.contact_name.clone(),
            subject: l.subject.clone(),
            note: l.note.clone(),
            direction: l.direction.map(direction),
            from_number: l.from_number.clone(),
            to_number: l.to_number.clone(),
            start_time: l.start_time.clone(),
            duration_seconds: l.duration_seconds,
            call_result: l.call_result.clone(),
            recording_link: l.recording_link.clone(),
            additional_submission_json: l.additional_submission_json.clone(),
        };
        answer(self.crm().call_create_call_log(s, &ctx(c), &l).await, |id| id)
    }

    pub(super) async fn update_call_log(
        &self,
        s: &mut Store<HostState>,
        c: &new::CallContext,
        u: &new::CallLogUpdate,
    ) -> Answer<()> {
        let u = old::CallLogUpdate {
            log_id: u.log_id.clone(),
            subject: u.subject.clone(),
            note: u.note.clone(),
            duration_seconds: u.duration_seconds,
            call_result: u.call_result.clone(),
            recording_link: u.recording_link.clone(),
            start_time: u.start_time.clone(),
            additional_submission_json: u.additional_submission_json.clone(),
        };
        answer(self.crm().call_update_call_log(s, &ctx(c), &u).await, |()| ())
    }

    pub(super) async fn get_call_log(
        &self,
        s: &mut Store<HostState>,
        c: &new::CallContext,
        log_id: &str,
    ) -> Answer<new::CallLog> {
        answer(self.crm().call_get_call_log(s, &ctx(c), log_id).await, |l| new::CallLog {
            log_id: l.log_id,
            subject: l.subject,
            note: l.note,
            contact_name: l.contact_name,
            full_body: l.full_body,
            dispositions_json: None,
        })
    }

    pub(super) async fn create_message_log(
        &self,
        s: &mut Store<HostState>,
        c: &new::CallContext,
        l: &new::MessageLogInput,
    ) -> Answer<String> {
        answer(self.crm().call_create_message_log(s, &ctx(c), &message_log(l)).await, |id| id)
    }

    pub(super) async fn update_message_log(
        &self,
        s: &mut Store<HostState>,
        c: &new::CallContext,
        log_id: &str,
        l: &new::MessageLogInput,
    ) -> Answer<()> {
        answer(self.crm().call_update_message_log(s, &ctx(c), log_id, &message_log(l)).await, |()| ())
    }

    pub(super) async fn unauthorize(&self, s: &mut Store<HostState>, c: &new::CallContext) -> Answer<()> {
        answer(self.crm().call_unauthorize(s, &ctx(c)).await, |()| ())
    }
}
