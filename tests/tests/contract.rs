//! Our responses validate against the App Connect OpenAPI contract
//! (`tests/contract/app-connect-openapi.json`, the public description that
//! existing CRM-extension clients speak).

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::{Harness, Reply, call_log_body};
use serde_json::{Value, json};

fn contract() -> Value {
    let path = common::workspace().join("tests/contract/app-connect-openapi.json");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    openapi_to_json_schema(&mut doc);
    doc
}

/// OpenAPI 3.0 says `nullable: true`; JSON Schema says `type: [t, "null"]`.
fn openapi_to_json_schema(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let (Some(Value::Bool(true)), Some(Value::String(t))) = (map.get("nullable"), map.get("type").cloned()) {
                map.insert("type".into(), json!([t, "null"]));
            }
            map.values_mut().for_each(openapi_to_json_schema);
        }
        Value::Array(items) => items.iter_mut().for_each(openapi_to_json_schema),
        _ => {}
    }
}

struct Contract(Value);

impl Contract {
    fn validator(&self, schema: &str) -> jsonschema::Validator {
        let mut root = self.0.clone();
        root["$ref"] = json!(format!("#/components/schemas/{schema}"));
        jsonschema::draft4::new(&root).unwrap_or_else(|e| panic!("schema {schema}: {e}"))
    }

    fn check(&self, schema: &str, route: &str, instance: &Value) {
        let v = self.validator(schema);
        let errors: Vec<String> = v.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path)).collect();
        assert!(errors.is_empty(), "{route} does not match {schema}: {errors:?}\n{instance:#}");
    }

    fn check_reply(&self, schema: &str, route: &str, r: &Reply) {
        self.check(schema, route, &r.json());
    }
}

#[tokio::test]
async fn the_validator_rejects_what_the_contract_forbids() {
    let c = Contract(contract());
    assert!(!c.validator("ContactSearchResponse").is_valid(&json!({"successful": "yes"})));
    assert!(!c.validator("ContactSearchResponse").is_valid(&json!({"contact": []})), "successful is required");
    assert!(!c.validator("CallLogLookupResponse").is_valid(&json!({"successful": true, "logs": [{"matched": true}]})));
    assert!(!c.validator("ApiKeyLoginResponse").is_valid(&json!({"name": "x"})));
    assert!(!c.validator("HealthResponse").is_valid(&json!("NOT OK")));
}

#[tokio::test]
async fn every_response_matches_the_app_connect_contract() {
    let c = Contract(contract());
    let h = Harness::start().await;

    c.check("HealthResponse", "GET /isAlive", &json!(h.get("/isAlive", None).await.text));
    c.check_reply(
        "ImplementedInterfacesResponse",
        "GET /implementedInterfaces",
        &h.get("/implementedInterfaces?platform=testcrm", None).await,
    );
    c.check_reply("GenericSuccessResponse", "GET /crmManifest", &h.get("/crmManifest", None).await);

    let login = h.post("/apiKeyLogin", None, &json!({"platform": "testcrm", "apiKey": "demo-api-key"})).await;
    c.check_reply("ApiKeyLoginResponse", "POST /apiKeyLogin", &login);
    let t = login.json()["jwtToken"].as_str().unwrap().to_owned();
    let t = Some(t.as_str());

    c.check_reply(
        "ContactSearchResponse",
        "GET /contact (found)",
        &h.get("/contact?phoneNumber=%2B16505551212", t).await,
    );
    c.check_reply(
        "ContactSearchResponse",
        "GET /contact (not found)",
        &h.get("/contact?phoneNumber=%2B19995550000", t).await,
    );
    c.check_reply(
        "ContactMutationResponse",
        "POST /contact",
        &h.post("/contact", t, &json!({"phoneNumber": "+14155550123", "newContactName": "Han Solo"})).await,
    );

    c.check_reply(
        "CallLogMutationResponse",
        "POST /callLog",
        &h.post("/callLog", t, &call_log_body("s-1", "c-1001")).await,
    );
    c.check_reply(
        "CallLogMutationResponse",
        "POST /callLog (duplicate)",
        &h.post("/callLog", t, &call_log_body("s-1", "c-1001")).await,
    );
    c.check_reply(
        "CallLogUpdateResponse",
        "PATCH /callLog",
        &h.patch("/callLog", t, &json!({"sessionId": "s-1", "note": "n"})).await,
    );
    c.check_reply(
        "CallLogUpdateResponse",
        "PATCH /callLog (unknown)",
        &h.patch("/callLog", t, &json!({"sessionId": "s-0", "note": "n"})).await,
    );
    c.check_reply(
        "CallLogLookupResponse",
        "GET /callLog",
        &h.get("/callLog?sessionIds=s-1,s-2&requireDetails=true", t).await,
    );

    let messages = json!({
        "logInfo": {"conversationId": "c1", "correspondents": [{"phoneNumber": "+16505551212"}],
                    "messages": [{"id": "m1", "type": "SMS", "direction": "Inbound", "subject": "hi", "creationTime": "2026-01-01T00:00:00Z"}]},
        "contactId": "c-1001"
    });
    c.check_reply("MessageLogResponse", "POST /messageLog", &h.post("/messageLog", t, &messages).await);
    c.check_reply("MessageLogResponse", "POST /messageLog (again)", &h.post("/messageLog", t, &messages).await);

    c.check_reply(
        "UserSettingsEnvelope",
        "POST /user/settings",
        &h.post("/user/settings", t, &json!({"userSettings": {"theme": {"value": "dark"}}})).await,
    );
    c.check_reply("UserSettings", "GET /user/settings", &h.get("/user/settings", t).await);
    c.check_reply("AuthValidationResponse", "GET /authValidation", &h.get("/authValidation", t).await);
    c.check_reply("BasicMutationResponse", "POST /unAuthorize", &h.post("/unAuthorize", t, &json!({})).await);

    // Errors: the ErrorResponse shape, for each kind of failure.
    c.check_reply("ErrorResponse", "401", &h.get("/contact?phoneNumber=1", None).await);
    c.check_reply("ErrorResponse", "400", &h.get("/contact", t).await);
    c.check_reply(
        "ErrorResponse",
        "400 login",
        &h.post("/apiKeyLogin", None, &json!({"platform": "testcrm", "apiKey": "bad"})).await,
    );
    c.check_reply("ErrorResponse", "404", &h.get("/nope", None).await);
    h.stop().await;
}
