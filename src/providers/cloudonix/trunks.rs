//! Cloudonix voice trunks (TRUNKS.md §3): a telebind trunk is a
//! `public-outbound` trunk of the configuration's domain, found again by the
//! UUID Cloudonix gave it. Remote trunks are deactivated, never deleted:
//! Cloudonix keeps their call history.

use serde_json::{json, Map, Value};

use super::super::http::{encode, Call, Reply};
use super::super::{Http, ProvisionError};
use super::Cloudonix;
use crate::domain::trunk::Region;

/// What a trunk should be at the carrier.
#[derive(Debug, Clone, Copy)]
pub struct RemoteTrunk<'a> {
    pub name: &'a str,
    pub enabled: bool,
    /// The stored settings: `{region, sip_domain}`.
    pub settings: &'a Value,
}

/// What applying a trunk left at the carrier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The carrier's id of the trunk, to store.
    pub external_id: Option<String>,
    /// This apply made a new carrier trunk: undo it if the row cannot be stored.
    pub created: bool,
}

/// The one direction telebind's trunks have.
const OUTBOUND: &str = "public-outbound";
/// Profile keys telebind sets, or drops because they would override what it
/// sets; the others are kept (TRUNKS.md §3.4).
const MANAGED_PROFILE_KEYS: [&str; 6] = [
    "hostname",
    "domain",
    "ruri-domain",
    "connection-timeout",
    "provisional-timeout",
    "authentication",
];

/// Why a trunk operation stopped.
enum Failure {
    /// No answer could be had (T1/T2 word it by operation).
    Unreachable(String),
    Refused(ProvisionError),
}

impl From<ProvisionError> for Failure {
    fn from(e: ProvisionError) -> Self {
        Failure::Refused(e)
    }
}

fn bad_gateway(detail: impl Into<String>) -> Failure {
    Failure::Refused(super::bad_gateway(detail))
}

fn refusal(status: u16, detail: String) -> Failure {
    Failure::Refused(ProvisionError { status, detail })
}

/// Ends a trunk operation: an unreachable Cloudonix is a 502 that says
/// what the operation was (`action`: "configure", "remove").
fn finish<T>(result: Result<T, Failure>, action: &str) -> Result<T, ProvisionError> {
    result.map_err(|failure| match failure {
        Failure::Refused(e) => e,
        Failure::Unreachable(e) => {
            super::bad_gateway(format!("Failed to reach Cloudonix to {action} outbound trunk: {e}"))
        }
    })
}

/// A remote trunk as listed.
type Listed = Map<String, Value>;

fn text<'a>(trunk: &'a Listed, key: &str) -> Option<&'a str> {
    trunk.get(key).and_then(Value::as_str)
}

fn uuid(trunk: &Listed) -> Option<&str> {
    text(trunk, "uuid").filter(|u| !u.is_empty())
}

/// Cloudonix's `active`: a trunk is active unless it says `false`.
fn is_active(trunk: &Listed) -> bool {
    trunk.get("active") != Some(&Value::Bool(false))
}

