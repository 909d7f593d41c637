//! Cloudonix: one voice application answers every number of a domain, so a
//! bind sets that application's URL; a new number is made a DNID of the
//! application instead of being looked up (PROVIDERS.md §3, §4 cloudonix, §5).

mod trunks;

use serde_json::{json, Value};

pub use self::trunks::{apply as apply_trunk, remove as remove_trunks, Applied, RemoteTrunk};
use super::http::{encode, Call};
use super::{application_level_detach, minted_name, Http, Number, Ownership, Provider, ProvisionError, SyncResult};
use crate::domain::address::{Address, AddressError};
use crate::domain::credentials;

pub struct Cloudonix<'a> {
    base_url: &'a str,
    creds: &'a credentials::Cloudonix,
}

/// The voice application made at save time.
struct Application {
    name: String,
    id: i64,
    uuid: Option<String>,
}

impl<'a> Cloudonix<'a> {
    pub fn new(base_url: &'a str, creds: &'a credentials::Cloudonix) -> Cloudonix<'a> {
        Cloudonix { base_url, creds }
    }

    fn has_credentials(&self) -> bool {
        !self.creds.bearer_token.is_empty() && !self.creds.domain_id.is_empty()
    }

    fn application_name(&self) -> Option<&str> {
        self.creds.application_name.as_deref().filter(|n| !n.is_empty())
    }

    fn authorized<'h>(&self, call: Call<'h>) -> Call<'h> {
        call.bearer(&self.creds.bearer_token)
    }

    /// The domain in the customer API, where save-time provisioning happens.
    fn customer_domain_url(&self) -> String {
        format!(
            "{}/customers/self/domains/{}",
            self.base_url,
            encode(&self.creds.domain_id)
        )
    }

    /// The domain in the DNID API, which lives outside `/customers/self`.
    fn dnid_domain_url(&self) -> String {
        format!("{}/domains/{}", self.base_url, encode(&self.creds.domain_id))
    }

    /// Makes `address` a DNID of the application unless the domain already
    /// routes it there, so creating a number twice is harmless. A DNID that
    /// routes it to another application (or does not say which) is refused:
    /// its calls would not reach telebind.
    fn provision_dnid(&self, http: &Http, address: &str) -> Result<(), String> {
        if !self.has_credentials() {
            return Err("Cloudonix bearer token and domain are required to create a DNID".into());
        }
        let Some(application) = self.application_name() else {
            return Err(
                "Cloudonix application_name is required to associate the new DNID with a Voice Application".into(),
            );
        };
        let failed = |e: String| format!("Cloudonix DNID provisioning failed: {e}");
        let domain = self.dnid_domain_url();

        // The reference sends its JSON content type on the GET too.
        let listed = self
            .authorized(http.get(&format!("{domain}/dnids")))
            .header("Content-Type", "application/json")
            .send()
            .map_err(failed)?;
        match listed.status {
            200 => {
                let Value::Array(dnids) = listed.json().map_err(failed)? else {
                    return Err("Cloudonix dnidList response was not an array".into());
                };
                let mut routing = dnids.iter().filter(|dnid| dnid_matches(dnid, address)).peekable();
                if routing.peek().is_some() {
                    return routing.try_for_each(|dnid| self.launches_application(dnid, address, application));
                }
            }
            404 => {}
            status => {
                return Err(format!(
                    "Cloudonix DNID list failed with HTTP {status}: {}",
                    listed.body
                ))
            }
        }

        // The documented path names the application, not its UUID.
        let url = format!("{domain}/applications/{}/dnids", quote(application));
        let dnid = json!({"source": address, "prefix": false, "expression": false, "asteriskCompatible": false});
        let created = self.authorized(http.post(&url)).json(&dnid).map_err(failed)?;
        match created.status {
            200 | 201 | 204 => Ok(()),
            status => Err(format!(
                "Cloudonix dnidCreate failed with HTTP {status}: {}",
                created.body
            )),
        }
    }

    /// Ok when `dnid`, which routes `address`, launches `application`; else
    /// what the user must do before the number can reach telebind.
    fn launches_application(&self, dnid: &Value, address: &str, application: &str) -> Result<(), String> {
        let domain = &self.creds.domain_id;
        let found = match launched(dnid) {
            Some(Launched::Name(name)) if name == application => return Ok(()),
            Some(Launched::Id(id)) if self.creds.application_id == Some(id) => return Ok(()),
            Some(Launched::Name(name)) => {
                format!(
                    "Cloudonix routes {address} to Voice Application {name} in domain {domain}, not to {application}"
                )
            }
            // Only an id, and telebind's is known: it is another application.
            Some(Launched::Id(id)) if self.creds.application_id.is_some() => format!(
                "Cloudonix routes {address} to the Voice Application with id {id} in domain {domain}, not to \
                 {application}"
            ),
            _ => format!(
                "Cloudonix has a DNID for {address} in domain {domain} that does not name the Voice Application it \
                 launches, so telebind cannot tell whether it is {application}"
            ),
        };
        Err(format!(
            "{found}. Delete that DNID in the Cloudonix Cockpit, then add the number again: telebind then makes one \
             that launches {application}."
        ))
    }

    /// The domain's UUID, read from the customer API.
    fn domain_uuid(&self, http: &Http) -> Result<String, ProvisionError> {
        let reply = self
            .authorized(http.get(&self.customer_domain_url()))
            .header("Accept", "application/json")
            .send()
            .map_err(|e| bad_gateway(format!("Failed to reach Cloudonix to fetch the domain UUID: {e}")))?;
        if reply.status != 200 {
            return Err(refused(
                reply.status,
                format!("Failed to fetch Cloudonix domain UUID: HTTP {}", reply.status),
            ));
        }
        let domain = reply
            .json()
            .map_err(|_| bad_gateway("Cloudonix domainGet returned an invalid response"))?;
        domain
            .get("uuid")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| bad_gateway("Cloudonix domainGet response did not include a domain UUID"))
    }

    /// Creates a voice application answering on `webhook` and makes it the
    /// domain's default, so every DNID of the domain reaches telebind.
    fn create_application(&self, http: &Http, webhook: &str) -> Result<Application, ProvisionError> {
        let unreachable = |e: String| bad_gateway(format!("Failed to reach Cloudonix to auto-create application: {e}"));
        let applications = format!("{}/applications", self.customer_domain_url());
        let name = minted_name();
        let body = json!({"name": name, "type": "cxml", "url": webhook, "method": "POST"});
        let reply = self
            .authorized(http.post(&applications))
            .json(&body)
            .map_err(unreachable)?;
        if !matches!(reply.status, 200 | 201) {
            return Err(refused(
                reply.status,
                format!(
                    "Failed to auto-create Cloudonix Voice Application: HTTP {}",
                    reply.status
                ),
            ));
        }
        // A body that is not JSON has no numeric id either.
        let created = reply.json().unwrap_or(Value::Null);
        let id = created
            .get("id")
            .and_then(Value::as_i64)
            .ok_or_else(|| bad_gateway("Cloudonix application response did not include a numeric ID"))?;

        let reply = self
            .authorized(http.put(&self.customer_domain_url()))
            .json(&json!({ "defaultApplication": id }))
            .map_err(unreachable)?;
        if !matches!(reply.status, 200 | 204) {
            return Err(refused(
                reply.status,
                format!("Failed to set the Cloudonix default application: HTTP {}", reply.status),
            ));
        }
        let text = |key| {
            created
                .get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Ok(Application {
            name: text("name").unwrap_or(name),
            id,
            uuid: text("uuid"),
        })
    }
}

