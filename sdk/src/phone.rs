//! Phone numbers: E.164 parsing and App Connect `overridingFormat` patterns.
//!
//! CRM-extension clients send numbers in E.164 (`+16505551212`) and, per CRM,
//! a list of formats in which users store numbers, e.g. `(***) ***-****` or
//! `***-***-****`. Each `*` takes the next digit of the national number.
//! A CRM's search is often looser than an exact match; compare what it found
//! with [`digits`].

use phonenumber::PhoneNumber;

/// Parses an E.164 number (a leading `+` and country code are required).
pub fn parse_e164(number: &str) -> Option<PhoneNumber> {
    phonenumber::parse(None, number.trim()).ok()
}

/// The national significant digits of an E.164 number: `+16505551212` → `6505551212`.
pub fn national_digits(number: &str) -> Option<String> {
    parse_e164(number).map(|n| n.national().value().to_string())
}

/// The ASCII digits of a number as stored or searched, for comparing
/// "+1 (650) 555-1212" with "+16505551212": `"+1 (650) 555-1212"` → `"16505551212"`.
pub fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// Fills `pattern`'s `*` with the national digits of `number`.
///
/// Returns `None` when the number does not parse or the pattern does not have
/// exactly as many `*` as the number has national digits.
pub fn apply_format(number: &str, pattern: &str) -> Option<String> {
    let digits = national_digits(number)?;
    if pattern.matches('*').count() != digits.len() {
        return None;
    }
    let mut digits = digits.chars();
    Some(pattern.chars().map(|c| if c == '*' { digits.next().unwrap_or('*') } else { c }).collect())
}

/// The strings to search for: the E.164 number, then each format that fits it.
pub fn search_variants(number: &str, overriding_formats: &[String]) -> Vec<String> {
    let mut out = vec![number.trim().to_string()];
    for f in overriding_formats {
        if let Some(v) = apply_format(number, f.trim()).filter(|v| !out.contains(v)) {
            out.push(v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_digits_of_us_and_uk_numbers() {
        assert_eq!(national_digits("+16505551212").as_deref(), Some("6505551212"));
        assert_eq!(national_digits("+442071838750").as_deref(), Some("2071838750"));
        assert_eq!(national_digits("not a number"), None);
    }

    #[test]
    fn digits_drop_everything_else() {
        assert_eq!(digits("+1 (650) 555-1212"), "16505551212");
        assert_eq!(digits("ext. 12 ٣"), "12", "ASCII digits only");
        assert_eq!(digits(""), "");
    }

    #[test]
    fn patterns_take_national_digits() {
        assert_eq!(apply_format("+16505551212", "(***) ***-****").as_deref(), Some("(650) 555-1212"));
        assert_eq!(apply_format("+16505551212", "***-***-****").as_deref(), Some("650-555-1212"));
        assert_eq!(apply_format("+16505551212", "***-****"), None, "too few stars");
    }

    #[test]
    fn variants_start_with_e164_and_skip_unfit_formats() {
        let v = search_variants("+16505551212", &["(***) ***-****".into(), "**".into()]);
        assert_eq!(v, vec!["+16505551212".to_string(), "(650) 555-1212".to_string()]);
    }
}
