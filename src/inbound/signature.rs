//! Carrier signatures (INBOUND.md §2.1–§2.3, §4): HMACs and Ed25519 from
//! RustCrypto, every comparison constant-time over the decoded bytes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::jwt::{self, Jwt};
use super::request::{Headers, Params, Sorted};
use super::{Carrier, PreAuthCause};
use crate::domain::credentials::Credentials;

/// How far a Telnyx timestamp or a Vonage `iat` may be from now, in
/// seconds (the Telnyx SDKs use 300).
pub const FRESHNESS_SECS: i64 = 300;

/// What a request presents as proof that its carrier sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// `X-Twilio-Signature`.
    Twilio { signature: String },
    /// `X-Plivo-Signature-V3` and `-Ma-V3`, each possibly several, and the nonce.
    Plivo { signatures: Vec<String>, nonce: String },
    /// `X-Vobiz-Signature-*` of one version, and that version's nonce.
    Vobiz {
        version: VobizVersion,
        signatures: Vec<String>,
        nonce: String,
    },
    /// `telnyx-signature-ed25519` over `telnyx-timestamp|body`.
    Telnyx {
        timestamp: String,
        at: i64,
        signature: Signature,
    },
    /// The signed-webhook token.
    Vonage(Jwt),
    /// `X-CX-APIKey`: a static key, no signature exists (§4.6).
    Cloudonix { key: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VobizVersion {
    V3,
    V2,
}

/// What the carriers sign, besides their own headers.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    /// The webhook's URL on the public base URL and on each alias.
    pub webhooks: &'a [String],
    /// The request's query string as received.
    pub raw_query: &'a str,
    /// The form parameters in signing order (none for JSON bodies).
    pub params: &'a Sorted<'a>,
    /// The raw body.
    pub body: &'a [u8],
}

impl Proof {
    /// The proof in `headers`, or `None` when it is missing, malformed, or
    /// a request that telebind cannot verify (fails closed).
    pub fn read(carrier: Carrier, headers: &Headers, raw_query: &str) -> Option<Proof> {
        match carrier {
            Carrier::Twilio => {
                // A Webhooks Rule signs with a SharedKey telebind does not hold,
                // and `bodySHA256` marks a JSON webhook: neither is a voice call.
                let body_hash =
                    Params::parse(raw_query.as_bytes()).is_none_or(|q| q.pairs().any(|(k, _)| k == "bodySHA256"));
                if headers.has("x-twilio-webhooks-signature-settings") || body_hash {
                    return None;
                }
                Some(Proof::Twilio {
                    signature: headers.get("x-twilio-signature")?.to_string(),
                })
            }
            Carrier::Plivo => {
                let nonce = headers.get("x-plivo-signature-v3-nonce")?.to_string();
                let signatures = list(headers, &["x-plivo-signature-v3", "x-plivo-signature-ma-v3"]);
                (!signatures.is_empty()).then_some(Proof::Plivo { signatures, nonce })
            }
            Carrier::Vobiz => {
                let v3 = list(headers, &["x-vobiz-signature-v3", "x-vobiz-signature-ma-v3"]);
                let v2 = list(headers, &["x-vobiz-signature-v2", "x-vobiz-signature-ma-v2"]);
                let (version, signatures, nonce) = match headers.get("x-vobiz-signature-v3-nonce") {
                    Some(nonce) if !v3.is_empty() => (VobizVersion::V3, v3, nonce),
                    _ => (VobizVersion::V2, v2, headers.get("x-vobiz-signature-v2-nonce")?),
                };
                (!signatures.is_empty()).then(|| Proof::Vobiz {
                    version,
                    signatures,
                    nonce: nonce.to_string(),
                })
            }
            Carrier::Telnyx => {
                let timestamp = headers.get("telnyx-timestamp")?.trim().to_string();
                let at = timestamp.parse().ok()?;
                let bytes = STANDARD.decode(headers.get("telnyx-signature-ed25519")?.trim()).ok()?;
                Some(Proof::Telnyx {
                    at,
                    timestamp,
                    signature: Signature::from_slice(&bytes).ok()?,
                })
            }
            Carrier::Vonage => jwt::bearer(headers).and_then(Jwt::parse).map(Proof::Vonage),
            Carrier::Cloudonix => Some(Proof::Cloudonix {
                key: headers.get("x-cx-apikey")?.to_string(),
            }),
        }
    }

