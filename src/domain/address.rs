//! Address normalization (API.md §5.6).
//!
//! An address is one of: a PSTN number (stored as E.164), a SIP URI, or a
//! SIP extension (anything else, e.g. `1001` or `reception`). Dial codes,
//! trunk prefixes and number lengths all come from libphonenumber's metadata
//! as shipped by the `phonenumber` crate; nothing is hand-tabulated here.

use std::fmt;
use std::str::FromStr;

use icu_normalizer::ComposingNormalizerBorrowed;
use phonenumber::metadata::DATABASE;
use phonenumber::{country, Metadata, Type};

/// Digit-only strings shorter than this (without `+`/`00`) are extensions.
///
/// Deliberately independent of the country: e.g. Germany and Austria allow
/// 4-digit numbers, so a country-dependent rule would turn the extension
/// `1001` into `+491001` for German accounts. Subscribers of countries with
/// shorter numbers can always write the `+` form.
const MIN_BARE_PSTN_DIGITS: usize = 8;

/// Number types whose lengths make up a region's possible lengths. This is
/// how libphonenumber's metadata build derives the general lengths, which this
/// crate leaves empty; `NoInternational` is excluded there too.
const NUMBER_TYPES: [Type; 10] = [
    Type::FixedLine,
    Type::Mobile,
    Type::TollFree,
    Type::PremiumRate,
    Type::SharedCost,
    Type::PersonalNumber,
    Type::Voip,
    Type::Pager,
    Type::Uan,
    Type::Voicemail,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AddressType {
    Pstn,
    SipUri,
    SipExtension,
}

impl AddressType {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressType::Pstn => "pstn",
            AddressType::SipUri => "sip_uri",
            AddressType::SipExtension => "sip_extension",
        }
    }

    pub fn from_db(s: &str) -> Option<Self> {
        match s {
            "pstn" => Some(AddressType::Pstn),
            "sip_uri" => Some(AddressType::SipUri),
            "sip_extension" => Some(AddressType::SipExtension),
            _ => None,
        }
    }
}

/// Why a PSTN number was judged impossible; rendered inside
/// [`AddressError::NotPossible`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotPossibleReason {
    /// Letters or other characters where only digits may be.
    NotANumber,
    /// Digits of another script than 0-9 (e.g. Arabic-Indic), which carriers do not dial.
    OtherDigits,
    /// No assigned country calling code starts the number.
    UnknownCallingCode,
    TooShort(u16),
    TooLong(u16),
    InvalidLength(u16),
    /// Only diallable inside an area (e.g. a 7-digit US number).
    LocalOnly(u16),
}

impl fmt::Display for NotPossibleReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotANumber => f.write_str("it contains characters that do not belong in a phone number"),
            Self::OtherDigits => f.write_str("it contains digits other than 0-9; write the number with 0-9"),
            Self::UnknownCallingCode => f.write_str("it does not start with a known country calling code"),
            Self::TooShort(cc) => write!(f, "it is too short for country calling code +{cc}"),
            Self::TooLong(cc) => write!(f, "it is too long for country calling code +{cc}"),
            Self::InvalidLength(cc) => write!(
                f,
                "its length does not match any number under country calling code +{cc}"
            ),
            Self::LocalOnly(cc) => write!(
                f,
                "it is only a local number under country calling code +{cc}; include the area code"
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("The address must not be empty")]
    Empty,
    #[error("Unknown country_code '{0}': expected an ISO 3166-1 alpha-2 code such as 'US' or 'IN'")]
    UnknownCountry(String),
    #[error(
        "PSTN addresses without a leading '+' need a country_code (ISO-2, e.g. 'US' or 'IN') so we can produce the right E.164 form. Either include the country code in the address (e.g. '+14155551234') or set country_code."
    )]
    NeedsCountry,
    /// The trimmed input and why it cannot be a phone number.
    #[error("'{0}' is not a possible phone number: {1}")]
    NotPossible(String, NotPossibleReason),
    #[error("country_code '{country}' does not match the number's country calling code +{calling_code}")]
    CountryMismatch { country: String, calling_code: u16 },
}