/// Save-time provisioning (PROVIDERS.md §3): the domain's UUID unless already
/// known, and a voice application when none is named. `creds` changes only
/// when every step succeeded.
pub fn provision(
    http: &Http,
    base_url: &str,
    creds: &mut credentials::Cloudonix,
    webhook: &str,
) -> Result<(), ProvisionError> {
    let carrier = Cloudonix::new(base_url, creds);
    let known_uuid = creds.domain_uuid.as_deref().is_some_and(|u| !u.trim().is_empty());
    let domain_uuid = if known_uuid {
        None
    } else {
        Some(carrier.domain_uuid(http)?)
    };
    let application = match carrier.application_name() {
        Some(_) => None,
        None => Some(carrier.create_application(http, webhook)?),
    };
    if domain_uuid.is_some() {
        creds.domain_uuid = domain_uuid;
    }
    if let Some(app) = application {
        creds.application_name = Some(app.name);
        creds.application_id = Some(app.id);
        creds.application_uuid = app.uuid;
    }
    Ok(())
}

fn bad_gateway(detail: impl Into<String>) -> ProvisionError {
    ProvisionError {
        status: 502,
        detail: detail.into(),
    }
}

/// The save is refused with Cloudonix's own error status; a status that is not
/// an error (say a 202 where 200 was expected) must not read as success, so
/// that becomes 502.
fn refused(status: u16, detail: String) -> ProvisionError {
    ProvisionError {
        status: if (400..600).contains(&status) { status } else { 502 },
        detail,
    }
}

