//! Request fields several routes share, parsed one way everywhere: ids that
//! arrive as strings or numbers, a call party, comma-separated lists, call
//! directions, times and durations, free-form JSON objects.

use super::error::{ApiError, ApiResult, ErrorCode};
use crate::runtime::Direction;
use serde::Deserialize;
use serde_json::Value;
use std::time::{Duration, UNIX_EPOCH};

/// One side of a call or the sender of a message: `{phoneNumber}`.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Party {
    pub(crate) phone_number: Option<String>,
}

/// The non-empty, trimmed items of a comma-separated list (`sessionIds`,
/// `overridingFormat`).
pub(crate) fn comma_list(value: Option<&str>) -> Vec<String> {
    value.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// A phone number from a query string. Clients that do not encode the query
/// (the App Connect extension sends `phoneNumber=+16505551212`) have their
/// `+` decoded as a space: a value that is a space followed by 7 to 15 digits
/// and nothing else can only have been an E.164 number, and gets its `+`
/// back. Anything else is only trimmed.
pub(crate) fn query_phone(raw: &str) -> String {
    let digits = raw.strip_prefix(' ').map(str::trim_end).unwrap_or_default();
    if (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        return format!("+{digits}");
    }
    raw.trim().to_owned()
}

/// `Inbound`/`Outbound` in any case; anything else is no direction.
pub(crate) fn direction(s: Option<&str>) -> Option<Direction> {
    match s?.to_ascii_lowercase().as_str() {
        "inbound" => Some(Direction::Inbound),
        "outbound" => Some(Direction::Outbound),
        _ => None,
    }
}

/// RFC 3339 from either an RFC 3339 string or epoch milliseconds.
///
/// A number past the year 9999 (which RFC 3339 cannot write) is refused as
/// `INVALID_PARAMETER` naming `field`.
pub(crate) fn rfc3339(v: Option<&Value>, field: &str) -> ApiResult<Option<String>> {
    let Some(v) = v else { return Ok(None) };
    Ok(match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => match n.as_u64() {
            Some(ms) if ms <= MAX_RFC3339_MILLIS => {
                Some(humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string())
            }
            Some(_) => {
                return Err(ApiError::bad_request(
                    ErrorCode::InvalidParameter,
                    format!("`{field}` must be milliseconds since 1970 before the year 10000"),
                ));
            }
            None => None,
        },
        _ => None,
    })
}

/// 9999-12-31T23:59:59.999Z, the last instant RFC 3339 can write.
const MAX_RFC3339_MILLIS: u64 = 253_402_300_799_999;

/// A whole number of seconds, if the value is one.
pub(crate) fn seconds(v: Option<&Value>) -> Option<u64> {
    v?.as_u64()
}

/// A JSON object as text for the adapter (`additionalSubmission`); anything
/// but an object is dropped.
pub(crate) fn object_json(v: Option<Value>) -> Option<String> {
    v.filter(Value::is_object).map(|v| v.to_string())
}

/// Ids arrive as strings or numbers (`contactId: 42`); we keep them as strings.
pub(crate) mod string_or_number {
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    pub(crate) fn opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(other) => {
                return Err(serde::de::Error::custom(format!("expected a string or number, got {other}")));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn start_times_become_rfc3339() {
        let t = |v: Value| rfc3339(Some(&v), "startTime").map_err(|e| e.code);
        assert_eq!(t(json!(0)), Ok(Some("1970-01-01T00:00:00.000Z".into())));
        assert_eq!(t(json!("2024-05-01T10:00:00Z")), Ok(Some("2024-05-01T10:00:00Z".into())));
        assert_eq!(t(json!(true)), Ok(None));
        assert_eq!(t(json!(MAX_RFC3339_MILLIS)), Ok(Some("9999-12-31T23:59:59.999Z".into())));
        // Past the year 9999 formatting would panic: refused instead.
        assert_eq!(t(json!(MAX_RFC3339_MILLIS + 1)), Err(ErrorCode::InvalidParameter));
        assert_eq!(t(json!(9_223_372_036_854_775_808u64)), Err(ErrorCode::InvalidParameter));
    }

    #[test]
    fn an_unencoded_plus_is_given_back_only_where_unambiguous() {
        assert_eq!(query_phone(" 16505551212"), "+16505551212");
        assert_eq!(query_phone("+16505551212"), "+16505551212");
        assert_eq!(query_phone(" 16505551212 "), "+16505551212");
        assert_eq!(query_phone(" (650) 555-1212"), "(650) 555-1212", "not E.164 digits: left alone");
        assert_eq!(query_phone(" 123"), "123", "too short for E.164");
        assert_eq!(query_phone("6505551212"), "6505551212", "no space, no plus");
    }

    #[test]
    fn comma_lists_drop_blanks() {
        assert_eq!(comma_list(Some(" a, ,b,")), vec!["a".to_string(), "b".to_string()]);
        assert!(comma_list(None).is_empty());
    }
}
