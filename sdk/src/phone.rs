//! Phone numbers: E.164 parsing and App Connect `overridingFormat` patterns.
//!
//! CRM-extension clients send numbers in E.164 (`+16505551212`) and, per CRM,
//! a list of formats in which users store numbers, e.g. `(***) ***-****` or
//! `***-***-****`. Each `*` takes the next digit of the national number.
//! A CRM's search is often looser than an exact match; compare what it found
//! with [`digits`].
//!
//! E.164 needs no numbering plan to split: country calling codes are
//! prefix-free, so the code is the one of [`COUNTRY_CODES`] the digits start
//! with and the rest is the national significant number. This module used the
//! `phonenumber` crate for that; its metadata made every adapter 2.1 MB instead
//! of under 200 KB, and the host maps an adapter's data into every instance
//! (at 2,000 calls in flight, 715 MiB of RSS against 374 MiB). The SDK's tests
//! check this module against `phonenumber` for every country's example
//! numbers, and the table against its list of codes. An adapter that needs
//! more (validation, number types, national formats) can depend on
//! `phonenumber` itself.

/// Every assigned country calling code (ITU-T E.164), ascending: the codes of
/// libphonenumber's metadata 9.0.33, as the `phonenumber` crate ships it.
pub const COUNTRY_CODES: &[u16] = &[
    1, 7, 20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56, 57, 58, 60,
    61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98, 211, 212, 213, 216, 218, 220, 221, 222, 223,
    224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239, 240, 241, 242, 243, 244, 245, 246,
    247, 248, 249, 250, 251, 252, 253, 254, 255, 256, 257, 258, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 290,
    291, 297, 298, 299, 350, 351, 352, 353, 354, 355, 356, 357, 358, 359, 370, 371, 372, 373, 374, 375, 376, 377, 378,
    380, 381, 382, 383, 385, 386, 387, 389, 420, 421, 423, 500, 501, 502, 503, 504, 505, 506, 507, 508, 509, 590, 591,
    592, 593, 594, 595, 596, 597, 598, 599, 670, 672, 673, 674, 675, 676, 677, 678, 679, 680, 681, 682, 683, 685, 686,
    687, 688, 689, 690, 691, 692, 850, 852, 853, 855, 856, 880, 886, 960, 961, 962, 963, 964, 965, 966, 967, 968, 970,
    971, 972, 973, 974, 975, 976, 977, 979, 992, 993, 994, 995, 996, 998,
];

/// libphonenumber's bounds on a national significant number, in digits.
const NATIONAL_DIGITS: std::ops::RangeInclusive<usize> = 2..=17;

/// An E.164 number split into its country calling code and national
/// significant number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct E164 {
    /// `1` for `+16505551212`.
    pub country_code: u16,
    /// `"6505551212"` for `+16505551212`; an Italian fixed line keeps its
    /// leading zero (`+390612345678` → `"0612345678"`).
    pub national: String,
}

/// Parses an E.164 number: a leading `+`, then digits, which may be grouped
/// with spaces, `-`, `.`, `/` or parentheses. An extension after the number
/// (`x12`, `ext. 12`, `#12`, `;ext=12`) is ignored. `None` for anything else:
/// no `+`, an unassigned country code (or one written with a leading zero),
/// letters, or a national number outside 2–17 digits.
pub fn parse_e164(number: &str) -> Option<E164> {
    let rest = number.trim().strip_prefix('+')?;
    let mut all = String::with_capacity(rest.len());
    for (i, c) in rest.char_indices() {
        match c {
            '0'..='9' => all.push(c),
            ' ' | '-' | '.' | '/' | '(' | ')' | '\u{a0}' => {}
            _ if starts_extension(&rest[i..]) => break,
            _ => return None,
        }
    }
    // No country code starts with 0 (`+01…` is not `+1…`).
    if all.starts_with('0') {
        return None;
    }
    let code_len = (1..=3).find(|&n| {
        all.get(..n).and_then(|c| c.parse::<u16>().ok()).is_some_and(|c| COUNTRY_CODES.binary_search(&c).is_ok())
    })?;
    let national = all.split_off(code_len);
    if !NATIONAL_DIGITS.contains(&national.len()) {
        return None;
    }
    Some(E164 { country_code: all.parse().ok()?, national })
}

/// Whether `s` (the text after a number's digits) begins its extension.
fn starts_extension(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    ["x", "ext", "#", ";ext=", ","].iter().any(|m| lower.starts_with(m))
}

/// The national significant digits of an E.164 number: `+16505551212` → `6505551212`.
pub fn national_digits(number: &str) -> Option<String> {
    parse_e164(number).map(|n| n.national)
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
    fn grouping_and_extensions_are_ignored_and_other_text_refused() {
        let us = Some(E164 { country_code: 1, national: "6505551212".into() });
        for written in
            ["+1 (650) 555-1212", " +1.650.555.1212 ", "+1/650/5551212", "+1 650 555 1212 ext. 12", "+16505551212x3"]
        {
            assert_eq!(parse_e164(written), us, "{written}");
        }
        assert_eq!(parse_e164("+390612345678").map(|n| n.national).as_deref(), Some("0612345678"), "Italy's zero");
        for refused in [
            "16505551212",
            "+1 800 FLOWERS",
            "+1",
            "+999 1234",
            "+016505551212",
            "+1650555121234567890",
            "+٣٣1234567",
            "",
        ] {
            assert_eq!(parse_e164(refused), None, "{refused}");
        }
    }

    /// The table is libphonenumber's list of codes, as the `phonenumber`
    /// crate ships it (a dev-dependency: adapters do not carry it).
    #[test]
    fn the_country_codes_are_those_of_libphonenumber() {
        let mut theirs: Vec<u16> = phonenumber::metadata::DATABASE.iter().map(|m| m.country_code()).collect();
        theirs.sort_unstable();
        theirs.dedup();
        assert_eq!(COUNTRY_CODES, theirs.as_slice());
    }

    /// Every example number of every region and number type in
    /// libphonenumber's metadata (each is a national significant number), as
    /// E.164 and grouped the way people write numbers, splits into its
    /// region's code and itself. (`phonenumber::parse` itself takes a trunk
    /// prefix off seven of them, such as Russia's toll-free `+7 800 123-45-67`.)
    #[test]
    fn every_example_number_splits_into_its_code_and_national_number() {
        let mut checked = 0;
        for region in phonenumber::metadata::DATABASE.iter() {
            let d = region.descriptors();
            let kinds = [d.fixed_line(), d.mobile(), d.toll_free(), d.premium_rate(), d.voip(), d.uan()];
            for example in kinds.into_iter().flatten().filter_map(|k| k.example()) {
                let expected = Some(E164 { country_code: region.country_code(), national: example.to_owned() });
                let e164 = format!("+{}{example}", region.country_code());
                let grouped =
                    format!("+{} ({}) {}-{}", region.country_code(), &example[..1], &example[1..3], &example[3..]);
                assert_eq!(parse_e164(&e164), expected, "{e164}");
                assert_eq!(parse_e164(&grouped), expected, "{grouped}");
                checked += 1;
            }
        }
        assert!(checked > 900, "only {checked} example numbers");
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