/// Python's `quote(s)`, which keeps `/` by default, unlike `quote(s, safe="")`.
fn quote(segment: &str) -> String {
    encode(segment).replace("%2F", "/")
}

/// Whether a DNID record of the domain routes `expected`: by its source
/// number, or by a pattern matching exactly that address.
fn dnid_matches(record: &Value, expected: &str) -> bool {
    let Some(record) = record.as_object() else {
        return false;
    };
    let by_source = match record.get("source") {
        None | Some(Value::Null) => false,
        Some(Value::String(source)) => canonical(source) == expected,
        Some(other) => canonical(&other.to_string()) == expected,
    };
    let by_pattern = record
        .get("dnid")
        .and_then(Value::as_str)
        .map(str::trim)
        .is_some_and(|pattern| {
            let escaped = regex_escape(expected);
            pattern == expected || pattern == format!("^{escaped}$") || pattern == format!("^({escaped})$")
        });
    by_source || by_pattern
}

/// The voice application a DNID launches, as a listing names it.
#[derive(Debug, PartialEq, Eq)]
enum Launched {
    Name(String),
    Id(i64),
}

/// Which application a DNID record launches, by name where it gives one, in
/// every shape Cloudonix documents: the DNID model's `application` object,
/// the 2021 OpenAPI's `voice-application` (an object, or a bare name or id as
/// on create), and the `applicationName` / `applicationId` of its PHP client.
fn launched(record: &Value) -> Option<Launched> {
    let mut given: Vec<&Value> = Vec::new();
    for key in ["application", "voice-application"] {
        match record.get(key) {
            Some(Value::Object(app)) => given.extend(app.get("name").into_iter().chain(app.get("id"))),
            Some(bare) => given.push(bare),
            None => {}
        }
    }
    given.extend(
        record
            .get("applicationName")
            .into_iter()
            .chain(record.get("applicationId")),
    );
    let name = given
        .iter()
        .filter_map(|v| v.as_str())
        .map(str::trim)
        .find(|n| !n.is_empty());
    match name {
        Some(name) => Some(Launched::Name(name.to_string())),
        None => given.iter().find_map(|v| v.as_i64()).map(Launched::Id),
    }
}

/// A DNID source in telebind's canonical form, else as written. Cloudonix
/// keeps numbers without their `+` too, which the reference reads as
/// international where telebind would ask for a country.
fn canonical(source: &str) -> String {
    let parsed = match Address::parse(source, None) {
        Err(AddressError::NeedsCountry) => Address::parse(&format!("+{}", source.trim()), None),
        other => other,
    };
    parsed.map_or_else(|_| source.trim().to_string(), |a| a.normalized().to_string())
}