impl Cloudonix<'_> {
    /// The domain's trunks, outside `/customers/self` as the reference
    /// addresses them (documented as an alias).
    fn trunks_url(&self) -> String {
        format!("{}/domains/{}/trunks", self.base_url, encode(&self.creds.domain_id))
    }

    fn trunk_url(&self, uuid: &str) -> String {
        format!("{}/{}", self.trunks_url(), encode(uuid))
    }

    /// Every trunk request carries the token and asks for JSON; bodies are JSON.
    fn trunk_call<'h>(&self, call: Call<'h>) -> Call<'h> {
        self.authorized(call).header("Accept", "application/json")
    }

    fn list_trunks(&self, http: &Http) -> Result<Vec<Listed>, Failure> {
        let reply = self
            .trunk_call(http.get(&self.trunks_url()))
            .header("Content-Type", "application/json")
            .send()
            .map_err(Failure::Unreachable)?;
        match reply.status {
            200 => {}
            404 => return Ok(Vec::new()),
            status => {
                return Err(bad_gateway(format!(
                    "Failed to list Cloudonix voice trunks: HTTP {status}"
                )))
            }
        }
        let invalid = || bad_gateway("Cloudonix trunksList returned an invalid response");
        if !reply.is_json() {
            return Err(invalid());
        }
        match reply.json() {
            Ok(Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::Object(trunk) => Ok(trunk),
                    _ => Err(invalid()),
                })
                .collect(),
            _ => Err(invalid()),
        }
    }

    fn put_trunk(&self, http: &Http, uuid: &str, body: &Value) -> Result<Reply, Failure> {
        self.trunk_call(http.put(&self.trunk_url(uuid)))
            .json(body)
            .map_err(Failure::Unreachable)
    }

    /// `PUT {"active": false}` unless `trunk` is inactive already.
    fn deactivate(&self, http: &Http, trunk: &Listed) -> Result<(), Failure> {
        let Some(uuid) = uuid(trunk).filter(|_| is_active(trunk)) else {
            return Ok(());
        };
        let reply = self.put_trunk(http, uuid, &json!({"active": false}))?;
        match reply.status {
            200 | 204 => Ok(()),
            status => Err(refusal(
                502,
                format!("Failed to deactivate Cloudonix outbound trunk: HTTP {status}"),
            )),
        }
    }

    /// Makes the domain's trunk match `trunk` (TRUNKS.md §3.2). `held`: the
    /// UUIDs other telebind trunks on this domain hold, which this one must
    /// never take (W10).
    fn apply(
        &self,
        http: &Http,
        trunk: &RemoteTrunk,
        external_id: Option<&str>,
        held: &[String],
    ) -> Result<Applied, Failure> {
        let listed = self.list_trunks(http)?;
        let recorded = external_id.and_then(|id| listed.iter().find(|t| text(t, "uuid") == Some(id)));
        if !trunk.enabled {
            // Only the recorded UUID proves the trunk is ours to switch off.
            if let Some(remote) = recorded {
                self.deactivate(http, remote)?;
            }
            return Ok(Applied {
                external_id: external_id.map(str::to_owned),
                created: false,
            });
        }

        let name = trunk.name;
        let named = |t: &&Listed| text(t, "name") == Some(name);
        let existing = match recorded {
            Some(remote) => Some(remote),
            None => match listed
                .iter()
                .find(|t| named(t) && text(t, "direction") == Some(OUTBOUND))
            {
                Some(remote) => Some(adoptable(remote, name, held)?),
                None if listed.iter().any(|t| named(&t)) => {
                    return Err(refusal(
                        409,
                        format!("A Cloudonix trunk named '{name}' already exists with a different direction"),
                    ))
                }
                None => None,
            },
        };
        let desired = desired_payload(trunk)?;

        if let Some(remote) = existing {
            let uuid = uuid(remote)
                .ok_or_else(|| bad_gateway("Cloudonix voice trunk response did not include a UUID"))?
                .to_owned();
            let update = update_payload(desired, remote);
            if needs_update(remote, &update) {
                let reply = self.put_trunk(http, &uuid, &update)?;
                if !matches!(reply.status, 200 | 204) {
                    return Err(bad_gateway(format!(
                        "Failed to update Cloudonix outbound trunk: HTTP {}",
                        reply.status
                    )));
                }
            }
            return Ok(Applied {
                external_id: Some(uuid),
                created: false,
            });
        }

        let reply = self
            .trunk_call(http.post(&self.trunks_url()))
            .json(&desired)
            .map_err(Failure::Unreachable)?;
        if !matches!(reply.status, 200 | 201) {
            return Err(bad_gateway(format!(
                "Failed to create Cloudonix outbound trunk: HTTP {}",
                reply.status
            )));
        }
        let answered = reply
            .json()
            .ok()
            .and_then(|body| body.get("uuid").and_then(Value::as_str).map(str::to_owned))
            .filter(|u| !u.is_empty());
        let uuid = match answered {
            Some(uuid) => uuid,
            // A lost or empty answer: the new trunk is the one by its name.
            None => self
                .list_trunks(http)?
                .iter()
                .filter(|t| named(t) && text(t, "direction") == Some(OUTBOUND))
                .filter_map(|t| uuid(t))
                .find(|u| !held.iter().any(|h| h == u))
                .map(str::to_owned)
                .ok_or_else(|| bad_gateway("Cloudonix trunkCreate response did not include a UUID"))?,
        };
        Ok(Applied {
            external_id: Some(uuid),
            created: true,
        })
    }

    /// Deactivates the domain's trunks whose UUIDs are `external_ids`
    /// (TRUNKS.md §3.3); one that is gone is already removed.
    fn remove(&self, http: &Http, external_ids: &[String]) -> Result<(), Failure> {
        let listed = self.list_trunks(http)?;
        for id in external_ids {
            if let Some(remote) = listed.iter().find(|t| text(t, "uuid") == Some(id)) {
                self.deactivate(http, remote)?;
            }
        }
        Ok(())
    }
}

