//! Switchboard adapter for the Test CRM (`tests/src/testcrm.rs`).
//!
//! | App Connect          | Test CRM API                                   |
//! |----------------------|------------------------------------------------|
//! | get-user-info        | `GET /v1/me`                                   |
//! | find-contact         | `GET /v1/contacts?phone=` per number variant   |
//! | find-contact-by-name | `GET /v1/contacts?name=`                       |
//! | create-contact       | `POST /v1/contacts`                            |
//! | create-call-log      | `POST /v1/activities` (`kind: call`)           |
//! | update-call-log      | `PATCH /v1/activities/{id}`                    |
//! | get-call-log         | `GET /v1/activities/{id}`                      |
//! | set-call-disposition | `PATCH /v1/activities/{id}` (`disposition`)    |
//! | create-message-log   | `POST /v1/activities` (`kind: message`)        |
//! | update-message-log   | `POST /v1/activities/{id}/append`              |
//! | unauthorize          | nothing to revoke: API keys are managed in the CRM |
//!
//! Creates send the host's idempotency key as `Idempotency-Key`, which the
//! Test CRM honours: a retry after a crash gets the first record back.

mod wire;

use switchboard_sdk::http::Request;
use switchboard_sdk::phone;
use switchboard_sdk::prelude::*;
use wire::*;

const BASE: &str = "https://api.testcrm.example";

struct TestCrm;

impl Adapter for TestCrm {
    fn get_user_info(_ctx: CallContext) -> Result<UserInfo, CrmError> {
        let me: Data<Me> = Request::get(format!("{BASE}/v1/me")).send_json()?;
        Ok(UserInfo { id: me.data.id, name: me.data.name, hostname: None })
    }

    fn find_contact(
        _ctx: CallContext,
        phone_number: String,
        overriding_formats: Vec<String>,
    ) -> Result<Vec<Contact>, CrmError> {
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
        let body = NewWireContact {
            name: &contact.name,
            phone: &contact.phone_number,
            r#type: contact.contact_type.as_deref().unwrap_or("person"),
        };
        let created: Data<WireContact> = Request::post(format!("{BASE}/v1/contacts")).json(&body)?.send_json()?;
        Ok(created.data.into())
    }

    fn create_call_log(_ctx: CallContext, log: CallLogInput) -> Result<String, CrmError> {
        let body = NewActivity::from_call(&log);
        let created: Data<Activity> = Request::post(format!("{BASE}/v1/activities"))
            .header("idempotency-key", &log.idempotency_key)
            .json(&body)?
            .send_json()?;
        Ok(created.data.id)
    }

    fn update_call_log(_ctx: CallContext, update: CallLogUpdate) -> Result<(), CrmError> {
        let body = ActivityPatch::from_update(&update);
        Request::patch(format!("{BASE}/v1/activities/{}", update.log_id)).json(&body)?.send()?;
        Ok(())
    }

    fn get_call_log(_ctx: CallContext, log_id: String) -> Result<CallLog, CrmError> {
        let a: Data<Activity> = Request::get(format!("{BASE}/v1/activities/{log_id}")).send_json()?;
        Ok(CallLog {
            log_id: a.data.id,
            subject: a.data.subject,
            note: a.data.body.clone(),
            contact_name: a.data.contact_name,
            full_body: Some(a.data.body),
            dispositions_json: a.data.disposition.filter(|d| d.is_object()).map(|d| d.to_string()),
        })
    }

    fn find_contact_by_name(_ctx: CallContext, name: String) -> Result<Vec<Contact>, CrmError> {
        let page: Page<WireContact> = Request::get(format!("{BASE}/v1/contacts")).query("name", &name).send_json()?;
        Ok(page.data.into_iter().map(Contact::from).collect())
    }

    fn set_call_disposition(_ctx: CallContext, log_id: String, dispositions_json: String) -> Result<(), CrmError> {
        let disposition: serde_json::Value = serde_json::from_str(&dispositions_json)?;
        Request::patch(format!("{BASE}/v1/activities/{log_id}")).json(&DispositionPatch { disposition })?.send()?;
        Ok(())
    }

    fn create_message_log(_ctx: CallContext, log: MessageLogInput) -> Result<String, CrmError> {
        let body = NewActivity::from_message(&log);
        let created: Data<Activity> = Request::post(format!("{BASE}/v1/activities"))
            .header("idempotency-key", &log.idempotency_key)
            .json(&body)?
            .send_json()?;
        Ok(created.data.id)
    }

