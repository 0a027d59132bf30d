//! Parsing and serialising events: the reference event, the test events,
//! unknown keys, nulls, errors.

use serde_json::Value;
use serde_json::value::RawValue;

use super::*;

mod formats;
mod props;

/// The reference event (a copy of the shared `mable_event_full.json`).
const REFERENCE: &str = r#"{
  "eid": "0197a5a0-1c2d-7e41-9b3a-5f0c2d8e7a11",
  "en": "Order Completed",
  "ts": 1750830018,
  "ii": "web",
  "bd": {
    "aid": "01979c1b-364b-700c-a60b-b7146f2e7457",
    "bsts": 1750670719192,
    "cks": { "_fbp": "fb.1.1750670807500.411873176", "_ga": "GA1.1.93817263.1750670807" },
    "iqpar": { "utm_source": "newsletter", "utm_campaign": "summer-sale" },
    "ir": "https://www.google.com/",
    "ua": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/137.0 Safari/537.36",
    "ul": "en-GB",
    "srw": 1312,
    "srh": 848,
    "is_backend": false
  },
  "cdas": {
    "cc": ["DE"],
    "ct": ["Bremen"],
    "em": ["Jana.Beispiel@Example.com "],
    "fn": ["Jana"],
    "ln": ["Beispiel"],
    "id": ["8812734"],
    "street": ["Flughafenallee 12"],
    "zip": ["28199"]
  },
  "sd": { "ip4": "185.132.133.17", "sid": "s-01979c1b-5d2e" },
  "pd": {
    "dl": "https://dev-test-1906.myshopify.com/checkouts/c/0d9e/thank-you",
    "dt": "Thank you for your purchase!",
    "pp": 2110.09,
    "pb": 53700579
  },
  "pids": { "fbc": "fb.1.1750830001000.IwAR2xYz", "gclid": "Cj0KCQjw-example" },
  "md": { "shop": "dev-test-1906.myshopify.com", "source": "shopify-pixel", "v": "2.4.1" },
  "esd": {
    "oid": "5931772510438",
    "cart": {
      "currency": "EUR",
      "total": { "price": 629.95 },
      "items": [
        { "id": "44321", "name": "Linen shirt", "qty": 2, "price": 149.99 },
        { "id": "44877", "name": "Straw hat", "qty": 1, "price": 329.97 }
      ]
    }
  }
}"#;
const FULL: &str = include_str!("../../../../testdata/mable_events_full.ndjson");
const SEED_EVENT: &str = include_str!("../../../../testdata/mable_event.json");

