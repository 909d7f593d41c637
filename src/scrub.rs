//! One scrubber for every text that leaves telebind with a carrier's words
//! in it: the messages of pushes and saves (API responses, the stored
//! `last_provider_sync`, log lines) and the HTTP client's own log lines.
//!
//! A carrier, or a proxy in front of it, may echo what it was sent in any
//! encoding, so each credential is found raw, percent-encoded (any case, `+`
//! for a space), JSON-escaped (`\n`, `\/`, `\uXXXX`, and escaped twice), and
//! in base64 (standard or URL-safe, alone, as `user:secret`, or anywhere
//! inside a longer base64 text such as an echoed `Authorization` header).
//! What is found is masked as the API masks secrets.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::Value;

use crate::domain::credentials::Credentials;
use crate::domain::provider::mask;

/// Encodings inside encodings followed: JSON in JSON, percent-encoded JSON.
const DEPTH: u8 = 2;
/// A base64 core shorter than this could match ordinary text by chance.
const MIN_CORE: usize = 8;

/// Finds and masks a set of secrets; cheap to clone and to make: what to
/// look for is worked out at the first text there is to scrub, and most
/// carrier calls end with none.
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    /// The secrets, and the possible users of `user:secret`.
    source: Arc<(Vec<String>, Vec<String>)>,
    built: Arc<OnceLock<Needles>>,
}

#[derive(Debug)]
struct Needles {
    /// What to look for, longest first, so a secret containing another is masked whole.
    needles: Vec<Vec<char>>,
    /// Every way each character of the needles may be written (`forms`).
    forms: HashMap<char, Vec<Vec<Unit>>>,
}

impl Scrubber {
    /// Looks for each of `secrets`, and for base64 of `user:secret` with each of `users`.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>, users: &[&str]) -> Scrubber {
        let secrets = secrets
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let users = users.iter().filter(|u| !u.is_empty()).map(|u| u.to_string()).collect();
        Scrubber {
            source: Arc::new((secrets, users)),
            built: Arc::default(),
        }
    }

    fn needles(&self) -> &Needles {
        self.built.get_or_init(|| {
            let (secrets, users) = &*self.source;
            Needles::new(secrets, users)
        })
    }

    /// Every sensitive value of `credentials` (API.md §4.1), with every
    /// value of theirs as a possible user of `user:secret`.
    pub fn for_credentials(credentials: &Credentials) -> Scrubber {
        let stored = credentials.to_stored();
        let secrets: Vec<&str> = credentials
            .kind()
            .sensitive_fields()
            .filter_map(|field| stored.pointer(&format!("/{}", field.replace('.', "/"))))
            .filter_map(Value::as_str)
            .collect();
        let mut users = Vec::new();
        strings(&stored, &mut users);
        Scrubber::new(secrets, &users)
    }

    /// `text` with every form of every secret masked.
    pub fn scrub(&self, text: &str) -> String {
        if self.source.0.is_empty() {
            return text.to_string();
        }
        let built = self.needles();
        let mut chars: Vec<char> = text.chars().collect();
        for needle in &built.needles {
            chars = built.mask_matches(&chars, needle);
        }
        chars.into_iter().collect()
    }

    /// Runs `f` with this scrubber applied to every log line written on this
    /// thread meanwhile (`in_scope`): the HTTP client logs requests on the
    /// thread that sends them, URLs with account ids included.
    pub fn scope<T>(&self, f: impl FnOnce() -> T) -> T {
        struct Leave;
        impl Drop for Leave {
            fn drop(&mut self) {
                SCOPES.with_borrow_mut(|scopes| scopes.pop());
            }
        }
        SCOPES.with_borrow_mut(|scopes| scopes.push(self.clone()));
        let _leave = Leave;
        f()
    }
}

thread_local! {
    static SCOPES: RefCell<Vec<Scrubber>> = const { RefCell::new(Vec::new()) };
}

/// `line` scrubbed by the scopes open on this thread; `None` when there are
/// none, without reading the line (most lines are written outside any).
pub fn in_scope(line: &[u8]) -> Option<String> {
    SCOPES.with_borrow(|scopes| {
        (!scopes.is_empty()).then(|| {
            let text = String::from_utf8_lossy(line).into_owned();
            scopes.iter().fold(text, |text, s| s.scrub(&text))
        })
    })
}

/// Every string in `value`.
fn strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// The part of `secret`'s base64 that is the same wherever it starts in a
/// longer text, for each of the three offsets modulo 3 and both alphabets:
/// the characters that also encode bits of the neighbours are left out.
fn base64_cores(secret: &[u8]) -> Vec<String> {
    let mut cores = Vec::new();
    for offset in 0..3 {
        let mut bytes = vec![0u8; offset];
        bytes.extend_from_slice(secret);
        let encoded = STANDARD_NO_PAD.encode(&bytes);
        // The characters that hold bits of the filler bytes.
        let skip = (offset * 8).div_ceil(6);
        // The last character is whole only when the bytes fill it.
        let end = if bytes.len() % 3 == 0 {
            encoded.len()
        } else {
            encoded.len() - 1
        };
        if end >= skip + MIN_CORE {
            let core = &encoded[skip..end];
            cores.push(core.to_string());
            cores.push(core.replace('+', "-").replace('/', "_"));
        }
    }
    cores
}

