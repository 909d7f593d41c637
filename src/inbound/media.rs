//! The media stream URL a routed call is handed to (INBOUND.md §2.6), and
//! the token that lets the voice agent check the stream is one telebind routed.

use super::signature::hmac_sha256;
use crate::domain::ids::{CallId, OrgId, WorkflowId};

/// `template` with its placeholders filled in; every value is digits or hex,
/// so the result needs no further encoding.
pub fn media_url(
    template: &str,
    secret: &str,
    workflow_id: WorkflowId,
    organization_id: OrgId,
    call_ref: CallId,
) -> String {
    let mut url = template
        .replace("{workflow_id}", &workflow_id.to_string())
        .replace("{organization_id}", &organization_id.to_string())
        .replace("{call_ref}", &call_ref.to_string());
    if url.contains("{token}") {
        url = url.replace("{token}", &token(secret, workflow_id, organization_id, call_ref));
    }
    url
}

/// Lowercase hex of HMAC-SHA256(secret, "{workflow_id}:{organization_id}:{call_ref}").
pub fn token(secret: &str, workflow_id: WorkflowId, organization_id: OrgId, call_ref: CallId) -> String {
    hex::encode(hmac_sha256(
        secret,
        &format!("{workflow_id}:{organization_id}:{call_ref}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_the_token_is_the_hmac_of_the_ids() {
        let url = media_url(
            "wss://agent.example.com/ws/{workflow_id}/{organization_id}/{call_ref}/{token}",
            "0123456789abcdef",
            WorkflowId(7),
            OrgId(2),
            CallId(41),
        );
        let expected = token("0123456789abcdef", WorkflowId(7), OrgId(2), CallId(41));
        assert_eq!(url, format!("wss://agent.example.com/ws/7/2/41/{expected}"));
        assert_eq!(expected.len(), 64);
        assert_ne!(expected, token("0123456789abcdef", WorkflowId(7), OrgId(2), CallId(42)));
        // RFC 4231 test case 2 pins the HMAC itself.
        assert_eq!(
            hex::encode(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
