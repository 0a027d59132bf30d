//! `conversions`: what a tracking platform does with each shop event before
//! sending it to ad platforms' conversion APIs, held to the platforms'
//! published rules.
//!
//! filter (backend events, bots, events without id) → `hash_personal_data`
//! (an order's customer data normalised and hashed for each platform by its
//! own rules, [`meta`] and [`google`]; every other event's customer data
//! dropped: no clear text but Google's address fields leaves this stage) →
//! aggregate revenue per (shop, currency) in minor units → aggregate events
//! per (shop, event name) → if `Order Completed`: one payload per
//! destination, then [`validate`]: a payload that breaks a platform rule
//! becomes rejection records instead (one per rule), else a page-analytics
//! record → count rejections per destination and rule → collect into the
//! `conversions` table.
//!
//! The rules live in small leaf modules of pure functions: [`normalise`]
//! (per field), [`countries`] (calling codes), [`meta`], [`google`],
//! [`validate`], [`rejections`].

pub mod countries;
pub mod google;
pub mod meta;
pub mod normalise;
pub mod rejections;
pub mod source;
pub mod validate;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

// The engine, in one place.
use super::{Definition, Params};
use std::sync::OnceLock;

use super::records::{Cdas, MableEvent};
use mable_pipeline::pipeline::{Collect, Pipeline};
use mable_pipeline::table::{Table, tables_in};

pub use google::{GoogleConversion, GoogleOptions};
pub use meta::{MetaCustomData, MetaPurchase, MetaUserData};
pub use normalise::sha256_hex;
pub use rejections::{Rejected, Rejection};

use google::UserIdentifier;
use source::Customer;
use validate::Rule;

pub static DATAFLOW: Definition<MableEvent, Conversion> = Definition {
    name: "conversions",
    about: "full shop events: drop bots/backend, hash personal data per platform rules, revenue per shop and currency, validated payloads per ad platform",
    pipeline,
    // `cdas` holds names, e-mails and addresses in clear text.
    personal_data: true,
};

/// The event name that is a purchase.
pub const ORDER: &str = "Order Completed";

/// The options this dataflow runs with: Google's e-mail rule is the code
/// samples' (see [`normalise::GoogleEmailRule`]). A run-time switch needs a
/// dataflow option in the engine; until then this is where it is chosen.
pub const OPTIONS: GoogleOptions = GoogleOptions {
    email: normalise::GoogleEmailRule::Samples,
};

/// What leaves the pipeline: a payload for one destination, a rejection
/// in place of one, or page analytics.
///
/// As JSON (`--output`, the `conversions` table) it is tagged inside:
/// `{"destination": "meta", "event_id": …}`. Between the processes of a
/// cluster timely sends records with bincode, which cannot read that form
/// back (serde finds the tag only through `deserialize_any`), so formats
/// that are not human-readable get serde's default, externally tagged form.
#[derive(Debug, Clone, PartialEq)]
pub enum Conversion {
    /// Meta's Conversions API `Purchase` event.
    Meta(Box<MetaPurchase>),
    /// Google Ads' enhancement of the tagged conversion.
    Google(Box<GoogleConversion>),
    /// A payload the validator stopped: one record per broken rule, with
    /// ids only (`"destination": "rejected"`).
    Rejected(Rejected),
    /// Any other event, for page analytics.
    PageView(PageView),
}

/// Any other event, for page analytics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageView {
    pub event_id: CompactString,
    pub event_name: CompactString,
    pub shop: Option<CompactString>,
    pub url: Option<CompactString>,
    pub title: Option<CompactString>,
    pub ts: i64,
    pub session_id: Option<CompactString>,
}

/// [`Conversion`]'s two wire forms: tagged inside for JSON, outside for bincode.
mod wire {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{Conversion, GoogleConversion, MetaPurchase, PageView, Rejected};

