//! Switchboard adapter for the Test CRM (`tests/src/testcrm.rs`).
//!
//! | App Connect          | Test CRM API                                   |
//! |----------------------|------------------------------------------------|
//! | get-user-info        | `GET /v1/me`                                   |
//! | find-contact         | `GET /v1/contacts?phone=` per number variant   |
//! | create-contact       | `POST /v1/contacts`                            |
//! | create-call-log      | `POST /v1/activities` (`kind: call`)           |
//! | update-call-log      | `PATCH /v1/activities/{id}`                    |
//! | get-call-log         | `GET /v1/activities/{id}`                      |
//! | create-message-log   | `POST /v1/activities` (`kind: message`)        |
//! | update-message-log   | `POST /v1/activities/{id}/append`              |
//! | unauthorize          | nothing to revoke: API keys are managed in the CRM |

mod wire;

use switchboard_sdk::http::Request;
use switchboard_sdk::phone;
use switchboard_sdk::prelude::*;
use wire::*;

const BASE: &str = "https://api.testcrm.example";

struct TestCrm;

impl Adapter for TestCrm {
    fn get_user_info(_ctx: CallContext) -> Result<UserInfo, CrmError> {
        switchboard_sdk::log::install_panic_hook();
        let me: Data<Me> = Request::get(format!("{BASE}/v1/me")).send_json()?;
        Ok(UserInfo { id: me.data.id, name: me.data.name, hostname: None })
    }

    fn find_contact(
        _ctx: CallContext,
        phone_number: String,
        overriding_formats: Vec<String>,
    ) -> Result<Vec<Contact>, CrmError> {
        switchboard_sdk::log::install_panic_hook();
        let mut found: Vec<Contact> = Vec::new();
        for variant in phone::search_variants(&phone_number, &overriding_formats) {
            let page: Page<WireContact> =
                Request::get(format!("{BASE}/v1/contacts")).query("phone", &variant).send_json()?;
            for c in page.data {
                if !found.iter().any(|f| f.id == c.id) {
                    found.push(c.into());
                }
            }
        }
        Ok(found)
    }

    fn create_contact(_ctx: CallContext, contact: NewContact) -> Result<Contact, CrmError> {
        switchboard_sdk::log::install_panic_hook();
        let body = NewWireContact {
            name: &contact.name,
            phone: &contact.phone_number,
            r#type: contact.contact_type.as_deref().unwrap_or("person"),
        };
        let created: Data<WireContact> = Request::post(format!("{BASE}/v1/contacts")).json(&body)?.send_json()?;
        Ok(created.data.into())
    }

    fn create_call_log(_ctx: CallContext, log: CallLogInput) -> Result<String, CrmError> {
        switchboard_sdk::log::install_panic_hook();
        let body = NewActivity::from_call(&log);
        let created: Data<Activity> = Request::post(format!("{BASE}/v1/activities")).json(&body)?.send_json()?;
        Ok(created.data.id)
    }

    fn update_call_log(_ctx: CallContext, update: CallLogUpdate) -> Result<(), CrmError> {
        switchboard_sdk::log::install_panic_hook();
        let body = ActivityPatch::from_update(&update);
        Request::patch(format!("{BASE}/v1/activities/{}", update.log_id)).json(&body)?.send()?;
        Ok(())
    }

    fn get_call_log(_ctx: CallContext, log_id: String) -> Result<CallLog, CrmError> {
        switchboard_sdk::log::install_panic_hook();
        let a: Data<Activity> = Request::get(format!("{BASE}/v1/activities/{log_id}")).send_json()?;
        Ok(CallLog {
            log_id: a.data.id,
            subject: a.data.subject,
            note: a.data.body.clone(),
            contact_name: a.data.contact_name,
            full_body: Some(a.data.body),
        })
    }

    fn create_message_log(_ctx: CallContext, log: MessageLogInput) -> Result<String, CrmError> {
        switchboard_sdk::log::install_panic_hook();
        let body = NewActivity::from_message(&log);
        let created: Data<Activity> = Request::post(format!("{BASE}/v1/activities")).json(&body)?.send_json()?;
        Ok(created.data.id)
    }

    fn update_message_log(_ctx: CallContext, log_id: String, log: MessageLogInput) -> Result<(), CrmError> {
        switchboard_sdk::log::install_panic_hook();
        Request::post(format!("{BASE}/v1/activities/{log_id}/append"))
            .json(&Append { text: message_line(&log.message) })?
            .send()?;
        Ok(())
    }

    fn unauthorize(_ctx: CallContext) -> Result<(), CrmError> {
        // API keys are created and revoked by the user inside the Test CRM;
        // the host deletes its stored copy.
        Ok(())
    }
}

switchboard_sdk::export_adapter!(TestCrm);
