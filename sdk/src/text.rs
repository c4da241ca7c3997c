//! Words and numbers for the notes adapters write into a CRM: a call's or a
//! message's direction, and a call's length.

use crate::Direction;

impl Direction {
    /// `"Inbound"` or `"Outbound"`, as notes show it ("Direction: Inbound",
    /// "Inbound SMS from ...").
    pub fn as_word(self) -> &'static str {
        match self {
            Direction::Inbound => "Inbound",
            Direction::Outbound => "Outbound",
        }
    }

    /// `"inbound"` or `"outbound"`, as APIs with a direction field usually take it.
    pub fn as_lowercase_word(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// How [`duration`] writes its units: each unit's suffix, and whether the
/// minutes and seconds after a larger unit take two digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationUnits {
    pub hours: &'static str,
    pub minutes: &'static str,
    pub seconds: &'static str,
    pub two_digits: bool,
}

impl DurationUnits {
    /// `42s`, `3m 05s`, `1h 02m 05s`.
    pub const COMPACT: DurationUnits = DurationUnits { hours: "h", minutes: "m", seconds: "s", two_digits: true };
    /// `42 s`, `3 min 5 s`, `1 h 2 min 5 s`.
    pub const SPELLED: DurationUnits = DurationUnits { hours: " h", minutes: " min", seconds: " s", two_digits: false };
}

/// A call's length from its largest non-zero unit down to the seconds:
/// `duration(185, DurationUnits::COMPACT)` is `"3m 05s"`, `duration(42, DurationUnits::SPELLED)`
/// is `"42 s"`.
pub fn duration(secs: u64, units: DurationUnits) -> String {
    let DurationUnits { hours, minutes, seconds, two_digits } = units;
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let w = if two_digits { 2 } else { 0 };
    match (h, m) {
        (0, 0) => format!("{s}{seconds}"),
        (0, _) => format!("{m}{minutes} {s:0w$}{seconds}"),
        _ => format!("{h}{hours} {m:0w$}{minutes} {s:0w$}{seconds}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_as_words() {
        assert_eq!(Direction::Inbound.as_word(), "Inbound");
        assert_eq!(Direction::Outbound.as_word(), "Outbound");
        assert_eq!(Direction::Inbound.as_lowercase_word(), "inbound");
        assert_eq!(Direction::Outbound.as_lowercase_word(), "outbound");
    }

    #[test]
    fn durations_start_at_the_largest_unit() {
        let compact = |s| duration(s, DurationUnits::COMPACT);
        assert_eq!(compact(0), "0s");
        assert_eq!(compact(42), "42s");
        assert_eq!(compact(185), "3m 05s");
        assert_eq!(compact(3600), "1h 00m 00s");
        assert_eq!(compact(3725), "1h 02m 05s");
        let spelled = |s| duration(s, DurationUnits::SPELLED);
        assert_eq!(spelled(42), "42 s");
        assert_eq!(spelled(65), "1 min 5 s");
        assert_eq!(spelled(3725), "1 h 2 min 5 s");
    }
}