fn parse(json: &str) -> MableEvent {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

/// Parse → serialise gives the same `serde_json::Value`, and serialising the
/// re-parsed event gives the same text (a fixed point).
fn assert_round_trip(json: &str) -> MableEvent {
    let e = parse(json);
    let out = serde_json::to_string(&e).unwrap();
    let want: Value = serde_json::from_str(json).unwrap();
    let got: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(got, want, "\n in: {json}\nout: {out}");
    let again = parse(&out);
    assert_eq!(again, e, "re-parsed event differs: {out}");
    assert_eq!(serde_json::to_string(&again).unwrap(), out);
    e
}

fn err(json: &str) -> String {
    match serde_json::from_str::<MableEvent>(json) {
        Ok(e) => panic!("parsed {e:?} from {json}"),
        Err(e) => e.to_string(),
    }
}

fn s(v: &str) -> CompactString {
    CompactString::from(v)
}

fn strs(v: &[&str]) -> Option<Vec<CompactString>> {
    Some(v.iter().map(|x| s(x)).collect())
}

#[test]
fn the_reference_event_parses_into_every_field() {
    let e = assert_round_trip(REFERENCE);
    assert_eq!(e.eid, "0197a5a0-1c2d-7e41-9b3a-5f0c2d8e7a11");
    assert_eq!(e.en, "Order Completed");
    assert_eq!(e.ts, 1_750_830_018);
    assert_eq!(e.ii.as_deref(), Some("web"));
    assert_eq!(e.created_at, None);
    assert!(e.extra.is_empty());

    let bd = e.bd.as_deref().unwrap();
    assert_eq!(bd.aid, "01979c1b-364b-700c-a60b-b7146f2e7457");
    assert_eq!(bd.bsts, Some(1_750_670_719_192));
    let cks = bd.cks.as_ref().unwrap();
    assert_eq!(cks.entries.len(), 2);
    assert_eq!(cks.get("_fbp"), Some("fb.1.1750670807500.411873176"));
    assert_eq!(cks.get("_ga"), Some("GA1.1.93817263.1750670807"));
    let iqpar = bd.iqpar.as_ref().unwrap();
    assert_eq!(iqpar.get("utm_source"), Some("newsletter"));
    assert_eq!(iqpar.get("utm_campaign"), Some("summer-sale"));
    assert_eq!(bd.ir.as_deref(), Some("https://www.google.com/"));
    assert!(
        bd.ua
            .as_deref()
            .unwrap()
            .starts_with("Mozilla/5.0 (Macintosh;")
    );
    assert_eq!((bd.ul.as_str(), bd.srw, bd.srh), ("en-GB", 1312, 848));
    assert!(!bd.is_backend);
    assert!(bd.extra.unknown().is_empty());

    let cdas = e.cdas.as_deref().unwrap();
    assert_eq!(cdas.cc, strs(&["DE"]));
    assert_eq!(cdas.ct, strs(&["Bremen"]));
    assert_eq!(cdas.em, strs(&["Jana.Beispiel@Example.com "]));
    assert_eq!(cdas.r#fn, strs(&["Jana"]));
    assert_eq!(cdas.ln, strs(&["Beispiel"]));
    assert_eq!(cdas.id, strs(&["8812734"]));
    assert_eq!(cdas.street, strs(&["Flughafenallee 12"]));
    assert_eq!(cdas.zip, strs(&["28199"]));

    let sd = e.sd.as_deref().unwrap();
    assert_eq!(sd.ip4.as_deref(), Some("185.132.133.17"));
    assert_eq!(sd.sid.as_deref(), Some("s-01979c1b-5d2e"));

    let pd = e.pd.as_deref().unwrap();
    assert!(pd.dl.ends_with("/thank-you"));
    assert_eq!(pd.dt, "Thank you for your purchase!");
    assert_eq!((pd.pp, pd.pb), (2110.09, 53_700_579));

    let pids = e.pids.as_deref().unwrap();
    assert_eq!(pids.get("fbc"), Some("fb.1.1750830001000.IwAR2xYz"));
    assert_eq!(pids.get("gclid"), Some("Cj0KCQjw-example"));

    let md = e.md.as_deref().unwrap();
    assert_eq!(md.shop.as_deref(), Some("dev-test-1906.myshopify.com"));
    assert_eq!(md.source.as_deref(), Some("shopify-pixel"));
    assert_eq!(md.v.as_deref(), Some("2.4.1"));

    let esd = e.esd.as_ref().unwrap();
    assert_eq!(esd.oid.as_deref(), Some("5931772510438"));
    assert_eq!(esd.cart.currency, "EUR");
    assert_eq!(esd.cart.total.price, 629.95);
    assert_eq!(e.price(), 629.95);
    let items = esd.cart.items.as_deref().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].id.as_deref(), Some("44321"));
    assert_eq!(items[0].name.as_deref(), Some("Linen shirt"));
    assert_eq!((items[0].qty, items[0].price), (Some(2), Some(149.99)));
    assert_eq!(items[1].name.as_deref(), Some("Straw hat"));
}

#[test]
fn every_test_event_round_trips() {
    assert_round_trip(SEED_EVENT);
    let mut n = 0;
    for line in FULL.lines().filter(|l| !l.trim().is_empty()) {
        assert_round_trip(line);
        n += 1;
    }
    assert!(n >= 50, "{n} events");
}

