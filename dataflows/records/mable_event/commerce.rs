//! E-commerce data: the order and its cart.

use compact_str::CompactString;

use super::wire::wire_struct;

wire_struct! {
    /// E-commerce data. `cart` is a plain struct, as the seed's pipeline used
    /// it; it is written only when it has something in it or the input had it.
    pub struct Esd {
        /// The shop's order id, on "Order Completed".
        pub oid: Option<CompactString>,
        /// The cart.
        pub cart: Cart,
    }
}

wire_struct! {
    /// The cart of an e-commerce event.
    pub struct Cart {
        /// ISO 4217 code, e.g. `EUR`.
        pub currency: CompactString,
        /// The cart's total.
        pub total: CartTotal,
        /// The line items, in the shop's order.
        pub items: Option<Vec<Item>>,
    }
}

wire_struct! {
    /// A cart's total.
    pub struct CartTotal {
        /// In the cart's currency; an integer input (`"price": 100`) is
        /// written back as an integer.
        pub price: f64,
    }
}

wire_struct! {
    /// One line of a cart.
    pub struct Item {
        /// The shop's product or variant id.
        pub id: Option<CompactString>,
        /// The product name.
        pub name: Option<CompactString>,
        /// How many.
        pub qty: Option<i64>,
        /// The line's price in the cart's currency.
        pub price: Option<f64>,
    }
}
