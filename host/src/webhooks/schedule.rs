//! When a delivery is attempted again, and what an answer means.
//!
//! Attempts follow Standard Webhooks' recommended schedule: immediately, then
//! 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h after each failure (eight in
//! all, ~27.6 h), each delay with ±10 % jitter so a receiver coming back is
//! not hit by every sender at once. A `429` or `503` with `Retry-After` is
//! tried again when the receiver asked (at most 10 h away); `410 Gone`
//! disables the endpoint.

use std::time::Duration;

/// The delays before the second, third, … attempt.
pub(crate) const RETRY_DELAYS: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10 * 3600);

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// 2xx: done.
    Delivered,
    /// Try again after this long.
    Retry(Duration),
    /// Out of attempts: the delivery failed (a recover re-sends it).
    Exhausted,
    /// 410 Gone: the receiver asked never to be called again.
    Gone,
}

/// What an attempt got back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answer {
    /// The HTTP status, `None` when no answer came.
    pub(crate) status: Option<u16>,
    /// `Retry-After` of a 429 or 503.
    pub(crate) retry_after: Option<Duration>,
}

/// The outcome of attempt number `attempt` (1 = the first) that got `answer`.
pub(crate) fn outcome(attempt: u32, answer: Answer, jitter: f64) -> Outcome {
    match answer.status {
        Some(s) if (200..300).contains(&s) => return Outcome::Delivered,
        Some(410) => return Outcome::Gone,
        _ => {}
    }
    let Some(delay) = RETRY_DELAYS.get(attempt.saturating_sub(1) as usize) else {
        return Outcome::Exhausted;
    };
    if let (Some(429 | 503), Some(asked)) = (answer.status, answer.retry_after) {
        return Outcome::Retry(asked.min(MAX_RETRY_AFTER));
    }
    Outcome::Retry(delay.mul_f64(1.0 + jitter.clamp(-0.1, 0.1)))
}

/// A random jitter in [-0.1, 0.1].
pub(crate) fn jitter() -> f64 {
    use rand::Rng;
    rand::rng().random_range(-0.1..=0.1)
}

/// `Retry-After` as seconds or an HTTP date.
pub(crate) fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_ANSWER: Answer = Answer { status: None, retry_after: None };

    fn answer(status: u16, retry_after: Option<u64>) -> Answer {
        Answer { status: Some(status), retry_after: retry_after.map(Duration::from_secs) }
    }

    #[test]
    fn eight_attempts_on_the_standard_schedule_with_bounded_jitter() {
        assert_eq!(outcome(1, NO_ANSWER, 0.0), Outcome::Retry(Duration::from_secs(5)));
        assert_eq!(outcome(2, answer(500, None), 0.0), Outcome::Retry(Duration::from_secs(300)));
        assert_eq!(outcome(7, answer(502, None), 0.0), Outcome::Retry(Duration::from_secs(36_000)));
        assert_eq!(outcome(8, NO_ANSWER, 0.0), Outcome::Exhausted);
        assert_eq!(outcome(1, NO_ANSWER, 0.5), Outcome::Retry(Duration::from_millis(5500)), "jitter is at most 10 %");
        assert_eq!(outcome(3, answer(204, None), 0.0), Outcome::Delivered);
        assert_eq!(outcome(1, answer(410, None), 0.0), Outcome::Gone);
        assert_eq!(
            outcome(1, answer(301, None), 0.0),
            Outcome::Retry(Duration::from_secs(5)),
            "redirects are failures"
        );
        for _ in 0..100 {
            assert!((-0.1..=0.1).contains(&jitter()));
        }
    }

    #[test]
    fn retry_after_of_a_429_or_503_is_honoured_up_to_ten_hours() {
        assert_eq!(outcome(1, answer(429, Some(2)), 0.1), Outcome::Retry(Duration::from_secs(2)));
        assert_eq!(outcome(2, answer(503, Some(1)), 0.0), Outcome::Retry(Duration::from_secs(1)));
        assert_eq!(outcome(1, answer(429, Some(86_400)), 0.0), Outcome::Retry(Duration::from_secs(36_000)));
        assert_eq!(outcome(1, answer(500, Some(2)), 0.0), Outcome::Retry(Duration::from_secs(5)), "only 429/503");
        assert_eq!(outcome(8, answer(429, Some(2)), 0.0), Outcome::Exhausted);
        let now = humantime::parse_rfc3339("2015-10-21T07:27:00Z").unwrap();
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(60)));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
