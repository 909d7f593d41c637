//! Vobiz: each number is attached to the account's application, whose answer
//! URL is the webhook (PROVIDERS.md §3 vobiz, §4 vobiz, §5).

use serde_json::{json, Value};

use super::http::{encode, Call, Reply};
use super::{created_id, minted_name, CreationWords, Http, Number, Ownership, Provider, ProvisionError, SyncResult};
use crate::domain::credentials::AppAccount;

/// Numbers asked for per page of the ownership search.
const PER_PAGE: i64 = 100;

/// Every 2xx: Vobiz documents its answers' bodies, not their status codes.
const SUCCESS: [u16; 100] = {
    let mut codes = [0; 100];
    let mut i = 0;
    while i < codes.len() {
        codes[i] = 200 + i as u16;
        i += 1;
    }
    codes
};

pub struct Vobiz<'a> {
    base_url: &'a str,
    creds: &'a AppAccount,
}

impl<'a> Vobiz<'a> {
    pub fn new(base_url: &'a str, creds: &'a AppAccount) -> Vobiz<'a> {
        Vobiz { base_url, creds }
    }

    fn has_credentials(&self) -> bool {
        !self.creds.auth_id.is_empty() && !self.creds.auth_token.is_empty()
    }

    fn account_url(&self) -> String {
        format!("{}/api/v1/Account/{}", self.base_url, encode(&self.creds.auth_id))
    }

    /// Vobiz authenticates with its own headers on every request (`json` adds
    /// the Content-Type of requests with a body).
    fn authed<'h>(&self, call: Call<'h>) -> Call<'h> {
        call.header("X-Auth-ID", &self.creds.auth_id)
            .header("X-Auth-Token", &self.creds.auth_token)
    }

    fn without_body(&self, call: Call<'_>) -> Result<Reply, String> {
        self.authed(call).header("Content-Type", "application/json").send()
    }

    /// Detaches `e164` from any application, or attaches it to `application_id`
    /// and points that application at `webhook`. `Err` is the sync's failure message.
    fn bind(&self, http: &Http, application_id: &str, e164: &str, webhook: Option<&str>) -> Result<(), String> {
        let sync_failed = |e: String| format!("Vobiz sync failed: {e}");
        let number_url = format!("{}/numbers/{}/application", self.account_url(), encode(e164));
        let Some(webhook) = webhook else {
            let reply = self.without_body(http.delete(&number_url)).map_err(sync_failed)?;
            // 404: already detached, or no longer in the account.
            return match reply.status {
                404 => Ok(()),
                status if SUCCESS.contains(&status) => Ok(()),
                _ => Err(api_error(&reply)),
            };
        };
        let reply = self
            .authed(http.post(&number_url))
            .json(&json!({"application_id": application_id}))
            .map_err(sync_failed)?;
        if !SUCCESS.contains(&reply.status) {
            return Err(attach_refused(&reply, application_id));
        }
        let app_url = format!("{}/Application/{}/", self.account_url(), encode(application_id));
        let reply = self
            .authed(http.post(&app_url))
            .json(&json!({"answer_url": webhook, "answer_method": "POST"}))
            .map_err(sync_failed)?;
        if SUCCESS.contains(&reply.status) {
            Ok(())
        } else {
            Err(api_error(&reply))
        }
    }

    /// Walks the account's numbers matching `e164`, page by page, under the
    /// operation's one deadline. `Err` is the lookup-failed message.
    fn owns(&self, http: &Http, e164: &str) -> Result<bool, String> {
        let failed = |e: String| format!("Vobiz phone-number lookup failed: {e}");
        let mut page = 1;
        loop {
            let url = format!(
                "{}/numbers?page={page}&per_page={PER_PAGE}&search={}",
                self.account_url(),
                encode(e164)
            );
            let reply = self.without_body(http.get(&url)).map_err(failed)?;
            if reply.status != 200 {
                return Err(api_error(&reply));
            }
            let body = reply.json().map_err(failed)?;
            let items = body
                .get("items")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            if items
                .iter()
                .any(|n| n.get("e164").and_then(Value::as_str) == Some(e164))
            {
                return Ok(true);
            }
            let total = integer(&body, "total").map_err(failed)?.unwrap_or(items.len() as i64);
            let answered_page = integer(&body, "page").map_err(failed)?.unwrap_or(page);
            let per_page = integer(&body, "per_page").map_err(failed)?.unwrap_or(PER_PAGE);
            if items.is_empty() || answered_page.saturating_mul(per_page) >= total {
                return Ok(false);
            }
            page = answered_page + 1;
        }
    }
}

fn api_error(reply: &Reply) -> String {
    format!("Vobiz API {}: {}", reply.status, reply.body)
}

/// Why Vobiz would not attach the number, first matching rule first.
fn attach_refused(reply: &Reply, application_id: &str) -> String {
    let status = reply.status;
    if status == 409 || reply.body.to_lowercase().contains("already") {
        format!(
            "Vobiz indicates that this phone number is already attached to an application. To enable inbound calls \
             in Dograh, review the phone number configuration in Vobiz and ensure that the number is attached to the \
             Application ID configured in Dograh ({application_id})."
        )
    } else if status == 404 {
        format!(
            "Vobiz could not find this phone number or the configured Application ID. Confirm that the number \
             belongs to this Vobiz account and that Application ID {application_id} exists."
        )
    } else if (400..500).contains(&status) {
        format!(
            "Vobiz rejected the phone number attachment (HTTP {status}). Review the number in Vobiz and ensure it \
             can be attached to Application ID {application_id}."
        )
    } else {
        api_error(reply)
    }
}