/// A same-named outbound trunk telebind did not record may be taken over
/// only when nothing but what telebind manages was set on it by hand, and
/// no other telebind trunk holds it (W10 (b), (c)): else it is the
/// customer's, and is left untouched.
fn adoptable<'a>(remote: &'a Listed, name: &str, held: &[String]) -> Result<&'a Listed, Failure> {
    let hand_made = remote
        .get("profile")
        .and_then(Value::as_object)
        .is_some_and(|p| p.keys().any(|k| !MANAGED_PROFILE_KEYS.contains(&k.as_str())));
    let taken = uuid(remote).is_some_and(|u| held.iter().any(|h| h == u));
    if hand_made || taken {
        return Err(refusal(409, format!("A Cloudonix trunk named '{name}' already exists")));
    }
    Ok(remote)
}

/// The trunk Cloudonix should have (`_build_outbound_trunk_payload`).
fn desired_payload(trunk: &RemoteTrunk) -> Result<Value, Failure> {
    let setting = |key| trunk.settings.get(key).and_then(Value::as_str).unwrap_or("");
    let region = Region::parse(setting("region")).ok_or_else(|| {
        refusal(
            422,
            format!(
                "Outbound trunk is missing a known Cloudonix region; expected one of: {}",
                Region::names()
            ),
        )
    })?;
    let sip_domain = setting("sip_domain");
    Ok(json!({
        "name": trunk.name,
        "ip": region.edge_ip(),
        "port": region.sip_port(),
        "transport": "udp",
        "prefix": "",
        "direction": OUTBOUND,
        "profile": {"domain": sip_domain, "ruri-domain": sip_domain},
    }))
}