    /// What a genuine carrier never sends twice, if the scheme has it: a
    /// Plivo or Vobiz nonce, a Vonage `jti` (required by `check`).
    pub fn nonce(&self) -> Option<&str> {
        match self {
            Proof::Plivo { nonce, .. } | Proof::Vobiz { nonce, .. } => Some(nonce),
            Proof::Vonage(token) => token.text("jti"),
            Proof::Twilio { .. } | Proof::Telnyx { .. } | Proof::Cloudonix { .. } => None,
        }
    }

    /// Whether this proof was made with `secret` (Telnyx: by the holder of
    /// the public key `secret`) over what the carrier signs.
    pub fn verifies(&self, secret: &str, signed: &Signed) -> bool {
        match self {
            Proof::Telnyx {
                timestamp, signature, ..
            } => {
                let Some(key) = public_key(secret) else {
                    return false;
                };
                let message = [timestamp.as_bytes(), b"|", signed.body].concat();
                key.verify_strict(&message, signature).is_ok()
            }
            Proof::Vonage(token) => token.verifies(secret),
            Proof::Cloudonix { key } => {
                bool::from(Sha256::digest(key.as_bytes()).ct_eq(&Sha256::digest(secret.as_bytes())))
            }
            // Signed over the webhook URL: on every base, and `|`, not `||`,
            // so that every variant costs the same whatever matched.
            _ => signed
                .webhooks
                .iter()
                .fold(false, |ok, url| ok | self.verifies_url(secret, url, signed)),
        }
    }

    /// Twilio, Plivo and Vobiz over the webhook at `url`.
    fn verifies_url(&self, secret: &str, url: &str, signed: &Signed) -> bool {
        match self {
            Proof::Twilio { signature } => twilio_urls(url, signed.raw_query).iter().fold(false, |ok, u| {
                ok | matches(&twilio_mac(secret, u, signed.params), signature)
            }),
            Proof::Plivo { signatures, nonce } => match plivo_message(url, signed.raw_query, signed.params, nonce) {
                Some(message) => any_matches(&hmac_sha256(secret, &message), signatures),
                None => false,
            },
            Proof::Vobiz {
                version,
                signatures,
                nonce,
            } => {
                let separator = if *version == VobizVersion::V3 { "." } else { "" };
                any_matches(&hmac_sha256(secret, &format!("{url}{separator}{nonce}")), signatures)
            }
            Proof::Telnyx { .. } | Proof::Vonage(_) | Proof::Cloudonix { .. } => false,
        }
    }

    /// Once the signature has verified: the freshness of a Telnyx timestamp
    /// (§4.4), and a Vonage token's claims (§4.5): issuer, the hash of this
    /// very body, `jti`, `iat` within the window and `exp` not passed.
    pub fn check(&self, body: &[u8], now: i64) -> Result<(), PreAuthCause> {
        let fresh = |at: f64| (now as f64 - at).abs() <= FRESHNESS_SECS as f64;
        match self {
            Proof::Telnyx { at, .. } if !fresh(*at as f64) => Err(PreAuthCause::Stale),
            Proof::Vonage(token) => {
                let body_hash = hex::encode(Sha256::digest(body));
                if token.text("iss") != Some("Vonage")
                    || token.text("payload_hash") != Some(body_hash.as_str())
                    || token.text("jti").is_none_or(str::is_empty)
                {
                    return Err(PreAuthCause::BadSignature);
                }
                let iat_fresh = token.number("iat").is_some_and(fresh);
                let exp_ahead = token.number("exp").is_none_or(|exp| exp > now as f64);
                if iat_fresh && exp_ahead {
                    Ok(())
                } else {
                    Err(PreAuthCause::Stale)
                }
            }
            _ => Ok(()),
        }
    }

    /// Whether a verified proof is for the configuration `credentials`: a
    /// Vonage token names the account (`api_key`) and, when it has one, the
    /// application; other proofs are the key itself.
    pub fn binds(&self, credentials: &Credentials) -> bool {
        match (self, credentials) {
            (Proof::Vonage(token), Credentials::Vonage(c)) => {
                token.text("api_key") == Some(c.api_key.as_str())
                    && token.text("application_id").is_none_or(|id| id == c.application_id)
            }
            (Proof::Vonage(_), _) => false,
            _ => true,
        }
    }
}