/// A pagination field read as Python's `int()` would: a number or a numeric
/// string; absent (or null) is `None`.
fn integer(body: &Value, field: &str) -> Result<Option<i64>, String> {
    let value = match body.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(value) => value,
    };
    let parsed = match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    parsed
        .map(Some)
        .ok_or_else(|| format!("{field} is not an integer: {value}"))
}

impl Provider for Vobiz<'_> {
    fn configure_inbound(&self, http: &mut Http, number: Number, webhook: Option<&str>) -> SyncResult {
        let address = number.address;
        if !self.has_credentials() {
            return SyncResult::failed("Vobiz provider not properly configured");
        }
        let Some(application_id) = &self.creds.application_id else {
            return SyncResult::failed(
                "Vobiz application_id is not configured. Set it in the telephony configuration so inbound webhooks \
                 can be synced to the right Application.",
            );
        };
        if !number.is_pstn() {
            return SyncResult::failed("Vobiz Application attachment requires a PSTN phone number");
        }
        match self.bind(http, application_id, address, webhook) {
            Ok(()) => SyncResult::ok(),
            Err(message) => SyncResult::failed(message),
        }
    }

    fn check_ownership(&self, http: &mut Http, number: Number) -> Ownership {
        let address = number.address;
        if !number.is_pstn() {
            return Ownership::Owned;
        }
        if !self.has_credentials() {
            return Ownership::LookupFailed(
                "Vobiz auth ID and auth token are required to validate phone-number ownership".into(),
            );
        }
        match self.owns(http, address) {
            Ok(true) => Ownership::Owned,
            Ok(false) => Ownership::NotOwned(format!(
                "Phone number {address} is not owned by this Vobiz account ({}). Add it in the Vobiz console first.",
                self.creds.auth_id
            )),
            Err(message) => Ownership::LookupFailed(message),
        }
    }
}

/// Save-time provisioning: without an `application_id`, an application
/// answering at `webhook` is created and its id stored.
pub fn provision(http: &Http, base_url: &str, creds: &mut AppAccount, webhook: &str) -> Result<(), ProvisionError> {
    let vobiz = Vobiz::new(base_url, creds);
    if creds.application_id.is_some() || !vobiz.has_credentials() {
        return Ok(());
    }
    // Without a hangup_url Vobiz posts hangups to the answer URL, whose
    // router acknowledges and ignores them; an empty one may be refused.
    let reply = vobiz
        .authed(http.post(&format!("{}/Application/", vobiz.account_url())))
        .json(&json!({"app_name": minted_name(), "answer_url": webhook, "answer_method": "POST"}));
    let words = CreationWords {
        rejected: "Failed to auto-create Vobiz Application",
        unreachable: "Failed to reach Vobiz to auto-create application",
        missing_id: "Vobiz applicationCreate response missing app_id",
    };
    creds.application_id = Some(created_id(reply, &SUCCESS, "/app_id", &words)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::integer;
    use crate::domain::credentials::{AppAccount, Credentials};
    use crate::providers::testing::{carriers, number};
    use crate::providers::{Ownership, SyncResult};

    fn creds(auth_token: &str, application_id: Option<&str>) -> Credentials {
        Credentials::Vobiz(AppAccount {
            auth_id: "MA_SYQRLN1K".into(),
            auth_token: auth_token.into(),
            application_id: application_id.map(Into::into),
        })
    }

    #[test]
    fn what_is_missing_is_said_before_any_request() {
        // A deadline already passed: any request would fail otherwise.
        let carriers = carriers("http://127.0.0.1:9", 0);
        let e164 = "+15551230002";
        assert_eq!(
            carriers.configure_inbound(&creds("", Some("app")), number(e164), false),
            SyncResult::failed("Vobiz provider not properly configured")
        );
        assert_eq!(
            carriers.configure_inbound(&creds("tok-1234", None), number(e164), true),
            SyncResult::failed(
                "Vobiz application_id is not configured. Set it in the telephony configuration so inbound webhooks \
                 can be synced to the right Application."
            )
        );
        assert_eq!(
            carriers.check_ownership(&creds("", Some("app")), number(e164)),
            Ownership::LookupFailed(
                "Vobiz auth ID and auth token are required to validate phone-number ownership".into()
            )
        );
        assert_eq!(
            carriers.check_ownership(&creds("", None), number("1001")),
            Ownership::Owned
        );
    }

    #[test]
    fn provisioning_needs_credentials_and_no_application() {
        let carriers = carriers("http://127.0.0.1:9", 0);
        for given in [creds("tok-1234", Some("app")), creds("", None)] {
            let mut provisioned = given.clone();
            assert_eq!(carriers.provision(&mut provisioned), Ok(()));
            assert_eq!(provisioned, given);
        }
    }

    #[test]
    fn pagination_fields_read_like_python_int() {
        let body = json!({"total": "150", "page": 2, "per_page": 100.0, "items": null, "bad": "x"});
        assert_eq!(integer(&body, "total"), Ok(Some(150)));
        assert_eq!(integer(&body, "page"), Ok(Some(2)));
        assert_eq!(integer(&body, "per_page"), Ok(Some(100)));
        assert_eq!(integer(&body, "items"), Ok(None));
        assert_eq!(integer(&body, "absent"), Ok(None));
        assert_eq!(integer(&body, "bad"), Err(r#"bad is not an integer: "x""#.into()));
    }
}
