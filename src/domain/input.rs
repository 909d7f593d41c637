//! Reading JSON request bodies into typed values. Every problem of one request
//! is collected as a Pydantic-shaped error (the reference is FastAPI), so a
//! client sees all of them at once, with the same `type`, `loc` and `msg`.

use serde::Serialize;
use serde_json::{json, Map, Value};

/// One problem of a request (Pydantic's error).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = ValidationError)]
pub struct FieldError {
    /// Pydantic's error type: `missing`, `string_too_long`, `json_invalid`, …
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Where: `body`, `path` or `query`, then field names and list indexes.
    #[schema(schema_with = loc_schema)]
    pub loc: Vec<Value>,
    pub msg: String,
    /// The value refused (secrets masked).
    #[schema(required = false)]
    pub input: Value,
    /// The rule's parameters, e.g. `{"max_length": 64}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object, required = false)]
    pub ctx: Option<Value>,
}

/// `loc`: field names and list indexes.
fn loc_schema() -> utoipa::openapi::Array {
    use utoipa::openapi::{schema::AnyOfBuilder, ArrayBuilder, ObjectBuilder, Type};
    let item = AnyOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String))
        .item(ObjectBuilder::new().schema_type(Type::Integer));
    ArrayBuilder::new().items(item).build()
}

/// A field as it arrived: absent, `null`, or a value. Partial updates treat
/// absent and `null` alike ("no change") except where `null` is an error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Patch<T> {
    Absent,
    Null,
    Value(T),
}

/// What a field must be present as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Absent → `missing`; `null` → a type error.
    Required,
    /// Absent or `null` → no value.
    Optional,
    /// Absent → no value; `null` → a type error.
    NotNull,
}

/// String rules: trimming, length limits in characters (as Pydantic counts)
/// and the characters allowed.
#[derive(Debug, Clone, Copy)]
pub struct Text {
    pub trim: bool,
    pub min: usize,
    pub max: usize,
    pub chars: Chars,
}

impl Text {
    /// A name: trimmed, non-empty, at most `max` characters, one line.
    pub const fn name(max: usize) -> Text {
        Text {
            trim: true,
            min: 1,
            max,
            chars: Chars::Line,
        }
    }

    /// Trimmed, possibly empty, one line.
    pub const fn trimmed() -> Text {
        Text {
            trim: true,
            min: 0,
            max: usize::MAX,
            chars: Chars::Line,
        }
    }

    pub const fn with(self, chars: Chars) -> Text {
        Text { chars, ..self }
    }
}

/// The characters a string may hold: a value stored now must still work
/// when it is used, so what would break it later is refused at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chars {
    /// No control character but tab (NUL ends strings in C, CR/LF split
    /// lines, headers and logs).
    Line,
    /// As `Line`, and line breaks (a PEM key).
    Lines,
    /// What an HTTP header value may hold (printable ASCII and tab): the
    /// carrier receives the value in a header, and anything else fails the
    /// request before it is sent.
    Header,
}

impl Chars {
    /// Why `s` is refused, as the text of a `value_error`.
    fn refuse(self, s: &str) -> Option<String> {
        let control = |c: char| c.is_ascii_control() && c != '\t' && c != '\x7f';
        let bad = match self {
            Chars::Line => s.chars().find(|&c| control(c)),
            Chars::Lines => s.chars().find(|&c| control(c) && c != '\n' && c != '\r'),
            Chars::Header => s.chars().find(|&c| c != '\t' && !(' '..='~').contains(&c)),
        }?;
        Some(match self {
            Chars::Header => format!(
                "must be printable ASCII (found U+{:04X}): the carrier receives it in an HTTP header",
                u32::from(bad)
            ),
            _ => format!("must not contain control characters (found U+{:04X})", u32::from(bad)),
        })
    }
}

/// An object being read, with its location for error reports.
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    whole: &'a Value,
    loc: Vec<Value>,
}

