//! Jira Cloud's JSON shapes (REST v3 through the Atlassian API gateway), the
//! Atlassian Document Format (ADF) of comments, JQL, and their mapping to the
//! WIT types.
//!
//! One long file: every Jira shape, ADF and JQL helper beside its mapping, so it reads like the
//! vendor's reference (about a third is its unit tests).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use switchboard_sdk::phone::digits;
use switchboard_sdk::prelude::*;
use switchboard_sdk::text::{self, DurationUnits};

// ---------------------------------------------------------------- who am I

/// One entry of `GET /oauth/token/accessible-resources`: a site the user
/// granted this app, with the scopes granted on it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub id: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// `GET /rest/api/3/myself` (the fields we use).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Myself {
    pub account_id: String,
    #[serde(default)]
    pub display_name: String,
}

fn site_of(url: &str) -> String {
    let url = url.trim().trim_end_matches('/').to_ascii_lowercase();
    url.strip_prefix("https://").map(str::to_owned).unwrap_or(url)
}

/// The Jira site a connection works on: the one it already uses (`current`,
/// a cloud id), else the operator's `site` (its URL), else the first Jira site.
/// Resources without any Jira scope (a Confluence site of the same grant) are
/// skipped.
pub fn pick_resource<'a>(
    resources: &'a [Resource],
    current: &str,
    site: Option<&str>,
) -> Result<&'a Resource, CrmError> {
    let jira: Vec<&Resource> =
        resources.iter().filter(|r| r.scopes.is_empty() || r.scopes.iter().any(|s| s.contains("jira"))).collect();
    if let Some(r) = jira.iter().find(|r| !current.is_empty() && r.id == current) {
        return Ok(r);
    }
    if let Some(site) = site {
        let wanted = site_of(site);
        return jira.iter().find(|r| site_of(&r.url) == wanted).copied().ok_or_else(|| {
            let granted: Vec<&str> = jira.iter().map(|r| r.url.as_str()).collect();
            CrmError::InvalidInput(format!(
                "the Jira site {site} is not among the sites this user granted ({})",
                if granted.is_empty() { "none".to_owned() } else { granted.join(", ") }
            ))
        });
    }
    jira.first()
        .copied()
        .ok_or_else(|| CrmError::InvalidInput("this Atlassian user granted the app no Jira site".into()))
}

// ---------------------------------------------------------------- JQL

/// A JQL string literal: double-quoted, with `"`, `\` and control characters escaped.
pub fn jql_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The value of a text search (`~`) for an exact phrase: the phrase in
/// (Lucene) double quotes, inside a JQL string, e.g. `"\"(650) 555-1212\""`.
/// Jira treats `+ - ( ) ...` outside a phrase as query syntax; inside one they
/// are only word separators, as in the stored text.
pub fn jql_phrase(s: &str) -> String {
    let inner: String = s.chars().filter(|c| !c.is_control()).collect();
    jql_string(&format!("\"{}\"", inner.replace('\\', "\\\\").replace('"', "\\\"")))
}

/// `customfield_10050` → `cf[10050]`, the JQL name of a custom field.
pub fn jql_field(field_id: &str) -> Result<String, CrmError> {
    match field_id.strip_prefix("customfield_") {
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => Ok(format!("cf[{n}]")),
        _ => Err(CrmError::Internal(format!(
            "the `phone_field` setting must be a custom field id like customfield_10050, got {field_id:?}"
        ))),
    }
}

/// The search for issues whose phone field holds any of the number variants:
/// `project = "CRM" AND (cf[10050] ~ "\"+16505551212\"" OR cf[10050] ~ "\"(650) 555-1212\"")`.
pub fn find_jql(project_key: Option<&str>, field: &str, variants: &[String]) -> String {
    let any: Vec<String> = variants.iter().map(|v| format!("{field} ~ {}", jql_phrase(v))).collect();
    let phones = if any.len() == 1 { any.join("") } else { format!("({})", any.join(" OR ")) };
    match project_key {
        Some(p) => format!("project = {} AND {phones}", jql_string(p)),
        None => phones,
    }
}

