//! What the tracking script knows about the browser, session, page and shop.

use compact_str::CompactString;

use super::StrMap;
use super::wire::wire_struct;

wire_struct! {
    /// Browser data. `aid`, screen size, language and `is_backend` are plain
    /// values (absent reads as empty / 0 / false) because the seed's pipeline
    /// used them so; the rest is optional.
    pub struct Bd {
        /// The visitor's anonymous id (a UUID), stable across sessions.
        pub aid: CompactString,
        /// Browser session start, unix milliseconds.
        pub bsts: Option<i64>,
        /// The shop's cookies the script could read (`_ga`, `_fbp`, ...).
        pub cks: Option<StrMap>,
        /// The landing page's query parameters (`utm_*`, ...).
        pub iqpar: Option<StrMap>,
        /// The referrer of the first page of the session.
        pub ir: Option<CompactString>,
        /// The user agent; bots (`Googlebot/2.1`) are recognised by it.
        pub ua: Option<CompactString>,
        /// The browser's language, e.g. `en-GB`.
        pub ul: CompactString,
        /// Screen width in pixels.
        pub srw: u32,
        /// Screen height in pixels.
        pub srh: u32,
        /// Sent by the shop's backend rather than a browser: no real screen,
        /// cookies or user agent to trust.
        pub is_backend: bool,
    }
}

wire_struct! {
    /// Session data, as the collecting server saw the request.
    pub struct Sd {
        /// The client's IPv4 address.
        pub ip4: Option<CompactString>,
        /// The server-side session id.
        pub sid: Option<CompactString>,
    }
}

wire_struct! {
    /// Page data: location, title, and the page's price and brand fields.
    /// Plain values, as the seed's pipeline used them.
    pub struct Pd {
        /// The page URL.
        pub dl: CompactString,
        /// The page title.
        pub dt: CompactString,
        /// The price shown on the page.
        pub pp: f64,
        /// The page's brand id.
        pub pb: i64,
    }
}

wire_struct! {
    /// Metadata about the sender: which shop, which integration, which
    /// version of it. Open-ended; other keys are kept in `extra`.
    pub struct Md {
        /// The shop's domain, e.g. `dev-test-1906.myshopify.com`.
        pub shop: Option<CompactString>,
        /// The integration that sent the event, e.g. `shopify-pixel`.
        pub source: Option<CompactString>,
        /// The integration's version.
        pub v: Option<CompactString>,
    }
}