impl<'a> Fields<'a> {
    pub fn get(&self, name: &str) -> Patch<&'a Value> {
        match self.map.get(name) {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Null,
            Some(v) => Patch::Value(v),
        }
    }

    pub fn loc(&self, name: &str) -> Vec<Value> {
        let mut loc = self.loc.clone();
        loc.push(Value::from(name));
        loc
    }

    pub fn whole(&self) -> &'a Value {
        self.whole
    }
}

/// A request body type, read field by field so every error is reported.
pub trait FromBody: Sized {
    fn from_body(body: &Value, reader: &mut Reader) -> Option<Self>;
}

/// Collects the errors of one request while its fields are read.
#[derive(Debug, Default)]
pub struct Reader {
    errors: Vec<FieldError>,
}

impl Reader {
    pub fn new() -> Reader {
        Reader::default()
    }

    pub fn error(
        &mut self,
        kind: &'static str,
        loc: Vec<Value>,
        msg: impl Into<String>,
        input: Value,
        ctx: Option<Value>,
    ) {
        self.errors.push(FieldError {
            kind,
            loc,
            msg: msg.into(),
            input,
            ctx,
        });
    }

    /// A rule over several fields (Pydantic's model validator).
    pub fn value_error(&mut self, loc: Vec<Value>, text: &str, input: Value) {
        self.error("value_error", loc, format!("Value error, {text}"), input, None);
    }

    /// A field validator's failure, as FastAPI answers it: the `ctx` holds
    /// the raised exception, which its encoder turns into `{}`.
    pub fn field_value_error(&mut self, loc: Vec<Value>, text: &str, input: Value) {
        let ctx = Some(json!({"error": {}}));
        self.error("value_error", loc, format!("Value error, {text}"), input, ctx);
    }

    /// Rewrites the `input` of every error so far, given its `loc` (to hide
    /// secrets a client sent).
    pub fn map_inputs(&mut self, mut f: impl FnMut(&[Value], &mut Value)) {
        self.errors.iter_mut().for_each(|e| f(&e.loc, &mut e.input));
    }

    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The parsed value when no error was recorded, else every error.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, Vec<FieldError>> {
        match value {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ => Err(self.errors),
        }
    }

