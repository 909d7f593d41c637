//! Phone-number request bodies and the rules of when a carrier is told
//! (API.md §5.3–§5.5).

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::address::CountryCode;
use super::ids::{TrunkId, WorkflowId};
use super::input::{Chars, FromBody, Need, Reader, Text};

/// The outcome of pushing a number's binding to its carrier (`provider_sync`).
/// A failure is data, not an error: the database write stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = ProviderSyncStatus)]
pub struct SyncResult {
    pub ok: bool,
    pub message: Option<String>,
}

impl SyncResult {
    pub fn ok() -> SyncResult {
        SyncResult {
            ok: true,
            message: None,
        }
    }

    pub fn failed(message: impl Into<String>) -> SyncResult {
        SyncResult {
            ok: false,
            message: Some(message.into()),
        }
    }
}

/// The stored result of the most recent push (`last_provider_sync`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = LastProviderSync)]
pub struct LastSync {
    pub ok: bool,
    pub message: Option<String>,
    /// Whether that push attached (true) or detached the webhook.
    pub attached: bool,
    #[schema(format = DateTime)]
    pub at: String,
}

const LABEL: Text = Text {
    trim: false,
    min: 0,
    max: 64,
    chars: Chars::Line,
};
const ADDRESS: Text = Text::name(255);

/// `POST …/phone-numbers`.
#[derive(Debug, Clone, ToSchema)]
#[schema(as = PhoneNumberCreateRequest)]
pub struct NewPhoneNumber {
    /// E.164 (`+…` or `00…`), a national number with `country_code`,
    /// `tel:`, `sip:`/`sips:` URIs, or a SIP extension; trimmed.
    #[schema(min_length = 1, max_length = 255)]
    pub address: String,
    /// ISO-3166 alpha-2, any case; needed for national numbers.
    #[schema(value_type = Option<String>, min_length = 2, max_length = 2)]
    pub country_code: Option<CountryCode>,
    #[schema(max_length = 64)]
    pub label: Option<String>,
    /// Binds the number to this workflow of the organization, and pushes
    /// the webhook to the carrier.
    #[schema(value_type = Option<i64>)]
    pub inbound_workflow_id: Option<WorkflowId>,
    /// A trunk of the same configuration its calls dial out over.
    #[schema(value_type = Option<i64>)]
    pub telephony_trunk_id: Option<TrunkId>,
    #[schema(required = false, default = true)]
    pub is_active: bool,
    #[schema(required = false, default = false)]
    pub is_default_caller_id: bool,
    #[schema(value_type = Object, required = false)]
    pub extra_metadata: Map<String, Value>,
}

/// `PUT …/phone-numbers/{id}`: absent or `null` means "no change" for every field.
#[derive(Debug, Clone, Default, ToSchema)]
#[schema(as = PhoneNumberUpdateRequest)]
pub struct PhoneNumberPatch {
    #[schema(max_length = 64)]
    pub label: Option<String>,
    /// Binds the number to this workflow; wins over `clear_inbound_workflow`.
    #[schema(value_type = Option<i64>)]
    pub inbound_workflow_id: Option<WorkflowId>,
    /// `true` unbinds the number (`null` is a 422).
    #[schema(required = false, default = false)]
    pub clear_inbound_workflow: bool,
    /// Pins the number to this trunk of its configuration; wins over `clear_trunk`.
    #[schema(value_type = Option<i64>)]
    pub telephony_trunk_id: Option<TrunkId>,
    /// `true` unpins the number from its trunk.
    #[schema(required = false, default = false)]
    pub clear_trunk: bool,
    pub is_active: Option<bool>,
    /// Must agree with the number's own country code.
    #[schema(value_type = Option<String>, min_length = 2, max_length = 2)]
    pub country_code: Option<CountryCode>,
    /// Replaces the stored metadata.
    #[schema(value_type = Option<Object>)]
    pub extra_metadata: Option<Map<String, Value>>,
    /// Immutable; accepted only when it repeats the stored `address` or
    /// `address_normalized` (else a 422).
    pub address: Option<String>,
}

/// `country_code`: ISO alpha-2, any case; unknown codes are rejected (the reference ignored them).
fn read_country(r: &mut Reader, f: &super::input::Fields) -> Option<CountryCode> {
    let raw = r.text(f, "country_code", Need::Optional, Text::trimmed())?;
    CountryCode::parse(&raw)
        .map_err(|e| r.value_error(f.loc("country_code"), &e.to_string(), raw.into()))
        .ok()
}

