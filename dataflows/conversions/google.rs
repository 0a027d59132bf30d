//! Google Ads enhanced conversions for web (a `ConversionAdjustment` of type
//! `ENHANCEMENT`; the Data Manager API takes the same identifiers).
//!
//! Google wants e-mail, phone, first name, last name and street hashed with
//! SHA-256, and country, region, city and postal code in clear text: "do not
//! hash" them (developers.google.com/google-ads/api/docs/conversions/upload-online,
//! "Normalize and hash user-provided data"). So these four address fields
//! are the only customer data that leaves the pipeline in clear text, and
//! only in Google's `address_info`.

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use super::normalise::{self, GoogleEmailRule, sha256_hex};
use super::source::Customer;

/// The options of the Google payload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GoogleOptions {
    /// Dots and `+suffix` in e-mails: Google's samples (default) or its docs.
    pub email: GoogleEmailRule,
}

/// One of a conversion's user identifiers (Google's `UserIdentifier` oneof).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserIdentifier {
    HashedEmail(String),
    HashedPhoneNumber(String),
    AddressInfo(AddressInfo),
}

/// Google's `OfflineUserAddressInfo`: names and street hashed, the rest clear.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddressInfo {
    pub hashed_first_name: String,
    pub hashed_last_name: String,
    pub hashed_street_address: Option<String>,
    /// Clear text (Google: do not hash).
    pub city: Option<String>,
    /// Clear text (Google: do not hash).
    pub state: Option<String>,
    /// ISO 3166-1 alpha-2, upper case, clear text (Google: do not hash).
    pub country_code: String,
    /// Clear text (Google: do not hash).
    pub postal_code: String,
}

/// Google Ads' enhancement of a tagged conversion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoogleConversion {
    /// The tag's transaction id (the shop's order id): Google matches the
    /// enhancement to the tagged conversion by it. Empty when the event has
    /// none, which the validator rejects.
    pub order_id: CompactString,
    pub adjustment_type: CompactString,
    /// Unix seconds.
    pub conversion_date_time: i64,
    pub currency_code: CompactString,
    pub conversion_value_minor: i64,
    pub gclid: Option<CompactString>,
    pub user_identifiers: Vec<UserIdentifier>,
}

/// The user identifiers of a customer: each e-mail, each phone (E.164 with
/// `+`), and one address when first name, last name, country and postal
/// code are all known (Google matches an address on those four).
pub fn user_identifiers(c: &Customer, options: GoogleOptions) -> Vec<UserIdentifier> {
    let mut out = Vec::new();
    for e in &c.em {
        if let Some(n) = normalise::google_email(e, options.email) {
            out.push(UserIdentifier::HashedEmail(sha256_hex(&n)));
        }
    }
    for p in &c.ph {
        if let Some(n) = normalise::e164(p, c.country.as_deref()) {
            out.push(UserIdentifier::HashedPhoneNumber(sha256_hex(&n)));
        }
    }
    let first = |v: &[CompactString], f: fn(&str) -> Option<String>| v.iter().find_map(|x| f(x));
    let address = (|| {
        Some(AddressInfo {
            hashed_first_name: sha256_hex(&first(&c.first_name, normalise::google_text)?),
            hashed_last_name: sha256_hex(&first(&c.ln, normalise::google_text)?),
            hashed_street_address: first(&c.street, normalise::google_text).map(|s| sha256_hex(&s)),
            city: first(&c.ct, normalise::google_clear),
            state: first(&c.st, normalise::google_clear),
            country_code: c.country.as_deref()?.to_ascii_uppercase(),
            postal_code: first(&c.zip, normalise::google_clear)?,
        })
    })();
    out.extend(address.map(UserIdentifier::AddressInfo));
    out
}

/// The enhancement of an order.
pub fn conversion(
    order_id: Option<CompactString>,
    ts: i64,
    currency: CompactString,
    value_minor: i64,
    gclid: Option<CompactString>,
    user_identifiers: Vec<UserIdentifier>,
) -> GoogleConversion {
    GoogleConversion {
        order_id: order_id.unwrap_or_default(),
        adjustment_type: CompactString::const_new("ENHANCEMENT"),
        conversion_date_time: ts,
        currency_code: currency,
        conversion_value_minor: value_minor,
        gclid,
        user_identifiers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer() -> Customer {
        let v = |s: &[&str]| s.iter().map(|x| CompactString::from(*x)).collect();
        Customer {
            em: v(&["Jane.Doe+news@GMAIL.com"]),
            ph: v(&["(650)555-1212"]),
            first_name: v(&["Valéry"]),
            ln: v(&["O'Connor"]),
            street: v(&["1 Main St."]),
            ct: v(&[" Mountain View "]),
            st: v(&["CA"]),
            zip: v(&["94035"]),
            cc: v(&["us"]),
            country: Some("us".into()),
            ..Customer::default()
        }
    }

    #[test]
    fn hashed_and_clear_fields_follow_google() {
        let ids = user_identifiers(&customer(), GoogleOptions::default());
        assert_eq!(
            ids[0],
            UserIdentifier::HashedEmail(sha256_hex("janedoe+news@gmail.com"))
        );
        assert_eq!(
            ids[1],
            UserIdentifier::HashedPhoneNumber(sha256_hex("+16505551212"))
        );
        let UserIdentifier::AddressInfo(a) = &ids[2] else {
            panic!("no address: {ids:?}")
        };
        assert_eq!(a.hashed_first_name, sha256_hex("valéry"));
        assert_eq!(a.hashed_last_name, sha256_hex("o'connor"));
        assert_eq!(a.hashed_street_address, Some(sha256_hex("1 main st.")));
        assert_eq!(a.city.as_deref(), Some("Mountain View"));
        assert_eq!(a.state.as_deref(), Some("CA"));
        assert_eq!(a.country_code, "US");
        assert_eq!(a.postal_code, "94035");
    }

    #[test]
    fn the_docs_email_rule_is_an_option() {
        let o = GoogleOptions {
            email: GoogleEmailRule::Docs,
        };
        let ids = user_identifiers(&customer(), o);
        assert_eq!(
            ids[0],
            UserIdentifier::HashedEmail(sha256_hex("janedoe@gmail.com"))
        );
    }

    #[test]
    fn an_address_needs_names_country_and_postal_code() {
        let mut c = customer();
        c.zip.clear();
        let ids = user_identifiers(&c, GoogleOptions::default());
        assert!(
            !ids.iter()
                .any(|i| matches!(i, UserIdentifier::AddressInfo(_)))
        );
    }
}
