//! The inbound-call router's pure pieces (INBOUND.md): the request as the
//! carrier sent it, carrier detection, signature checks, number forms, the
//! documents carriers expect back and the media stream URL. No I/O: the
//! route (`routes/inbound.rs`) reads the database and orders these steps.

pub mod detect;
pub mod document;
pub mod fields;
pub mod media;
pub mod replay;
pub mod request;
pub mod resolve;
pub mod signature;

pub use self::detect::Carrier;
use crate::domain::ids::WorkflowId;

/// The webhook every bound number's carrier calls; the signed URL is built
/// from `server.public_base_url` and this path, never from the request.
pub const WEBHOOK_PATH: &str = "/api/v1/telephony/inbound/run";

/// Why a call was refused before its carrier's signature verified: counted
/// and logged, never told to the caller (INBOUND.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PreAuthCause {
    /// The body does not parse as its content type says.
    Malformed,
    /// No active configuration of the carrier has the claimed account.
    NoCandidate,
    /// The signature headers are missing or do not verify.
    BadSignature,
    /// A Plivo or Vobiz nonce seen before.
    Replayed,
}

impl PreAuthCause {
    pub fn as_str(self) -> &'static str {
        match self {
            PreAuthCause::Malformed => "malformed body",
            PreAuthCause::NoCandidate => "no configuration for the account",
            PreAuthCause::BadSignature => "missing or invalid signature",
            PreAuthCause::Replayed => "replayed nonce",
        }
    }
}

/// What a verified start request led to: the call log's `outcome` (§10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Routed,
    NumberNotConfigured,
    NumberInactive,
    WorkflowNotBound,
    WorkflowNotFound,
    NoMediaTarget,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Routed,
        Outcome::NumberNotConfigured,
        Outcome::NumberInactive,
        Outcome::WorkflowNotBound,
        Outcome::WorkflowNotFound,
        Outcome::NoMediaTarget,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Routed => "routed",
            Outcome::NumberNotConfigured => "number_not_configured",
            Outcome::NumberInactive => "number_inactive",
            Outcome::WorkflowNotBound => "workflow_not_bound",
            Outcome::WorkflowNotFound => "workflow_not_found",
            Outcome::NoMediaTarget => "no_media_target",
        }
    }

    pub fn parse(raw: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == raw)
    }

    /// The outcomes as the API reference lists them.
    pub fn schema() -> utoipa::openapi::Object {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .enum_values(Some(Outcome::ALL.map(Outcome::as_str)))
            .build()
    }
}

/// The called number as the database knows it, for `decide`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalledNumber {
    pub is_active: bool,
    pub workflow_id: Option<WorkflowId>,
    /// Whether the bound workflow exists in the number's organization.
    pub workflow_in_org: bool,
}

/// §6: the outcome of a verified start to `number` (None: no such number).
pub fn decide(number: Option<&CalledNumber>, media_target: bool) -> Outcome {
    match number {
        None => Outcome::NumberNotConfigured,
        Some(n) if !n.is_active => Outcome::NumberInactive,
        Some(CalledNumber { workflow_id: None, .. }) => Outcome::WorkflowNotBound,
        Some(n) if !n.workflow_in_org => Outcome::WorkflowNotFound,
        Some(_) if !media_target => Outcome::NoMediaTarget,
        Some(_) => Outcome::Routed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_the_checks_in_order() {
        let n = |is_active, workflow_id, workflow_in_org| CalledNumber {
            is_active,
            workflow_id,
            workflow_in_org,
        };
        assert_eq!(decide(None, true), Outcome::NumberNotConfigured);
        assert_eq!(
            decide(Some(&n(false, Some(WorkflowId(1)), true)), true),
            Outcome::NumberInactive
        );
        assert_eq!(decide(Some(&n(true, None, false)), true), Outcome::WorkflowNotBound);
        assert_eq!(
            decide(Some(&n(true, Some(WorkflowId(1)), false)), true),
            Outcome::WorkflowNotFound
        );
        assert_eq!(
            decide(Some(&n(true, Some(WorkflowId(1)), true)), false),
            Outcome::NoMediaTarget
        );
        assert_eq!(decide(Some(&n(true, Some(WorkflowId(1)), true)), true), Outcome::Routed);
    }

    #[test]
    fn outcome_names_read_back() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::parse("answered"), None);
    }
}