#[test]
fn known_fields_come_first_in_a_fixed_order_then_unknown_in_input_order() {
    let e =
        parse(r#"{"z":1,"esd":{"y":2,"cart":{"currency":"GBP"}},"a":3,"ts":5,"en":"x","eid":"e"}"#);
    assert_eq!(
        serde_json::to_string(&e).unwrap(),
        r#"{"eid":"e","en":"x","ts":5,"esd":{"cart":{"currency":"GBP"},"y":2},"z":1,"a":3}"#
    );
}

#[test]
fn unknown_fields_survive_at_every_depth_with_odd_values() {
    let odd = r#"{"big":12345678901234567890,"neg":-12345678901234567890,"f":1.5e300,"u":"日本語 🎉 \"q\" \\ \u00e9\n","o":{"a":[1,{"b":null}],"":true},"e":[],"n":null}"#;
    let json = format!(
        r#"{{"eid":"e","en":"Page View","ts":1,"top":{odd},
        "bd":{{"aid":"a","cks":{{"_ga":"1","n":3,"o":{odd}}},"iqpar":{{}},"k":{odd}}},
        "cdas":{{"em":["x@example.com"],"k":{odd}}},"sd":{{"k":{odd}}},
        "pd":{{"dl":"u","k":{odd}}},"pids":{{"k":{odd}}},"md":{{"shop":"s","k":{odd}}},
        "esd":{{"k":{odd},"cart":{{"k":{odd},"total":{{"price":1,"k":{odd}}},
            "items":[{{"id":"1","k":{odd}}},{{}}]}}}},"last":"✓"}}"#
    );
    let e = assert_round_trip(&json);
    // Raw text is kept byte for byte, so numbers serde_json cannot hold
    // exactly as f64 are exact too.
    assert_eq!(e.extra.get("top").map(RawValue::get), Some(odd));
    assert_eq!(e.extra.unknown()[1].0, "last");
    let cart = &e.esd.as_ref().unwrap().cart;
    assert_eq!(cart.total.extra.get("k").map(RawValue::get), Some(odd));
    let items = cart.items.as_deref().unwrap();
    assert_eq!(items[0].extra.get("k").map(RawValue::get), Some(odd));
    let cks = e.bd.as_ref().unwrap().cks.as_ref().unwrap();
    assert_eq!(cks.entries, vec![(s("_ga"), s("1"))]);
    assert_eq!(cks.extra.get("n").map(RawValue::get), Some("3"));
}

