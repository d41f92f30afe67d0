//! Personal data and secrets in text: e-mail addresses, phone numbers, payment card numbers
//! (Luhn-checked), mainland China resident ID numbers (checksum-checked) and API-key shapes.
//!
//! One pass per pattern with the `regex` crate (linear time in the text, whatever it holds:
//! no backtracking, so a hostile body cannot make a scan slow). Overlapping finds are settled
//! by position, then length, then the order of [`Kind`] (a 18-digit ID is an ID, not a card).
//! A find is replaced by `[REDACTED:<kind>]`, which says what was there without keeping it.

use regex::{Regex, RegexSet};
use std::ops::Range;
use std::sync::OnceLock;

/// The shape of each [`Kind`], in its order. Word boundaries are ASCII (`(?-u:\b)`): a number
/// right after Chinese text (`电话13812345678`) is still at a boundary, where a Unicode `\b`
/// takes the Han characters for word characters; ASCII boundaries are also much faster.
const PATTERNS: [&str; 5] = [
    // OpenAI/Anthropic `sk-`, Tencent `AKID`, AWS `AKIA`, GitHub, Slack, Google.
    r"(?-u:\b)(?:sk-(?:ant-)?[A-Za-z0-9_-]{16,}|AKID[A-Za-z0-9]{13,40}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35})(?-u:\b)",
    r"(?-u:\b)[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?-u:\b)",
    r"(?-u:\b)\d{17}[\dXx](?-u:\b)",
    r"(?-u:\b)\d(?:[ -]?\d){12,18}(?-u:\b)",
    // A mainland China mobile (optionally +86), or an international number with `+`.
    r"(?:\+86[ -]?)?(?-u:\b)1[3-9]\d{9}(?-u:\b)|\+\d{1,3}(?:[ -]?\d{2,4}){2,4}(?-u:\b)",
];

/// Whether any kind's shape is in `text`: one pass over it for all the patterns (most texts
/// hold none, and then each pattern's own scan is skipped).
fn any_shape(text: &str) -> bool {
    static SET: OnceLock<Option<RegexSet>> = OnceLock::new();
    SET.get_or_init(|| RegexSet::new(PATTERNS).ok())
        .as_ref()
        .is_none_or(|set| set.is_match(text))
}

/// What a find is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    ApiKey,
    Email,
    CnId,
    Card,
    Phone,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::ApiKey,
        Kind::Email,
        Kind::CnId,
        Kind::Card,
        Kind::Phone,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Kind::ApiKey => "api_key",
            Kind::Email => "email",
            Kind::CnId => "cn_id",
            Kind::Card => "card",
            Kind::Phone => "phone",
        }
    }

    /// The kind's shape (`None` only if a pattern failed to compile, which the tests rule out:
    /// no panic on the request path).
    fn regex(self) -> Option<&'static Regex> {
        static RES: OnceLock<Vec<Option<Regex>>> = OnceLock::new();
        let all = RES.get_or_init(|| PATTERNS.iter().map(|p| Regex::new(p).ok()).collect());
        all.get(self as usize).and_then(Option::as_ref)
    }

    /// Whether a shape-match really is one (the checksums).
    fn confirms(self, text: &str) -> bool {
        match self {
            Kind::Card => luhn(text),
            Kind::CnId => cn_id_checksum(text),
            _ => true,
        }
    }
}

/// The Luhn check of a card number's 13 to 19 digits (separators ignored).
pub fn luhn(text: &str) -> bool {
    let digits: Vec<u32> = text.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| match (i % 2 == 1, d * 2) {
            (true, x) if x > 9 => x - 9,
            (true, x) => x,
            (false, _) => d,
        })
        .sum();
    sum.is_multiple_of(10)
}

/// GB 11643's check character of an 18-character resident ID (ISO 7064 MOD 11-2).
pub fn cn_id_checksum(id: &str) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let b = id.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    CHECK[(sum % 11) as usize] == b[17].to_ascii_uppercase()
}

/// One find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Find {
    pub kind: Kind,
    pub range: Range<usize>,
}