/// Python's `re.escape`, with which a one-number DNID pattern is written.
fn regex_escape(text: &str) -> String {
    const SPECIAL: &str = "()[]{}?*+-|^$\\.&~# \t\n\r\x0b\x0c";
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if SPECIAL.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Provider for Cloudonix<'_> {
    fn configure_inbound(&self, http: &mut Http, _: Number, webhook: Option<&str>) -> SyncResult {
        let Some(webhook) = webhook else {
            return application_level_detach("Cloudonix");
        };
        if !self.has_credentials() {
            return SyncResult::failed("Cloudonix provider not properly configured");
        }
        let Some(application) = self.application_name() else {
            return SyncResult::failed(
                "Cloudonix application_name is not configured. Set it in the telephony configuration so inbound webhooks can be synced to the right Voice Application.",
            );
        };
        // Segments go unencoded, as the reference sends them.
        let url = format!(
            "{}/customers/self/domains/{}/applications/{application}",
            self.base_url, self.creds.domain_id
        );
        let reply = self
            .authorized(http.patch(&url))
            .json(&json!({"url": webhook, "method": "POST"}));
        match reply {
            Ok(r) if r.status == 200 => SyncResult::ok(),
            Ok(r) => SyncResult::failed(format!("Cloudonix API {}: {}", r.status, r.body)),
            Err(e) => SyncResult::failed(format!("Cloudonix update failed: {e}")),
        }
    }

    /// Cloudonix provisions the number rather than checking it: any failure
    /// means no answer could be had (502), never "not owned".
    fn check_ownership(&self, http: &mut Http, number: Number) -> Ownership {
        let address = number.address;
        match self.provision_dnid(http, address) {
            Ok(()) => Ownership::Owned,
            Err(message) => Ownership::LookupFailed(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::credentials::Credentials;
    use crate::providers::testing::{carriers, number, refused_url};

    const NUMBER: &str = "+15551230002";

    fn account(application_name: Option<&str>) -> credentials::Cloudonix {
        credentials::Cloudonix {
            bearer_token: "cx-token-0123456789".into(),
            domain_id: "acme.cloudonix.net".into(),
            application_name: application_name.map(str::to_owned),
            domain_uuid: None,
            application_id: None,
            application_uuid: None,
        }
    }

    fn creds(application_name: Option<&str>) -> Credentials {
        Credentials::Cloudonix(account(application_name))
    }

    #[test]
    fn a_dnid_matches_by_its_source_in_canonical_form() {
        for source in [
            json!("+15551230002"),
            json!("15551230002"),
            json!(" +1 (555) 123-0002 "),
            json!(15551230002u64),
        ] {
            assert!(dnid_matches(&json!({ "source": source }), NUMBER), "{source}");
        }
        assert!(!dnid_matches(&json!({"source": "+15551230003"}), NUMBER));
        assert!(!dnid_matches(&json!({"source": null}), NUMBER));
        assert!(dnid_matches(&json!({"source": " Reception "}), "reception"));
    }

    #[test]
    fn a_dnid_matches_by_an_exact_pattern_of_the_address() {
        for pattern in [NUMBER, "^\\+15551230002$", " ^(\\+15551230002)$ "] {
            assert!(dnid_matches(&json!({ "dnid": pattern }), NUMBER), "{pattern}");
        }
        for pattern in ["^\\+1555.*$", "+15551230002$", "^+15551230002$"] {
            assert!(!dnid_matches(&json!({ "dnid": pattern }), NUMBER), "{pattern}");
        }
        assert!(dnid_matches(
            &json!({"dnid": "^sip:100@pbx\\.example\\.com$"}),
            "sip:100@pbx.example.com"
        ));
        assert!(
            !dnid_matches(&json!([{ "dnid": NUMBER }]), NUMBER),
            "records are objects"
        );
    }

    #[test]
    fn a_dnid_names_its_application_in_each_documented_shape() {
        let name = || Some(Launched::Name("telebind-app".into()));
        assert_eq!(
            launched(&json!({"application": {"id": 7, "name": "telebind-app"}})),
            name()
        );
        assert_eq!(
            launched(&json!({"voice-application": {"name": " telebind-app "}})),
            name()
        );
        assert_eq!(launched(&json!({"voice-application": "telebind-app"})), name());
        assert_eq!(
            launched(&json!({"applicationId": 7, "applicationName": "telebind-app"})),
            name()
        );
        assert_eq!(launched(&json!({"application": {"id": 7}})), Some(Launched::Id(7)));
        assert_eq!(launched(&json!({"voice-application": 7})), Some(Launched::Id(7)));
        assert_eq!(launched(&json!({"applicationId": 7})), Some(Launched::Id(7)));
        assert_eq!(launched(&json!({"source": NUMBER, "application": null})), None);
        assert_eq!(launched(&json!({"application": {"name": ""}})), None);
    }

    #[test]
    fn a_dnid_naming_only_an_application_id_counts_when_telebind_knows_its_id() {
        let with_id = |application_id| credentials::Cloudonix {
            application_id,
            ..account(Some("telebind-app"))
        };
        let (ours, unknown) = (with_id(Some(42)), with_id(None));
        let check = |creds, id| {
            Cloudonix::new("http://x", creds).launches_application(
                &json!({"applicationId": id}),
                NUMBER,
                "telebind-app",
            )
        };
        assert_eq!(check(&ours, 42), Ok(()));
        let other = check(&ours, 7).unwrap_err();
        assert!(
            other.starts_with("Cloudonix routes +15551230002 to the Voice Application with id 7 "),
            "{other}"
        );
        let unsure = check(&unknown, 42).unwrap_err();
        assert!(unsure.contains("does not name the Voice Application"), "{unsure}");
    }

    #[test]
    fn regex_escape_escapes_what_python_escapes() {
        assert_eq!(regex_escape("+1(5)a.b-c d#e"), "\\+1\\(5\\)a\\.b\\-c\\ d\\#e");
        assert_eq!(regex_escape("sip:100@pbx"), "sip:100@pbx");
    }

    #[test]
    fn quote_keeps_slashes_and_encodes_the_rest() {
        assert_eq!(quote("my app/v2"), "my%20app/v2");
        assert_eq!(quote("telebind-0a1b"), "telebind-0a1b");
    }

    #[test]
    fn only_error_statuses_of_cloudonix_reach_the_client() {
        assert_eq!(refused(403, "x".into()).status, 403);
        assert_eq!(refused(503, "x".into()).status, 503);
        assert_eq!(refused(202, "x".into()).status, 502);
        assert_eq!(refused(302, "x".into()).status, 502);
    }

    #[test]
    fn without_an_application_nothing_is_sent_and_the_reason_is_given() {
        // A deadline already passed: any request would fail differently.
        let carriers = carriers("http://127.0.0.1:9", 0);
        let sync = carriers.configure_inbound(&creds(None), number(NUMBER), true);
        assert_eq!(
            sync,
            SyncResult::failed(
                "Cloudonix application_name is not configured. Set it in the telephony configuration so inbound webhooks can be synced to the right Voice Application."
            )
        );
        assert_eq!(
            carriers.check_ownership(&creds(None), number(NUMBER)),
            Ownership::LookupFailed(
                "Cloudonix application_name is required to associate the new DNID with a Voice Application".into()
            )
        );
    }

    #[test]
    fn missing_credentials_fail_before_any_request() {
        let mut blank = creds(Some("app"));
        if let Credentials::Cloudonix(c) = &mut blank {
            c.bearer_token.clear();
        }
        let carriers = carriers("http://127.0.0.1:9", 0);
        assert_eq!(
            carriers.configure_inbound(&blank, number(NUMBER), true),
            SyncResult::failed("Cloudonix provider not properly configured")
        );
        assert_eq!(
            carriers.check_ownership(&blank, number(NUMBER)),
            Ownership::LookupFailed("Cloudonix bearer token and domain are required to create a DNID".into())
        );
    }

    #[test]
    fn an_unreachable_cloudonix_fails_every_operation_with_its_message() {
        let carriers = carriers(&refused_url(), 5000);
        let sync = carriers.configure_inbound(&creds(Some("app")), number(NUMBER), true);
        assert!(!sync.ok);
        assert!(sync.message.unwrap().starts_with("Cloudonix update failed: "));
        let Ownership::LookupFailed(message) = carriers.check_ownership(&creds(Some("app")), number(NUMBER)) else {
            panic!("an unreachable carrier is a lookup failure");
        };
        assert!(message.starts_with("Cloudonix DNID provisioning failed: "), "{message}");
        let error = carriers.provision(&mut creds(None)).unwrap_err();
        assert_eq!(error.status, 502);
        assert!(
            error
                .detail
                .starts_with("Failed to reach Cloudonix to fetch the domain UUID: "),
            "{}",
            error.detail
        );
    }
}