#[test]
fn explicit_nulls_defaults_and_integer_floats_come_back_as_written() {
    let e = assert_round_trip(
        r#"{"eid":"e","en":"x","ts":0,"ii":null,"bd":{"aid":"","ir":null,"cks":null,"srw":0,
        "is_backend":false},"cdas":{"em":[],"fn":null},"sd":{},"pd":{"pp":0,"pb":0},"md":null,
        "esd":{"oid":null,"cart":{"total":{"price":100},"items":[{"qty":0,"price":5}]}},
        "created_at":null}"#,
    );
    assert_eq!(
        (e.ii.as_ref(), e.md.as_ref(), e.created_at),
        (None, None, None)
    );
    assert_eq!(e.price(), 100.0);
    // Absent stays absent: nothing was added.
    assert_round_trip(r#"{"eid":"e","en":"x","ts":0,"bd":{},"esd":{"cart":{}}}"#);
    assert_round_trip(r#"{"eid":"e","en":"x","ts":0,"esd":{}}"#);
    // A float input stays a float; an integer changed to a fraction is a float.
    assert_round_trip(r#"{"eid":"e","en":"x","ts":0,"pd":{"pp":2.0}}"#);
    let mut e = parse(r#"{"eid":"e","en":"x","ts":0,"esd":{"cart":{"total":{"price":7}}}}"#);
    e.set_price(7.25);
    let out = serde_json::to_string(&e).unwrap();
    assert!(out.contains(r#""price":7.25"#), "{out}");
    // Setting a field that was null writes the value.
    let mut e = parse(r#"{"eid":"e","en":"x","ts":0,"ii":null}"#);
    e.ii = Some(s("web"));
    let out = serde_json::to_string(&e).unwrap();
    assert!(out.contains(r#""ii":"web""#), "{out}");
}

#[test]
fn built_events_write_only_what_is_set() {
    let e = MableEvent::generate(3, 0).unwrap();
    assert_eq!(
        serde_json::to_string(&e).unwrap(),
        r#"{"eid":"event_3","en":"Order Completed","ts":1750830021,"esd":{"cart":{"currency":"EUR"}}}"#
    );
    let mut e = MableEvent::synthesize(&parse(REFERENCE), 9);
    assert_eq!(e.eid, "event_9");
    e.created_at = Some(42);
    e.set_price(1.5);
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(
        (
            v["created_at"].as_i64(),
            v["esd"]["cart"]["total"]["price"].as_f64()
        ),
        (Some(42), Some(1.5))
    );
    assert_eq!(MableEvent::default(), parse(r#"{"eid":"","en":"","ts":0}"#));
}

#[test]
fn missing_required_fields_are_errors_naming_the_field() {
    assert!(err(r#"{"en":"x","ts":1}"#).starts_with("missing field `eid`"));
    assert!(err(r#"{"eid":"e","ts":1}"#).starts_with("missing field `en`"));
    assert!(err(r#"{"eid":"e","en":"x","bd":{}}"#).starts_with("missing field `ts`"));
    assert!(err("{}").starts_with("missing field `eid`"));
}

#[test]
fn wrong_types_are_errors() {
    let cases = [
        (
            r#"{"eid":1,"en":"x","ts":1}"#,
            "invalid type: integer `1`, expected a string",
        ),
        (
            r#"{"eid":"e","en":"x","ts":"1"}"#,
            "invalid type: string \"1\", expected i64",
        ),
        (
            r#"{"eid":"e","en":"x","ts":1.5}"#,
            "invalid type: floating point",
        ),
        (
            r#"{"eid":"e","en":"x","ts":1,"bd":{"srw":"wide"}}"#,
            "expected u32",
        ),
        (
            r#"{"eid":"e","en":"x","ts":1,"bd":{"srw":-1}}"#,
            "expected u32",
        ),
        (
            r#"{"eid":"e","en":"x","ts":1,"bd":{"aid":null}}"#,
            "invalid type: null",
        ),
        (
            r#"{"eid":"e","en":"x","ts":1,"bd":[]}"#,
            "expected a Bd object",
        ),
        (
            r#"{"eid":"e","en":"x","ts":1,"bd":{"cks":[]}}"#,
            "expected an object",
        ),
        (
            r#"{"eid":"e","en":"x","ts":1,"cdas":{"em":"a@b"}}"#,
            "expected a sequence",
        ),
        (
            r#"{"eid":"e","en":"x","ts":1,"cdas":{"em":[1]}}"#,
            "expected a string",
        ),
        (
            r#"{"eid":"e","en":"x","ts":1,"pd":{"pp":"1"}}"#,
            "expected a number",
        ),
        (
            r#"{"eid":"e","en":"x","ts":1,"esd":{"cart":{"items":{}}}}"#,
            "expected a sequence",
        ),
        (
            r#"{"eid":"e","en":"x","ts":1,"esd":{"cart":{"items":[{"qty":1.5}]}}}"#,
            "expected i64",
        ),
        (r#"[]"#, "expected a MableEvent object"),
        (r#"{"eid":"e","en":"x","ts":1"#, "EOF while parsing"),
    ];
    for (json, want) in cases {
        let got = err(json);
        assert!(got.contains(want), "{json}: {got:?} lacks {want:?}");
    }
}

#[test]
fn duplicate_known_keys_are_errors_and_duplicate_unknown_keys_are_kept() {
    assert!(err(r#"{"eid":"e","eid":"f","en":"x","ts":1}"#).starts_with("duplicate field `eid`"));
    assert!(
        err(r#"{"eid":"e","en":"x","ts":1,"bd":{"ul":"a","ul":"b"}}"#)
            .starts_with("duplicate field `ul`")
    );
    let e = assert_round_trip(r#"{"eid":"e","en":"x","ts":1,"k":1,"j":0,"k":2}"#);
    assert_eq!(e.extra.unknown().len(), 3);
    assert_eq!(e.extra.get("k").map(RawValue::get), Some("2"));
    assert_eq!(
        serde_json::to_string(&e).unwrap(),
        r#"{"eid":"e","en":"x","ts":1,"k":1,"j":0,"k":2}"#
    );
}

#[test]
fn extra_can_be_edited() {
    let mut e = parse(r#"{"eid":"e","en":"x","ts":1,"k":1,"j":[0],"k":2}"#);
    assert_eq!(
        e.extra.remove("k").map(|v| v.get().to_owned()),
        Some("2".into())
    );
    e.extra
        .push("new", RawValue::from_string("{\"a\":1}".into()).unwrap());
    assert_eq!(
        serde_json::to_string(&e).unwrap(),
        r#"{"eid":"e","en":"x","ts":1,"j":[0],"new":{"a":1}}"#
    );
    e.extra.clear();
    assert!(e.extra.is_empty());
    assert_eq!(
        serde_json::to_string(&e).unwrap(),
        r#"{"eid":"e","en":"x","ts":1}"#
    );
}