/// The finds of `kinds` in `text`, in order, without overlaps.
pub fn find(text: &str, kinds: &[Kind]) -> Vec<Find> {
    let mut all: Vec<Find> = Vec::new();
    if !any_shape(text) {
        return all;
    }
    for &kind in kinds {
        let Some(re) = kind.regex() else {
            continue;
        };
        for m in re.find_iter(text) {
            if kind.confirms(m.as_str()) {
                all.push(Find {
                    kind,
                    range: m.range(),
                });
            }
        }
    }
    // Earliest first; at one start the longest; at equal length the first kind.
    all.sort_by_key(|f| (f.range.start, std::cmp::Reverse(f.range.end), f.kind));
    let mut out: Vec<Find> = Vec::with_capacity(all.len());
    for f in all {
        if out.last().is_none_or(|l| f.range.start >= l.range.end) {
            out.push(f);
        }
    }
    out
}

/// `text` with every find of `kinds` replaced by `[REDACTED:<kind>]`, and the finds; `None`
/// when there is nothing to redact (the text goes on as it is, no copy).
pub fn redact(text: &str, kinds: &[Kind]) -> Option<(String, Vec<Kind>)> {
    let finds = find(text, kinds);
    if finds.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in &finds {
        out.push_str(&text[at..f.range.start]);
        out.push_str("[REDACTED:");
        out.push_str(f.kind.label());
        out.push(']');
        at = f.range.end;
    }
    out.push_str(&text[at..]);
    Some((out, finds.into_iter().map(|f| f.kind).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds_in(text: &str) -> Vec<Kind> {
        find(text, &Kind::ALL).into_iter().map(|f| f.kind).collect()
    }

    #[test]
    fn each_kind_is_found_and_redacted() {
        let text = "mail ann.lee@example.co.uk, call 13812345678 or +1 415 555 0100, \
                    card 4111 1111 1111 1111, id 11010519491231002X, key sk-abcdefghijklmnop1234";
        let (out, found) = redact(text, &Kind::ALL).unwrap_or_default();
        assert_eq!(
            found,
            vec![
                Kind::Email,
                Kind::Phone,
                Kind::Phone,
                Kind::Card,
                Kind::CnId,
                Kind::ApiKey
            ]
        );
        for secret in [
            "ann.lee@",
            "13812345678",
            "4111",
            "11010519491231002X",
            "sk-abc",
        ] {
            assert!(!out.contains(secret), "{secret} left in {out}");
        }
        assert!(
            out.contains("[REDACTED:card]") && out.contains("[REDACTED:cn_id]"),
            "{out}"
        );
    }

    #[test]
    fn finds_next_to_chinese_text() {
        assert_eq!(
            kinds_in("我的电话13812345678，身份证11010519491231002X。"),
            vec![Kind::Phone, Kind::CnId]
        );
    }

    #[test]
    fn every_pattern_compiles() {
        assert!(Kind::ALL.iter().all(|k| k.regex().is_some()));
    }

    #[test]
    fn checksums_keep_lookalikes() {
        // Luhn fails: an order number, not a card.
        assert!(kinds_in("order 4111 1111 1111 1112").is_empty());
        // The ID's check character is wrong: not an ID (and its 18 digits fail Luhn too).
        assert_eq!(kinds_in("ref 110105194912310021"), vec![]);
        assert!(cn_id_checksum("11010519491231002X"));
        assert!(luhn("5555555555554444"));
        assert!(!luhn("12345"));
    }

    #[test]
    fn only_the_kinds_asked_for_and_nothing_found_is_none() {
        assert_eq!(kinds_in("nothing personal here, 2026-12-03 12:00"), vec![]);
        assert!(redact("write to bob@example.com", &[Kind::Card]).is_none());
        assert!(redact("write to bob@example.com", &[Kind::Email]).is_some());
    }

    #[test]
    fn a_hostile_text_is_scanned_in_linear_time() {
        // Long runs that almost match every pattern: the regex crate does not backtrack.
        let text = "1 ".repeat(200_000) + &"a@".repeat(100_000) + &"sk-".repeat(100_000);
        let found = find(&text, &Kind::ALL);
        assert!(found.len() < 10, "{}", found.len());
    }
}
