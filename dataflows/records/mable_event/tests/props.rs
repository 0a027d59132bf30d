//! Random events, known and unknown keys at every level, round-trip exactly.

use proptest::prelude::*;
use proptest::string::string_regex;
use serde_json::{Map, Value};

use crate::dataflows::records::MableEvent;

fn string() -> BoxedStrategy<Value> {
    string_regex("(?s).{0,30}")
        .unwrap()
        .prop_map(Value::from)
        .boxed()
}

/// Object keys: often short lowercase, so that some collide with known names
/// (those are dropped from the unknown keys), sometimes anything.
fn key() -> BoxedStrategy<String> {
    prop_oneof![
        string_regex("[a-z]{1,3}").unwrap(),
        string_regex("(?s).{0,12}").unwrap(),
    ]
    .boxed()
}

fn float() -> BoxedStrategy<Value> {
    use proptest::num::f64::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    (POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO)
        .prop_map(Value::from)
        .boxed()
}

fn any_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        float(),
        string(),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
    .boxed()
}

fn or_null(s: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    prop_oneof![1 => Just(Value::Null), 4 => s].boxed()
}

/// Numbers as float fields see them: integers (exact in an f64) or floats.
fn number() -> BoxedStrategy<Value> {
    prop_oneof![any::<i32>().prop_map(Value::from), float()].boxed()
}

fn int<T: Arbitrary + Into<Value> + 'static>() -> BoxedStrategy<Value> {
    any::<T>().prop_map(Into::into).boxed()
}

fn strings() -> BoxedStrategy<Value> {
    prop::collection::vec(string(), 0..3)
        .prop_map(Value::Array)
        .boxed()
}

/// An object with each known field present or not, plus unknown keys.
fn object(
    required: &[(&'static str, BoxedStrategy<Value>)],
    fields: Vec<(&'static str, BoxedStrategy<Value>)>,
) -> BoxedStrategy<Value> {
    let mut names: Vec<&'static str> = fields.iter().map(|f| f.0).collect();
    names.extend(required.iter().map(|f| f.0));
    let required: Vec<_> = (required.iter())
        .map(|&(n, ref s)| s.clone().prop_map(move |v| Some((n, v))).boxed())
        .collect();
    let optional: Vec<_> = (fields.into_iter())
        .map(|(n, s)| prop::option::of(s.prop_map(move |v| (n, v))).boxed())
        .collect();
    let unknown = prop::collection::vec((key(), any_json()), 0..3);
    (required, optional, unknown)
        .prop_map(move |(required, optional, unknown)| {
            let mut m = Map::new();
            for (k, v) in unknown {
                if !names.contains(&k.as_str()) {
                    m.insert(k, v);
                }
            }
            for (k, v) in required.into_iter().chain(optional).flatten() {
                m.insert(k.into(), v);
            }
            Value::Object(m)
        })
        .boxed()
}

fn str_map() -> BoxedStrategy<Value> {
    let entry = (key(), prop_oneof![4 => string(), 1 => any_json()]);
    prop::collection::vec(entry, 0..4)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()))
        .boxed()
}

fn event() -> BoxedStrategy<Value> {
    let bd = object(
        &[],
        vec![
            ("aid", string()),
            ("bsts", or_null(int::<i64>())),
            ("cks", or_null(str_map())),
            ("iqpar", or_null(str_map())),
            ("ir", or_null(string())),
            ("ua", or_null(string())),
            ("ul", string()),
            ("srw", int::<u32>()),
            ("srh", int::<u32>()),
            ("is_backend", int::<bool>()),
        ],
    );
    let cdas_fields = ["cc", "ct", "em", "fn", "ln", "id", "street", "zip"];
    let cdas = object(
        &[],
        cdas_fields
            .iter()
            .map(|n| (*n, or_null(strings())))
            .collect(),
    );
    let sd = object(
        &[],
        vec![("ip4", or_null(string())), ("sid", or_null(string()))],
    );
    let pd = object(
        &[],
        vec![
            ("dl", string()),
            ("dt", string()),
            ("pp", number()),
            ("pb", int::<i64>()),
        ],
    );
    let md = object(
        &[],
        vec![
            ("shop", or_null(string())),
            ("source", or_null(string())),
            ("v", or_null(string())),
        ],
    );
    let item = object(
        &[],
        vec![
            ("id", or_null(string())),
            ("name", or_null(string())),
            ("qty", or_null(int::<i64>())),
            ("price", or_null(number())),
        ],
    );
    let total = object(&[], vec![("price", number())]);
    let items = prop::collection::vec(item, 0..3)
        .prop_map(Value::Array)
        .boxed();
    let cart = object(
        &[],
        vec![
            ("currency", string()),
            ("total", total),
            ("items", or_null(items)),
        ],
    );
    let esd = object(&[], vec![("oid", or_null(string())), ("cart", cart)]);
    object(
        &[("eid", string()), ("en", string()), ("ts", int::<i64>())],
        vec![
            ("ii", or_null(string())),
            ("bd", or_null(bd)),
            ("cdas", or_null(cdas)),
            ("sd", or_null(sd)),
            ("pd", or_null(pd)),
            ("pids", or_null(str_map())),
            ("md", or_null(md)),
            ("esd", or_null(esd)),
            ("created_at", or_null(int::<i64>())),
        ],
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_events_round_trip_to_the_same_value(v in event()) {
        let json = serde_json::to_string(&v).unwrap();
        let e: MableEvent = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(format!("{e}: {json}")))?;
        let out = serde_json::to_string(&e).unwrap();
        let back: Value = serde_json::from_str(&out).unwrap();
        prop_assert_eq!(&back, &v, "\n in: {}\nout: {}", json, out);

        use timely::communication::Bytesable;
        let mut bytes = Vec::new();
        timely::Bincode::from(e.clone()).into_bytes(&mut bytes);
        let got: timely::Bincode<MableEvent> =
            Bytesable::from_bytes(timely::bytes::arc::BytesMut::from(bytes).freeze());
        prop_assert_eq!(&got.payload, &e);
    }
}