    /// `value` as an object to read fields from.
    pub fn object<'a>(&mut self, value: &'a Value, loc: Vec<Value>) -> Option<Fields<'a>> {
        match value {
            Value::Object(map) => Some(Fields { map, whole: value, loc }),
            other => {
                self.error(
                    "model_attributes_type",
                    loc,
                    "Input should be a valid dictionary or object to extract fields from",
                    other.clone(),
                    None,
                );
                None
            }
        }
    }

    /// Applies `need` and, when a value is present, converts it with `convert`
    /// (which reports its own errors and gives `None` on failure).
    fn field<'a, T>(
        &mut self,
        f: &Fields<'a>,
        name: &str,
        need: Need,
        null_error: (&'static str, &'static str),
        convert: impl FnOnce(&mut Reader, &'a Value, Vec<Value>) -> Option<T>,
    ) -> Option<T> {
        match (f.get(name), need) {
            (Patch::Absent, Need::Required) => {
                self.error("missing", f.loc(name), "Field required", f.whole.clone(), None);
                None
            }
            (Patch::Null, Need::Required | Need::NotNull) => {
                self.error(null_error.0, f.loc(name), null_error.1, Value::Null, None);
                None
            }
            (Patch::Absent | Patch::Null, _) => None,
            (Patch::Value(v), _) => convert(self, v, f.loc(name)),
        }
    }

    pub fn text(&mut self, f: &Fields, name: &str, need: Need, rule: Text) -> Option<String> {
        self.field(f, name, need, STRING_TYPE, |r, v, loc| r.convert_text(v, loc, rule))
    }

    pub fn convert_text(&mut self, v: &Value, loc: Vec<Value>, rule: Text) -> Option<String> {
        let Some(s) = v.as_str() else {
            self.error(STRING_TYPE.0, loc, STRING_TYPE.1, v.clone(), None);
            return None;
        };
        let s = if rule.trim { s.trim() } else { s };
        let len = s.chars().count();
        if len < rule.min {
            let plural = if rule.min == 1 { "" } else { "s" };
            let msg = format!("String should have at least {} character{plural}", rule.min);
            self.error(
                "string_too_short",
                loc,
                msg,
                v.clone(),
                Some(json!({ "min_length": rule.min })),
            );
            None
        } else if len > rule.max {
            let msg = format!("String should have at most {} characters", rule.max);
            self.error(
                "string_too_long",
                loc,
                msg,
                v.clone(),
                Some(json!({ "max_length": rule.max })),
            );
            None
        } else if let Some(text) = rule.chars.refuse(s) {
            self.field_value_error(loc, &text, v.clone());
            None
        } else {
            Some(s.to_string())
        }
    }

    /// An integer, accepting numeric strings and whole floats as Pydantic's
    /// lax mode does. Ids are stored as 64-bit integers, so a whole number
    /// beyond them is not a valid integer here.
    pub fn int(&mut self, f: &Fields, name: &str, need: Need) -> Option<i64> {
        self.field(f, name, need, INT_TYPE, |r, v, loc| {
            // 2^63: the first whole number an i64 cannot hold.
            const LIMIT: f64 = 9_223_372_036_854_775_808.0;
            let parsed = match v {
                Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                    (Some(i), _) => Ok(i),
                    // Numbers keep their digits (serde_json's arbitrary_precision),
                    // so an integer too long for 64 bits is told from a float.
                    _ if !n.to_string().contains(['.', 'e', 'E']) => Err(INT_TYPE),
                    (None, Some(x)) if x.fract() != 0.0 => Err((
                        "int_from_float",
                        "Input should be a valid integer, got a number with a fractional part",
                    )),
                    (None, Some(x)) if (-LIMIT..LIMIT).contains(&x) => Ok(x as i64),
                    _ => Err(INT_TYPE),
                },
                Value::String(s) => s.trim().parse().map_err(|_| INT_PARSING),
                _ => Err(INT_TYPE),
            };
            parsed
                .map_err(|(kind, msg)| r.error(kind, loc, msg, v.clone(), None))
                .ok()
        })
    }

    /// A boolean, accepting what Pydantic's lax mode accepts (`"true"`, `1`, …).
    pub fn bool(&mut self, f: &Fields, name: &str, need: Need) -> Option<bool> {
        self.field(f, name, need, BOOL_TYPE, |r, v, loc| {
            let parsed = match v {
                Value::Bool(b) => Ok(*b),
                Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
                Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
                Value::String(s) => parse_bool(s).ok_or(BOOL_PARSING),
                Value::Number(_) => Err(BOOL_PARSING),
                _ => Err(BOOL_TYPE),
            };
            parsed
                .map_err(|(kind, msg)| r.error(kind, loc, msg, v.clone(), None))
                .ok()
        })
    }

    /// A JSON object, kept as it is.
    pub fn dict(&mut self, f: &Fields, name: &str, need: Need) -> Option<Map<String, Value>> {
        self.field(f, name, need, DICT_TYPE, |r, v, loc| match v {
            Value::Object(map) => Some(map.clone()),
            other => {
                r.error(DICT_TYPE.0, loc, DICT_TYPE.1, other.clone(), None);
                None
            }
        })
    }
    /// A path id: a positive integer.
    pub fn id(&mut self, loc: Vec<Value>, raw: &str) -> Option<i64> {
        match raw.parse::<i64>() {
            Ok(id) if id > 0 => Some(id),
            Ok(_) => {
                let ctx = Some(json!({ "gt": 0 }));
                self.error("greater_than", loc, "Input should be greater than 0", raw.into(), ctx);
                None
            }
            Err(_) => {
                self.error(INT_PARSING.0, loc, INT_PARSING.1, raw.into(), None);
                None
            }
        }
    }

    /// An integer query parameter within `min..=max`.
    pub fn bounded(&mut self, loc: Vec<Value>, raw: &str, min: u32, max: u32) -> Option<u32> {
        let Ok(n) = raw.parse::<i64>() else {
            self.error(INT_PARSING.0, loc, INT_PARSING.1, raw.into(), None);
            return None;
        };
        if n < i64::from(min) {
            let msg = format!("Input should be greater than or equal to {min}");
            self.error("greater_than_equal", loc, msg, raw.into(), Some(json!({ "ge": min })));
            None
        } else if n > i64::from(max) {
            let msg = format!("Input should be less than or equal to {max}");
            self.error("less_than_equal", loc, msg, raw.into(), Some(json!({ "le": max })));
            None
        } else {
            u32::try_from(n).ok()
        }
    }

    /// A boolean query parameter.
    pub fn flag(&mut self, loc: Vec<Value>, raw: &str) -> Option<bool> {
        let parsed = parse_bool(raw);
        if parsed.is_none() {
            self.error(BOOL_PARSING.0, loc, BOOL_PARSING.1, raw.into(), None);
        }
        parsed
    }
}

