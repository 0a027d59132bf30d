//! `mable_event`: the seed's shop-event benchmark, the default dataflow.
//! map (stamp created_at, price pseudo-random in [0, 1000)) → generate [e,
//! audit copy] → filter price > 500 → reduce max-price event → collect.

use compact_str::{CompactString, format_compact};
use serde::{Deserialize, Serialize};

use super::records::MableEvent;
use super::{Definition, Params};
use mable_pipeline::pipeline::{Collect, Pipeline};
use mable_pipeline::record::seeded_unit;

pub static DATAFLOW: Definition<MableEvent, MableEvent> = Definition {
    name: "mable_event",
    about: "shop events: stamp and price, add audit copies, keep price > 500, max price per batch",
    pipeline,
    personal_data: false,
};

/// The reduce's result: the batch's most expensive event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MaxPrice {
    pub eid: CompactString,
    pub price: f64,
}

impl MaxPrice {
    /// Keeps the higher price; ties go to the smaller id, so the result does
    /// not depend on which worker saw which event.
    pub fn offer(&mut self, eid: &str, price: f64) {
        if price > self.price
            || (price == self.price && (self.eid.is_empty() || eid < self.eid.as_str()))
        {
            self.eid = eid.into();
            self.price = price;
        }
    }
}

/// The price the `stamp` stage gives an event: a function of seed and id only.
pub fn price_of(seed: u64, eid: &str) -> f64 {
    seeded_unit(seed, eid.as_bytes()) * 1000.0
}

/// The audit copy the `audit_copy` stage adds for each event.
pub fn audit_copy(e: &MableEvent) -> MableEvent {
    MableEvent {
        eid: format_compact!("{}_audit", e.eid),
        en: CompactString::const_new("Audit Event"),
        ts: e.ts,
        created_at: e.created_at,
        ..MableEvent::default()
    }
}

/// The pipeline.
pub fn pipeline(params: &Params) -> Pipeline<MableEvent, MableEvent> {
    let Params { seed, now } = *params;
    Pipeline::new()
        .map_in_place("stamp", move |e: &mut MableEvent| {
            e.created_at = Some(now);
            e.set_price(price_of(seed, &e.eid));
        })
        .generate("audit_copy", |e: MableEvent, out: &mut Vec<MableEvent>| {
            let audit = audit_copy(&e);
            out.push(e);
            out.push(audit);
        })
        .filter("price_over_500", |e: &MableEvent| e.price() > 500.0)
        .reduce(
            "max_price",
            MaxPrice::default(),
            |acc: &mut MaxPrice, e: &MableEvent| acc.offer(&e.eid, e.price()),
            |acc: &mut MaxPrice, other: MaxPrice| acc.offer(&other.eid, other.price),
        )
        .collect("collect", Collect::discard())
}
