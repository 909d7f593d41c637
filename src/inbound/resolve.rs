//! The called number's canonical form (INBOUND.md §5), with API.md's
//! normalizer. Exact forms only: no fuzzy matching, and a country hint
//! never applies to a number that already has its `+` or is already a
//! possible international number (the reference's Vobiz `IN` bug).

use crate::domain::address::{Address, AddressType, CountryCode};

/// How `To` is to be matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalledForm {
    /// The one canonical form.
    Exact(String),
    /// Bare national digits: canonical only with a country (see `with_hint`).
    National,
    /// Not an address at all.
    Invalid,
}

/// `to` as the carrier sent it (E.164, bare digits, SIP URI, extension).
pub fn called_form(to: &str) -> CalledForm {
    let to = to.trim();
    if to.is_empty() {
        return CalledForm::Invalid;
    }
    let lower = to.to_ascii_lowercase();
    if to.starts_with('+') || ["sip:", "sips:", "tel:"].iter().any(|s| lower.starts_with(s)) {
        return Address::parse(to, None).map_or(CalledForm::Invalid, |a| CalledForm::Exact(a.normalized().to_string()));
    }
    // Carriers without a `+` (Plivo, Vobiz) mostly send international digits.
    if let Ok(address) = Address::parse(&format!("+{to}"), None) {
        if address.kind() == AddressType::Pstn {
            return CalledForm::Exact(address.normalized().to_string());
        }
    }
    match Address::parse(to, None) {
        Ok(a) if a.kind() == AddressType::SipExtension => CalledForm::Exact(a.normalized().to_string()),
        Ok(_) => CalledForm::Invalid,
        Err(_) => CalledForm::National,
    }
}

/// National digits `to` read as a number of country `hint` (ISO alpha-2).
pub fn with_hint(to: &str, hint: &str) -> Option<String> {
    let country = CountryCode::parse(hint).ok()?;
    let address = Address::parse(to.trim(), Some(&country)).ok()?;
    (address.kind() == AddressType::Pstn).then(|| address.normalized().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(s: &str) -> CalledForm {
        CalledForm::Exact(s.into())
    }

    #[test]
    fn plus_numbers_never_take_a_hint() {
        assert_eq!(called_form("+14155556789"), exact("+14155556789"));
        assert_eq!(called_form("+442071838750"), exact("+442071838750"));
    }

    #[test]
    fn bare_international_digits_are_read_with_their_country_code() {
        assert_eq!(called_form("14155556789"), exact("+14155556789"));
        assert_eq!(called_form("14155550100"), exact("+14155550100"));
    }

    #[test]
    fn national_digits_need_the_stored_country() {
        assert_eq!(called_form("08031234567"), CalledForm::National);
        assert_eq!(with_hint("08031234567", "IN").as_deref(), Some("+918031234567"));
        assert_eq!(with_hint("02271264296", "IN").as_deref(), Some("+912271264296"));
        assert_eq!(with_hint("08031234567", "XX"), None);
    }

    #[test]
    fn sip_and_extensions_are_exact() {
        assert_eq!(called_form("sip:Alice@Example.COM"), exact("sip:Alice@example.com"));
        assert_eq!(called_form("1001"), exact("1001"));
        assert_eq!(called_form(""), CalledForm::Invalid);
    }
}
