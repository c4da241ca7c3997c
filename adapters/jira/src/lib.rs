//! Switchboard adapter for Jira Cloud (REST v3, OAuth 2.0 3LO). See README.md
//! for the mapping; in short, a contact is an issue carrying a phone field and
//! a call or message log is a comment on it, in Atlassian Document Format.
//!
//! | App Connect          | Jira Cloud (`https://api.atlassian.com/ex/jira/{cloudId}/rest/api/3`) |
//! |----------------------|-----------------------------------------------------------------------|
//! | get-user-info        | `GET https://api.atlassian.com/oauth/token/accessible-resources`, `GET /myself` |
//! | find-contact         | `POST /search/jql` (`cf[N] ~ "\"number\""` for every variant), paginated |
//! | create-contact       | `POST /issue`                                                          |
//! | create-call-log      | `GET /issue/{key}/comment?orderBy=-created&maxResults=50`, if the user wrote any of them `POST /comment/list?expand=properties` (an earlier attempt's comment, by its `switchboard` property), else `POST /issue/{key}/comment` with the property → log id `{key}/{commentId}` |
//! | update-call-log      | `GET` + `PUT /issue/{key}/comment/{id}`                                |
//! | get-call-log         | `GET /issue/{key}/comment/{id}`                                        |
//! | create-message-log   | as create-call-log (one comment per conversation)                     |
//! | update-message-log   | `GET` + `PUT /issue/{key}/comment/{id}` (the message appended)         |
//! | unauthorize          | nothing at Atlassian: 3LO has no revocation endpoint                   |
//! | find-contact-by-name | `POST /search/jql` (`summary ~ "\"name\""`), first page              |
//! | set-call-disposition | unsupported: a comment has nothing to attach a call to (the manifest says `dispositions = false`) |

mod wire;

use serde::de::DeserializeOwned;
use switchboard_sdk::http::Request;
use switchboard_sdk::phone;
use switchboard_sdk::prelude::*;
use wire::*;

/// Atlassian's API gateway: every 3LO call goes through it.
const GATEWAY: &str = "https://api.atlassian.com";
/// Issues per search page (Jira's default and usual maximum for `search/jql` is 50..100).
const PAGE_SIZE: u32 = 50;
/// Pages followed per search: a phone number matching more issues than this is not a lookup.
const MAX_PAGES: usize = 4;
/// The newest comments of an issue searched for an earlier attempt's.
const RECENT_COMMENTS: &str = "50";

struct Jira;