    fn update_message_log(_ctx: CallContext, log_id: String, log: MessageLogInput) -> Result<(), CrmError> {
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

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    //! Native unit tests through the SDK harness: `cargo xtask test` runs them
    //! (or `cargo test --target x86_64-unknown-linux-gnu` in `adapters/`).

    use super::*;
    use switchboard_sdk::harness::{Harness, context, rate_limited, reply, sample_call_log};

    const LUKE: &str =
        r#"{"id":"c-1","name":"Luke Skywalker","phone":"+16505551212","type":"person","company":"Rebel Alliance"}"#;

    #[test]
    fn find_contact_searches_e164_then_each_overriding_format() {
        let h = Harness::new()
            .on(
                "GET",
                &format!("{BASE}/v1/contacts?phone=%2B16505551212"),
                reply(200, r#"{"data":[],"nextCursor":null}"#),
            )
            .on(
                "GET",
                &format!("{BASE}/v1/contacts?phone=%28650%29%20555-1212"),
                reply(200, &format!(r#"{{"data":[{LUKE}]}}"#)),
            );
        let found = h
            .run(|| TestCrm::find_contact(context(), "+16505551212".into(), vec!["(***) ***-****".into(), "**".into()]))
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "Luke Skywalker");
        assert_eq!(found[0].organization.as_deref(), Some("Rebel Alliance"));
        let urls: Vec<String> = h.requests().into_iter().map(|r| r.url).collect();
        assert_eq!(urls.len(), 2, "the unusable format is skipped: {urls:?}");
    }

    #[test]
    fn a_call_log_becomes_a_call_activity() {
        let h = Harness::new().on(
            "POST",
            &format!("{BASE}/v1/activities"),
            reply(201, r#"{"data":{"id":"a-9","subject":"s","body":"b"}}"#),
        );
        let log = CallLogInput {
            contact_name: Some("Luke".into()),
            note: Some("plans".into()),
            from_number: None,
            to_number: None,
            start_time: None,
            call_result: None,
            ..sample_call_log("c-1")
        };
        assert_eq!(h.run(|| TestCrm::create_call_log(context(), log)).unwrap(), "a-9");
        let body = h.requests()[0].json();
        assert_eq!(body["kind"], "call");
        assert_eq!(body["subject"], "Inbound call from Luke");
        assert_eq!(body["body"], "plans");
        assert_eq!(body["durationSeconds"], 42);
        assert_eq!(body["externalId"], "s-1");
    }

    #[test]
    fn crm_statuses_become_crm_errors() {
        let h = Harness::new().on("GET", &format!("{BASE}/v1/me"), rate_limited(30));
        assert!(matches!(h.run(|| TestCrm::get_user_info(context())), Err(CrmError::RateLimited(30))));
        let h = Harness::new().on("GET", &format!("{BASE}/v1/me"), reply(401, r#"{"error":"invalid_api_key"}"#));
        assert!(matches!(h.run(|| TestCrm::get_user_info(context())), Err(CrmError::Unauthorized(_))));
        let h = Harness::new().on("GET", &format!("{BASE}/v1/activities/*"), reply(404, r#"{"error":"not_found"}"#));
        assert!(matches!(h.run(|| TestCrm::get_call_log(context(), "a-1".into())), Err(CrmError::NotFound(_))));
    }

    #[test]
    fn name_search_asks_the_crm_by_name() {
        let h = Harness::new().on(
            "GET",
            &format!("{BASE}/v1/contacts?name=luke%20sky"),
            reply(200, &format!(r#"{{"data":[{LUKE}]}}"#)),
        );
        let found = h.run(|| TestCrm::find_contact_by_name(context(), "luke sky".into())).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, "c-1");
    }

    #[test]
    fn a_disposition_is_patched_onto_the_activity_and_read_back() {
        let h = Harness::new()
            .on(
                "PATCH",
                &format!("{BASE}/v1/activities/a-9"),
                reply(200, r#"{"data":{"id":"a-9","subject":"s","body":"b"}}"#),
            )
            .on(
                "GET",
                &format!("{BASE}/v1/activities/a-9"),
                reply(200, r#"{"data":{"id":"a-9","subject":"s","body":"b","disposition":{"outcome":"Sold"}}}"#),
            );
        h.run(|| TestCrm::set_call_disposition(context(), "a-9".into(), r#"{"outcome":"Sold","note":"n"}"#.into()))
            .unwrap();
        assert_eq!(h.requests()[0].json()["disposition"]["outcome"], "Sold");
        let log = h.run(|| TestCrm::get_call_log(context(), "a-9".into())).unwrap();
        assert_eq!(log.dispositions_json.as_deref(), Some(r#"{"outcome":"Sold"}"#));
    }

    #[test]
    fn creates_carry_the_idempotency_key() {
        let h = Harness::new().on(
            "POST",
            &format!("{BASE}/v1/activities"),
            reply(201, r#"{"data":{"id":"a-9","subject":"s","body":"b"}}"#),
        );
        h.run(|| TestCrm::create_call_log(context(), sample_call_log("c-1"))).unwrap();
        assert_eq!(
            h.requests()[0].headers.iter().find(|(k, _)| k == "idempotency-key").map(|(_, v)| v.as_str()),
            Some("sb-test-call-s-1")
        );
    }
}
