//! Vonage's signed-webhook token (INBOUND.md §4.5): a JWT in
//! `Authorization: Bearer`, HS256 only. Its claims are read unverified only
//! to detect the carrier and pick candidate configurations; nothing else
//! trusts them before `verifies` has checked the HMAC.
//!
//! Written with `hmac` and `sha2` rather than a JWT crate: one fixed
//! algorithm, the raw claims wanted as JSON, and the JWT crates' other
//! algorithms (RSA, ECDSA) would come along unused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

use super::request::Headers;

/// Longer tokens are refused unread: Vonage's are a few hundred bytes.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// The token of an `Authorization: Bearer` header.
pub fn bearer<'a>(headers: &Headers<'a>) -> Option<&'a str> {
    let value = headers.get("authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A token's claims, read without verifying it (they only pick candidates).
pub fn unverified_claims(token: &str) -> Option<Map<String, Value>> {
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    object(token.split('.').nth(1)?)
}

/// A base64url JSON object.
fn object(part: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A well-formed HS256 token, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwt {
    /// `header.payload`, as received: what the HMAC covers.
    signed: String,
    signature: Vec<u8>,
    claims: Map<String, Value>,
}

impl Jwt {
    /// `None` unless `token` is three base64url parts whose header says
    /// `"alg": "HS256"` (never `none` or another algorithm) and whose
    /// payload is a JSON object.
    pub fn parse(token: &str) -> Option<Jwt> {
        if token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let mut parts = token.split('.');
        let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        if object(header)?.get("alg").and_then(Value::as_str) != Some("HS256") {
            return None;
        }
        Some(Jwt {
            signed: format!("{header}.{payload}"),
            signature: URL_SAFE_NO_PAD.decode(signature).ok()?,
            claims: object(payload)?,
        })
    }

    /// Whether the token was signed with `secret` (its UTF-8 bytes, as
    /// Vonage uses the signature secret); compared in constant time.
    pub fn verifies(&self, secret: &str) -> bool {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(self.signed.as_bytes());
        mac.verify_slice(&self.signature).is_ok()
    }

    pub fn text(&self, claim: &str) -> Option<&str> {
        self.claims.get(claim)?.as_str()
    }

    /// A numeric claim (`iat`, `exp`), in seconds.
    pub fn number(&self, claim: &str) -> Option<f64> {
        self.claims.get(claim)?.as_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// INBOUND.md §4.5's token, signed with `vonage-signature-secret-0123456789`.
    const TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE3NjcyMjU2MDAsImp0aSI6IjBiMGIwYjBiLTAwMDAtNDAwMC04MDAwLTAwMDAwMDAwMDAwMyIsImlzcyI6IlZvbmFnZSIsInBheWxvYWRfaGFzaCI6ImQzOTE0ZDJkMTM4NDI5OGE2ZDExZDNiMjY1OWZkNjJjYmU3N2ZjNWFjYWQ2ZDQ3YmY3ZWM4NDNiNmFhYmNhY2UiLCJhcGlfa2V5IjoiYTFiMmMzZDQiLCJhcHBsaWNhdGlvbl9pZCI6ImFhYWFhYWFhLWJiYmItY2NjYy1kZGRkLTAxMjM0NTY3ODlhYiJ9.hrzBUIkOzk6Wzk-_BnioioG28YqGPv9bmPXFvxv_DCE";
    const SECRET: &str = "vonage-signature-secret-0123456789";

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn the_vector_verifies_with_its_secret_only() {
        let jwt = Jwt::parse(TOKEN).unwrap();
        assert!(jwt.verifies(SECRET));
        assert!(!jwt.verifies("vonage-signature-secret-0123456788"));
        assert_eq!(jwt.text("api_key"), Some("a1b2c3d4"));
        assert_eq!(jwt.number("iat"), Some(1767225600.0));
    }

    #[test]
    fn only_hs256_parses() {
        let (_, rest) = TOKEN.split_once('.').unwrap();
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"HS512","typ":"JWT"}"#,
            r#"{"alg":"hs256"}"#,
            r#"{"typ":"JWT"}"#,
            r#"["HS256"]"#,
        ] {
            assert_eq!(Jwt::parse(&format!("{}.{rest}", b64(header))), None, "{header}");
        }
        // `alg: none` with an empty signature, as attackers send it.
        let payload = TOKEN.split('.').nth(1).unwrap();
        assert_eq!(Jwt::parse(&format!("{}.{payload}.", b64(r#"{"alg":"none"}"#))), None);
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        let parts: Vec<&str> = TOKEN.split('.').collect();
        let huge = format!(
            "{}.{}.{}",
            b64(&format!(r#"{{"alg":"HS256","x":"{}"}}"#, "a".repeat(5000))),
            parts[1],
            parts[2]
        );
        for token in [
            "",
            "a.b",
            "a.b.c.d",
            &format!("{}.{}", TOKEN, "x"),
            &format!("{}.{}.%%%", parts[0], parts[1]),
            &format!("{}.{}.{}=", parts[0], parts[1], parts[2]),
            &format!("{}.bm90IGpzb24.{}", parts[0], parts[2]),
            &huge,
        ] {
            assert_eq!(Jwt::parse(token), None, "{token}");
        }
        assert_eq!(unverified_claims(&huge), None);
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        fn headers(v: &str) -> Headers<'_> {
            Headers::new([("Authorization", v)])
        }
        assert_eq!(bearer(&headers("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&headers("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(&headers("Basic abc")), None);
        assert_eq!(bearer(&headers("Bearer")), None);
    }
}
