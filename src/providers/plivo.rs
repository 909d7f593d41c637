//! Plivo: one application answers every number, so binding sets its answer
//! URL, then links the number to that application; a configuration saved
//! without an application gets one made (PROVIDERS.md §3, §4 plivo, §5;
//! CARRIER-AUDIT.md P1, P3 and decisions 3, 5).

use serde_json::{json, Value};

use super::http::{encode, Reply};
use super::{
    application_level_detach, created_id, link_number, minted_name, CreationWords, Http, LinkWords, Number,
    NumberRoute, Ownership, Provider, ProvisionError, SyncResult,
};
use crate::domain::credentials::AppAccount;

pub struct Plivo<'a> {
    base_url: &'a str,
    creds: &'a AppAccount,
}

impl<'a> Plivo<'a> {
    pub fn new(base_url: &'a str, creds: &'a AppAccount) -> Plivo<'a> {
        Plivo { base_url, creds }
    }

    fn number_url(&self, e164: &str) -> String {
        format!(
            "{}/Number/{}/",
            account_url(self.base_url, self.creds),
            encode(e164.trim_start_matches('+'))
        )
    }

    /// The number's resource, None when Plivo answers 404 (not in the
    /// account); Err says why there is no answer.
    fn number(&self, http: &Http, e164: &str) -> Result<Option<Reply>, String> {
        let reply = http
            .get(&self.number_url(e164))
            .basic(&self.creds.auth_id, &self.creds.auth_token)
            .send();
        match reply {
            Ok(r) if r.status == 200 => Ok(Some(r)),
            Ok(r) if r.status == 404 => Ok(None),
            Ok(r) => Err(format!("Plivo API {}: {}", r.status, r.body)),
            Err(e) => Err(lookup_failed(e)),
        }
    }

    /// The application the number is linked to; None when the number is not
    /// in the account.
    fn linked_application(&self, http: &Http, e164: &str) -> Result<Option<Linked>, String> {
        let Some(reply) = self.number(http, e164)? else {
            return Ok(None);
        };
        let number = reply.json().map_err(lookup_failed)?;
        Ok(Some(Linked(application_of(&number))))
    }

    /// Without `app_id` Plivo would assign the account's default application.
    fn link_to(&self, http: &Http, e164: &str, app: &str) -> Result<(), String> {
        let reply = http
            .post(&self.number_url(e164))
            .basic(&self.creds.auth_id, &self.creds.auth_token)
            .json(&json!({ "app_id": app }))?;
        match reply.status {
            200 | 202 => Ok(()),
            status => Err(format!("Plivo API {status}: {}", reply.body)),
        }
    }
}

/// The id of the application a number is linked to, if any.
struct Linked(Option<String>);

impl NumberRoute for Linked {
    fn is_application(&self, id: &str) -> bool {
        self.0.as_deref() == Some(id)
    }

    fn is_nowhere(&self) -> bool {
        self.0.is_none()
    }
}

impl std::fmt::Display for Linked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(id) => write!(f, "application {id}"),
            None => write!(f, "no application"),
        }
    }
}

fn lookup_failed(error: impl std::fmt::Display) -> String {
    format!("Plivo phone-number lookup failed: {error}")
}

/// A number's `application` is the linked application's URI,
/// `/v1/Account/{auth_id}/Application/{app_id}/`, or null.
fn application_of(number: &Value) -> Option<String> {
    let uri = number.get("application")?.as_str()?;
    uri.split('/').rfind(|segment| !segment.is_empty()).map(str::to_string)
}

fn has_credentials(creds: &AppAccount) -> bool {
    !creds.auth_id.is_empty() && !creds.auth_token.is_empty()
}

fn application_id(creds: &AppAccount) -> Option<&str> {
    creds.application_id.as_deref().filter(|id| !id.is_empty())
}

fn account_url(base_url: &str, creds: &AppAccount) -> String {
    format!("{base_url}/v1/Account/{}", encode(&creds.auth_id))
}