/// A non-empty operator setting.
fn setting(key: &str) -> Option<String> {
    switchboard_sdk::config(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn required(key: &str) -> Result<String, CrmError> {
    setting(key).ok_or_else(|| {
        CrmError::Internal(format!("the operator must set `{key}` under [adapters.jira.settings] in the host's config"))
    })
}

/// The REST v3 base of the connection's site. `ctx.hostname` is the cloud id
/// get-user-info returned; it goes into the path, so it must be one segment.
fn api(ctx: &CallContext) -> Result<String, CrmError> {
    let cloud = ctx.hostname.as_str();
    if cloud.is_empty() || !cloud.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(CrmError::Unauthorized(format!(
            "this connection has no valid Jira cloud id ({cloud:?}): log in again"
        )));
    }
    Ok(format!("{GATEWAY}/ex/jira/{cloud}/rest/api/3"))
}

/// An issue key (`CRM-12`) or id (`10042`); anything else could walk the URL path.
fn issue_ref(s: &str) -> Option<&str> {
    let s = s.trim();
    let key = s.split_once('-').is_some_and(|(project, n)| {
        project.starts_with(|c: char| c.is_ascii_alphabetic())
            && project.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
    });
    let id = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (key || id).then_some(s)
}

fn contact_issue(contact_id: &str) -> Result<&str, CrmError> {
    issue_ref(contact_id)
        .ok_or_else(|| CrmError::InvalidInput(format!("contact id {contact_id:?} is not a Jira issue key or id")))
}

/// A log id is `{issueKey}/{commentId}`.
fn parse_log_id(log_id: &str) -> Result<(&str, &str), CrmError> {
    let parsed = log_id.split_once('/').and_then(|(issue, comment)| {
        let comment_ok = !comment.is_empty() && comment.bytes().all(|b| b.is_ascii_digit());
        Some((issue_ref(issue)?, comment)).filter(|_| comment_ok)
    });
    parsed.ok_or_else(|| CrmError::NotFound(format!("{log_id:?} is not a Jira log id (ISSUE-KEY/commentId)")))
}

/// Jira's statuses: the SDK's mapping, with what Jira said read from its
/// error body ([`error_text`]). Unlike the SDK's default, a 403 is Jira saying
/// the user lacks a permission (browse, comment...): the request is rejected,
/// and refreshing the token would not help. A 409 or 413 is also the
/// request's fault. A 429 is logged with Jira's `RateLimit-Reason`.
const STATUSES: StatusMap = StatusMap::new("Jira")
    .error_text(error_text)
    .overrides(|resp, what| match resp.status {
        403 => Some(CrmError::InvalidInput(format!("Jira refused (no permission): {what}"))),
        409 | 413 => Some(CrmError::InvalidInput(format!("Jira answered {}: {what}", resp.status))),
        _ => None,
    })
    .on_rate_limited(|resp, retry| {
        let reason = resp.header("ratelimit-reason").unwrap_or("unspecified");
        switchboard_sdk::log::warn(&format!("Jira rate limit ({reason}); retry after {retry} s"));
    });

fn send(request: Request) -> Result<Response, CrmError> {
    request.send_with(&STATUSES)
}

fn send_json<T: DeserializeOwned>(request: Request) -> Result<T, CrmError> {
    request.send_json_with(&STATUSES)
}

fn comment_url(ctx: &CallContext, issue: &str, comment: &str) -> Result<String, CrmError> {
    Ok(format!("{}/issue/{issue}/comment/{comment}", api(ctx)?))
}

fn get_comment(ctx: &CallContext, issue: &str, comment: &str) -> Result<Comment, CrmError> {
    send_json(Request::get(comment_url(ctx, issue, comment)?))
}

fn put_comment(ctx: &CallContext, issue: &str, comment: &str, body: &Node) -> Result<(), CrmError> {
    send(Request::put(comment_url(ctx, issue, comment)?).json(&CommentBody { body })?)?;
    Ok(())
}

/// The comment an earlier attempt with this idempotency key made on the
/// issue: among the newest comments, the user's own, the one whose
/// `switchboard` property holds the key. Its log id, if any.
fn earlier_comment(ctx: &CallContext, issue: &str, key: &str) -> Result<Option<String>, CrmError> {
    if key.trim().is_empty() {
        return Ok(None);
    }
    let api = api(ctx)?;
    let recent: CommentPage = send_json(
        Request::get(format!("{api}/issue/{issue}/comment"))
            .query("orderBy", "-created")
            .query("maxResults", RECENT_COMMENTS),
    )?;
    let ids: Vec<u64> =
        recent.comments.iter().filter(|c| c.by(&ctx.crm_user_id)).filter_map(|c| c.id.parse().ok()).collect();
    if ids.is_empty() {
        return Ok(None);
    }
    let list: CommentList = send_json(
        Request::post(format!("{api}/comment/list")).query("expand", "properties").json(&CommentIds { ids })?,
    )?;
    Ok(list.values.into_iter().find(|c| c.carries(key.trim())).map(|c| format!("{issue}/{}", c.id)))
}

/// The earlier attempt's comment, else a new one marked with the idempotency
/// key; returns the log id `{issue}/{commentId}`.
fn add_comment(ctx: &CallContext, issue: &str, body: &Node, key: &str) -> Result<String, CrmError> {
    if let Some(log_id) = earlier_comment(ctx, issue, key)? {
        switchboard_sdk::log::info(&format!("comment {log_id} was made by an earlier attempt"));
        return Ok(log_id);
    }
    let url = format!("{}/issue/{issue}/comment", api(ctx)?);
    let created: Comment =
        send_json(Request::post(url).json(&NewComment { body, properties: idempotency_property(key) })?)?;
    Ok(format!("{issue}/{}", created.id))
}

impl Adapter for Jira {
    fn get_user_info(ctx: CallContext) -> Result<UserInfo, CrmError> {
        let resources: Vec<Resource> = send_json(Request::get(format!("{GATEWAY}/oauth/token/accessible-resources")))?;
        let site = pick_resource(&resources, &ctx.hostname, setting("site").as_deref())?;
        switchboard_sdk::log::info(&format!("using Jira site {} ({})", site.url, site.name));
        let me: Myself = send_json(Request::get(format!("{GATEWAY}/ex/jira/{}/rest/api/3/myself", site.id)))?;
        let name = if me.display_name.is_empty() { me.account_id.clone() } else { me.display_name };
        Ok(UserInfo { id: me.account_id, name, hostname: Some(site.id.clone()) })
    }

    fn find_contact(
        ctx: CallContext,
        phone_number: String,
        overriding_formats: Vec<String>,
    ) -> Result<Vec<Contact>, CrmError> {
        let api = api(&ctx)?;
        let phone_field = required("phone_field")?;
        let variants = phone::search_variants(&phone_number, &overriding_formats);
        let jql = find_jql(setting("project_key").as_deref(), &jql_field(&phone_field)?, &variants);
        let mut found: Vec<Contact> = Vec::new();
        let mut next_page_token = None;
        for page in 1..=MAX_PAGES {
            let body = SearchRequest {
                jql: &jql,
                fields: vec!["summary", &phone_field],
                max_results: PAGE_SIZE,
                next_page_token: next_page_token.take(),
            };
            let results: SearchResults = send_json(Request::post(format!("{api}/search/jql")).json(&body)?)?;
            for issue in results.issues {
                if issue.holds_number(&phone_field, &variants) && !found.iter().any(|c| c.id == issue.key) {
                    found.push(issue.into_contact(&phone_field, &phone_number));
                }
            }
            match results.next_page_token.filter(|t| !t.is_empty() && results.is_last != Some(true)) {
                Some(token) if page < MAX_PAGES => next_page_token = Some(token),
                Some(_) => switchboard_sdk::log::warn(&format!(
                    "more than {} issues match {phone_number}; showing the first ones",
                    MAX_PAGES as u32 * PAGE_SIZE
                )),
                None => break,
            }
        }
        Ok(found)
    }

    fn find_contact_by_name(ctx: CallContext, name: String) -> Result<Vec<Contact>, CrmError> {
        let api = api(&ctx)?;
        let phone_field = required("phone_field")?;
        let jql = name_jql(setting("project_key").as_deref(), &name);
        let body = SearchRequest {
            jql: &jql,
            fields: vec!["summary", &phone_field],
            max_results: PAGE_SIZE,
            next_page_token: None,
        };
        let results: SearchResults = send_json(Request::post(format!("{api}/search/jql")).json(&body)?)?;
        Ok(results.issues.into_iter().map(|issue| issue.into_contact(&phone_field, "")).collect())
    }

    fn create_contact(ctx: CallContext, contact: NewContact) -> Result<Contact, CrmError> {
        let api = api(&ctx)?;
        let project = required("project_key")?;
        let phone_field = required("phone_field")?;
        jql_field(&phone_field)?;
        let issue_type = setting("issue_type").unwrap_or_else(|| "Task".into());
        let body = new_issue(&project, &issue_type, &phone_field, &contact.name, &contact.phone_number);
        let created: CreatedIssue = send_json(Request::post(format!("{api}/issue")).json(&body)?)?;
        switchboard_sdk::log::info(&format!("created issue {} ({})", created.key, created.id));
        Ok(Contact {
            id: created.key,
            name: contact.name,
            phone: contact.phone_number,
            contact_type: Some(CONTACT_TYPE.into()),
            organization: None,
            additional_info_json: None,
        })
    }

    fn create_call_log(ctx: CallContext, log: CallLogInput) -> Result<String, CrmError> {
        let issue = contact_issue(&log.contact_id)?;
        add_comment(&ctx, issue, &call_doc(&log), &log.idempotency_key)
    }

    fn update_call_log(ctx: CallContext, update: CallLogUpdate) -> Result<(), CrmError> {
        let (issue, comment) = parse_log_id(&update.log_id)?;
        let mut body = get_comment(&ctx, issue, comment)?.body;
        apply_update(&mut body, &update);
        put_comment(&ctx, issue, comment, &body)
    }

    fn get_call_log(ctx: CallContext, log_id: String) -> Result<CallLog, CrmError> {
        let (issue, comment) = parse_log_id(&log_id)?;
        let found = get_comment(&ctx, issue, comment)?;
        Ok(read_call(&log_id, &found.body))
    }

    fn create_message_log(ctx: CallContext, log: MessageLogInput) -> Result<String, CrmError> {
        let issue = contact_issue(&log.contact_id)?;
        add_comment(&ctx, issue, &message_doc(&log), &log.idempotency_key)
    }

    fn update_message_log(ctx: CallContext, log_id: String, log: MessageLogInput) -> Result<(), CrmError> {
        let (issue, comment) = parse_log_id(&log_id)?;
        let mut body = get_comment(&ctx, issue, comment)?.body;
        append_message(&mut body, &log.message);
        put_comment(&ctx, issue, comment, &body)
    }

    fn unauthorize(_ctx: CallContext) -> Result<(), CrmError> {
        // Atlassian's 3LO has no token revocation endpoint: the user removes
        // the app at id.atlassian.com (Connected apps); the host deletes the
        // stored tokens.
        switchboard_sdk::log::info("Atlassian has no revocation endpoint for 3LO apps; the stored tokens are deleted");
        Ok(())
    }
}

switchboard_sdk::export_adapter!(Jira);

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