/// ISO-3166 alpha-2 code known to libphonenumber, stored upper-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(raw: &str) -> Result<CountryCode, AddressError> {
        let trimmed = raw.trim();
        let upper = trimmed.to_ascii_uppercase();
        // `Id` alone would accept nothing but known codes too, but the
        // metadata lookup is what later steps rely on, so require both.
        let known =
            upper.len() == 2 && country::Id::from_str(&upper).is_ok() && DATABASE.by_id(upper.as_str()).is_some();
        if known {
            Ok(CountryCode(upper))
        } else {
            Err(AddressError::UnknownCountry(trimmed.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn metadata(&self) -> &'static Metadata {
        DATABASE
            .by_id(self.0.as_str())
            .expect("CountryCode is only built for regions present in the metadata")
    }

    fn calling_code(&self) -> u16 {
        self.metadata().country_code()
    }

    fn id(&self) -> country::Id {
        country::Id::from_str(&self.0).expect("CountryCode is only built from known ids")
    }

    fn agrees_with(&self, calling_code: u16) -> Result<(), AddressError> {
        if self.calling_code() == calling_code {
            Ok(())
        } else {
            Err(AddressError::CountryMismatch {
                country: self.0.clone(),
                calling_code,
            })
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    raw: String,
    normalized: String,
    kind: AddressType,
    /// Set for PSTN only; kept so `check_country` needs no re-parse.
    calling_code: Option<u16>,
}

impl Address {
    /// Parse raw input into its canonical form.
    pub fn parse(raw: &str, country: Option<&CountryCode>) -> Result<Address, AddressError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(AddressError::Empty);
        }
        if strip_prefix_ci(raw, "sip:").is_some() || strip_prefix_ci(raw, "sips:").is_some() {
            return Ok(Address::other(raw, normalize_sip(raw), AddressType::SipUri));
        }
        if let Some(number) = strip_prefix_ci(raw, "tel:") {
            return parse_number(raw, number, country, true);
        }
        parse_number(raw, raw, country, false)
    }

    /// The input, trimmed.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Canonical form: E.164 for PSTN, normalized URI, lower-cased extension.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    pub fn kind(&self) -> AddressType {
        self.kind
    }

    /// Used when an update sends a country_code for an existing number: Ok when the country
    /// agrees with the number (same dial code, e.g. +1 agrees with US and CA), or the address is not PSTN.
    pub fn check_country(&self, country: &CountryCode) -> Result<(), AddressError> {
        match self.calling_code {
            Some(cc) => country.agrees_with(cc),
            None => Ok(()),
        }
    }

    fn other(raw: &str, normalized: String, kind: AddressType) -> Address {
        Address {
            raw: raw.to_string(),
            normalized,
            kind,
            calling_code: None,
        }
    }

    fn pstn(raw: &str, calling_code: u16, national: &str) -> Address {
        Address {
            raw: raw.to_string(),
            normalized: format!("+{calling_code}{national}"),
            kind: AddressType::Pstn,
            calling_code: Some(calling_code),
        }
    }
}

/// Case-insensitive ASCII prefix strip that never splits a UTF-8 character.
fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.as_bytes().get(..prefix.len())?;
    // A match means the head is ASCII, so `prefix.len()` is a char boundary.
    head.eq_ignore_ascii_case(prefix.as_bytes()).then(|| &s[prefix.len()..])
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '.' | '(' | ')')
}

