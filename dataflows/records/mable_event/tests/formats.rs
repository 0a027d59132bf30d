//! The other formats an event meets: bincode between timely processes, and
//! `serde_json::Value`.

use serde_json::Value;

use super::{FULL, REFERENCE, parse};
use crate::dataflows::records::MableEvent;
use crate::record::SourceRecord;

/// Timely sends records between processes with bincode, which cannot skip
/// fields or carry raw JSON: the binary form has every field and the flags.
#[test]
fn events_cross_processes_unchanged() {
    use timely::communication::Bytesable;
    let mut events: Vec<MableEvent> = FULL.lines().map(parse).collect();
    events.push(parse(REFERENCE));
    events.push(parse(
        r#"{"eid":"e","en":"x","ts":1,"ii":null,"pd":{"pp":3},"bd":{"cks":{"a":"b","n":[1]}},"k":{"a":1}}"#,
    ));
    events.push(MableEvent::generate(1, 0).unwrap());
    events.push(MableEvent::default());
    let sent = timely::Bincode::from(events.clone());
    let mut bytes = Vec::new();
    sent.into_bytes(&mut bytes);
    let got: timely::Bincode<Vec<MableEvent>> =
        Bytesable::from_bytes(timely::bytes::arc::BytesMut::from(bytes).freeze());
    assert_eq!(got.payload, events);
    for (a, b) in got.payload.iter().zip(&events) {
        assert_eq!(
            serde_json::to_string(a).unwrap(),
            serde_json::to_string(b).unwrap()
        );
    }
}

#[test]
fn events_parse_from_a_value_too() {
    for line in FULL.lines().take(10) {
        let v: Value = serde_json::from_str(line).unwrap();
        let e: MableEvent = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&e).unwrap(), v);
    }
}
