//! The record types the shipped dataflows process: Mable's shop events and
//! the seed's `TestStruct`. Content, like the dataflows: they implement the
//! engine's [`SourceRecord`](mable_pipeline::record::SourceRecord) as any
//! user's record type would.

mod mable_event;
mod test_struct;

pub use mable_event::{
    Bd, Cart, CartTotal, Cdas, Esd, Extra, Item, MableEvent, Md, Pd, Sd, StrMap, UnknownField,
};
pub use test_struct::TestStruct;