impl FromBody for NewPhoneNumber {
    fn from_body(body: &Value, r: &mut Reader) -> Option<Self> {
        let f = r.object(body, vec!["body".into()])?;
        let address = r.text(&f, "address", Need::Required, ADDRESS);
        let country_code = read_country(r, &f);
        let label = r.text(&f, "label", Need::Optional, LABEL);
        let inbound_workflow_id = r.int(&f, "inbound_workflow_id", Need::Optional).map(WorkflowId);
        let telephony_trunk_id = r.int(&f, "telephony_trunk_id", Need::Optional).map(TrunkId);
        let is_active = r.bool(&f, "is_active", Need::Optional).unwrap_or(true);
        let is_default_caller_id = r.bool(&f, "is_default_caller_id", Need::Optional).unwrap_or(false);
        let extra_metadata = r.dict(&f, "extra_metadata", Need::Optional).unwrap_or_default();
        Some(NewPhoneNumber {
            address: address?,
            country_code,
            label,
            inbound_workflow_id,
            telephony_trunk_id,
            is_active,
            is_default_caller_id,
            extra_metadata,
        })
    }
}

impl FromBody for PhoneNumberPatch {
    fn from_body(body: &Value, r: &mut Reader) -> Option<Self> {
        let f = r.object(body, vec!["body".into()])?;
        Some(PhoneNumberPatch {
            label: r.text(&f, "label", Need::Optional, LABEL),
            inbound_workflow_id: r.int(&f, "inbound_workflow_id", Need::Optional).map(WorkflowId),
            clear_inbound_workflow: r.bool(&f, "clear_inbound_workflow", Need::NotNull).unwrap_or(false),
            telephony_trunk_id: r.int(&f, "telephony_trunk_id", Need::Optional).map(TrunkId),
            clear_trunk: r.bool(&f, "clear_trunk", Need::NotNull).unwrap_or(false),
            is_active: r.bool(&f, "is_active", Need::Optional),
            country_code: read_country(r, &f),
            extra_metadata: r.dict(&f, "extra_metadata", Need::Optional),
            address: r.text(&f, "address", Need::Optional, ADDRESS),
        })
    }
}

impl PhoneNumberPatch {
    /// The binding after this patch: a given id wins over `clear_inbound_workflow`.
    pub fn workflow_after(&self, current: Option<WorkflowId>) -> Option<WorkflowId> {
        after(self.inbound_workflow_id, self.clear_inbound_workflow, current)
    }

    /// The trunk after this patch: a given id wins over `clear_trunk`.
    pub fn trunk_after(&self, current: Option<TrunkId>) -> Option<TrunkId> {
        after(self.telephony_trunk_id, self.clear_trunk, current)
    }
}

/// A reference after a patch that may give it (`given`) or clear it.
fn after<T>(given: Option<T>, clear: bool, current: Option<T>) -> Option<T> {
    match (given, clear) {
        (Some(id), _) => Some(id),
        (None, true) => None,
        (None, false) => current,
    }
}

/// Whether the carrier must hear of a number whose binding and activity are
/// now `(inbound_workflow_id, is_active)`: exactly when where its calls
/// should go differs from what the carrier was last told, or that telling
/// failed. The webhook URL does not depend on the workflow, so rebinding to
/// another workflow, label and metadata edits never reach the carrier (the
/// reference pushed on every edit, clobbering URLs other systems had set).
pub fn needs_push(after: (Option<WorkflowId>, bool), last: Option<&LastSync>) -> bool {
    let told_attached = last.is_some_and(|l| l.attached);
    should_attach(after.0, after.1) != told_attached || last.is_some_and(|l| !l.ok)
}

/// The carrier should route the number to us exactly when it is bound and active.
pub fn should_attach(inbound_workflow_id: Option<WorkflowId>, is_active: bool) -> bool {
    inbound_workflow_id.is_some() && is_active
}

