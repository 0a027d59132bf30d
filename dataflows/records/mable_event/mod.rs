//! The Mable shop event, every field of it.
//!
//! Field names are the wire names of Mable's tracking payload (`eid` event id,
//! `en` event name, `ts` unix seconds, `ii` integration, `bd` browser data,
//! `cdas` customer data, `sd` session data, `pd` page data, `pids` platform
//! click ids, `md` sender metadata, `esd` e-commerce data). Everything but the
//! id, name and time is optional.
//!
//! A pipeline that forwards events must not lose what it does not model, so
//! every struct here keeps the keys it does not know (at any depth) and how
//! the keys it does know were written, in an [`Extra`]. Parsing and
//! serialising an event gives back the same JSON value:
//!
//! * known keys are written in the struct's declaration order (the order of
//!   Mable's payload), unknown keys after them in input order;
//! * a known key that was `null` is written back as `null`; one that was
//!   absent stays absent; one that had its type's default (`"srw": 0`) keeps
//!   it; a float written as an integer (`"price": 100`) stays an integer;
//! * a repeated known key is an error (`duplicate field`), as with serde's
//!   derive; repeated unknown keys are all kept, in order;
//! * a known key with the wrong type is an error, naming what was expected;
//! * in [`StrMap`]s, non-string values are kept but written after the
//!   string ones.
//!
//! The impls are hand-written (see `wire.rs`): `#[serde(flatten)]` would do
//! the same at several times the cost.

mod browser;
mod commerce;
mod derive;
mod map;
mod personal;
mod unknown;
mod wire;

#[cfg(test)]
mod tests;

pub use browser::{Bd, Md, Pd, Sd};
pub use commerce::{Cart, CartTotal, Esd, Item};
pub use map::StrMap;
pub use personal::Cdas;
pub use unknown::{Extra, UnknownField};

use compact_str::{CompactString, format_compact};

use mable_pipeline::record::SourceRecord;
use wire::wire_struct;

wire_struct! {
    /// A shop event. `created_at` is stamped by the pipeline; an input's own
    /// `created_at` is read and written like any known field.
    ///
    /// Sections are boxed: most stages touch only the id, name and price, and
    /// moving a 300-byte record around costs more than a pointer chase.
    pub struct MableEvent {
        /// The event id (a UUID in real data; `event_{n}` in synthetic runs).
        pub eid: CompactString,
        /// The event name: "Page View", "Add To Cart", "Order Completed", ...
        pub en: CompactString,
        /// When it happened, unix seconds.
        pub ts: i64,
        /// Which integration sent it, e.g. `web`.
        pub ii: Option<CompactString>,
        /// Browser data.
        pub bd: Option<Box<Bd>>,
        /// Customer data (personal).
        pub cdas: Option<Box<Cdas>>,
        /// Session data.
        pub sd: Option<Box<Sd>>,
        /// Page data.
        pub pd: Option<Box<Pd>>,
        /// Ad platforms' click ids (`fbc`, `gclid`, ...).
        pub pids: Option<Box<StrMap>>,
        /// Metadata about the sender.
        pub md: Option<Box<Md>>,
        /// E-commerce data. Not boxed: the pipelines read the price of
        /// nearly every event.
        pub esd: Option<Esd>,
        /// When the pipeline processed it, unix seconds.
        pub created_at: Option<i64>,
    }
    required: [eid, en, ts]
}

impl MableEvent {
    /// The cart total, 0 when the event has no cart.
    ///
    /// ```
    /// use mable_pipeline::dataflows::records::MableEvent;
    /// let mut e = MableEvent::default();
    /// assert_eq!(e.price(), 0.0);
    /// e.set_price(12.5);
    /// assert_eq!(e.price(), 12.5);
    /// ```
    #[inline]
    pub fn price(&self) -> f64 {
        self.esd.as_ref().map_or(0.0, |esd| esd.cart.total.price)
    }

    /// Sets the cart total, creating the cart if needed.
    #[inline]
    pub fn set_price(&mut self, price: f64) {
        self.esd.get_or_insert_with(Esd::default).cart.total.price = price;
    }
}

impl SourceRecord for MableEvent {
    /// Ids `event_{index}`, as the seed's generator named them.
    fn synthesize(template: &Self, index: u64) -> Self {
        MableEvent {
            eid: format_compact!("event_{index}"),
            ..template.clone()
        }
    }

    /// As the seed's benchmark: alternating "Add To Cart" / "Order Completed".
    fn generate(index: u64, _seed: u64) -> Option<Self> {
        Some(MableEvent {
            eid: format_compact!("event_{index}"),
            en: CompactString::const_new(if index.is_multiple_of(2) {
                "Add To Cart"
            } else {
                "Order Completed"
            }),
            ts: 1_750_830_018 + index as i64,
            esd: Some(Esd {
                cart: Cart {
                    currency: CompactString::const_new("EUR"),
                    total: CartTotal {
                        price: 0.0,
                        ..CartTotal::default()
                    },
                    ..Cart::default()
                },
                ..Esd::default()
            }),
            ..MableEvent::default()
        })
    }
}