/// The search for contacts (issues) whose summary holds `name` as a phrase:
/// `project = "CRM" AND summary ~ "\"Luke Sky\""`.
pub fn name_jql(project_key: Option<&str>, name: &str) -> String {
    let summary = format!("summary ~ {}", jql_phrase(name.trim()));
    match project_key {
        Some(p) => format!("project = {} AND {summary}", jql_string(p)),
        None => summary,
    }
}

/// `POST /rest/api/3/search/jql` request body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest<'a> {
    pub jql: &'a str,
    pub fields: Vec<&'a str>,
    pub max_results: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// Its answer. `nextPageToken` is absent (or null) on the last page.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResults {
    #[serde(default)]
    pub issues: Vec<Issue>,
    #[serde(default)]
    pub next_page_token: Option<String>,
    #[serde(default)]
    pub is_last: Option<bool>,
}

/// An issue in search results (`id`, `self` and the fields not asked for are ignored).
#[derive(Debug, Deserialize)]
pub struct Issue {
    pub key: String,
    #[serde(default)]
    pub fields: Map<String, Value>,
}

/// A field value as text (text fields are strings; a number field would be a number).
fn text_value(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Issue {
    /// The phone field's value, when Jira returned it.
    pub fn phone(&self, phone_field: &str) -> Option<String> {
        text_value(self.fields.get(phone_field))
    }

    /// Whether the phone field holds one of the searched numbers. `~` is a word
    /// search, so a hit is checked on the digits: the field's digits must
    /// contain a variant's digits. A field Jira did not return is trusted.
    pub fn holds_number(&self, phone_field: &str, variants: &[String]) -> bool {
        let Some(value) = self.phone(phone_field) else { return true };
        let have = digits(&value);
        variants.iter().map(|v| digits(v)).any(|want| !want.is_empty() && have.contains(&want))
    }

    pub fn into_contact(self, phone_field: &str, searched: &str) -> Contact {
        let phone = self.phone(phone_field).unwrap_or_else(|| searched.to_owned());
        let name = text_value(self.fields.get("summary")).filter(|s| !s.is_empty()).unwrap_or_else(|| self.key.clone());
        Contact {
            id: self.key,
            name,
            phone,
            contact_type: Some(CONTACT_TYPE.into()),
            organization: None,
            additional_info_json: None,
        }
    }
}

/// The contact type the manifest lists: every contact is an issue.
pub const CONTACT_TYPE: &str = "issue";

// ---------------------------------------------------------------- issues

/// `POST /rest/api/3/issue` body for a new contact.
pub fn new_issue(project_key: &str, issue_type: &str, phone_field: &str, name: &str, phone: &str) -> Value {
    let mut fields = Map::new();
    fields.insert("project".into(), json!({"key": project_key}));
    fields.insert("issuetype".into(), json!({"name": issue_type}));
    fields.insert("summary".into(), json!(name));
    fields.insert(phone_field.into(), json!(phone));
    json!({"fields": fields})
}

/// `201 {id, key, self}`.
#[derive(Debug, Deserialize)]
pub struct CreatedIssue {
    pub id: String,
    pub key: String,
}

// ---------------------------------------------------------------- comments

/// A comment as Jira returns it (the fields we use).
#[derive(Debug, Deserialize)]
pub struct Comment {
    pub id: String,
    pub body: Node,
}

/// The body of `POST .../comment` and `PUT .../comment/{id}`.
#[derive(Debug, Serialize)]
pub struct CommentBody<'a> {
    pub body: &'a Node,
}

/// The body of `POST .../comment`: the ADF and the comment's entity properties.
#[derive(Debug, Serialize)]
pub struct NewComment<'a> {
    pub body: &'a Node,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<Property>,
}

/// An entity property of a comment: `{key, value}`, the value any JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Property {
    pub key: String,
    #[serde(default)]
    pub value: Value,
}

/// The comment property the host's idempotency key is kept in.
pub const PROPERTY_KEY: &str = "switchboard";

/// `[{key: "switchboard", value: {idempotencyKey}}]`, or nothing for an empty key.
pub fn idempotency_property(key: &str) -> Vec<Property> {
    let key = key.trim();
    if key.is_empty() {
        return Vec::new();
    }
    vec![Property { key: PROPERTY_KEY.into(), value: json!({ "idempotencyKey": key }) }]
}