/// Rules 3–5: `body` is the input (or what follows `tel:`); `raw` is kept for
/// error messages. `tel` forces PSTN, since the scheme says it is a number.
fn parse_number(raw: &str, body: &str, country: Option<&CountryCode>, tel: bool) -> Result<Address, AddressError> {
    // Compatibility forms (full-width digits and `＋`, as an IME types them)
    // fold into ASCII, as libphonenumber reads them.
    let folded = ComposingNormalizerBorrowed::new_nfkc().normalize(body);
    let compact: String = folded.chars().filter(|&c| !is_separator(c)).collect();
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let not_a_number = || AddressError::NotPossible(raw.to_string(), NotPossibleReason::NotANumber);

    // A leading '+' is an unambiguous claim to be a phone number, so it never
    // falls through to the extension rule.
    if let Some(digits) = compact.strip_prefix('+') {
        return if all_digits(digits) {
            parse_international(raw, digits, country)
        } else {
            Err(not_a_number())
        };
    }
    if all_digits(&compact) {
        if !tel && compact.len() < MIN_BARE_PSTN_DIGITS {
            return Ok(Address::other(raw, compact, AddressType::SipExtension));
        }
        if let Some(digits) = compact.strip_prefix("00") {
            return parse_international(raw, digits, country);
        }
        return match country {
            Some(country) => parse_national(raw, &compact, country),
            None => Err(AddressError::NeedsCountry),
        };
    }
    if tel {
        // Includes tel: parameters (`;ext=`, `;phone-context=`): dropping
        // them silently would lose information, so they are refused.
        return Err(not_a_number());
    }
    // Digits that did not fold would make a number look like an extension.
    if body.chars().any(|c| c.is_numeric() && !c.is_ascii_digit()) {
        return Err(AddressError::NotPossible(
            raw.to_string(),
            NotPossibleReason::OtherDigits,
        ));
    }
    Ok(Address::other(raw, raw.to_lowercase(), AddressType::SipExtension))
}

/// `digits` follow a `+` or `00`: they carry their own country calling code,
/// which the hint may only confirm, never override (rule 6).
fn parse_international(raw: &str, digits: &str, country: Option<&CountryCode>) -> Result<Address, AddressError> {
    // Calling codes are prefix-free and never start with 0, so the first
    // 1–3 digit prefix with metadata is the code (libphonenumber's rule).
    let Some((cc, national)) = (1..=3)
        .filter(|_| !digits.starts_with('0'))
        .filter_map(|len| {
            let code: u16 = digits.get(..len)?.parse().ok()?;
            DATABASE.by_code(&code)?;
            Some((code, &digits[len..]))
        })
        .next()
    else {
        return Err(AddressError::NotPossible(
            raw.to_string(),
            NotPossibleReason::UnknownCallingCode,
        ));
    };
    if let Some(country) = country {
        country.agrees_with(cc)?;
    }

    // The digits as written come first: they are already international.
    // The library's reading then strips a written trunk prefix
    // (`+44 (0)20…`), and a single plain strip covers the library stripping
    // twice (`+7 8 800…` would lose the 8 of 800).
    let library = phonenumber::parse(None, format!("+{digits}"))
        .ok()
        .filter(|n| n.code().value() == cc)
        .map(|n| n.national().to_string());
    let stripped = main_metadata(cc)
        .and_then(|m| m.national_prefix())
        .and_then(|np| national.strip_prefix(np))
        .map(str::to_string);
    let candidates = [Some(national.to_string()), library, stripped];
    choose(raw, cc, national, candidates.iter().flatten())
}

/// Digits without `+`/`00`, read as a number of `country`.
fn parse_national(raw: &str, digits: &str, country: &CountryCode) -> Result<Address, AddressError> {
    let cc = country.calling_code();
    let mut candidates = national_readings(digits, country);
    // People also write the calling code without '+' (`91 98765 43210` in
    // India). Those readings come last, so a genuine national number that
    // happens to start with the code (`9123456789`) keeps it.
    if let Some(rest) = digits.strip_prefix(cc.to_string().as_str()) {
        candidates.extend(national_readings(rest, country));
    }
    choose(raw, cc, digits, candidates.iter())
}

/// Possible national significant numbers for `digits` dialled in `country`.
fn national_readings(digits: &str, country: &CountryCode) -> Vec<String> {
    let meta = country.metadata();
    // The RFC 3966 phone-context form pins the calling code, so the library
    // only applies the region's trunk-prefix and carrier rules; a plain
    // national parse would also guess at a leading calling code and get
    // `9123456789` (IN) wrong.
    let context = format!("tel:{digits};phone-context=+{}", meta.country_code());
    let library = phonenumber::parse(Some(country.id()), context)
        .ok()
        .map(|n| n.national().to_string());
    let stripped = meta
        .national_prefix()
        .and_then(|np| digits.strip_prefix(np))
        .map(str::to_string);
    [library, stripped, Some(digits.to_string())]
        .into_iter()
        .flatten()
        .collect()
}

