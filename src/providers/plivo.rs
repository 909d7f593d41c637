//! Plivo: one application answers every number, so binding sets its answer
//! URL; a configuration saved without an application gets one made
//! (PROVIDERS.md §3, §4 plivo, §5). Linking numbers to the application is
//! left to the operator, as in the reference.

use serde_json::json;

use super::http::encode;
use super::{
    application_level_detach, created_id, is_pstn, minted_name, CreationWords, Http, Ownership, Provider,
    ProvisionError, SyncResult,
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
    /// The address plays no part: the application's URL serves every number.
    fn configure_inbound(&self, http: &mut Http, _address: &str, webhook: Option<&str>) -> SyncResult {
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
            Ok(r) if r.status == 200 || r.status == 202 => SyncResult::ok(),
            Ok(r) => SyncResult::failed(format!("Plivo API {}: {}", r.status, r.body)),
            Err(e) => SyncResult::failed(format!("Plivo update failed: {e}")),
        }
    }

    fn check_ownership(&self, http: &mut Http, address: &str) -> Ownership {
        if !is_pstn(address) {
            return Ownership::Owned;
        }
        if !has_credentials(self.creds) {
            return Ownership::LookupFailed(
                "Plivo auth ID and auth token are required to validate phone-number ownership".into(),
            );
        }
        let url = format!(
            "{}/Number/{}/",
            account_url(self.base_url, self.creds),
            encode(address.trim_start_matches('+'))
        );
        // Plivo answers 200 for a number of the account; the body is not needed.
        match http.get(&url).basic(&self.creds.auth_id, &self.creds.auth_token).send() {
            Ok(r) if r.status == 200 => Ownership::Owned,
            Ok(r) if r.status == 404 => Ownership::NotOwned(format!(
                "Phone number {address} is not owned by this Plivo account ({}). Add it in the Plivo console first.",
                self.creds.auth_id
            )),
            Ok(r) => Ownership::LookupFailed(format!("Plivo API {}: {}", r.status, r.body)),
            Err(e) => Ownership::LookupFailed(format!("Plivo phone-number lookup failed: {e}")),
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
    let body = json!({"app_name": minted_name(), "answer_url": webhook, "answer_method": "POST", "hangup_url": ""});
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
    use crate::providers::testing::carriers;

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
            carriers.configure_inbound(&creds("", Some("app")), "+15551230002", true),
            SyncResult::failed("Plivo provider not properly configured")
        );
        assert_eq!(
            carriers.check_ownership(&creds("", None), "+15551230002"),
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
        let result = carriers.configure_inbound(&creds("token-1234", Some("")), "+15551230002", true);
        assert!(result
            .message
            .unwrap()
            .starts_with("Plivo application_id is not configured."));
    }

    #[test]
    fn sip_addresses_are_owned_without_a_request() {
        let carriers = carriers("http://127.0.0.1:9", 0);
        let creds = creds("token-1234", Some("app"));
        assert_eq!(
            carriers.check_ownership(&creds, "sip:100@pbx.example.com"),
            Ownership::Owned
        );
        assert_eq!(carriers.check_ownership(&creds, "1001"), Ownership::Owned);
    }
}