impl Needles {
    fn new(secrets: &[String], users: &[String]) -> Needles {
        let mut needles: Vec<String> = Vec::new();
        for secret in secrets {
            needles.push(secret.to_string());
            let mut plain: Vec<String> = vec![secret.to_string()];
            plain.extend(users.iter().map(|u| format!("{u}:{secret}")));
            for text in &plain {
                for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
                    needles.push(engine.encode(text));
                }
            }
            needles.extend(base64_cores(secret.as_bytes()));
        }
        needles.sort_by_key(|n| Reverse(n.len()));
        needles.dedup();
        let distinct: std::collections::BTreeSet<char> = needles.iter().flat_map(|n| n.chars()).collect();
        let forms = distinct.into_iter().map(|c| (c, forms(c, DEPTH))).collect();
        Needles {
            needles: needles.into_iter().map(|n| n.chars().collect()).collect(),
            forms,
        }
    }

    /// `text` with each match of `needle` masked.
    fn mask_matches(&self, text: &[char], needle: &[char]) -> Vec<char> {
        let mut out = Vec::with_capacity(text.len());
        let mut i = 0;
        while i < text.len() {
            // Every form of a character starts with it, `%`, `\\` or `+`.
            let start = matches!(text[i], '%' | '\\' | '+') || text[i] == needle[0];
            match start.then(|| self.match_here(text, i, needle)).flatten() {
                Some(end) => {
                    let span: String = text[i..end].iter().collect();
                    out.extend(mask(&span).chars());
                    i = end;
                }
                None => {
                    out.push(text[i]);
                    i += 1;
                }
            }
        }
        out
    }

    /// Where a match of all of `needle` starting at `text[at]` ends.
    fn match_here(&self, text: &[char], at: usize, needle: &[char]) -> Option<usize> {
        let (first, rest) = needle.split_first()?;
        self.forms[first]
            .iter()
            .filter_map(|form| match_form(text, at, form))
            .find_map(|end| {
                if rest.is_empty() {
                    Some(end)
                } else {
                    self.match_here(text, end, rest)
                }
            })
    }
}

/// One way a character can be written: the characters to see, where a
/// `Hex` matches either case.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Char(char),
    Hex(char),
}

fn match_form(text: &[char], at: usize, form: &[Unit]) -> Option<usize> {
    let end = at + form.len();
    let seen = text.get(at..end)?;
    let same = seen.iter().zip(form).all(|(&t, unit)| match *unit {
        Unit::Char(c) => t == c,
        Unit::Hex(c) => t.eq_ignore_ascii_case(&c),
    });
    same.then_some(end)
}

/// Every way `c` may be written, encodings inside encodings down to `depth`.
fn forms(c: char, depth: u8) -> Vec<Vec<Unit>> {
    let mut all = vec![vec![Unit::Char(c)]];
    if depth == 0 {
        return all;
    }
    for encoded in encodings(c) {
        // Each character of an encoding may itself be encoded again.
        let mut expanded: Vec<Vec<Unit>> = vec![Vec::new()];
        for unit in encoded {
            let options = match unit {
                Unit::Char(ch) => forms(ch, depth - 1),
                hex => vec![vec![hex]],
            };
            expanded = expanded
                .into_iter()
                .flat_map(|prefix| {
                    options.iter().map(move |o| {
                        let mut next = prefix.clone();
                        next.extend(o);
                        next
                    })
                })
                .collect();
        }
        all.extend(expanded);
    }
    all
}

