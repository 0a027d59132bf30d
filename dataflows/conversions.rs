//! `conversions`: what a tracking platform does with each shop event before
//! sending it to ad platforms' conversion APIs.
//!
//! filter (backend events, bots, events without id) → map (normalise and
//! SHA-256 the personal data, as the conversion APIs require: no clear text
//! leaves this stage) → aggregate revenue per (shop, currency) in minor units
//! → aggregate events per (shop, event name) → if `Order Completed`: one
//! payload per destination (Meta, Google), else a page-analytics record →
//! collect into the `conversions` table.

use std::sync::OnceLock;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::records::{Cdas, MableEvent};
use super::{Definition, Params};
use mable_pipeline::pipeline::{Collect, Pipeline};
use mable_pipeline::table::{Table, tables_in};

pub static DATAFLOW: Definition<MableEvent, Conversion> = Definition {
    name: "conversions",
    about: "full shop events: drop bots/backend, hash personal data, revenue per shop and currency, payloads per ad platform",
    pipeline,
    // `cdas` holds names, e-mails and addresses in clear text.
    personal_data: true,
};

/// The event name that is a purchase.
pub const ORDER: &str = "Order Completed";

/// What leaves the pipeline: a payload for one destination, or page analytics.
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
    /// Google Ads' offline conversion upload.
    Google(GoogleConversion),
    /// Any other event, for page analytics.
    PageView(PageView),
}

/// Meta's Conversions API `Purchase` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaPurchase {
    pub event_id: CompactString,
    pub event_name: CompactString,
    pub event_time: i64,
    pub action_source: CompactString,
    pub event_source_url: Option<CompactString>,
    pub user_data: MetaUserData,
    pub custom_data: MetaCustomData,
}

/// Google Ads' offline conversion upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoogleConversion {
    pub order_id: CompactString,
    pub conversion_date_time: i64,
    pub currency_code: CompactString,
    pub conversion_value_minor: i64,
    pub gclid: Option<CompactString>,
    pub hashed_email: Vec<String>,
    pub hashed_phone_number: Vec<String>,
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

    use super::{Conversion, GoogleConversion, MetaPurchase, PageView};

    #[derive(Serialize)]
    #[serde(tag = "destination", rename_all = "snake_case")]
    enum TaggedRef<'a> {
        Meta(&'a MetaPurchase),
        Google(&'a GoogleConversion),
        PageView(&'a PageView),
    }

    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    enum PlainRef<'a> {
        Meta(&'a MetaPurchase),
        Google(&'a GoogleConversion),
        PageView(&'a PageView),
    }

    #[derive(Deserialize)]
    #[serde(tag = "destination", rename_all = "snake_case")]
    enum Tagged {
        Meta(Box<MetaPurchase>),
        Google(GoogleConversion),
        PageView(PageView),
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Plain {
        Meta(Box<MetaPurchase>),
        Google(GoogleConversion),
        PageView(PageView),
    }

    impl Serialize for Conversion {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match (s.is_human_readable(), self) {
                (true, Conversion::Meta(m)) => TaggedRef::Meta(m).serialize(s),
                (true, Conversion::Google(g)) => TaggedRef::Google(g).serialize(s),
                (true, Conversion::PageView(p)) => TaggedRef::PageView(p).serialize(s),
                (false, Conversion::Meta(m)) => PlainRef::Meta(m).serialize(s),
                (false, Conversion::Google(g)) => PlainRef::Google(g).serialize(s),
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
                    Tagged::PageView(p) => Conversion::PageView(p),
                }
            } else {
                match Plain::deserialize(d)? {
                    Plain::Meta(m) => Conversion::Meta(m),
                    Plain::Google(g) => Conversion::Google(g),
                    Plain::PageView(p) => Conversion::PageView(p),
                }
            })
        }
    }
}

/// Meta's hashed customer fields (its field names).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetaUserData {
    pub em: Vec<String>,
    pub ph: Vec<String>,
    #[serde(rename = "fn")]
    pub first_name: Vec<String>,
    pub ln: Vec<String>,
    pub ct: Vec<String>,
    pub zp: Vec<String>,
    pub country: Vec<String>,
    pub external_id: Vec<String>,
    pub client_ip_address: Option<CompactString>,
    pub client_user_agent: Option<CompactString>,
    pub fbc: Option<CompactString>,
    pub fbp: Option<CompactString>,
}

/// Meta's purchase details.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetaCustomData {
    pub currency: CompactString,
    pub value_minor: i64,
    pub order_id: Option<CompactString>,
    pub num_items: i64,
}