    #[derive(Serialize)]
    #[serde(tag = "destination", rename_all = "snake_case")]
    enum TaggedRef<'a> {
        Meta(&'a MetaPurchase),
        Google(&'a GoogleConversion),
        Rejected(&'a Rejected),
        PageView(&'a PageView),
    }

    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    enum PlainRef<'a> {
        Meta(&'a MetaPurchase),
        Google(&'a GoogleConversion),
        Rejected(&'a Rejected),
        PageView(&'a PageView),
    }

    #[derive(Deserialize)]
    #[serde(tag = "destination", rename_all = "snake_case")]
    enum Tagged {
        Meta(Box<MetaPurchase>),
        Google(Box<GoogleConversion>),
        Rejected(Rejected),
        PageView(PageView),
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Plain {
        Meta(Box<MetaPurchase>),
        Google(Box<GoogleConversion>),
        Rejected(Rejected),
        PageView(PageView),
    }

    impl Serialize for Conversion {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match (s.is_human_readable(), self) {
                (true, Conversion::Meta(m)) => TaggedRef::Meta(m).serialize(s),
                (true, Conversion::Google(g)) => TaggedRef::Google(g).serialize(s),
                (true, Conversion::Rejected(r)) => TaggedRef::Rejected(r).serialize(s),
                (true, Conversion::PageView(p)) => TaggedRef::PageView(p).serialize(s),
                (false, Conversion::Meta(m)) => PlainRef::Meta(m).serialize(s),
                (false, Conversion::Google(g)) => PlainRef::Google(g).serialize(s),
                (false, Conversion::Rejected(r)) => PlainRef::Rejected(r).serialize(s),
                (false, Conversion::PageView(p)) => PlainRef::PageView(p).serialize(s),
            }
        }
    }

    impl<'de> Deserialize<'de> for Conversion {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            Ok(if d.is_human_readable() {
                match Tagged::deserialize(d)? {
                    Tagged::Meta(m) => Conversion::Meta(m),
                    Tagged::Google(g) => Conversion::Google(g),
                    Tagged::Rejected(r) => Conversion::Rejected(r),
                    Tagged::PageView(p) => Conversion::PageView(p),
                }
            } else {
                match Plain::deserialize(d)? {
                    Plain::Meta(m) => Conversion::Meta(m),
                    Plain::Google(g) => Conversion::Google(g),
                    Plain::Rejected(r) => Conversion::Rejected(r),
                    Plain::PageView(p) => Conversion::PageView(p),
                }
            })
        }
    }
}

/// An event after `hash_personal_data`: its `cdas` is gone; an order
/// carries in its place what each platform gets of it.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub event: MableEvent,
    /// Boxed, and `None` for every event but an order: the record passes
    /// through every later stage, so it stays one pointer wide.
    pub identity: Option<Box<Identity>>,
}

/// An order's customer as each platform gets it, normalised and hashed
/// (Google's address fields in clear text).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identity {
    pub meta: MetaUserData,
    pub google: Vec<UserIdentifier>,
}

/// Takes the customer data out of `e`: for an order, normalised and hashed
/// per platform; for any other event, dropped (no payload carries it).
pub fn hash_personal_data(mut e: MableEvent, options: GoogleOptions) -> Prepared {
    let identity = match e.cdas.take() {
        Some(mut cdas) if e.en == ORDER => {
            let c = Customer::take(&mut cdas);
            Some(Box::new(Identity {
                meta: meta::hashed_user_data(&c),
                google: google::user_identifiers(&c, options),
            }))
        }
        _ => None,
    };
    Prepared { event: e, identity }
}

/// True for events the conversion APIs must not see: sent by a shop's
/// backend, by a bot, or without an id.
pub fn is_excluded(e: &MableEvent) -> bool {
    const BOTS: [&str; 8] = [
        "bot",
        "crawler",
        "spider",
        "slurp",
        "headless",
        "lighthouse",
        "pingdom",
        "facebookexternalhit",
    ];
    if e.eid.trim().is_empty() {
        return true;
    }
    let Some(bd) = &e.bd else { return false };
    if bd.is_backend {
        return true;
    }
    bd.ua.as_ref().is_some_and(|ua| {
        let ua = ua.to_ascii_lowercase();
        BOTS.iter().any(|b| ua.contains(b))
    })
}

/// Money in minor units (cents): prices arrive as decimal JSON numbers with
/// two places, parsed exactly, so rounding the scaled value is exact.
pub fn minor_units(price: f64) -> i64 {
    (price * 100.0).round() as i64
}

/// The shop an event belongs to (`md.shop`), if known.
pub fn shop_of(e: &MableEvent) -> Option<CompactString> {
    e.md.as_ref().and_then(|m| m.shop.clone())
}

/// The payloads an order becomes, one per destination, each with the
/// event's id (Google's payload names the order, a rejection the event);
/// not yet validated.
pub fn payloads(p: Prepared, out: &mut Vec<(CompactString, Conversion)>) {
    let Prepared { event: e, identity } = p;
    let Identity {
        meta: user_data,
        google: identifiers,
    } = identity.map(|b| *b).unwrap_or_default();
    let (currency, value, oid, items) = match &e.esd {
        Some(esd) => (
            esd.cart.currency.clone(),
            minor_units(esd.cart.total.price),
            esd.oid.clone(),
            esd.cart
                .items
                .as_ref()
                .map_or(0, |i| i.iter().map(|x| x.qty.unwrap_or(1)).sum()),
        ),
        None => (CompactString::default(), 0, None, 0),
    };
    let bd = e.bd.as_deref();
    let pid = |name: &str| {
        e.pids
            .as_deref()
            .and_then(|p| p.get(name))
            .map(CompactString::from)
    };
    let facts = meta::OrderFacts {
        event_id: e.eid.clone(),
        ts: e.ts,
        url: e.pd.as_ref().map(|p| p.dl.clone()),
        ip: e.sd.as_ref().and_then(|s| s.ip4.clone()),
        user_agent: bd.and_then(|b| b.ua.clone()),
        fbc: pid("fbc"),
        fbp: bd
            .and_then(|b| b.cks.as_ref())
            .and_then(|c| c.get("_fbp"))
            .map(CompactString::from),
        currency: currency.clone(),
        value_minor: value,
        order_id: oid.clone(),
        num_items: items,
    };
    out.push((
        e.eid.clone(),
        Conversion::Meta(Box::new(meta::purchase(&facts, user_data))),
    ));
    out.push((
        e.eid.clone(),
        Conversion::Google(Box::new(google::conversion(
            oid,
            e.ts,
            currency,
            value,
            pid("gclid"),
            identifiers,
        ))),
    ));
}

/// The validation step before each destination: a payload that meets every
/// rule of its platform passes; one that breaks any becomes one
/// [`Rejected`] record per broken rule, naming `event_id`, and is not sent.
/// `rules` is scratch space, reused across records.
pub fn validate(
    (event_id, c): (CompactString, Conversion),
    now: i64,
    rules: &mut Vec<Rule>,
    out: &mut Vec<Conversion>,
) {
    rules.clear();
    match &c {
        Conversion::Meta(m) => validate::meta(m, now, rules),
        Conversion::Google(g) => validate::google(g, now, rules),
        Conversion::Rejected(_) | Conversion::PageView(_) => {}
    }
    if rules.is_empty() {
        out.push(c);
    } else {
        out.extend(
            rules
                .iter()
                .map(|r| Conversion::Rejected(Rejected::new(*r, &event_id))),
        );
    }
}

/// The analytics record any other event becomes.
pub fn page_view(e: MableEvent) -> Conversion {
    Conversion::PageView(PageView {
        shop: shop_of(&e),
        url: e.pd.as_ref().map(|p| p.dl.clone()),
        title: e.pd.as_ref().map(|p| p.dt.clone()),
        session_id: e.sd.as_ref().and_then(|s| s.sid.clone()),
        event_id: e.eid,
        event_name: e.en,
        ts: e.ts,
    })
}

/// A record's id in the `conversions` table: unique per event and destination
/// (and rule, for a rejection).
pub fn record_id(c: &Conversion) -> String {
    match c {
        Conversion::Meta(m) => format!("meta:{}", m.event_id),
        Conversion::Google(g) => format!("google:{}", g.order_id),
        Conversion::Rejected(r) => format!("rejected:{}:{}:{}", r.platform, r.rule, r.event_id),
        Conversion::PageView(p) => format!("page_view:{}", p.event_id),
    }
}

/// The pipeline. `params.now` (the run's start, unix seconds) is what the
/// 7-day and 24-hour rules measure from.
pub fn pipeline(params: &Params) -> Pipeline<MableEvent, Conversion> {
    let now = params.now;
    let mut rules = Vec::new();
    Pipeline::new()
        .filter("drop_bots_backend_anonymous", |e: &MableEvent| {
            !is_excluded(e)
        })
        .map("hash_personal_data", |e: MableEvent| {
            hash_personal_data(e, OPTIONS)
        })
        .aggregate_by_key(
            "revenue_by_shop_currency",
            |p: &Prepared| {
                let e = &p.event;
                let currency = e.esd.as_ref().map(|s| s.cart.currency.clone())?;
                (e.en == ORDER).then(|| (shop_of(e).unwrap_or_default(), currency))
            },
            |p: &Prepared| minor_units(p.event.price()),
        )
        .aggregate_by_key(
            "events_by_shop_name",
            |p: &Prepared| Some((shop_of(&p.event).unwrap_or_default(), p.event.en.clone())),
            |_: &Prepared| 1,
        )
        .if_else(
            "if_order",
            |p: &Prepared| p.event.en == ORDER,
            Pipeline::new()
                .generate("destination_payloads", payloads)
                .generate(
                    "validate_per_destination",
                    move |c: (CompactString, Conversion), out: &mut Vec<Conversion>| {
                        validate(c, now, &mut rules, out)
                    },
                ),
            Pipeline::new().map("page_analytics", |p: Prepared| page_view(p.event)),
        )
        .aggregate_by_key(
            "rejections_by_destination_rule",
            |c: &Conversion| match c {
                Conversion::Rejected(r) => Some(r.key()),
                _ => None,
            },
            |_: &Conversion| 1,
        )
        // A rejection never travels with the payloads that are sent: it
        // goes to a table of its own.
        .if_else(
            "split_rejections",
            |c: &Conversion| matches!(c, Conversion::Rejected(_)),
            Pipeline::new().collect(
                "rejections_table",
                Collect::table(rejections_table(), rejection_row),
            ),
            Pipeline::new().collect("conversions_table", Collect::table(table(), row)),
        )
}

/// The table called `name` in `ops/clickhouse/schema.sql`, where this
/// dataflow's tables are declared beside the metric tables.
fn shipped(name: &str) -> Table {
    tables_in(include_str!("../../ops/clickhouse/schema.sql"))
        .into_iter()
        .find(|t| t.name() == name)
        .unwrap_or_else(|| panic!("ops/clickhouse/schema.sql declares no table {name}"))
}

/// The `conversions` table: payloads and page views.
pub fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| shipped("conversions"))
}

/// The `conversions_rejections` table: what the validator stopped.
pub fn rejections_table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| shipped("conversions_rejections"))
}