/// The single-level encodings of `c`: percent-encoding of its UTF-8 bytes
/// (and `+` for a space), and JSON escapes.
fn encodings(c: char) -> Vec<Vec<Unit>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4];
    let percent: Vec<Unit> = c
        .encode_utf8(&mut buf)
        .bytes()
        .flat_map(|b| {
            let hex = format!("{b:02X}");
            let mut digits = hex.chars();
            [
                Unit::Char('%'),
                Unit::Hex(digits.next().expect("two digits")),
                Unit::Hex(digits.next().expect("two digits")),
            ]
        })
        .collect();
    out.push(percent);
    if c == ' ' {
        out.push(vec![Unit::Char('+')]);
    }
    let short = match c {
        '"' => Some('"'),
        '\\' => Some('\\'),
        '/' => Some('/'),
        '\u{8}' => Some('b'),
        '\u{c}' => Some('f'),
        '\n' => Some('n'),
        '\r' => Some('r'),
        '\t' => Some('t'),
        _ => None,
    };
    if let Some(letter) = short {
        out.push(vec![Unit::Char('\\'), Unit::Char(letter)]);
    }
    let mut units = [0u16; 2];
    let escaped: Vec<Unit> = c
        .encode_utf16(&mut units)
        .iter()
        .flat_map(|u| {
            let mut form = vec![Unit::Char('\\'), Unit::Char('u')];
            form.extend(format!("{u:04X}").chars().map(Unit::Hex));
            form
        })
        .collect();
    out.push(escaped);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "tok/en+9f8e7d6c5b4a";

    #[test]
    fn what_to_look_for_is_worked_out_only_for_a_text_to_scrub() {
        let scrubber = Scrubber::new(["s3cret-token-value"], &["AC123"]);
        let copy = scrubber.clone();
        assert!(scrubber.built.get().is_none(), "built before any text");
        assert_eq!(
            copy.scrub("echo s3cret-token-value"),
            format!("echo {}", mask("s3cret-token-value"))
        );
        assert!(scrubber.built.get().is_some(), "clones share what was built");
    }

    fn scrubber() -> Scrubber {
        Scrubber::new([TOKEN], &["AC0123456789"])
    }

    fn assert_hidden(text: &str) {
        let scrubbed = scrubber().scrub(text);
        assert!(!scrubbed.contains(TOKEN), "{scrubbed}");
        assert!(!scrubbed.contains("5b4a") || scrubbed.contains("*5b4a"), "{scrubbed}");
        assert_ne!(scrubbed, text, "nothing was masked in {text}");
    }

    #[test]
    fn a_raw_secret_is_masked_as_the_api_masks_it() {
        assert_eq!(
            scrubber().scrub(&format!("bad token {TOKEN}.")),
            format!("bad token {}.", mask(TOKEN))
        );
        assert_eq!(scrubber().scrub("nothing here"), "nothing here");
    }

    #[test]
    fn percent_encoded_secrets_are_masked_in_either_case() {
        let upper = crate::providers::http::encode(TOKEN);
        assert!(upper.contains("%2F") && upper.contains("%2B"), "{upper}");
        assert_hidden(&format!("echo: a={upper}&b=1"));
        assert_hidden(&format!("echo: a={}", upper.to_lowercase()));
        let spaced = Scrubber::new(["two words here"], &[]);
        assert_eq!(
            spaced.scrub("q=two+words+here"),
            format!("q={}", mask("two+words+here"))
        );
    }

    #[test]
    fn json_escaped_secrets_are_masked_even_when_escaped_twice() {
        let key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEF\n-----END KEY-----";
        let scrubber = Scrubber::new([key], &[]);
        let once = serde_json::to_string(&serde_json::json!({ "private_key": key })).unwrap();
        let twice = serde_json::to_string(&serde_json::json!({ "body": once })).unwrap();
        for text in [once, twice, key.replace('\n', "\\u000a").replace('/', "\\/")] {
            let scrubbed = scrubber.scrub(&text);
            assert!(!scrubbed.contains("MIIEvQIBADANBgkqhkiG9w0BAQEF"), "{scrubbed}");
        }
    }

    #[test]
    fn base64_of_the_secret_alone_or_as_user_and_secret_is_masked() {
        for text in [
            STANDARD.encode(TOKEN),
            URL_SAFE_NO_PAD.encode(TOKEN),
            STANDARD.encode(format!("AC0123456789:{TOKEN}")),
            format!(
                "Authorization: Basic {}",
                STANDARD.encode(format!("AC0123456789:{TOKEN}"))
            ),
        ] {
            assert_hidden(&text);
        }
    }

    #[test]
    fn base64_anywhere_inside_a_longer_text_is_masked() {
        // The whole echoed request in base64: the secret sits at every offset.
        for prefix in ["", "x", "xy", "{\"auth\": \"", "user-we-do-not-know:"] {
            let echoed = STANDARD.encode(format!("{prefix}{TOKEN} and more"));
            let scrubbed = scrubber().scrub(&echoed);
            for core in base64_cores(TOKEN.as_bytes()) {
                assert!(!scrubbed.contains(&core), "{prefix:?}: {scrubbed}");
            }
            assert_ne!(scrubbed, echoed);
        }
    }

    #[test]
    fn short_secrets_are_matched_only_exactly() {
        let short = Scrubber::new(["abc"], &["me"]);
        assert_eq!(short.scrub("abcdef"), "***def");
        let pair = STANDARD.encode("me:abc");
        assert!(short.scrub(&pair).chars().all(|c| c == '*'), "{pair}");
        assert_eq!(short.scrub("ordinary words"), "ordinary words");
    }

    #[test]
    fn log_lines_are_scrubbed_only_inside_a_scope() {
        assert_eq!(in_scope(TOKEN.as_bytes()), None);
        let seen = scrubber().scope(|| in_scope(format!("GET /x/{TOKEN}").as_bytes()));
        assert_eq!(seen, Some(format!("GET /x/{}", mask(TOKEN))));
        assert_eq!(in_scope(TOKEN.as_bytes()), None, "the scope ends with its closure");
    }
}