const STRING_TYPE: (&str, &str) = ("string_type", "Input should be a valid string");
const INT_TYPE: (&str, &str) = ("int_type", "Input should be a valid integer");
const INT_PARSING: (&str, &str) = (
    "int_parsing",
    "Input should be a valid integer, unable to parse string as an integer",
);
const BOOL_TYPE: (&str, &str) = ("bool_type", "Input should be a valid boolean");
const BOOL_PARSING: (&str, &str) = (
    "bool_parsing",
    "Input should be a valid boolean, unable to interpret input",
);
const DICT_TYPE: (&str, &str) = ("dict_type", "Input should be a valid dictionary");

/// The strings Pydantic reads as booleans.
fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "on" | "t" => Some(true),
        "false" | "0" | "no" | "n" | "off" | "f" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: Value, f: impl FnOnce(&mut Reader, &Fields)) -> Vec<FieldError> {
        let mut r = Reader::new();
        let fields = r.object(&body, vec!["body".into()]).unwrap();
        f(&mut r, &fields);
        r.errors
    }

    #[test]
    fn missing_required_field_reports_the_whole_object_as_input() {
        let errors = read(json!({"x": 1}), |r, f| {
            r.text(f, "name", Need::Required, Text::name(10));
        });
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].kind, "missing");
        assert_eq!(errors[0].loc, vec![json!("body"), json!("name")]);
        assert_eq!(errors[0].msg, "Field required");
        assert_eq!(errors[0].input, json!({"x": 1}));
    }

    #[test]
    fn every_error_of_a_body_is_reported() {
        let errors = read(json!({"name": "", "label": "x".repeat(65), "n": "z"}), |r, f| {
            r.text(f, "name", Need::Required, Text::name(10));
            r.text(
                f,
                "label",
                Need::Optional,
                Text {
                    trim: false,
                    min: 0,
                    max: 64,
                    chars: Chars::Line,
                },
            );
            r.int(f, "n", Need::Optional);
        });
        let kinds: Vec<_> = errors.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["string_too_short", "string_too_long", "int_parsing"]);
        assert_eq!(errors[1].msg, "String should have at most 64 characters");
        assert_eq!(errors[1].ctx, Some(json!({"max_length": 64})));
    }

    #[test]
    fn names_are_trimmed_and_blank_names_rejected() {
        let mut r = Reader::new();
        let body = json!({"a": "  hi  ", "b": "   "});
        let f = r.object(&body, vec![]).unwrap();
        assert_eq!(r.text(&f, "a", Need::Required, Text::name(5)), Some("hi".into()));
        assert_eq!(r.text(&f, "b", Need::Required, Text::name(5)), None);
        assert_eq!(r.errors[0].kind, "string_too_short");
    }

    #[test]
    fn null_is_no_change_for_optional_and_an_error_for_not_null() {
        let errors = read(json!({"a": null, "b": null}), |r, f| {
            assert_eq!(r.bool(f, "a", Need::Optional), None);
            assert_eq!(r.bool(f, "b", Need::NotNull), None);
            assert_eq!(r.bool(f, "c", Need::NotNull), None);
        });
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].kind, errors[0].loc[1].as_str()), ("bool_type", Some("b")));
    }

    #[test]
    fn lax_scalars_are_accepted_like_pydantic() {
        let mut r = Reader::new();
        let body = json!({"i": "42", "f": 7.0, "b": "yes", "o": 0});
        let f = r.object(&body, vec![]).unwrap();
        assert_eq!(r.int(&f, "i", Need::Required), Some(42));
        assert_eq!(r.int(&f, "f", Need::Required), Some(7));
        assert_eq!(r.bool(&f, "b", Need::Required), Some(true));
        assert_eq!(r.bool(&f, "o", Need::Required), Some(false));
        assert!(r.is_ok());
    }

    #[test]
    fn path_ids_must_be_positive_integers() {
        let mut r = Reader::new();
        assert_eq!(r.id(vec![], "12"), Some(12));
        assert!(r.is_ok());
        assert_eq!(r.id(vec![], "0"), None);
        assert_eq!(r.id(vec![], "-3"), None);
        assert_eq!(r.id(vec![], "abc"), None);
        let kinds: Vec<_> = r.errors.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["greater_than", "greater_than", "int_parsing"]);
    }

    #[test]
    fn control_characters_but_tab_are_refused_where_they_would_break_later() {
        let body =
            json!({"nul": "a\u{0}b", "lf": "a\nb", "tab": "a\tb", "pem": "-----BEGIN-----\r\nMII\n", "hdr": "tok én"});
        let errors = read(body, |r, f| {
            assert_eq!(r.text(f, "nul", Need::Required, Text::name(64)), None);
            assert_eq!(r.text(f, "lf", Need::Required, Text::name(64)), None);
            assert_eq!(r.text(f, "tab", Need::Required, Text::name(64)), Some("a\tb".into()));
            let pem = Text::name(usize::MAX).with(Chars::Lines);
            assert!(r.text(f, "pem", Need::Required, pem).is_some());
            assert_eq!(r.text(f, "nul", Need::Required, pem), None);
            let header = Text::name(usize::MAX).with(Chars::Header);
            assert_eq!(r.text(f, "hdr", Need::Required, header), None);
            assert_eq!(r.text(f, "tab", Need::Required, header), Some("a\tb".into()));
        });
        let seen: Vec<_> = errors.iter().map(|e| (e.kind, e.loc[1].as_str().unwrap())).collect();
        assert_eq!(
            seen,
            [
                ("value_error", "nul"),
                ("value_error", "lf"),
                ("value_error", "nul"),
                ("value_error", "hdr")
            ]
        );
        assert_eq!(
            errors[0].msg,
            "Value error, must not contain control characters (found U+0000)"
        );
        assert!(errors[3].msg.contains("U+00E9") && errors[3].msg.contains("HTTP header"));
    }

    #[test]
    fn integers_beyond_64_bits_are_not_valid_integers_here() {
        let text = r#"{"big": 9223372036854775808, "low": -9223372036854775809, "float": 1.0e19,
            "frac": 1.5, "max": 9223372036854775807, "whole": 7.0e3}"#;
        let body: Value = serde_json::from_str(text).unwrap();
        let errors = read(body, |r, f| {
            assert_eq!(r.int(f, "big", Need::Required), None);
            assert_eq!(r.int(f, "low", Need::Required), None);
            assert_eq!(r.int(f, "float", Need::Required), None);
            assert_eq!(r.int(f, "frac", Need::Required), None);
            assert_eq!(r.int(f, "max", Need::Required), Some(i64::MAX));
            assert_eq!(r.int(f, "whole", Need::Required), Some(7000));
        });
        let kinds: Vec<_> = errors.iter().map(|e| (e.kind, e.msg.as_str())).collect();
        assert_eq!(
            kinds,
            [
                ("int_type", "Input should be a valid integer"),
                ("int_type", "Input should be a valid integer"),
                ("int_type", "Input should be a valid integer"),
                (
                    "int_from_float",
                    "Input should be a valid integer, got a number with a fractional part"
                ),
            ]
        );
    }

    #[test]
    fn a_non_object_body_is_model_attributes_type() {
        let mut r = Reader::new();
        assert!(r.object(&json!([1]), vec!["body".into()]).is_none());
        assert_eq!(r.errors[0].kind, "model_attributes_type");
    }
}