/// `GET /issue/{key}/comment` (a page; the fields we use).
#[derive(Debug, Deserialize)]
pub struct CommentPage {
    #[serde(default)]
    pub comments: Vec<ListedComment>,
}

#[derive(Debug, Deserialize)]
pub struct ListedComment {
    pub id: String,
    #[serde(default)]
    pub author: Option<Author>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Author {
    #[serde(default)]
    pub account_id: String,
}

impl ListedComment {
    /// Whether `account_id` wrote it (an empty id wrote nothing).
    pub fn by(&self, account_id: &str) -> bool {
        !account_id.is_empty() && self.author.as_ref().is_some_and(|a| a.account_id == account_id)
    }
}

/// The body of `POST /comment/list`: comment ids as numbers.
#[derive(Debug, Serialize)]
pub struct CommentIds {
    pub ids: Vec<u64>,
}

/// Its answer (a page of comments; with `expand=properties`, their properties).
#[derive(Debug, Deserialize)]
pub struct CommentList {
    #[serde(default)]
    pub values: Vec<PropertiedComment>,
}

#[derive(Debug, Deserialize)]
pub struct PropertiedComment {
    pub id: String,
    #[serde(default)]
    pub properties: Vec<Property>,
}

impl PropertiedComment {
    /// Whether it carries the idempotency key `key` (see [`idempotency_property`]).
    pub fn carries(&self, key: &str) -> bool {
        self.properties.iter().any(|p| p.key == PROPERTY_KEY && p.value["idempotencyKey"] == key)
    }
}

// ---------------------------------------------------------------- ADF

/// An Atlassian Document Format node. Fields we do not model (the doc's
/// `version`, a node's `localId`...) are kept as they came, so a comment the
/// user edited in Jira survives our update.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Node {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<Node>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marks: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attrs: Option<Value>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Node {
    fn block(kind: &str, content: Vec<Node>) -> Node {
        Node { kind: kind.into(), content: Some(content), ..Default::default() }
    }

    pub fn doc(content: Vec<Node>) -> Node {
        let mut d = Node::block("doc", content);
        d.other.insert("version".into(), json!(1));
        d
    }

    pub fn paragraph(inlines: Vec<Node>) -> Node {
        Node::block("paragraph", inlines)
    }

    /// A text node; ADF forbids empty ones, so callers skip empty strings.
    pub fn text(s: &str) -> Node {
        Node { kind: "text".into(), text: Some(s.into()), ..Default::default() }
    }

    pub fn strong(s: &str) -> Node {
        Node { marks: Some(vec![json!({"type": "strong"})]), ..Node::text(s) }
    }

    pub fn link(s: &str, href: &str) -> Node {
        Node { marks: Some(vec![json!({"type": "link", "attrs": {"href": href}})]), ..Node::text(s) }
    }

    pub fn hard_break() -> Node {
        Node { kind: "hardBreak".into(), ..Default::default() }
    }

    pub fn children(&self) -> &[Node] {
        self.content.as_deref().unwrap_or_default()
    }

    fn children_mut(&mut self) -> &mut Vec<Node> {
        self.content.get_or_insert_with(Vec::new)
    }

    fn is_inline(&self) -> bool {
        matches!(
            self.kind.as_str(),
            "text" | "hardBreak" | "mention" | "emoji" | "inlineCard" | "date" | "status" | "mediaInline"
        )
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.as_ref()?.get(name)?.as_str()
    }

    /// The node as plain text: inline content concatenated, blocks on their
    /// own lines, list items as `- item`.
    pub fn plain_text(&self) -> String {
        match self.kind.as_str() {
            "text" => self.text.clone().unwrap_or_default(),
            "hardBreak" => "\n".into(),
            "mention" | "emoji" | "status" => {
                self.attr("text").or_else(|| self.attr("shortName")).unwrap_or_default().to_owned()
            }
            "inlineCard" | "blockCard" => self.attr("url").unwrap_or_default().to_owned(),
            "date" => self.attr("timestamp").unwrap_or_default().to_owned(),
            "bulletList" | "orderedList" => {
                self.children().iter().map(|item| format!("- {}", item.plain_text())).collect::<Vec<_>>().join("\n")
            }
            _ if self.children().iter().all(Node::is_inline) => self.children().iter().map(Node::plain_text).collect(),
            _ => self.children().iter().map(Node::plain_text).collect::<Vec<_>>().join("\n"),
        }
    }
}