/// A Telnyx public key: base64 of 32 bytes, a valid curve point.
fn public_key(base64: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = STANDARD.decode(base64.trim()).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// The comma-separated signatures of each header in `names`.
fn list(headers: &Headers, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .filter_map(|n| headers.get(n))
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Whether base64 `presented` decodes to `mac`, in constant time.
fn matches(mac: &[u8], presented: &str) -> bool {
    match STANDARD.decode(presented.trim()) {
        Ok(bytes) => bool::from(mac.ct_eq(&bytes)),
        Err(_) => false,
    }
}

fn any_matches(mac: &[u8], presented: &[String]) -> bool {
    presented.iter().fold(false, |ok, p| ok | matches(mac, p))
}

pub fn hmac_sha256(key: &str, message: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(message.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// twilio-python's `compute_signature`: the URL, then each key with each of
/// its distinct values, keys and values sorted.
pub fn twilio_mac(token: &str, url: &str, params: &Sorted) -> Vec<u8> {
    let mut mac = Hmac::<Sha1>::new_from_slice(token.as_bytes()).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    let pairs = params.pairs();
    let distinct = pairs
        .iter()
        .enumerate()
        .filter(|(i, pair)| *i == 0 || pairs[i - 1] != **pair);
    for (_, (key, value)) in distinct {
        mac.update(key.as_bytes());
        mac.update(value.as_bytes());
    }
    mac.finalize().into_bytes().to_vec()
}

/// The signed URL and its port variant (§2.1): without a port, also with
/// the scheme's default one; with the default port, also without it.
fn twilio_urls(url: &str, raw_query: &str) -> Vec<String> {
    let query = if raw_query.is_empty() {
        String::new()
    } else {
        format!("?{raw_query}")
    };
    let mut urls = vec![format!("{url}{query}")];
    let Some((scheme, rest)) = url.split_once("://") else {
        return urls;
    };
    let default_port = match scheme {
        "https" => "443",
        "http" => "80",
        _ => return urls,
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    // The port follows the last ':' outside an IPv6 literal's brackets.
    let host_end = authority.rfind(']').map_or(0, |i| i + 1);
    match authority[host_end..].rfind(':').map(|i| host_end + i) {
        Some(colon) if &authority[colon + 1..] == default_port => {
            urls.push(format!("{scheme}://{}{path}{query}", &authority[..colon]));
        }
        Some(_) => {}
        None => urls.push(format!("{scheme}://{authority}:{default_port}{path}{query}")),
    }
    urls
}

/// plivo-python's `construct_post_url` + `get_signature_v3` message; `None`
/// when the query string does not decode.
fn plivo_message(url: &str, raw_query: &str, params: &Sorted, nonce: &str) -> Option<String> {
    let query = Params::parse(raw_query.as_bytes())?;
    let query: Vec<String> = query.sorted().pairs().iter().map(|(k, v)| format!("{k}={v}")).collect();
    let query = query.join("&");
    let body: String = params.pairs().iter().flat_map(|(k, v)| [*k, *v]).collect();
    let mut message = url.to_string();
    if !query.is_empty() || !body.is_empty() {
        message.push('?');
        message.push_str(&query);
    }
    if !query.is_empty() && !body.is_empty() {
        message.push('.');
    }
    message.push_str(&body);
    message.push('.');
    message.push_str(nonce);
    Some(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::WEBHOOK_PATH;

    const BASE: &str = "https://telebind.example.com";

    fn headers<'a>(pairs: &[(&'a str, &'a str)]) -> Headers<'a> {
        Headers::new(pairs.iter().copied())
    }

    fn params(body: &str) -> Params<'_> {
        Params::parse(body.as_bytes()).unwrap()
    }

    fn webhooks(bases: &[&str]) -> Vec<String> {
        bases.iter().map(|b| format!("{b}{WEBHOOK_PATH}")).collect()
    }

    /// A form request to `webhooks` (form carriers sign no raw body).
    fn signed<'a>(webhooks: &'a [String], raw_query: &'a str, params: &'a Sorted<'a>) -> Signed<'a> {
        Signed {
            webhooks,
            raw_query,
            params,
            body: b"",
        }
    }

    const TWILIO_BODY: &str = "AccountSid=AC00000000000000000000000000000001&ApiVersion=2010-04-01&CallSid=CA00000000000000000000000000000002&CallStatus=ringing&Called=%2B14155550100&Caller=%2B14155550199&Direction=inbound&From=%2B14155550199&To=%2B14155550100&ToCountry=US";
    const TWILIO_TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn twilio(signature: &str) -> Proof {
        Proof::read(Carrier::Twilio, &headers(&[("X-Twilio-Signature", signature)]), "").unwrap()
    }

    #[test]
    fn twilio_documentation_example() {
        let p =
            params("CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212");
        let mac = twilio_mac("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &p.sorted());
        assert_eq!(STANDARD.encode(mac), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    }

    #[test]
    fn twilio_vector_and_its_port_variant_verify() {
        let p = params(TWILIO_BODY);
        for sig in ["GZbuQ3U6laFKI1yosaNgiWUuJLU=", "vQuR9eBoWGb2+504LDYcHFWUL5w="] {
            assert!(
                twilio(sig).verifies(TWILIO_TOKEN, &signed(&webhooks(&[BASE]), "", &p.sorted())),
                "{sig}"
            );
            assert!(twilio(sig).verifies(
                TWILIO_TOKEN,
                &signed(&webhooks(&["https://telebind.example.com:443"]), "", &p.sorted())
            ));
        }
        let wrong = [
            (TWILIO_TOKEN, BASE, "GZbuQ3U6laFKI1yosaNgiWUuJLU"),
            (TWILIO_TOKEN, "http://10.0.0.5:8000", "GZbuQ3U6laFKI1yosaNgiWUuJLU="),
            ("0123456789abcdef0123456789abcdee", BASE, "GZbuQ3U6laFKI1yosaNgiWUuJLU="),
            (TWILIO_TOKEN, BASE, "HZbuQ3U6laFKI1yosaNgiWUuJLU="),
        ];
        for (token, base, sig) in wrong {
            assert!(
                !twilio(sig).verifies(token, &signed(&webhooks(&[base]), "", &p.sorted())),
                "{token} {base} {sig}"
            );
        }
    }

    #[test]
    fn twilio_port_variants() {
        assert_eq!(
            twilio_urls("https://a.example/x", "q=1"),
            ["https://a.example/x?q=1", "https://a.example:443/x?q=1"]
        );
        assert_eq!(
            twilio_urls("http://a.example:80/x", ""),
            ["http://a.example:80/x", "http://a.example/x"]
        );
        assert_eq!(twilio_urls("http://a.example:8000/x", ""), ["http://a.example:8000/x"]);
        assert_eq!(
            twilio_urls("http://[::1]/x", ""),
            ["http://[::1]/x", "http://[::1]:80/x"]
        );
    }

    #[test]
    fn twilio_fails_closed_on_rules_and_body_hashes() {
        let h = headers(&[
            ("X-Twilio-Signature", "s"),
            ("X-Twilio-Webhooks-Signature-Settings", "x"),
        ]);
        assert_eq!(Proof::read(Carrier::Twilio, &h, ""), None);
        let h = headers(&[("X-Twilio-Signature", "s")]);
        assert_eq!(Proof::read(Carrier::Twilio, &h, "bodySHA256=abc"), None);
        assert_eq!(Proof::read(Carrier::Twilio, &headers(&[]), ""), None);
    }

    const PLIVO_BODY: &str =
        "CallUUID=11111111-2222-3333-4444-555555555555&CallStatus=ringing&Direction=inbound&From=14155550199&To=14155550100";
    const PLIVO_TOKEN: &str = "plivo-auth-token-0123456789";
    const PLIVO_NONCE: &str = "05429567804466091622";

    fn plivo(sig: &str, nonce: &str) -> Proof {
        let h = headers(&[("X-Plivo-Signature-V3", sig), ("X-Plivo-Signature-V3-Nonce", nonce)]);
        Proof::read(Carrier::Plivo, &h, "").unwrap()
    }

    #[test]
    fn plivo_vectors_verify_and_flips_fail() {
        let p = params(PLIVO_BODY);
        let b = webhooks(&[BASE]);
        let plain = "a1UiZLZYNYKbPU73WpVmDbUF6i0h700+1viS9jPRgao=";
        let with_query = "Z+XW+IJKULOBuw4DH0xmdAyWcESHfAEe9nO5JOnxlHw=";
        assert!(plivo(plain, PLIVO_NONCE).verifies(PLIVO_TOKEN, &signed(&b, "", &p.sorted())));
        assert!(plivo(with_query, PLIVO_NONCE).verifies(PLIVO_TOKEN, &signed(&b, "b=2&a=1", &p.sorted())));
        assert!(plivo(&format!("bogus,{plain}"), PLIVO_NONCE).verifies(PLIVO_TOKEN, &signed(&b, "", &p.sorted())));
        assert!(!plivo(plain, "05429567804466091623").verifies(PLIVO_TOKEN, &signed(&b, "", &p.sorted())));
        assert!(!plivo(plain, PLIVO_NONCE).verifies("plivo-auth-token-0123456788", &signed(&b, "", &p.sorted())));
        assert!(!plivo(plain, PLIVO_NONCE).verifies(
            PLIVO_TOKEN,
            &signed(&b, "", &params(&PLIVO_BODY.replace("ringing", "ringinG")).sorted())
        ));
        assert!(!plivo(plain, PLIVO_NONCE).verifies(
            PLIVO_TOKEN,
            &signed(&webhooks(&["http://127.0.0.1:8000"]), "", &p.sorted())
        ));
    }

    #[test]
    fn plivo_needs_a_nonce_and_a_signature() {
        assert_eq!(
            Proof::read(Carrier::Plivo, &headers(&[("X-Plivo-Signature-V3", "s")]), ""),
            None
        );
        assert_eq!(
            Proof::read(Carrier::Plivo, &headers(&[("X-Plivo-Signature-V3-Nonce", "1")]), ""),
            None
        );
        let v2_only = headers(&[("X-Plivo-Signature-V2", "s"), ("X-Plivo-Signature-V2-Nonce", "1")]);
        assert_eq!(Proof::read(Carrier::Plivo, &v2_only, ""), None);
    }

    const VOBIZ_TOKEN: &str = "vobiz-auth-token-0123456789";
    const VOBIZ_NONCE: &str = "12345678901234567890";

    #[test]
    fn vobiz_vectors_verify_over_the_base_url_only() {
        let b = webhooks(&[BASE]);
        let anything = params("To=%2B14155556789");
        let v3 = headers(&[
            ("X-Vobiz-Signature-V3", "eRzS1c5wXwhFV94eVmsFyrtNM6i1bGBp8w3X4oEUhF4="),
            ("X-Vobiz-Signature-V3-Nonce", VOBIZ_NONCE),
        ]);
        let v2 = headers(&[
            (
                "X-Vobiz-Signature-MA-V2",
                "yZLwMlb96t8haaFbpY+IbzYLh08rWiM9Ke6LF5XKBk4=",
            ),
            ("X-Vobiz-Signature-V2-Nonce", VOBIZ_NONCE),
        ]);
        for h in [v3, v2] {
            let proof = Proof::read(Carrier::Vobiz, &h, "").unwrap();
            assert!(proof.verifies(VOBIZ_TOKEN, &signed(&b, "q=ignored", &anything.sorted())));
            assert!(!proof.verifies("vobiz-auth-token-0123456788", &signed(&b, "", &anything.sorted())));
            assert!(!proof.verifies(
                VOBIZ_TOKEN,
                &signed(&webhooks(&["https://other.example.com"]), "", &anything.sorted())
            ));
            let Proof::Vobiz {
                version, signatures, ..
            } = proof
            else {
                unreachable!()
            };
            let flipped = Proof::Vobiz {
                version,
                signatures,
                nonce: "12345678901234567891".into(),
            };
            assert!(!flipped.verifies(VOBIZ_TOKEN, &signed(&b, "", &anything.sorted())));
        }
    }

    #[test]
    fn garbage_signatures_are_just_wrong() {
        let p = params(PLIVO_BODY);
        for sig in ["", "%%%", "====", "a,b,,c", "\u{7f}"] {
            let h = headers(&[("X-Plivo-Signature-V3", sig), ("X-Plivo-Signature-V3-Nonce", "1")]);
            if let Some(proof) = Proof::read(Carrier::Plivo, &h, "") {
                assert!(!proof.verifies(PLIVO_TOKEN, &signed(&webhooks(&[BASE]), "", &p.sorted())));
            }
        }
    }

    const TELNYX_KEY: &str = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=";
    const TELNYX_BODY: &str = r#"{"data":{"event_type":"call.initiated","id":"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0","occurred_at":"2026-01-01T00:00:00.000000Z","payload":{"call_control_id":"v3:call-control-id-0001","call_leg_id":"leg-0001","call_session_id":"session-0001","client_state":null,"connection_id":"1234567890123456789","direction":"incoming","from":"+14155550199","start_time":"2026-01-01T00:00:00.000000Z","state":"parked","to":"+14155550100"},"record_type":"event"},"meta":{"attempt":1,"delivered_to":"https://telebind.example.com/api/v1/telephony/inbound/run"}}"#;
    const TELNYX_SIG: &str = "ZNx3q+/VmaYVvXHU7xS2u+L5yqVslshC1Y65KYbdV0N0OXmpgfTZ3vdxlzqQxcMUNW3k8jTqupozndWUT59aDg==";
    const NOW: i64 = 1767225600;

    fn json_request(body: &[u8]) -> Signed<'_> {
        Signed {
            webhooks: &[],
            raw_query: "",
            params: &crate::inbound::request::NO_PARAMS,
            body,
        }
    }

    fn telnyx(signature: &str, timestamp: &str) -> Option<Proof> {
        let h = headers(&[("telnyx-signature-ed25519", signature), ("telnyx-timestamp", timestamp)]);
        Proof::read(Carrier::Telnyx, &h, "")
    }

    #[test]
    fn the_telnyx_vector_verifies_and_each_flip_fails() {
        let body = TELNYX_BODY.as_bytes();
        let proof = telnyx(TELNYX_SIG, "1767225600").unwrap();
        assert!(proof.verifies(TELNYX_KEY, &json_request(body)));
        assert_eq!(proof.check(body, NOW), Ok(()));
        let flipped = TELNYX_BODY.replace("incoming", "incominG");
        assert!(!proof.verifies(TELNYX_KEY, &json_request(flipped.as_bytes())));
        // The timestamp is signed: a new one breaks the signature.
        let later = telnyx(TELNYX_SIG, "1767225601").unwrap();
        assert!(!later.verifies(TELNYX_KEY, &json_request(body)));
        // Another key, a key that is not one, the dummy key.
        let other = STANDARD.encode(
            ed25519_dalek::SigningKey::from_bytes(&[7; 32])
                .verifying_key()
                .as_bytes(),
        );
        for key in [other.as_str(), "", "AAAA", "not base64!", &STANDARD.encode([0u8; 31])] {
            assert!(!proof.verifies(key, &json_request(body)), "{key}");
        }
    }

    #[test]
    fn a_telnyx_timestamp_is_fresh_for_300_seconds_either_way() {
        let proof = telnyx(TELNYX_SIG, "1767225600").unwrap();
        let body = TELNYX_BODY.as_bytes();
        assert_eq!(proof.check(body, NOW + 300), Ok(()));
        assert_eq!(proof.check(body, NOW - 300), Ok(()));
        assert_eq!(proof.check(body, NOW + 301), Err(PreAuthCause::Stale));
        assert_eq!(proof.check(body, NOW - 301), Err(PreAuthCause::Stale));
    }

    #[test]
    fn telnyx_headers_that_are_not_numbers_or_signatures_are_no_proof() {
        assert_eq!(telnyx(TELNYX_SIG, "soon"), None);
        assert_eq!(telnyx(TELNYX_SIG, "1767225600.5"), None);
        assert_eq!(telnyx(TELNYX_SIG, ""), None);
        assert_eq!(telnyx("not base64!", "1767225600"), None);
        assert_eq!(telnyx(&STANDARD.encode([1u8; 63]), "1767225600"), None);
        assert_eq!(
            Proof::read(Carrier::Telnyx, &headers(&[("telnyx-timestamp", "1")]), ""),
            None
        );
    }

    const VONAGE_SECRET: &str = "vonage-signature-secret-0123456789";
    const VONAGE_BODY: &str = r#"{"from":"14155550199","to":"14155550100","uuid":"aaaaaaaa-bbbb-cccc-dddd-000000000001","conversation_uuid":"CON-aaaaaaaa-bbbb-cccc-dddd-000000000002","region_url":"https://api-us-3.vonage.com"}"#;
    const VONAGE_HASH: &str = "d3914d2d1384298a6d11d3b2659fd62cbe77fc5acad6d47bf7ec843b6aabcace";

    /// A token with `claims`, signed with the vector's secret.
    fn vonage_token(claims: serde_json::Value) -> Proof {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let token = format!(
            "{signed}.{}",
            URL_SAFE_NO_PAD.encode(hmac_sha256(VONAGE_SECRET, &signed))
        );
        let bearer = format!("Bearer {token}");
        let h = headers(&[("Authorization", &bearer)]);
        Proof::read(Carrier::Vonage, &h, "").unwrap()
    }

    fn vonage_claims() -> serde_json::Value {
        serde_json::json!({"iat": NOW, "jti": "j-1", "iss": "Vonage", "payload_hash": VONAGE_HASH,
                           "api_key": "a1b2c3d4", "application_id": "app-1"})
    }

    #[test]
    fn the_vonage_vector_checks_out_and_flips_fail() {
        let body = VONAGE_BODY.as_bytes();
        let proof = vonage_token(vonage_claims());
        assert!(proof.verifies(VONAGE_SECRET, &json_request(body)));
        assert!(!proof.verifies("vonage-signature-secret-0123456788", &json_request(body)));
        assert_eq!(proof.check(body, NOW), Ok(()));
        assert_eq!(proof.nonce(), Some("j-1"));
        let flipped = VONAGE_BODY.replace("14155550100", "14155550101");
        assert_eq!(proof.check(flipped.as_bytes(), NOW), Err(PreAuthCause::BadSignature));
        assert_eq!(proof.check(body, NOW + 301), Err(PreAuthCause::Stale));
        assert_eq!(proof.check(body, NOW - 301), Err(PreAuthCause::Stale));
    }

    #[test]
    fn vonage_claims_are_all_required() {
        let body = VONAGE_BODY.as_bytes();
        for (claim, cause) in [
            ("payload_hash", PreAuthCause::BadSignature),
            ("iss", PreAuthCause::BadSignature),
            ("jti", PreAuthCause::BadSignature),
            ("iat", PreAuthCause::Stale),
        ] {
            let mut claims = vonage_claims();
            claims.as_object_mut().unwrap().remove(claim);
            assert_eq!(vonage_token(claims).check(body, NOW), Err(cause), "{claim}");
        }
        let mut claims = vonage_claims();
        claims["iss"] = "Nexmo".into();
        assert_eq!(vonage_token(claims).check(body, NOW), Err(PreAuthCause::BadSignature));
        let mut claims = vonage_claims();
        claims["exp"] = NOW.into();
        assert_eq!(vonage_token(claims).check(body, NOW), Err(PreAuthCause::Stale));
        let mut claims = vonage_claims();
        claims["exp"] = (NOW + 60).into();
        assert_eq!(vonage_token(claims).check(body, NOW), Ok(()));
    }

    #[test]
    fn a_vonage_token_binds_its_account_and_application() {
        let config = |api_key: &str, application_id: &str| {
            Credentials::Vonage(crate::domain::credentials::Vonage {
                application_id: application_id.into(),
                private_key: "k".into(),
                api_key: api_key.into(),
                api_secret: "s".into(),
                signature_secret: Some(VONAGE_SECRET.into()),
            })
        };
        let proof = vonage_token(vonage_claims());
        assert!(proof.binds(&config("a1b2c3d4", "app-1")));
        assert!(!proof.binds(&config("a1b2c3d4", "app-2")));
        assert!(!proof.binds(&config("a1b2c3d5", "app-1")));
        let mut claims = vonage_claims();
        claims.as_object_mut().unwrap().remove("application_id");
        assert!(vonage_token(claims).binds(&config("a1b2c3d4", "app-2")));
    }

    #[test]
    fn the_cloudonix_key_must_match_exactly() {
        let proof = Proof::read(
            Carrier::Cloudonix,
            &headers(&[("X-CX-APIKey", "XI0123456789abcdef")]),
            "",
        )
        .unwrap();
        let request = json_request(b"{}");
        assert!(proof.verifies("XI0123456789abcdef", &request));
        for key in ["XI0123456789abcdeg", "XI0123456789abcde", "XI0123456789abcdef ", ""] {
            assert!(!proof.verifies(key, &request), "{key}");
        }
        assert_eq!(Proof::read(Carrier::Cloudonix, &headers(&[]), ""), None);
    }
}