/// Whether the carrier may hold a binding that deleting the number must remove.
pub fn may_be_attached(inbound_workflow_id: Option<WorkflowId>, last: Option<&LastSync>) -> bool {
    inbound_workflow_id.is_some() || last.is_some_and(|l| l.attached || !l.ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(body: Value) -> Result<PhoneNumberPatch, Vec<super::super::input::FieldError>> {
        let mut r = Reader::new();
        let p = PhoneNumberPatch::from_body(&body, &mut r);
        r.finish(p)
    }

    fn last(ok: bool, attached: bool) -> LastSync {
        LastSync {
            ok,
            message: None,
            attached,
            at: "2026-01-01T00:00:00.000000Z".into(),
        }
    }

    #[test]
    fn null_means_no_change_except_for_clear_inbound_workflow() {
        let p = patch(json!({"label": null, "inbound_workflow_id": null, "is_active": null, "extra_metadata": null}))
            .unwrap();
        assert_eq!(
            (p.label, p.inbound_workflow_id, p.is_active, p.extra_metadata),
            (None, None, None, None)
        );
        let errors = patch(json!({"clear_inbound_workflow": null})).unwrap_err();
        assert_eq!(errors[0].kind, "bool_type");
    }

    #[test]
    fn the_workflow_id_wins_over_clearing() {
        let both = patch(json!({"inbound_workflow_id": 7, "clear_inbound_workflow": true})).unwrap();
        assert_eq!(both.workflow_after(Some(WorkflowId(3))), Some(WorkflowId(7)));
        let clear = patch(json!({"clear_inbound_workflow": true})).unwrap();
        assert_eq!(clear.workflow_after(Some(WorkflowId(3))), None);
        assert_eq!(
            PhoneNumberPatch::default().workflow_after(Some(WorkflowId(3))),
            Some(WorkflowId(3))
        );
    }

    #[test]
    fn the_trunk_id_wins_over_clearing_and_null_clear_trunk_is_refused() {
        let both = patch(json!({"telephony_trunk_id": 7, "clear_trunk": true})).unwrap();
        assert_eq!(both.trunk_after(Some(TrunkId(3))), Some(TrunkId(7)));
        let clear = patch(json!({"clear_trunk": true})).unwrap();
        assert_eq!(clear.trunk_after(Some(TrunkId(3))), None);
        assert_eq!(
            PhoneNumberPatch::default().trunk_after(Some(TrunkId(3))),
            Some(TrunkId(3))
        );
        let errors = patch(json!({"clear_trunk": null})).unwrap_err();
        assert_eq!(
            (errors[0].kind, errors[0].loc[1].as_str()),
            ("bool_type", Some("clear_trunk"))
        );
    }

    #[test]
    fn the_carrier_is_told_only_when_where_calls_go_changes() {
        let attached = last(true, true);
        let detached = last(true, false);
        assert!(
            !needs_push((Some(WorkflowId(1)), true), Some(&attached)),
            "still attached"
        );
        assert!(
            !needs_push((Some(WorkflowId(2)), true), Some(&attached)),
            "another workflow, same URL"
        );
        assert!(needs_push((None, true), Some(&attached)), "cleared");
        assert!(needs_push((Some(WorkflowId(1)), false), Some(&attached)), "deactivated");
        assert!(needs_push((Some(WorkflowId(1)), true), Some(&detached)), "bound again");
        assert!(needs_push((Some(WorkflowId(1)), true), None), "never told");
        assert!(!needs_push((None, true), None), "never bound");
        assert!(!needs_push((Some(WorkflowId(1)), false), None), "bound but inactive");
    }

    #[test]
    fn a_failed_last_push_is_retried_by_any_edit() {
        assert!(needs_push((Some(WorkflowId(1)), true), Some(&last(false, true))));
        assert!(needs_push((None, true), Some(&last(false, false))));
    }

    #[test]
    fn labels_are_limited_to_64_characters() {
        let errors = patch(json!({"label": "l".repeat(65)})).unwrap_err();
        assert_eq!(
            (errors[0].kind, errors[0].msg.as_str()),
            ("string_too_long", "String should have at most 64 characters")
        );
    }

    #[test]
    fn unknown_country_codes_are_rejected_and_known_ones_upper_cased() {
        assert_eq!(
            patch(json!({"country_code": "gb"}))
                .unwrap()
                .country_code
                .unwrap()
                .as_str(),
            "GB"
        );
        let errors = patch(json!({"country_code": "XX"})).unwrap_err();
        assert_eq!(errors[0].kind, "value_error");
        assert_eq!(errors[0].loc, vec![json!("body"), json!("country_code")]);
    }

    #[test]
    fn attach_iff_bound_and_active() {
        assert!(should_attach(Some(WorkflowId(1)), true));
        assert!(!should_attach(Some(WorkflowId(1)), false));
        assert!(!should_attach(None, true));
    }

    #[test]
    fn a_number_may_be_attached_when_bound_or_after_an_attach_or_a_failure() {
        assert!(may_be_attached(Some(WorkflowId(1)), None));
        assert!(!may_be_attached(None, None));
        assert!(may_be_attached(None, Some(&last(true, true))));
        assert!(may_be_attached(None, Some(&last(false, false))));
        assert!(!may_be_attached(None, Some(&last(true, false))));
    }
}