/// Inline nodes for a text that may hold line breaks.
fn inline_lines(s: &str) -> Vec<Node> {
    let mut out = Vec::new();
    for (i, line) in s.split('\n').map(|l| l.trim_end_matches('\r')).enumerate() {
        if i > 0 {
            out.push(Node::hard_break());
        }
        if !line.is_empty() {
            out.push(Node::text(line));
        }
    }
    out
}

/// One paragraph per line of a note (an empty line is an empty paragraph).
fn note_paragraphs(note: &str) -> Vec<Node> {
    if note.trim().is_empty() {
        return Vec::new();
    }
    note.split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .map(|l| Node::paragraph(if l.is_empty() { vec![] } else { vec![Node::text(l)] }))
        .collect()
}

fn is_text_block(n: &Node) -> bool {
    n.kind == "paragraph" || n.kind == "heading"
}

// ---------------------------------------------------------------- call logs

/// A call log comment:
///
/// ```text
/// **Inbound call from Luke Skywalker**          ← paragraph: the subject, bold
/// • **Contact:** Luke Skywalker                 ← bullet list: one `Label: value` per detail
/// • **Direction:** Inbound
/// • ... From, To, Started, Duration, Result, Recording (a link), Session
/// Asked about the plans                         ← paragraphs: the note, one per line
/// ```
pub fn call_doc(log: &CallLogInput) -> Node {
    let mut content = vec![Node::paragraph(vec![Node::strong(&switchboard_sdk::call_log::subject(log))])];
    let details = call_details(log);
    if !details.is_empty() {
        content.push(Node::block("bulletList", details.iter().map(|(l, v)| detail_item(l, v)).collect()));
    }
    content.extend(note_paragraphs(log.note.as_deref().unwrap_or_default()));
    Node::doc(content)
}

/// A call's length as Jira comments show it: `42 s`, `1 min 5 s`, `1 h 2 min 5 s`.
pub fn duration(secs: u64) -> String {
    text::duration(secs, DurationUnits::SPELLED)
}

fn call_details(log: &CallLogInput) -> Vec<(&'static str, String)> {
    let mut d = Vec::new();
    let mut add = |label: &'static str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.trim().is_empty()) {
            d.push((label, v));
        }
    };
    add("Contact", log.contact_name.clone());
    add("Direction", log.direction.map(|x| x.as_word().to_owned()));
    add("From", log.from_number.clone());
    add("To", log.to_number.clone());
    add("Started", log.start_time.clone());
    add("Duration", log.duration_seconds.map(duration));
    add("Result", log.call_result.clone());
    add("Recording", log.recording_link.clone());
    add("Session", Some(log.session_id.clone()));
    d
}

/// `• **Label:** value` (a recording is a link).
fn detail_item(label: &str, value: &str) -> Node {
    let mut inlines = vec![Node::strong(&format!("{label}:")), Node::text(" ")];
    if label == "Recording" && (value.starts_with("https://") || value.starts_with("http://")) {
        inlines.push(Node::link(value, value));
    } else {
        inlines.extend(inline_lines(value));
    }
    Node::block("listItem", vec![Node::paragraph(inlines)])
}