impl Provider for Plivo<'_> {
    /// A phone number is linked to the application; any other address only
    /// gets the application's URL, as Plivo has no number to link.
    fn configure_inbound(&self, http: &mut Http, number: Number, webhook: Option<&str>) -> SyncResult {
        let address = number.address;
        let Some(webhook) = webhook else {
            return application_level_detach("Plivo");
        };
        if !has_credentials(self.creds) {
            return SyncResult::failed("Plivo provider not properly configured");
        }
        let Some(application) = application_id(self.creds) else {
            return SyncResult::failed(
                "Plivo application_id is not configured. Set it in the telephony configuration so inbound webhooks can be synced to the right Application.",
            );
        };
        let url = format!(
            "{}/Application/{}/",
            account_url(self.base_url, self.creds),
            encode(application)
        );
        let reply = http
            .post(&url)
            .basic(&self.creds.auth_id, &self.creds.auth_token)
            .json(&json!({"answer_url": webhook, "answer_method": "POST"}));
        match reply {
            Ok(r) if r.status == 200 || r.status == 202 => {}
            Ok(r) => return SyncResult::failed(format!("Plivo API {}: {}", r.status, r.body)),
            Err(e) => return SyncResult::failed(format!("Plivo update failed: {e}")),
        }
        if !number.is_pstn() {
            return SyncResult::ok();
        }
        // The application's URL reaches only the numbers linked to it (CARRIER-AUDIT.md P3).
        let words = LinkWords {
            carrier: "Plivo",
            console: "the Plivo console",
            account: &self.creds.auth_id,
        };
        link_number(
            &words,
            address,
            application,
            || self.linked_application(http, address),
            |_| self.link_to(http, address, application),
        )
    }

    fn check_ownership(&self, http: &mut Http, number: Number) -> Ownership {
        let address = number.address;
        if !number.is_pstn() {
            return Ownership::Owned;
        }
        if !has_credentials(self.creds) {
            return Ownership::LookupFailed(
                "Plivo auth ID and auth token are required to validate phone-number ownership".into(),
            );
        }
        // Plivo answers 200 for a number of the account; the body is not needed.
        match self.number(http, address) {
            Ok(Some(_)) => Ownership::Owned,
            Ok(None) => Ownership::NotOwned(format!(
                "Phone number {address} is not owned by this Plivo account ({}). Add it in the Plivo console first.",
                self.creds.auth_id
            )),
            Err(e) => Ownership::LookupFailed(e),
        }
    }
}

/// Save-time provisioning (PROVIDERS.md §3): a configuration without an
/// application gets a new one answering on `webhook`, and keeps its id.
pub fn provision(http: &Http, base_url: &str, creds: &mut AppAccount, webhook: &str) -> Result<(), ProvisionError> {
    if application_id(creds).is_some() || !has_credentials(creds) {
        return Ok(());
    }
    let url = format!("{}/Application/", account_url(base_url, creds));
    // No `hangup_url`: Plivo then posts hangups to the answer URL (decision 5),
    // where the inbound router acknowledges them; an empty one may be refused.
    let body = json!({"app_name": minted_name(), "answer_url": webhook, "answer_method": "POST"});
    let reply = http.post(&url).basic(&creds.auth_id, &creds.auth_token).json(&body);
    let words = CreationWords {
        rejected: "Failed to auto-create Plivo Application",
        unreachable: "Failed to reach Plivo to auto-create application",
        missing_id: "Plivo applicationCreate response missing app_id",
    };
    creds.application_id = Some(created_id(reply, &[200, 201, 202], "/app_id", &words)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::credentials::Credentials;
    use crate::providers::testing::{carriers, number};

    fn creds(auth_token: &str, application_id: Option<&str>) -> Credentials {
        Credentials::Plivo(AppAccount {
            auth_id: "MA1234".into(),
            auth_token: auth_token.into(),
            application_id: application_id.map(str::to_owned),
        })
    }

    #[test]
    fn missing_credentials_fail_before_any_request() {
        // A deadline already passed: any request would fail otherwise.
        let carriers = carriers("http://127.0.0.1:9", 0);
        assert_eq!(
            carriers.configure_inbound(&creds("", Some("app")), number("+15551230002"), true),
            SyncResult::failed("Plivo provider not properly configured")
        );
        assert_eq!(
            carriers.check_ownership(&creds("", None), number("+15551230002")),
            Ownership::LookupFailed(
                "Plivo auth ID and auth token are required to validate phone-number ownership".into()
            )
        );
        let mut unprovisioned = creds("", None);
        assert_eq!(carriers.provision(&mut unprovisioned), Ok(()));
        assert_eq!(unprovisioned, creds("", None));
    }

    #[test]
    fn an_empty_application_id_counts_as_none() {
        let carriers = carriers("http://127.0.0.1:9", 0);
        let result = carriers.configure_inbound(&creds("token-1234", Some("")), number("+15551230002"), true);
        assert!(result
            .message
            .unwrap()
            .starts_with("Plivo application_id is not configured."));
    }

    #[test]
    fn a_numbers_application_is_the_last_segment_of_its_uri() {
        let number = json!({"application": "/v1/Account/MA1234/Application/29986316244302815/"});
        assert_eq!(application_of(&number).as_deref(), Some("29986316244302815"));
        assert_eq!(application_of(&json!({"application": "2998"})).as_deref(), Some("2998"));
        assert_eq!(application_of(&json!({"application": null})), None);
        assert_eq!(application_of(&json!({"application": ""})), None);
        assert_eq!(application_of(&json!({"number": "1415"})), None);
    }

    #[test]
    fn sip_addresses_are_owned_without_a_request() {
        let carriers = carriers("http://127.0.0.1:9", 0);
        let creds = creds("token-1234", Some("app"));
        assert_eq!(
            carriers.check_ownership(&creds, number("sip:100@pbx.example.com")),
            Ownership::Owned
        );
        assert_eq!(carriers.check_ownership(&creds, number("1001")), Ownership::Owned);
    }
}
