//! Meta Conversions API: the customer information of an event, normalised
//! and hashed by Meta's rules, and the server event (`Purchase`) an order
//! becomes.
//!
//! Every customer field Meta lists as "hashing required" (em, ph, fn, ln,
//! db, ge, ct, st, zp, country) is sent as the SHA-256 hex of its
//! normalised value, and so is `external_id` ("hashing recommended").
//! `client_ip_address`, `client_user_agent`, `fbc` and `fbp` are sent in
//! clear text, as Meta requires ("do not hash"); they are the browser's,
//! not the customer's typed data.
//! (developers.facebook.com/docs/marketing-api/conversions-api/parameters/customer-information-parameters)

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use super::normalise::{self, sha256_hex};
use super::source::Customer;

/// Meta's `user_data`, with its field names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetaUserData {
    pub em: Vec<String>,
    pub ph: Vec<String>,
    #[serde(rename = "fn")]
    pub first_name: Vec<String>,
    pub ln: Vec<String>,
    pub db: Vec<String>,
    pub ge: Vec<String>,
    pub ct: Vec<String>,
    pub st: Vec<String>,
    pub zp: Vec<String>,
    pub country: Vec<String>,
    pub external_id: Vec<String>,
    pub client_ip_address: Option<CompactString>,
    pub client_user_agent: Option<CompactString>,
    pub fbc: Option<CompactString>,
    pub fbp: Option<CompactString>,
}

impl MetaUserData {
    /// The hashed fields, by Meta's name, for the validator.
    pub fn hashed(&self) -> [(&'static str, &[String]); 11] {
        [
            ("em", &self.em),
            ("ph", &self.ph),
            ("fn", &self.first_name),
            ("ln", &self.ln),
            ("db", &self.db),
            ("ge", &self.ge),
            ("ct", &self.ct),
            ("st", &self.st),
            ("zp", &self.zp),
            ("country", &self.country),
            ("external_id", &self.external_id),
        ]
    }
}

/// Meta's purchase details.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetaCustomData {
    pub currency: CompactString,
    pub value_minor: i64,
    pub order_id: Option<CompactString>,
    pub num_items: i64,
}

/// Meta's Conversions API server event for a purchase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaPurchase {
    /// The event's own id: stable for the event, so Meta can deduplicate
    /// it against the Pixel's copy (same event_name and event_id within 48 h).
    pub event_id: CompactString,
    pub event_name: CompactString,
    /// Unix seconds.
    pub event_time: i64,
    pub action_source: CompactString,
    pub event_source_url: Option<CompactString>,
    pub user_data: MetaUserData,
    pub custom_data: MetaCustomData,
}

fn hashed(values: &[CompactString], f: impl Fn(&str) -> Option<String>) -> Vec<String> {
    values
        .iter()
        .filter_map(|v| f(v))
        .map(|n| sha256_hex(&n))
        .collect()
}

/// The hashed part of `user_data` from a customer's clear values. The
/// browser fields (ip, user agent, fbc, fbp) are left for [`purchase`].
pub fn hashed_user_data(c: &Customer) -> MetaUserData {
    let cc = c.country.as_deref();
    MetaUserData {
        em: hashed(&c.em, normalise::meta_email),
        ph: hashed(&c.ph, |p| normalise::meta_phone(p, cc)),
        first_name: hashed(&c.first_name, normalise::meta_name),
        ln: hashed(&c.ln, normalise::meta_name),
        db: hashed(&c.db, normalise::date_of_birth),
        ge: hashed(&c.ge, normalise::gender),
        ct: hashed(&c.ct, normalise::meta_city),
        st: hashed(&c.st, |s| normalise::meta_state(s, cc)),
        zp: hashed(&c.zip, |z| normalise::meta_zip(z, cc)),
        country: hashed(&c.cc, normalise::country),
        external_id: hashed(&c.id, normalise::external_id),
        ..MetaUserData::default()
    }
}

/// What an order carries besides the customer: the browser's and the cart's.
pub struct OrderFacts {
    pub event_id: CompactString,
    pub ts: i64,
    pub url: Option<CompactString>,
    pub ip: Option<CompactString>,
    pub user_agent: Option<CompactString>,
    pub fbc: Option<CompactString>,
    pub fbp: Option<CompactString>,
    pub currency: CompactString,
    pub value_minor: i64,
    pub order_id: Option<CompactString>,
    pub num_items: i64,
}

/// The `Purchase` server event of an order. It is a website event: the
/// events come from the shop's pages.
pub fn purchase(f: &OrderFacts, mut user_data: MetaUserData) -> MetaPurchase {
    user_data.client_ip_address = f.ip.clone();
    user_data.client_user_agent = f.user_agent.clone();
    user_data.fbc = f.fbc.clone();
    user_data.fbp = f.fbp.clone();
    MetaPurchase {
        event_id: f.event_id.clone(),
        event_name: CompactString::const_new("Purchase"),
        event_time: f.ts,
        action_source: CompactString::const_new("website"),
        event_source_url: f.url.clone(),
        user_data,
        custom_data: MetaCustomData {
            currency: f.currency.clone(),
            value_minor: f.value_minor,
            order_id: f.order_id.clone(),
            num_items: f.num_items,
        },
    }
}