/// The `Label: value` details of a call log comment (its first bullet list).
pub fn details(doc: &Node) -> Vec<(String, String)> {
    let Some(list) = doc.children().iter().find(|n| n.kind == "bulletList") else { return Vec::new() };
    list.children()
        .iter()
        .filter_map(|item| {
            let text = item.plain_text();
            let (label, value) = text.split_once(':')?;
            Some((label.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// Sets one detail of a call log comment, adding the list or the item if needed.
fn set_detail(doc: &mut Node, label: &str, value: &str) {
    let content = doc.children_mut();
    let at = match content.iter().position(|n| n.kind == "bulletList") {
        Some(i) => i,
        None => {
            let after_subject = usize::from(content.first().is_some_and(is_text_block));
            content.insert(after_subject, Node::block("bulletList", Vec::new()));
            after_subject
        }
    };
    let items = content[at].children_mut();
    let item = detail_item(label, value);
    let prefix = format!("{label}:");
    match items.iter().position(|i| i.plain_text().starts_with(&prefix)) {
        Some(i) => items[i] = item,
        None => items.push(item),
    }
}

/// Applies an update to a call log comment: fields given replace theirs,
/// everything else (including what a user added in Jira) stays.
pub fn apply_update(doc: &mut Node, u: &CallLogUpdate) {
    if let Some(subject) = u.subject.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let content = doc.children_mut();
        let heading = Node::paragraph(vec![Node::strong(subject)]);
        match content.first() {
            Some(first) if is_text_block(first) => content[0] = heading,
            _ => content.insert(0, heading),
        }
    }
    let details = [
        ("Started", u.start_time.clone()),
        ("Duration", u.duration_seconds.map(duration)),
        ("Result", u.call_result.clone()),
        ("Recording", u.recording_link.clone()),
    ];
    for (label, value) in details {
        if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
            set_detail(doc, label, &v);
        }
    }
    if let Some(note) = &u.note {
        let content = doc.children_mut();
        let subject = content.first().filter(|n| is_text_block(n)).cloned();
        let rest: Vec<Node> = content.drain(..).skip(usize::from(subject.is_some())).collect();
        content.extend(subject);
        content.extend(rest.into_iter().filter(|n| n.kind != "paragraph"));
        content.extend(note_paragraphs(note));
    }
}

/// Reads a call log comment back: the subject (first paragraph), the note
/// (the other top-level paragraphs), the contact from the details.
pub fn read_call(log_id: &str, doc: &Node) -> CallLog {
    let content = doc.children();
    let has_subject = content.first().is_some_and(is_text_block);
    let subject = if has_subject { content[0].plain_text() } else { String::new() };
    let note: Vec<String> =
        content.iter().skip(usize::from(has_subject)).filter(|n| n.kind == "paragraph").map(Node::plain_text).collect();
    let contact_name = details(doc).into_iter().find(|(l, _)| l == "Contact").map(|(_, v)| v);
    CallLog {
        log_id: log_id.to_owned(),
        subject,
        note: note.join("\n"),
        contact_name,
        full_body: Some(doc.plain_text()),
        dispositions_json: None,
    }
}

// ---------------------------------------------------------------- message logs

/// `[2026-11-22T10:00:00Z] Inbound SMS from +16505551212: Help me`
pub fn message_paragraph(m: &Message) -> Node {
    let head = format!("[{}] {} {} from {}", m.creation_time, m.direction.as_word(), m.message_type, m.from_number);
    let mut inlines = vec![Node::strong(&head)];
    if !m.subject.trim().is_empty() {
        inlines.push(Node::text(": "));
        inlines.extend(inline_lines(&m.subject));
    }
    Node::paragraph(inlines)
}

/// A conversation's comment: a bold title, then one paragraph per message.
pub fn message_doc(log: &MessageLogInput) -> Node {
    let who = log.contact_name.as_deref().filter(|n| !n.is_empty()).unwrap_or("contact");
    let title = format!("{} conversation with {who}", log.message.message_type);
    Node::doc(vec![Node::paragraph(vec![Node::strong(&title)]), message_paragraph(&log.message)])
}

pub fn append_message(doc: &mut Node, m: &Message) {
    doc.children_mut().push(message_paragraph(m));
}

// ---------------------------------------------------------------- errors

/// Jira's error body: `{errorMessages: [..], errors: {field: message}}`
/// (the gateway's own errors are `{code, message}`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[serde(default)]
    pub error_messages: Vec<String>,
    #[serde(default)]
    pub errors: Map<String, Value>,
    #[serde(default)]
    pub message: Option<String>,
}

/// What Jira said, in one line.
pub fn error_text(body: &[u8]) -> String {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let mut parts = parsed.error_messages;
    for (field, msg) in parsed.errors {
        parts.push(format!("{field}: {}", msg.as_str().map(str::to_owned).unwrap_or_else(|| msg.to_string())));
    }
    parts.extend(parsed.message);
    if parts.is_empty() { String::from_utf8_lossy(body).chars().take(200).collect() } else { parts.join("; ") }
}