/// A row of the `conversions` table (after the context columns every
/// collected table has): the record's id and the record as JSON.
#[derive(Debug, Serialize)]
pub struct ConversionRow {
    pub record_id: String,
    pub record: String,
}

/// The `conversions` row for `c`.
pub fn row(c: &Conversion) -> ConversionRow {
    ConversionRow {
        record_id: record_id(c),
        // Its fields are strings and numbers: serialising cannot fail.
        record: serde_json::to_string(c).expect("a conversion serialises"),
    }
}

/// The `conversions_rejections` row for a rejection (the branch only ever
/// sees rejections; anything else would be a bug, kept visible as a row
/// with no rule rather than lost).
pub fn rejection_row(c: &Conversion) -> Rejection {
    match c {
        Conversion::Rejected(r) => Rejection::from(r),
        other => Rejection {
            destination: "".into(),
            rule: "".into(),
            event_id: record_id(other).into(),
            count: 0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Conversion> {
        let mut event: MableEvent = serde_json::from_str(
            r#"{"eid":"e1","en":"Order Completed","ts":1700000000,
                "esd":{"oid":"o1","cart":{"currency":"EUR","total":{"price":12.5}}}}"#,
        )
        .unwrap();
        let mut pairs = Vec::new();
        payloads(hash_personal_data(event.clone(), OPTIONS), &mut pairs);
        let mut out: Vec<Conversion> = pairs.into_iter().map(|(_, c)| c).collect();
        out.push(Conversion::Rejected(Rejected::new(
            Rule::GoogleOrderIdMissing,
            &event.eid,
        )));
        event.en = "Page Viewed".into();
        out.push(page_view(event));
        out
    }

    #[test]
    fn json_is_tagged_inside_and_round_trips() {
        let all = samples();
        assert_eq!(all.len(), 4);
        let json: Vec<serde_json::Value> = all
            .iter()
            .map(|c| serde_json::to_value(c).unwrap())
            .collect();
        let tags: Vec<&str> = json
            .iter()
            .map(|j| j["destination"].as_str().unwrap())
            .collect();
        assert_eq!(tags, ["meta", "google", "rejected", "page_view"]);
        assert_eq!(json[0]["event_id"], "e1");
        assert_eq!(json[0]["custom_data"]["value_minor"], 1250);
        assert_eq!(json[1]["order_id"], "o1");
        assert_eq!(json[2]["platform"], "google");
        assert_eq!(json[2]["rule"], "order_id_missing");
        assert_eq!(json[2]["event_id"], "e1");
        for (c, j) in all.iter().zip(json) {
            assert_eq!(&serde_json::from_value::<Conversion>(j).unwrap(), c);
        }
    }

    const NOW: i64 = 1_800_000_000;

    fn order(ts: i64) -> MableEvent {
        serde_json::from_value(serde_json::json!({
            "eid": "e1", "en": ORDER, "ts": ts,
            "bd": {"aid": "a", "ua": "Mozilla/5.0", "ul": "en", "is_backend": false},
            "cdas": {"cc": ["US"], "em": ["John_Smith@gmail.com"], "fn": ["Mary"],
                     "ln": ["Quentinella"], "street": ["742 Evergreen Terrace"],
                     "ct": ["Springfield"], "zip": ["49007"], "ph": ["(650)555-1212"]},
            "pd": {"dl": "https://shop.example/thanks", "dt": "t", "pp": 1.0, "pb": 1},
            "esd": {"oid": "o1", "cart": {"currency": "USD", "total": {"price": 1.5}}}
        }))
        .unwrap()
    }

    /// The stages' functions in a row, as the pipeline runs them.
    fn through(e: MableEvent, now: i64) -> Vec<Conversion> {
        let mut pairs = Vec::new();
        payloads(hash_personal_data(e, OPTIONS), &mut pairs);
        let (mut rules, mut out) = (Vec::new(), Vec::new());
        for p in pairs {
            validate(p, now, &mut rules, &mut out);
        }
        out
    }

    #[test]
    fn a_fresh_order_ships_a_stale_one_becomes_rejections_only() {
        let fresh = through(order(NOW - 3_600), NOW);
        assert!(matches!(fresh[0], Conversion::Meta(_)), "{fresh:?}");
        assert!(matches!(fresh[1], Conversion::Google(_)), "{fresh:?}");
        assert_eq!(fresh.len(), 2);
        // 30 hours: still fine for Meta, too late for Google.
        let late = through(order(NOW - 30 * 3_600), NOW);
        assert!(matches!(late[0], Conversion::Meta(_)));
        assert_eq!(
            late[1],
            Conversion::Rejected(Rejected::new(Rule::GoogleUploadLaterThan24H, &"e1".into()))
        );
        let stale = through(order(NOW - 8 * 86_400), NOW);
        let keys: Vec<String> = stale
            .iter()
            .map(|c| match c {
                Conversion::Rejected(r) => r.key(),
                other => panic!("a stale event was not stopped: {other:?}"),
            })
            .collect();
        assert_eq!(
            keys,
            [
                "meta/event_time_older_than_7_days",
                "google/upload_later_than_24_h"
            ]
        );
    }

    #[test]
    fn payloads_carry_hashes_and_only_googles_address_in_clear() {
        let out = through(order(NOW - 60), NOW);
        let json: Vec<String> = out
            .iter()
            .map(|c| serde_json::to_string(c).unwrap())
            .collect();
        for clear in [
            "john_smith",
            "Mary",
            "Quentinella",
            "Evergreen",
            "555",
            "650",
        ] {
            assert!(
                !json.iter().any(|j| j.contains(clear)),
                "{clear} in {json:?}"
            );
        }
        assert!(
            json[0].contains("62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f")
        );
        assert!(
            json[0].contains("e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176")
        );
        for clear in ["Springfield", "49007"] {
            assert!(!json[0].contains(clear), "{clear} in Meta's payload");
            assert!(
                json[1].contains(&format!("\"{clear}\"")),
                "{clear} not in Google's address"
            );
        }
        assert!(json[1].contains("\"country_code\":\"US\""));
        // A page view keeps no customer data at all.
        let mut e = order(NOW);
        e.en = "Page View".into();
        let p = hash_personal_data(e, OPTIONS);
        assert!(p.event.cdas.is_none() && p.identity.is_none());
    }

    /// Timely sends records between the processes of a cluster with
    /// bincode: `--output` in a cluster routes every record to process 0.
    #[test]
    fn bincode_round_trips_as_between_processes() {
        for c in samples() {
            let bytes = bincode::serialize(&c).unwrap();
            assert_eq!(bincode::deserialize::<Conversion>(&bytes).unwrap(), c);
        }
    }
}
