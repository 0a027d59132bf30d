//! Customer data: what the shop knows about the person, for matching.

use compact_str::CompactString;

use super::wire::wire_struct;

wire_struct! {
    /// Customer data as the shop sent it (not normalised: `em` may have
    /// capitals and spaces). Each key is an array because a customer can have
    /// several; usually there is one. Fictitious or not, this is personal
    /// data: pipelines should hash or drop it before it leaves.
    pub struct Cdas {
        /// Country codes (ISO 3166-1 alpha-2).
        pub cc: Option<Vec<CompactString>>,
        /// Cities.
        pub ct: Option<Vec<CompactString>>,
        /// E-mail addresses.
        pub em: Option<Vec<CompactString>>,
        /// First names.
        pub r#fn: Option<Vec<CompactString>> = "fn",
        /// Last names.
        pub ln: Option<Vec<CompactString>>,
        /// The shop's customer ids.
        pub id: Option<Vec<CompactString>>,
        /// Street addresses.
        pub street: Option<Vec<CompactString>>,
        /// Postal codes.
        pub zip: Option<Vec<CompactString>>,
    }
}