/// The hex SHA-256 of `s`.
///
/// ```
/// use mable_pipeline::dataflows::conversions::sha256_hex;
/// assert_eq!(sha256_hex("a").len(), 64);
/// ```
pub fn sha256_hex(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(b"0123456789abcdef"[(b >> 4) as usize]));
        out.push(char::from(b"0123456789abcdef"[(b & 15) as usize]));
    }
    out
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

/// How each personal field is normalised before hashing: the conversion APIs'
/// rules (e-mail trimmed and lower-cased, names and places lower-cased,
/// phone digits only).
fn normalise(field: &str, value: &str) -> String {
    match field {
        "ph" => value.chars().filter(char::is_ascii_digit).collect(),
        "zip" | "zp" | "ct" => value.trim().to_lowercase().replace(' ', ""),
        _ => value.trim().to_lowercase(),
    }
}

fn hash_all(field: &str, values: &mut Option<Vec<CompactString>>) {
    for v in values.iter_mut().flatten() {
        *v = CompactString::from(sha256_hex(&normalise(field, v)));
    }
}

/// Replaces every personal value in `cdas` by its normalised SHA-256 — the
/// unknown fields too (a phone number `ph`, say), so nothing clear leaves.
pub fn hash_personal_data(cdas: &mut Cdas) {
    hash_all("cc", &mut cdas.cc);
    hash_all("ct", &mut cdas.ct);
    hash_all("em", &mut cdas.em);
    hash_all("fn", &mut cdas.r#fn);
    hash_all("ln", &mut cdas.ln);
    hash_all("id", &mut cdas.id);
    hash_all("street", &mut cdas.street);
    hash_all("zip", &mut cdas.zip);
    let unknown: Vec<(CompactString, Box<RawValue>)> = cdas.extra.unknown().to_vec();
    if unknown.is_empty() {
        return;
    }
    cdas.extra.clear();
    for (key, raw) in unknown {
        let hashed = match serde_json::from_str::<serde_json::Value>(raw.get()) {
            Ok(serde_json::Value::Array(items)) => {
                serde_json::Value::Array(items.iter().map(|v| hash_value(&key, v)).collect())
            }
            Ok(v) => hash_value(&key, &v),
            Err(_) => serde_json::Value::String(sha256_hex(raw.get())),
        };
        let raw = RawValue::from_string(hashed.to_string()).expect("serde_json writes valid JSON");
        cdas.extra.push(key, raw);
    }
}

fn hash_value(key: &str, v: &serde_json::Value) -> serde_json::Value {
    let text = match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    serde_json::Value::String(sha256_hex(&normalise(key, &text)))
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

fn cdas_list(cdas: Option<&Cdas>, pick: fn(&Cdas) -> &Option<Vec<CompactString>>) -> Vec<String> {
    cdas.and_then(|c| pick(c).as_ref())
        .map(|v| v.iter().map(|s| s.to_string()).collect())
        .unwrap_or_default()
}

fn phone(cdas: Option<&Cdas>) -> Vec<String> {
    let Some(raw) = cdas.and_then(|c| c.extra.get("ph")) else {
        return Vec::new();
    };
    match serde_json::from_str::<serde_json::Value>(raw.get()) {
        Ok(serde_json::Value::Array(v)) => v
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        Ok(serde_json::Value::String(s)) => vec![s],
        _ => Vec::new(),
    }
}

/// The payloads an order becomes, one per destination.
pub fn payloads(e: &MableEvent, out: &mut Vec<Conversion>) {
    let cdas = e.cdas.as_deref();
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
    let cookie = |name: &str| {
        bd.and_then(|b| b.cks.as_ref())
            .and_then(|c| c.get(name))
            .map(CompactString::from)
    };
    let pid = |name: &str| {
        e.pids
            .as_deref()
            .and_then(|p| p.get(name))
            .map(CompactString::from)
    };
    out.push(Conversion::Meta(Box::new(MetaPurchase {
        event_id: e.eid.clone(),
        event_name: CompactString::const_new("Purchase"),
        event_time: e.ts,
        action_source: CompactString::const_new("website"),
        event_source_url: e.pd.as_ref().map(|p| p.dl.clone()),
        user_data: MetaUserData {
            em: cdas_list(cdas, |c| &c.em),
            ph: phone(cdas),
            first_name: cdas_list(cdas, |c| &c.r#fn),
            ln: cdas_list(cdas, |c| &c.ln),
            ct: cdas_list(cdas, |c| &c.ct),
            zp: cdas_list(cdas, |c| &c.zip),
            country: cdas_list(cdas, |c| &c.cc),
            external_id: cdas_list(cdas, |c| &c.id),
            client_ip_address: e.sd.as_ref().and_then(|s| s.ip4.clone()),
            client_user_agent: bd.and_then(|b| b.ua.clone()),
            fbc: pid("fbc"),
            fbp: cookie("_fbp"),
        },
        custom_data: MetaCustomData {
            currency: currency.clone(),
            value_minor: value,
            order_id: oid.clone(),
            num_items: items,
        },
    })));
    out.push(Conversion::Google(GoogleConversion {
        order_id: oid.unwrap_or_else(|| e.eid.clone()),
        conversion_date_time: e.ts,
        currency_code: currency,
        conversion_value_minor: value,
        gclid: pid("gclid"),
        hashed_email: cdas_list(cdas, |c| &c.em),
        hashed_phone_number: phone(cdas),
    }));
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

/// A record's id in the `conversions` table: unique per event and destination.
pub fn record_id(c: &Conversion) -> String {
    match c {
        Conversion::Meta(m) => format!("meta:{}", m.event_id),
        Conversion::Google(g) => format!("google:{}", g.order_id),
        Conversion::PageView(p) => format!("page_view:{}", p.event_id),
    }
}

/// The `conversions` table, as `ops/clickhouse/schema.sql` declares it.
pub fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        tables_in(include_str!("../ops/clickhouse/schema.sql"))
            .into_iter()
            .find(|t| t.name() == "conversions")
            .expect("ops/clickhouse/schema.sql declares the conversions table")
    })
}

/// A row of the `conversions` table (after the context columns every
/// collected table has): the record's id and the record as JSON.
#[derive(Debug, Serialize)]
pub struct ConversionRow {
    pub record_id: String,
    pub record: String,
}

/// The table row for `c`.
pub fn row(c: &Conversion) -> ConversionRow {
    ConversionRow {
        record_id: record_id(c),
        // Its fields are strings and numbers: serialising cannot fail.
        record: serde_json::to_string(c).expect("a conversion serialises"),
    }
}

/// The pipeline.
pub fn pipeline(_: &Params) -> Pipeline<MableEvent, Conversion> {
    Pipeline::new()
        .filter("drop_bots_backend_anonymous", |e: &MableEvent| {
            !is_excluded(e)
        })
        .map_in_place("hash_personal_data", |e: &mut MableEvent| {
            if let Some(cdas) = e.cdas.as_deref_mut() {
                hash_personal_data(cdas);
            }
        })
        .aggregate_by_key(
            "revenue_by_shop_currency",
            |e: &MableEvent| {
                let currency = e.esd.as_ref().map(|s| s.cart.currency.clone())?;
                (e.en == ORDER).then(|| (shop_of(e).unwrap_or_default(), currency))
            },
            |e: &MableEvent| minor_units(e.price()),
        )
        .aggregate_by_key(
            "events_by_shop_name",
            |e: &MableEvent| Some((shop_of(e).unwrap_or_default(), e.en.clone())),
            |_: &MableEvent| 1,
        )
        .if_else(
            "if_order",
            |e: &MableEvent| e.en == ORDER,
            Pipeline::new().generate(
                "destination_payloads",
                |e: MableEvent, out: &mut Vec<Conversion>| payloads(&e, out),
            ),
            Pipeline::new().map("page_analytics", page_view),
        )
        .collect("conversions_table", Collect::table(table(), row))
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
        let mut out = Vec::new();
        payloads(&event, &mut out);
        event.en = "Page Viewed".into();
        out.push(page_view(event));
        out
    }

    #[test]
    fn json_is_tagged_inside_and_round_trips() {
        let all = samples();
        assert_eq!(all.len(), 3);
        let json: Vec<serde_json::Value> = all
            .iter()
            .map(|c| serde_json::to_value(c).unwrap())
            .collect();
        let tags: Vec<&str> = json
            .iter()
            .map(|j| j["destination"].as_str().unwrap())
            .collect();
        assert_eq!(tags, ["meta", "google", "page_view"]);
        assert_eq!(json[0]["event_id"], "e1");
        assert_eq!(json[0]["custom_data"]["value_minor"], 1250);
        assert_eq!(json[1]["order_id"], "o1");
        for (c, j) in all.iter().zip(json) {
            assert_eq!(&serde_json::from_value::<Conversion>(j).unwrap(), c);
        }
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
