//! What the embeddable widget calls, with its widget token as the bearer
//! (issue 16): the token's customer's connectors and integrations, a connect
//! session to open the hosted connect page in a popup, and disconnect. Each
//! call is refused from a page origin the workspace did not allow (see
//! `v1::widget_tokens::authenticate`), and reaches only the token's customer.

use super::connect::OpenedSession;
use super::state::AppState;
use super::v1::connecting::{Client, integration_not_found};
use super::v1::integrations::{ConnectorView, IntegrationView, connector_views, disconnect_now};
use super::v1::problem::{Problem, ProblemJson};
use super::v1::widget_tokens::authenticate;
use crate::store::{IntegrationFilter, WidgetToken};
use crate::webhooks::event::rfc3339_millis;
use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// The widget's ES module (Shadow DOM, no dependencies but `/sdk/connect.js`).
const SCRIPT: &str = include_str!("../../web/widget.js");

/// `GET /widget/widget.js`: the embeddable widget.
pub(crate) async fn script() -> Response {
    let mut r = SCRIPT.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

/// The widget token a request carries, checked.
pub(crate) struct Widget(WidgetToken);

impl FromRequestParts<AppState> for Widget {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        Ok(Widget(authenticate(state, &parts.headers).await?))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Overview {
    customer_id: String,
    issued_at: String,
    expires_at: String,
    connectors: Vec<ConnectorView>,
}

/// `GET /widget/api/connectors`: every connector with the customer's integration of it.
pub(crate) async fn connectors(Widget(t): Widget, State(state): State<AppState>) -> Result<Json<Overview>, Problem> {
    let filter = IntegrationFilter { customer_id: Some(&t.customer_id), connector: None };
    let theirs = state.store.integrations(&t.workspace_id, &filter).await?;
    Ok(Json(Overview {
        connectors: connector_views(&state, &theirs),
        customer_id: t.customer_id,
        issued_at: rfc3339_millis(t.created_at.saturating_mul(1000)),
        expires_at: rfc3339_millis(t.expires_at.saturating_mul(1000)),
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SessionBody {
    connector: String,
    /// Reconnect this integration of the customer (keeps its id).
    #[serde(default)]
    integration_id: Option<String>,
}

/// `POST /widget/api/connect-sessions {connector, integrationId?}`: a connect
/// session for the token's customer; the widget opens its `connectUrl` in a popup.
pub(crate) async fn open_connect_session(
    Widget(t): Widget,
    State(state): State<AppState>,
    ProblemJson(body): ProblemJson<SessionBody>,
) -> Result<(StatusCode, Json<OpenedSession>), Problem> {
    let grant = crate::connect::Grant {
        workspace_id: t.workspace_id,
        customer_id: t.customer_id,
        name: None,
        integration_id: body.integration_id,
    };
    let exists = state.runtime.adapter(&body.connector).is_some();
    let opened = crate::connect::open_for_backend(&state.store, grant, &body.connector, exists).await?;
    Ok((StatusCode::CREATED, Json(OpenedSession::of(&opened))))
}

/// `DELETE /widget/api/integrations/{id}`: disconnects one of the customer's integrations.
pub(crate) async fn disconnect(
    Widget(t): Widget,
    State(state): State<AppState>,
    client: Client,
    Path(id): Path<String>,
) -> Result<Json<IntegrationView>, Problem> {
    let theirs = |i: &crate::store::Integration| i.customer_id == t.customer_id;
    let integration = state
        .store
        .integration(&t.workspace_id, &id)
        .await?
        .filter(theirs)
        .ok_or_else(|| integration_not_found(&id))?;
    disconnect_now(&state, &integration, &client).await?;
    let after = state.store.integration(&t.workspace_id, &id).await?.ok_or_else(|| integration_not_found(&id))?;
    Ok(Json(IntegrationView::of(&after)))
}
