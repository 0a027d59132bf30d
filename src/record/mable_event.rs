//! The Mable shop event, in the shape the seed's pipeline used.
//!
//! Field names are the wire names of Mable's tracking payload (`eid` event id,
//! `en` event name, `ts` unix seconds, `bd` browser data, `pd` page data, `esd`
//! e-commerce data). Everything but the id, name and time is optional.

use compact_str::{CompactString, format_compact};
use serde::{Deserialize, Serialize};

use super::SourceRecord;

/// A shop event. `created_at` is stamped by the pipeline, not read from input.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MableEvent {
    pub eid: CompactString,
    pub en: CompactString,
    pub ts: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bd: Option<Box<Bd>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pd: Option<Box<Pd>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub esd: Option<Esd>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
}

/// Browser data: account id, screen size, language, and whether the event was
/// sent by a shop's backend rather than a browser.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Bd {
    #[serde(default)]
    pub aid: CompactString,
    #[serde(default)]
    pub srw: u32,
    #[serde(default)]
    pub srh: u32,
    #[serde(default)]
    pub ul: CompactString,
    #[serde(default)]
    pub is_backend: bool,
}

/// Page data: location, title, price and brand fields of the page.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Pd {
    #[serde(default)]
    pub dl: CompactString,
    #[serde(default)]
    pub dt: CompactString,
    #[serde(default)]
    pub pp: f64,
    #[serde(default)]
    pub pb: i64,
}

/// E-commerce data.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Esd {
    #[serde(default)]
    pub cart: Cart,
}

/// The cart of an e-commerce event.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Cart {
    #[serde(default)]
    pub currency: CompactString,
    #[serde(default)]
    pub total: CartTotal,
}

/// A cart's total.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CartTotal {
    #[serde(default)]
    pub price: f64,
}

impl MableEvent {
    /// The cart total, 0 when the event has no cart.
    ///
    /// ```
    /// use mable_pipeline::record::MableEvent;
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
                    total: CartTotal { price: 0.0 },
                },
            }),
            ..MableEvent::default()
        })
    }
}
