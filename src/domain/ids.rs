//! The ids of stored records, one type each, so that an organization's id
//! cannot be passed where a configuration's is expected. On the wire they
//! are the bare integers they wrap.

use std::fmt;

use serde::Serialize;

/// What every id type offers generically: made from and read back as the
/// stored integer.
pub trait Id: Copy {
    fn new(raw: i64) -> Self;
    fn get(self) -> i64;
}

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl Id for $name {
            fn new(raw: i64) -> Self {
                $name(raw)
            }
            fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

ids! {
    /// An organization: the tenant every other record belongs to.
    OrgId;
    /// A telephony configuration.
    ConfigId;
    /// A phone number.
    NumberId;
    /// A workflow, the binding target of a phone number.
    WorkflowId;
    /// An API key.
    ApiKeyId;
    /// A row of the inbound call log.
    CallId;
    /// A SIP trunk of a configuration.
    TrunkId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_serialize_as_bare_integers() {
        assert_eq!(serde_json::to_string(&ConfigId(7)).unwrap(), "7");
        assert_eq!(serde_json::to_string(&Some(WorkflowId(3))).unwrap(), "3");
        assert_eq!(NumberId(42).to_string(), "42");
    }
}
