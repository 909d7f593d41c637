//! The request as the carrier sent it (INBOUND.md §1 step 1, §2.2): headers
//! looked up case-insensitively, and the body parsed by its `Content-Type`,
//! forms into an ordered multimap that keeps every value of a repeated key.

use std::borrow::Cow;

use percent_encoding::percent_decode;
use serde_json::Value;

/// Request headers, borrowed from the request. Values that are not visible
/// ASCII are left out: no carrier sends such values in the headers we read.
#[derive(Debug, Clone, Default)]
pub struct Headers<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Headers<'a> {
    pub fn new(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Headers<'a> {
        Headers(pairs.into_iter().collect())
    }

    /// The first value of `name`, whatever its case.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// Form parameters in the order received, duplicates kept; borrowed from
/// the body unless decoding changed them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Params<'a> {
    /// `application/x-www-form-urlencoded` decoding: `+` is a space, then
    /// percent-decoding, then UTF-8, which must be valid (nothing is
    /// replaced: the signature covers the exact values).
    pub fn parse(raw: &'a [u8]) -> Option<Params<'a>> {
        let mut pairs = Vec::with_capacity(raw.iter().filter(|b| **b == b'&').count() + 1);
        for part in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let (key, value) = match part.iter().position(|b| *b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &[][..]),
            };
            pairs.push((decode(key)?, decode(value)?));
        }
        Some(Params(pairs))
    }

    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The pairs by key, then by value, by code point: the order Twilio and
    /// Plivo sign in.
    pub fn sorted(&self) -> Sorted<'_> {
        let mut pairs: Vec<(&str, &str)> = self.pairs().collect();
        pairs.sort_unstable();
        Sorted(pairs)
    }
}

/// Form parameters in signing order (`Params::sorted`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sorted<'a>(Vec<(&'a str, &'a str)>);

/// No parameters: what a JSON body adds to a signed URL.
pub static NO_PARAMS: Sorted<'static> = Sorted(Vec::new());

impl<'a> Sorted<'a> {
    pub fn pairs(&self) -> &[(&'a str, &'a str)] {
        &self.0
    }
}

fn decode(raw: &[u8]) -> Option<Cow<'_, str>> {
    // Most values need neither: borrowed, not copied.
    if !raw.iter().any(|b| matches!(b, b'+' | b'%')) {
        return std::str::from_utf8(raw).ok().map(Cow::Borrowed);
    }
    let spaced: Vec<u8> = raw.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
    String::from_utf8(percent_decode(&spaced).collect())
        .ok()
        .map(Cow::Owned)
}

/// A body parsed by its content type.
#[derive(Debug, Clone)]
pub enum Payload<'a> {
    Form(Params<'a>),
    Json(Value),
}

/// Why a body has no `Payload`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Neither a form nor JSON: no carrier sends it (generic hangup).
    UnsupportedType,
    /// The content type's own syntax is broken (the carrier's pre-auth reject).
    Malformed,
}

impl<'a> Payload<'a> {
    pub fn parse(content_type: Option<&str>, body: &'a [u8]) -> Result<Payload<'a>, BodyError> {
        let media_type = content_type
            .and_then(|t| t.split(';').next())
            .map(|t| t.trim().to_ascii_lowercase());
        match media_type.as_deref() {
            Some("application/x-www-form-urlencoded") => {
                Params::parse(body).map(Payload::Form).ok_or(BodyError::Malformed)
            }
            Some("application/json") => match serde_json::from_slice(body) {
                Ok(value @ Value::Object(_)) => Ok(Payload::Json(value)),
                _ => Err(BodyError::Malformed),
            },
            _ => Err(BodyError::UnsupportedType),
        }
    }

    /// A top-level text field: a form's first value, or a JSON string.
    pub fn text(&self, key: &str) -> Option<&str> {
        match self {
            Payload::Form(params) => params.get(key),
            Payload::Json(value) => value.get(key)?.as_str(),
        }
    }

    /// The form parameters; JSON bodies have none.
    pub fn params(&self) -> Option<&Params<'a>> {
        match self {
            Payload::Form(params) => Some(params),
            Payload::Json(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_keep_duplicates_in_order_and_decode_plus_and_percent() {
        let p = Params::parse(b"To=%2B1415&b=2&a=x+y&b=1&flag").unwrap();
        let pairs: Vec<(&str, &str)> = p.pairs().collect();
        assert_eq!(
            pairs,
            [("To", "+1415"), ("b", "2"), ("a", "x y"), ("b", "1"), ("flag", "")]
        );
        assert_eq!(
            p.sorted().pairs(),
            [("To", "+1415"), ("a", "x y"), ("b", "1"), ("b", "2"), ("flag", "")]
        );
    }

    #[test]
    fn values_are_copied_only_when_decoding_changes_them() {
        let p = Params::parse(b"To=%2B1415&CallSid=CA1&a=x+y").unwrap();
        assert!(matches!(&p.0[0], (Cow::Borrowed("To"), Cow::Owned(to)) if to == "+1415"));
        assert!(matches!(p.0[1], (Cow::Borrowed("CallSid"), Cow::Borrowed("CA1"))));
        assert!(matches!(&p.0[2].1, Cow::Owned(v) if v == "x y"));
    }

    #[test]
    fn invalid_utf8_is_malformed_not_replaced() {
        assert_eq!(Params::parse(b"a=%FF"), None);
        assert_eq!(Params::parse(b"a=\xff"), None);
        assert_eq!(
            Payload::parse(Some("application/x-www-form-urlencoded"), b"a=%C3%28").unwrap_err(),
            BodyError::Malformed
        );
    }

    #[test]
    fn the_content_type_decides_the_parser() {
        let form = Some("Application/X-WWW-Form-Urlencoded; charset=utf-8");
        assert!(matches!(Payload::parse(form, b"{\"a\":1}"), Ok(Payload::Form(_))));
        assert_eq!(
            Payload::parse(Some("application/json"), b"a=1").unwrap_err(),
            BodyError::Malformed
        );
        assert_eq!(
            Payload::parse(Some("application/json"), b"[1]").unwrap_err(),
            BodyError::Malformed
        );
        assert_eq!(
            Payload::parse(Some("text/plain"), b"a=1").unwrap_err(),
            BodyError::UnsupportedType
        );
        assert_eq!(Payload::parse(None, b"a=1").unwrap_err(), BodyError::UnsupportedType);
    }

    #[test]
    fn json_text_fields_are_strings_only() {
        let p = Payload::parse(Some("application/json"), br#"{"a":"x","b":1,"c":null}"#).unwrap();
        assert_eq!(p.text("a"), Some("x"));
        assert_eq!(p.text("b"), None);
        assert_eq!(p.text("c"), None);
    }
}
