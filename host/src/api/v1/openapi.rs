//! The OpenAPI 3.1 document of `/api/v1`, generated from the handlers'
//! `#[utoipa::path]` annotations and their types, served at
//! `/api/v1/openapi.json` (schemathesis checks the host against it in CI).

use super::{integrations, oauth_connect, operations, webhooks, widget_tokens};
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard integrations API",
        description = "A workspace's backend connects its customers' CRMs and uses them. \
                       Authenticate with the workspace API key: `Authorization: Bearer sbk_…`. \
                       Failures are RFC 9457 problem documents with a stable `code`."
    ),
    paths(
        super::workspace,
        super::open_connect_session,
        integrations::connectors,
        integrations::list,
        integrations::connect_api_key,
        integrations::get,
        integrations::patch,
        integrations::disconnect,
        integrations::refresh,
        integrations::refresh_batch,
        integrations::access_token,
        integrations::events,
        oauth_connect::start,
        operations::find_contacts,
        operations::create_contact,
        operations::create_call_log,
        operations::get_call_logs,
        operations::update_call_log,
        operations::create_message_log,
        webhooks::event_types,
        webhooks::list,
        webhooks::create,
        webhooks::get,
        webhooks::patch,
        webhooks::delete,
        webhooks::rotate_secret,
        webhooks::send_test,
        webhooks::deliveries,
        webhooks::recover,
        widget_tokens::create,
        widget_tokens::validate,
    ),
    components(responses(super::problem::ProblemResponse)),
    modifiers(&ApiKeyAuth),
    security(("apiKey" = [])),
    tags(
        (name = "workspace", description = "The workspace the key belongs to"),
        (name = "connect", description = "Connect sessions for the frontend's connect()"),
        (name = "integrations", description = "Customers' connections to their CRMs"),
        (name = "operations", description = "CRM operations on an integration, through its adapter"),
        (name = "webhooks", description = "Endpoints that receive signed events (Standard Webhooks 1.0)"),
        (name = "widget", description = "Short-lived tokens for the embeddable integrations widget"),
    )
)]
struct ApiDoc;

/// The workspace API key as a bearer token.
struct ApiKeyAuth;

impl Modify for ApiKeyAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("sbk_…").build();
        components.add_security_scheme("apiKey", SecurityScheme::Http(scheme));
        let widget = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("wt_…").build();
        components.add_security_scheme("widgetToken", SecurityScheme::Http(widget));
    }
}

/// The document, built once.
fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOC.get_or_init(ApiDoc::openapi)
}

/// `GET /api/v1/openapi.json` (no key needed).
pub(crate) async fn serve() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(document())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_is_openapi_3_1_and_names_every_route_of_api_v1() {
        let doc = serde_json::to_value(super::document()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        for path in [
            "/api/v1/connectors",
            "/api/v1/integrations",
            "/api/v1/integrations/{id}",
            "/api/v1/integrations/{id}/access-token",
            "/api/v1/integrations/{id}/call-logs",
            "/api/v1/integrations/oauth/start",
            "/api/v1/connect-sessions",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
        }
        let integration = &doc["components"]["schemas"]["Integration"]["properties"];
        assert!(integration.get("maskedApiKey").is_some(), "{integration}");
        let problem = &doc["components"]["responses"]["ProblemResponse"]["content"]["application/problem+json"];
        assert!(problem["schema"]["properties"].get("correlationId").is_some(), "{problem}");
    }
}