/// Picks the first valid reading, else the first possible one. `basis` (the
/// national digits as written) explains a failure, as the user knows them.
fn choose<'a>(
    raw: &str,
    cc: u16,
    basis: &str,
    candidates: impl Iterator<Item = &'a String> + Clone,
) -> Result<Address, AddressError> {
    let pick = candidates
        .clone()
        .find(|n| is_valid(cc, n))
        .or_else(|| candidates.clone().find(|n| check_length(cc, n).is_ok()));
    match pick {
        Some(national) => Ok(Address::pstn(raw, cc, national)),
        None => {
            let reason = check_length(cc, basis)
                .err()
                .unwrap_or(NotPossibleReason::InvalidLength(cc));
            Err(AddressError::NotPossible(raw.to_string(), reason))
        }
    }
}

/// libphonenumber reads lengths from the calling code's main region.
fn main_metadata(cc: u16) -> Option<&'static Metadata> {
    DATABASE.by_code(&cc)?.into_iter().next()
}

/// Whether `national` matches a known number pattern of any region that
/// shares `cc`. Used only to prefer one reading over another.
fn is_valid(cc: u16, national: &str) -> bool {
    let Some(regions) = DATABASE.by_code(&cc) else {
        return false;
    };
    !national.is_empty()
        && regions.iter().any(|meta| {
            let desc = meta.descriptors();
            desc.general().is_match(national)
                && NUMBER_TYPES
                    .iter()
                    .any(|&t| desc.get(t).is_some_and(|d| d.is_match(national)))
        })
}

/// libphonenumber's possible-length test, except that local-only lengths are
/// refused: a stored E.164 number must be diallable from anywhere.
fn check_length(cc: u16, national: &str) -> Result<(), NotPossibleReason> {
    let Some(meta) = main_metadata(cc) else {
        return Err(NotPossibleReason::UnknownCallingCode);
    };
    let mut lengths = Vec::new();
    let mut local = Vec::new();
    for desc in NUMBER_TYPES.iter().filter_map(|&t| meta.descriptors().get(t)) {
        lengths.extend_from_slice(desc.possible_length());
        local.extend_from_slice(desc.possible_local_length());
    }
    lengths.sort_unstable();
    lengths.dedup();

    let len = u16::try_from(national.len()).unwrap_or(u16::MAX);
    match (lengths.first(), lengths.last()) {
        _ if lengths.contains(&len) => Ok(()),
        _ if local.contains(&len) => Err(NotPossibleReason::LocalOnly(cc)),
        (Some(&min), _) if len < min => Err(NotPossibleReason::TooShort(cc)),
        (_, Some(&max)) if len > max => Err(NotPossibleReason::TooLong(cc)),
        _ => Err(NotPossibleReason::InvalidLength(cc)),
    }
}

/// Rule 2. Falls back to plain lower-casing when the URI does not parse, so
/// the result is still stable under re-normalization.
fn normalize_sip(uri: &str) -> String {
    try_normalize_sip(uri).unwrap_or_else(|| uri.to_lowercase())
}

