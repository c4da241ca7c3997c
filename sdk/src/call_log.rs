//! What every CRM needs when it records a call.

use crate::{CallLogInput, Direction};

/// The subject of a call record: the client's own when it gave a non-blank
/// one, else "Inbound call from Luke", "Outbound call to Luke" or "Call with
/// Luke" ("contact" when the name is unknown).
pub fn subject(log: &CallLogInput) -> String {
    if let Some(s) = log.subject.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        return s.to_owned();
    }
    let who = log.contact_name.as_deref().map(str::trim).filter(|n| !n.is_empty()).unwrap_or("contact");
    match log.direction {
        Some(Direction::Inbound) => format!("Inbound call from {who}"),
        Some(Direction::Outbound) => format!("Outbound call to {who}"),
        None => format!("Call with {who}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(subject: Option<&str>, name: Option<&str>, direction: Option<Direction>) -> CallLogInput {
        CallLogInput {
            session_id: "s".into(),
            idempotency_key: "k".into(),
            contact_id: "c".into(),
            contact_type: None,
            contact_name: name.map(Into::into),
            subject: subject.map(Into::into),
            note: None,
            direction,
            from_number: None,
            to_number: None,
            start_time: None,
            duration_seconds: None,
            call_result: None,
            recording_link: None,
            additional_submission_json: None,
        }
    }

    #[test]
    fn the_clients_subject_wins_else_direction_and_name() {
        assert_eq!(subject(&log(Some(" Plans "), Some("Luke"), None)), "Plans");
        assert_eq!(subject(&log(Some(" "), Some("Luke"), Some(Direction::Inbound))), "Inbound call from Luke");
        assert_eq!(subject(&log(None, Some("Leia"), Some(Direction::Outbound))), "Outbound call to Leia");
        assert_eq!(subject(&log(None, None, None)), "Call with contact");
    }
}