/// The desired payload made active, keeping the profile keys set in the
/// Cockpit that telebind does not manage.
fn update_payload(mut desired: Value, remote: &Listed) -> Value {
    let mut profile: Map<String, Value> = remote
        .get("profile")
        .and_then(Value::as_object)
        .map(|p| {
            p.iter()
                .filter(|(k, _)| !MANAGED_PROFILE_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    if let Some(Value::Object(managed)) = desired.get("profile") {
        profile.extend(managed.clone());
    }
    desired["profile"] = Value::Object(profile);
    desired["active"] = Value::Bool(true);
    desired
}

/// Whether the remote trunk differs from the update payload: ports compare
/// as integers (Cloudonix may list `"5060"`), profiles as whole objects.
fn needs_update(remote: &Listed, update: &Value) -> bool {
    let differs = |key: &str| remote.get(key) != update.get(key);
    let port = |v: Option<&Value>| match v {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    let profile = |v: Option<&Value>| match v {
        Some(Value::Object(p)) => p.clone(),
        _ => Map::new(),
    };
    ["name", "ip", "transport", "prefix", "direction", "active"]
        .into_iter()
        .any(differs)
        || port(remote.get("port")).is_none()
        || port(remote.get("port")) != port(update.get("port"))
        || profile(remote.get("profile")) != profile(update.get("profile"))
}

/// Applies `trunk` at Cloudonix within `http`'s deadline.
pub fn apply(
    http: &Http,
    carrier: &Cloudonix,
    trunk: &RemoteTrunk,
    external_id: Option<&str>,
    held: &[String],
) -> Result<Applied, ProvisionError> {
    finish(carrier.apply(http, trunk, external_id, held), "configure")
}

/// Deactivates the trunks `external_ids` within `http`'s deadline.
pub fn remove(http: &Http, carrier: &Cloudonix, external_ids: &[String]) -> Result<(), ProvisionError> {
    finish(carrier.remove(http, external_ids), "remove")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(value: Value) -> Listed {
        value.as_object().unwrap().clone()
    }

    fn india() -> Value {
        desired_payload(&RemoteTrunk {
            name: "carrier-a",
            enabled: true,
            settings: &json!({"region": "India", "sip_domain": "sip.example.com"}),
        })
        .ok()
        .unwrap()
    }

    #[test]
    fn the_create_payload_is_the_voice_trunk_schema() {
        assert_eq!(
            india(),
            json!({"name": "carrier-a", "ip": "128.199.27.19", "port": 9060, "transport": "udp", "prefix": "",
                   "direction": "public-outbound",
                   "profile": {"domain": "sip.example.com", "ruri-domain": "sip.example.com"}})
        );
    }

    #[test]
    fn an_update_keeps_unmanaged_profile_keys_and_drops_managed_ones() {
        let remote = listed(json!({"profile": {"hostname": "edge", "authentication": {"user": "u"},
                                                "x-custom": 1, "domain": "old"}}));
        let update = update_payload(india(), &remote);
        assert_eq!(
            update["profile"],
            json!({"x-custom": 1, "domain": "sip.example.com", "ruri-domain": "sip.example.com"})
        );
        assert_eq!(update["active"], true);
    }

    #[test]
    fn a_string_port_equal_to_the_payload_needs_no_update_but_any_other_difference_does() {
        let update = update_payload(india(), &Map::new());
        let mut same = update.as_object().unwrap().clone();
        same.insert("port".into(), json!("9060"));
        assert!(!needs_update(&same, &update));
        for (key, value) in [
            ("port", json!("90x")),
            ("active", Value::Null),
            ("profile", json!("x")),
            ("ip", json!("1.2.3.4")),
        ] {
            let mut other = same.clone();
            if value.is_null() {
                other.remove(key);
            } else {
                other.insert(key.into(), value);
            }
            assert!(needs_update(&other, &update), "{key}");
        }
    }

    #[test]
    fn only_trunks_with_nothing_hand_made_and_no_other_holder_are_adopted() {
        let bare = listed(json!({"uuid": "U1", "profile": {"domain": "d", "ruri-domain": "d"}}));
        assert!(adoptable(&bare, "n", &[]).is_ok());
        let Err(Failure::Refused(held)) = adoptable(&bare, "n", &["U1".into()]) else {
            panic!("a held trunk is refused")
        };
        assert_eq!(
            (held.status, held.detail.as_str()),
            (409, "A Cloudonix trunk named 'n' already exists")
        );
        let custom = listed(json!({"uuid": "U2", "profile": {"codecs": "pcmu"}}));
        assert!(adoptable(&custom, "n", &[]).is_err());
    }

    #[test]
    fn a_stored_region_telebind_does_not_know_is_refused_before_any_request() {
        let Err(Failure::Refused(e)) = desired_payload(&RemoteTrunk {
            name: "n",
            enabled: true,
            settings: &json!({"sip_domain": "s"}),
        }) else {
            panic!("refused")
        };
        assert_eq!(e.status, 422);
        assert_eq!(
            e.detail,
            "Outbound trunk is missing a known Cloudonix region; expected one of: India, UAE, Global"
        );
    }
}