fn try_normalize_sip(uri: &str) -> Option<String> {
    if uri.chars().any(char::is_whitespace) {
        return None;
    }
    let (scheme, rest) = uri.split_once(':')?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = if scheme == "sips" { 5061 } else { 5060 };

    // '@' cannot appear unescaped in host or parameters (RFC 3261 §25.1),
    // so the first one ends the user part, which may itself hold ';'.
    let (user, host_and_tail) = match rest.split_once('@') {
        Some(("", _)) => return None,
        Some((user, after)) => (Some(user), after),
        None => (None, rest),
    };
    let split = host_and_tail.find([';', '?']).unwrap_or(host_and_tail.len());
    let (hostport, tail) = host_and_tail.split_at(split);

    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (addr, after) = v6.split_once(']')?;
        let valid = !addr.is_empty() && addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
        if !valid {
            return None;
        }
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        (&hostport[..addr.len() + 2], port)
    } else {
        let (host, port) = match hostport.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        };
        let valid = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if !valid {
            return None;
        }
        (host, port)
    };
    // Re-rendering the parsed port also drops leading zeros ("05060").
    let port = match port {
        None => None,
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse::<u16>().ok()?),
        Some(_) => return None,
    }
    .filter(|&p| p != default_port);

    let mut out = format!("{scheme}:");
    if let Some(user) = user {
        out.push_str(user);
        out.push('@');
    }
    out.push_str(&host.to_lowercase());
    if let Some(port) = port {
        out.push_str(&format!(":{port}"));
    }
    out.push_str(&tail.to_lowercase());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(code: &str) -> CountryCode {
        CountryCode::parse(code).unwrap()
    }

    fn norm(raw: &str, country: Option<&str>) -> String {
        let country = country.map(cc);
        Address::parse(raw, country.as_ref())
            .unwrap_or_else(|e| panic!("{raw:?} with {country:?}: {e}"))
            .normalized()
            .to_string()
    }

    fn err(raw: &str, country: Option<&str>) -> AddressError {
        let country = country.map(cc);
        Address::parse(raw, country.as_ref()).unwrap_err()
    }

    fn kind(raw: &str, country: Option<&str>) -> AddressType {
        let country = country.map(cc);
        Address::parse(raw, country.as_ref()).unwrap().kind()
    }

    /// Every successful case in this file, for the idempotence test.
    const CASES: &[(&str, Option<&str>)] = &[
        ("+1 (415) 555-1234", None),
        ("+1.416.555.1234", Some("CA")),
        ("0044 20 7946 0958", None),
        ("0044 20 7946 0958", Some("GB")),
        ("0612345678", Some("IT")),
        ("+39 06 1234 5678", None),
        ("020 7946 0958", Some("GB")),
        ("+44 (0)20 7946 0958", None),
        ("9876543210", Some("IN")),
        ("9123456789", Some("IN")),
        ("919876543210", Some("IN")),
        ("44 20 7946 0958", Some("GB")),
        ("8 800 555 35 35", Some("RU")),
        ("+7 800 555 35 35", None),
        ("tel:+1-415-555-1234", None),
        ("TEL:020 7946 0958", Some("GB")),
        ("SIP:Alice@Example.COM:5060;Transport=TCP", None),
        ("sips:Bob@Host.com:5061", None),
        ("sip:bob@host.com:5070", Some("US")),
        ("sip:Example.com", None),
        ("sip:Alice@[2001:DB8::1]:5060", None),
        ("sip:", None),
        ("Reception", None),
        ("1001", Some("DE")),
        ("555-1234", Some("US")),
    ];

    #[test]
    fn empty_input_is_rejected() {
        assert_eq!(err("", None), AddressError::Empty);
        assert_eq!(err(" \t\n", Some("US")), AddressError::Empty);
    }

    #[test]
    fn raw_is_the_trimmed_input() {
        let a = Address::parse("  +1 415 555 1234 \n", None).unwrap();
        assert_eq!(a.raw(), "+1 415 555 1234");
    }

    #[test]
    fn international_number_becomes_e164() {
        assert_eq!(norm("+1 (415) 555-1234", None), "+14155551234");
        assert_eq!(norm("+1\u{a0}415\t555.1234", None), "+14155551234");
        assert_eq!(kind("+14155551234", None), AddressType::Pstn);
    }

    #[test]
    fn double_zero_prefix_is_international_not_doubled() {
        assert_eq!(norm("0044 20 7946 0958", None), "+442079460958");
        assert_eq!(norm("0044 20 7946 0958", Some("GB")), "+442079460958");
        // Even where the national IDD is 011, a hint never re-reads 00.
        assert_eq!(norm("001 415 555 1234", Some("US")), "+14155551234");
    }

    #[test]
    fn italian_leading_zero_is_kept() {
        assert_eq!(norm("0612345678", Some("IT")), "+390612345678");
        assert_eq!(norm("+39 06 1234 5678", None), "+390612345678");
    }

    #[test]
    fn trunk_zero_of_national_number_is_dropped() {
        assert_eq!(norm("020 7946 0958", Some("GB")), "+442079460958");
    }

    #[test]
    fn trunk_zero_in_parentheses_is_dropped() {
        assert_eq!(norm("+44 (0)20 7946 0958", None), "+442079460958");
    }

    #[test]
    fn national_prefix_is_stripped_only_once() {
        // Russian toll-free numbers start with 8, which is also the trunk
        // prefix; the crate's parser strips it twice on its own.
        assert_eq!(norm("8 800 555 35 35", Some("RU")), "+78005553535");
        assert_eq!(norm("800 555 35 35", Some("RU")), "+78005553535");
        assert_eq!(norm("+7 800 555 35 35", None), "+78005553535");
    }

    #[test]
    fn indian_mobile_gets_prefix() {
        assert_eq!(norm("98765 43210", Some("IN")), "+919876543210");
    }

    #[test]
    fn indian_mobile_starting_91_gets_prefix() {
        assert_eq!(norm("9123456789", Some("IN")), "+919123456789");
    }

    #[test]
    fn calling_code_without_plus_is_recognised() {
        // What libphonenumber does: 12 digits are no Indian national number,
        // so the leading 91 is the calling code.
        assert_eq!(norm("919876543210", Some("IN")), "+919876543210");
        assert_eq!(norm("44 20 7946 0958", Some("GB")), "+442079460958");
        assert_eq!(norm("1 415 555 1234", Some("US")), "+14155551234");
    }

    #[test]
    fn plus_number_with_foreign_hint_is_rejected() {
        let mismatch = AddressError::CountryMismatch {
            country: "US".into(),
            calling_code: 44,
        };
        assert_eq!(err("+44 20 7946 0958", Some("US")), mismatch);
        assert_eq!(err("0044 20 7946 0958", Some("US")), mismatch);
        assert_eq!(
            mismatch.to_string(),
            "country_code 'US' does not match the number's country calling code +44"
        );
    }

    #[test]
    fn plus_number_with_agreeing_hint_is_accepted() {
        assert_eq!(norm("+1 416 555 1234", Some("CA")), "+14165551234");
        assert_eq!(norm("+1 415 555 1234", Some("US")), "+14155551234");
    }

    #[test]
    fn tel_uri_is_treated_as_its_number() {
        assert_eq!(norm("tel:+1-415-555-1234", None), "+14155551234");
        assert_eq!(norm("TEL:020 7946 0958", Some("GB")), "+442079460958");
        assert_eq!(kind("Tel:+14155551234", None), AddressType::Pstn);
    }

    #[test]
    fn tel_uri_never_becomes_an_extension() {
        assert_eq!(err("tel:1001", None), AddressError::NeedsCountry);
        assert!(matches!(
            err("tel:+1-415-555-1234;ext=12", None),
            AddressError::NotPossible(_, NotPossibleReason::NotANumber)
        ));
    }

    #[test]
    fn sip_uri_scheme_host_and_params_are_lowercased_and_default_port_dropped() {
        assert_eq!(
            norm("SIP:Alice@Example.COM:5060;Transport=TCP", None),
            "sip:Alice@example.com;transport=tcp"
        );
        assert_eq!(kind("sip:alice@example.com", None), AddressType::SipUri);
        assert_eq!(
            norm("sip:Alice@Example.com?Subject=Hi", None),
            "sip:Alice@example.com?subject=hi"
        );
    }

    #[test]
    fn sips_default_port_is_dropped() {
        assert_eq!(norm("sips:Bob@Host.com:5061", None), "sips:Bob@host.com");
        // 5060 is not the default for sips.
        assert_eq!(norm("sips:Bob@Host.com:5060", None), "sips:Bob@host.com:5060");
    }

    #[test]
    fn sip_non_default_port_is_kept() {
        assert_eq!(norm("sip:bob@host.com:5070", None), "sip:bob@host.com:5070");
    }

    #[test]
    fn sip_uri_without_user_is_normalized() {
        assert_eq!(norm("sip:Example.com", None), "sip:example.com");
        assert_eq!(norm("sip:Example.com:5060", None), "sip:example.com");
    }

    #[test]
    fn sip_ipv6_host_is_normalized() {
        assert_eq!(norm("sip:Alice@[2001:DB8::1]:5060", None), "sip:Alice@[2001:db8::1]");
        assert_eq!(norm("sip:alice@[::1]:5070", None), "sip:alice@[::1]:5070");
        assert_eq!(norm("SIP:[::1]", None), "sip:[::1]");
    }

    #[test]
    fn unparseable_sip_uri_is_only_lowercased() {
        assert_eq!(norm("SIP:Alice@", None), "sip:alice@");
        assert_eq!(norm("sip:Alice@[::1", None), "sip:alice@[::1");
        assert_eq!(norm("SIP:Bob@Host:ABC", None), "sip:bob@host:abc");
        assert_eq!(kind("sip:", None), AddressType::SipUri);
    }

    #[test]
    fn names_are_lowercased_sip_extensions() {
        assert_eq!(norm("Reception", None), "reception");
        assert_eq!(kind("Reception", Some("US")), AddressType::SipExtension);
    }

    #[test]
    fn full_width_digits_are_read_as_ascii_ones() {
        assert_eq!(norm("＋１ ４１５ ５５５ １２３４", None), "+14155551234");
        assert_eq!(kind("＋１ ４１５ ５５５ １２３４", None), AddressType::Pstn);
        assert_eq!(norm("（０２０）７９４６　０９５８", Some("GB")), "+442079460958");
        assert_eq!(norm("tel:＋４４２０７９４６０９５８", None), "+442079460958");
        // A short one is an extension, as its ASCII spelling is.
        assert_eq!(norm("１００１", None), "1001");
        assert_eq!(err("０２０７９４６０９５８", None), AddressError::NeedsCountry);
    }

    #[test]
    fn digits_of_other_scripts_are_refused_never_kept_as_extensions() {
        for raw in ["٠٢٠٧٩٤٦٠٩٥٨", "+٤٤٢٠٧٩٤٦٠٩٥٨", "१००१", "desk٣"] {
            match err(raw, Some("GB")) {
                AddressError::NotPossible(_, reason) => assert!(
                    matches!(reason, NotPossibleReason::OtherDigits | NotPossibleReason::NotANumber),
                    "{raw}: {reason:?}"
                ),
                other => panic!("{raw}: {other:?}"),
            }
        }
        assert!(err("desk٣", None).to_string().contains("digits other than 0-9"));
    }

    #[test]
    fn short_digit_strings_are_extensions_even_with_country() {
        assert_eq!(norm("1001", None), "1001");
        assert_eq!(kind("1001", None), AddressType::SipExtension);
        // 4 digits are a possible German length, yet still an extension.
        assert_eq!(kind("1001", Some("DE")), AddressType::SipExtension);
        assert_eq!(norm("555-1234", Some("US")), "5551234");
        assert_eq!(kind("0012", None), AddressType::SipExtension);
    }

    #[test]
    fn bare_long_digits_without_country_need_one() {
        let e = err("415 555 1234", None);
        assert_eq!(e, AddressError::NeedsCountry);
        assert_eq!(
            e.to_string(),
            "PSTN addresses without a leading '+' need a country_code (ISO-2, e.g. 'US' or 'IN') so we can produce the right E.164 form. Either include the country code in the address (e.g. '+14155551234') or set country_code."
        );
    }

    #[test]
    fn too_short_number_is_not_possible() {
        let e = err("+1 555", None);
        assert_eq!(
            e,
            AddressError::NotPossible("+1 555".into(), NotPossibleReason::TooShort(1))
        );
        assert_eq!(
            e.to_string(),
            "'+1 555' is not a possible phone number: it is too short for country calling code +1"
        );
        assert!(matches!(
            err("+44", None),
            AddressError::NotPossible(_, NotPossibleReason::TooShort(44))
        ));
    }

    #[test]
    fn too_long_number_is_not_possible() {
        assert!(matches!(
            err("+4420794609581234", None),
            AddressError::NotPossible(_, NotPossibleReason::TooLong(44))
        ));
        assert!(matches!(
            err("4155551234567", Some("US")),
            AddressError::NotPossible(_, NotPossibleReason::TooLong(1))
        ));
    }

    #[test]
    fn local_only_number_is_not_possible() {
        assert!(matches!(
            err("+1 555 1234", None),
            AddressError::NotPossible(_, NotPossibleReason::LocalOnly(1))
        ));
    }

    #[test]
    fn unknown_calling_code_is_not_possible() {
        for raw in ["+999 123 4567", "+0 44 20 7946 0958", "0099912345678"] {
            assert!(matches!(
                err(raw, None),
                AddressError::NotPossible(_, NotPossibleReason::UnknownCallingCode)
            ));
        }
    }

    #[test]
    fn plus_with_letters_is_not_a_number() {
        assert!(matches!(
            err("+1-800-FLOWERS", None),
            AddressError::NotPossible(_, NotPossibleReason::NotANumber)
        ));
        assert!(matches!(
            err("+", None),
            AddressError::NotPossible(_, NotPossibleReason::NotANumber)
        ));
    }

    #[test]
    fn unknown_country_code_is_rejected() {
        for raw in ["XX", "ZZ", "USA", "", "001", "ü"] {
            assert_eq!(CountryCode::parse(raw), Err(AddressError::UnknownCountry(raw.into())));
        }
        assert_eq!(
            AddressError::UnknownCountry("XX".into()).to_string(),
            "Unknown country_code 'XX': expected an ISO 3166-1 alpha-2 code such as 'US' or 'IN'"
        );
    }

    #[test]
    fn country_code_is_case_insensitive_and_trimmed() {
        assert_eq!(cc("us").as_str(), "US");
        assert_eq!(cc(" In ").as_str(), "IN");
        assert_eq!(cc("gb"), cc("GB"));
    }

    #[test]
    fn check_country_agrees_on_shared_calling_code() {
        let a = Address::parse("+1 416 555 1234", None).unwrap();
        assert_eq!(a.check_country(&cc("CA")), Ok(()));
        assert_eq!(a.check_country(&cc("US")), Ok(()));
        let gb = Address::parse("+44 20 7946 0958", None).unwrap();
        assert_eq!(gb.check_country(&cc("JE")), Ok(()));
    }

    #[test]
    fn check_country_rejects_other_calling_code() {
        let a = Address::parse("+44 20 7946 0958", None).unwrap();
        assert_eq!(
            a.check_country(&cc("US")),
            Err(AddressError::CountryMismatch {
                country: "US".into(),
                calling_code: 44
            })
        );
    }

    #[test]
    fn check_country_ignores_non_pstn() {
        for raw in ["sip:alice@example.com", "1001", "Reception"] {
            let a = Address::parse(raw, None).unwrap();
            assert_eq!(a.check_country(&cc("US")), Ok(()));
        }
    }

    #[test]
    fn address_type_round_trips_through_db_strings() {
        for t in [AddressType::Pstn, AddressType::SipUri, AddressType::SipExtension] {
            assert_eq!(AddressType::from_db(t.as_str()), Some(t));
        }
        assert_eq!(AddressType::Pstn.as_str(), "pstn");
        assert_eq!(AddressType::SipUri.as_str(), "sip_uri");
        assert_eq!(AddressType::SipExtension.as_str(), "sip_extension");
        assert_eq!(AddressType::from_db("PSTN"), None);
    }

    #[test]
    fn normalization_is_idempotent() {
        for &(raw, country) in CASES {
            let country = country.map(cc);
            let first = Address::parse(raw, country.as_ref()).unwrap();
            for hint in [None, country.as_ref()] {
                let again = Address::parse(first.normalized(), hint)
                    .unwrap_or_else(|e| panic!("{raw:?} -> {:?}: {e}", first.normalized()));
                assert_eq!(again.normalized(), first.normalized(), "{raw:?}");
                assert_eq!(again.kind(), first.kind(), "{raw:?}");
            }
        }
    }
}
