//! Carrier signatures (INBOUND.md §2.1, §2.2, §4.1–§4.3), all HMACs from
//! RustCrypto, every comparison constant-time over the decoded bytes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::request::{Headers, Params};
use super::{Carrier, WEBHOOK_PATH};

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VobizVersion {
    V3,
    V2,
}

impl Proof {
    /// The proof in `headers`, or `None` when it is missing or a request
    /// that telebind cannot verify (fails closed).
    pub fn read(carrier: Carrier, headers: &Headers, raw_query: &str) -> Option<Proof> {
        match carrier {
            Carrier::Twilio => {
                // A Webhooks Rule signs with a SharedKey telebind does not hold,
                // and `bodySHA256` marks a JSON webhook: neither is a voice call.
                let body_hash = Params::parse(raw_query.as_bytes())
                    .is_none_or(|q| q.pairs().iter().any(|(k, _)| k == "bodySHA256"));
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
            Carrier::Telnyx | Carrier::Vonage | Carrier::Cloudonix => None,
        }
    }

    /// The nonce a genuine carrier never sends twice, if the scheme has one.
    pub fn nonce(&self) -> Option<&str> {
        match self {
            Proof::Twilio { .. } => None,
            Proof::Plivo { nonce, .. } | Proof::Vobiz { nonce, .. } => Some(nonce),
        }
    }

    /// Whether this proof was made with `secret` over what the carrier signs:
    /// the webhook URL on one of `bases` (the public base URL and its
    /// aliases) with the request's `raw_query`, and the form `params`.
    pub fn verifies(&self, secret: &str, bases: &[String], raw_query: &str, params: &Params) -> bool {
        let mut ok = false;
        for base in bases {
            let url = format!("{base}{WEBHOOK_PATH}");
            // `|=`, not `||`: every variant costs the same whatever matched.
            ok |= match self {
                Proof::Twilio { signature } => twilio_urls(&url, raw_query)
                    .iter()
                    .fold(false, |ok, u| ok | matches(&twilio_mac(secret, u, params), signature)),
                Proof::Plivo { signatures, nonce } => match plivo_message(&url, raw_query, params, nonce) {
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
            };
        }
        ok
    }
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
pub fn twilio_mac(token: &str, url: &str, params: &Params) -> Vec<u8> {
    let mut mac = Hmac::<Sha1>::new_from_slice(token.as_bytes()).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    for (key, mut values) in params.sorted() {
        values.dedup();
        for value in values {
            mac.update(key.as_bytes());
            mac.update(value.as_bytes());
        }
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
fn plivo_message(url: &str, raw_query: &str, params: &Params, nonce: &str) -> Option<String> {
    let query = Params::parse(raw_query.as_bytes())?;
    let query: Vec<String> = query
        .sorted()
        .into_iter()
        .flat_map(|(k, values)| values.into_iter().map(move |v| format!("{k}={v}")))
        .collect();
    let query = query.join("&");
    let body: String = params
        .sorted()
        .into_iter()
        .flat_map(|(k, values)| values.into_iter().map(move |v| format!("{k}{v}")))
        .collect();
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

    const BASE: &str = "https://telebind.example.com";

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        Headers::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn params(body: &str) -> Params {
        Params::parse(body.as_bytes()).unwrap()
    }

    fn bases(urls: &[&str]) -> Vec<String> {
        urls.iter().map(|u| u.to_string()).collect()
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
        let mac = twilio_mac("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &p);
        assert_eq!(STANDARD.encode(mac), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    }

    #[test]
    fn twilio_vector_and_its_port_variant_verify() {
        let p = params(TWILIO_BODY);
        for sig in ["GZbuQ3U6laFKI1yosaNgiWUuJLU=", "vQuR9eBoWGb2+504LDYcHFWUL5w="] {
            assert!(twilio(sig).verifies(TWILIO_TOKEN, &bases(&[BASE]), "", &p), "{sig}");
            assert!(twilio(sig).verifies(TWILIO_TOKEN, &bases(&["https://telebind.example.com:443"]), "", &p));
        }
        let wrong = [
            (TWILIO_TOKEN, BASE, "GZbuQ3U6laFKI1yosaNgiWUuJLU"),
            (TWILIO_TOKEN, "http://10.0.0.5:8000", "GZbuQ3U6laFKI1yosaNgiWUuJLU="),
            ("0123456789abcdef0123456789abcdee", BASE, "GZbuQ3U6laFKI1yosaNgiWUuJLU="),
            (TWILIO_TOKEN, BASE, "HZbuQ3U6laFKI1yosaNgiWUuJLU="),
        ];
        for (token, base, sig) in wrong {
            assert!(
                !twilio(sig).verifies(token, &bases(&[base]), "", &p),
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
        let b = bases(&[BASE]);
        let plain = "a1UiZLZYNYKbPU73WpVmDbUF6i0h700+1viS9jPRgao=";
        let with_query = "Z+XW+IJKULOBuw4DH0xmdAyWcESHfAEe9nO5JOnxlHw=";
        assert!(plivo(plain, PLIVO_NONCE).verifies(PLIVO_TOKEN, &b, "", &p));
        assert!(plivo(with_query, PLIVO_NONCE).verifies(PLIVO_TOKEN, &b, "b=2&a=1", &p));
        assert!(plivo(&format!("bogus,{plain}"), PLIVO_NONCE).verifies(PLIVO_TOKEN, &b, "", &p));
        assert!(!plivo(plain, "05429567804466091623").verifies(PLIVO_TOKEN, &b, "", &p));
        assert!(!plivo(plain, PLIVO_NONCE).verifies("plivo-auth-token-0123456788", &b, "", &p));
        assert!(!plivo(plain, PLIVO_NONCE).verifies(
            PLIVO_TOKEN,
            &b,
            "",
            &params(&PLIVO_BODY.replace("ringing", "ringinG"))
        ));
        assert!(!plivo(plain, PLIVO_NONCE).verifies(PLIVO_TOKEN, &bases(&["http://127.0.0.1:8000"]), "", &p));
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
        let b = bases(&[BASE]);
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
            assert!(proof.verifies(VOBIZ_TOKEN, &b, "q=ignored", &anything));
            assert!(!proof.verifies("vobiz-auth-token-0123456788", &b, "", &anything));
            assert!(!proof.verifies(VOBIZ_TOKEN, &bases(&["https://other.example.com"]), "", &anything));
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
            assert!(!flipped.verifies(VOBIZ_TOKEN, &b, "", &anything));
        }
    }

    #[test]
    fn garbage_signatures_are_just_wrong() {
        let p = params(PLIVO_BODY);
        for sig in ["", "%%%", "====", "a,b,,c", "\u{7f}"] {
            let h = headers(&[("X-Plivo-Signature-V3", sig), ("X-Plivo-Signature-V3-Nonce", "1")]);
            if let Some(proof) = Proof::read(Carrier::Plivo, &h, "") {
                assert!(!proof.verifies(PLIVO_TOKEN, &bases(&[BASE]), "", &p));
            }
        }
    }
}
