//! The rules a payload must meet before it goes to its platform. A payload
//! that breaks one would make the platform reject it, and for Meta the
//! whole request it travels in ("if any event_time in data is greater than
//! 7 days in the past, we return an error for the entire request and
//! process no events"). So a breaking payload never goes out with the good
//! ones: the pipeline turns it into one rejection record per broken rule,
//! counted per destination and rule.
//!
//! "Now" is the run's start (`Params::now`), the same on every worker and
//! process, so which events are stale does not depend on how a run is split.

use super::google::{GoogleConversion, UserIdentifier};
use super::meta::MetaPurchase;
use super::normalise::is_sha256_hex;

const META_SERVER_EVENT: &str =
    "https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/server-event/";
const META_PARAMETERS: &str =
    "https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/";
const META_CUSTOMER: &str = "https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/customer-information-parameters";
const GOOGLE_ENHANCE: &str =
    "https://developers.google.com/google-ads/api/docs/conversions/upload-online";

/// Seven days: Meta's oldest `event_time`.
pub const META_MAX_AGE_SECS: i64 = 7 * 86_400;
/// 24 hours: how late Google takes an enhancement.
pub const GOOGLE_MAX_AGE_SECS: i64 = 86_400;
/// The most user identifiers Google takes in one conversion.
pub const GOOGLE_MAX_IDENTIFIERS: usize = 5;
/// Unix seconds have 10 digits until 2286; 11 or more is milliseconds.
const SECONDS_LIMIT: i64 = 10_000_000_000;

/// A documented rule, named `destination/rule` in counts and tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    MetaEventNameMissing,
    MetaEventIdMissing,
    MetaEventTimeNotUnixSeconds,
    MetaEventTimeOlderThan7Days,
    MetaActionSourceMissing,
    MetaUserDataWithoutIdentifier,
    MetaWebsiteWithoutClientUserAgent,
    MetaWebsiteWithoutEventSourceUrl,
    MetaUserDataNotHashed,
    GoogleOrderIdMissing,
    GoogleConversionTimeNotUnixSeconds,
    GoogleUploadLaterThan24H,
    GoogleNoUserIdentifier,
    GoogleMoreThan5UserIdentifiers,
    GoogleIdentifierNotHashed,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 15] = [
        Rule::MetaEventNameMissing,
        Rule::MetaEventIdMissing,
        Rule::MetaEventTimeNotUnixSeconds,
        Rule::MetaEventTimeOlderThan7Days,
        Rule::MetaActionSourceMissing,
        Rule::MetaUserDataWithoutIdentifier,
        Rule::MetaWebsiteWithoutClientUserAgent,
        Rule::MetaWebsiteWithoutEventSourceUrl,
        Rule::MetaUserDataNotHashed,
        Rule::GoogleOrderIdMissing,
        Rule::GoogleConversionTimeNotUnixSeconds,
        Rule::GoogleUploadLaterThan24H,
        Rule::GoogleNoUserIdentifier,
        Rule::GoogleMoreThan5UserIdentifiers,
        Rule::GoogleIdentifierNotHashed,
    ];

    /// `meta` or `google`.
    pub fn destination(self) -> &'static str {
        match self {
            Rule::GoogleOrderIdMissing
            | Rule::GoogleConversionTimeNotUnixSeconds
            | Rule::GoogleUploadLaterThan24H
            | Rule::GoogleNoUserIdentifier
            | Rule::GoogleMoreThan5UserIdentifiers
            | Rule::GoogleIdentifierNotHashed => "google",
            _ => "meta",
        }
    }

    /// The rule's name within its destination.
    pub fn name(self) -> &'static str {
        match self {
            Rule::MetaEventNameMissing => "event_name_missing",
            Rule::MetaEventIdMissing => "event_id_missing",
            Rule::MetaEventTimeNotUnixSeconds => "event_time_not_unix_seconds",
            Rule::MetaEventTimeOlderThan7Days => "event_time_older_than_7_days",
            Rule::MetaActionSourceMissing => "action_source_missing",
            Rule::MetaUserDataWithoutIdentifier => "user_data_without_identifier",
            Rule::MetaWebsiteWithoutClientUserAgent => "website_without_client_user_agent",
            Rule::MetaWebsiteWithoutEventSourceUrl => "website_without_event_source_url",
            Rule::MetaUserDataNotHashed => "user_data_not_hashed",
            Rule::GoogleOrderIdMissing => "order_id_missing",
            Rule::GoogleConversionTimeNotUnixSeconds => "conversion_time_not_unix_seconds",
            Rule::GoogleUploadLaterThan24H => "upload_later_than_24_h",
            Rule::GoogleNoUserIdentifier => "no_user_identifier",
            Rule::GoogleMoreThan5UserIdentifiers => "more_than_5_user_identifiers",
            Rule::GoogleIdentifierNotHashed => "identifier_not_hashed",
        }
    }

    /// `destination/name`: the key of the per-rule counts.
    pub fn key(self) -> String {
        format!("{}/{}", self.destination(), self.name())
    }

    /// The page that states the rule.
    pub fn source(self) -> &'static str {
        match self {
            Rule::MetaEventNameMissing
            | Rule::MetaEventIdMissing
            | Rule::MetaEventTimeNotUnixSeconds
            | Rule::MetaEventTimeOlderThan7Days => META_SERVER_EVENT,
            Rule::MetaActionSourceMissing
            | Rule::MetaWebsiteWithoutClientUserAgent
            | Rule::MetaWebsiteWithoutEventSourceUrl => META_PARAMETERS,
            Rule::MetaUserDataWithoutIdentifier | Rule::MetaUserDataNotHashed => META_CUSTOMER,
            _ => GOOGLE_ENHANCE,
        }
    }
}

fn unix_seconds(ts: i64) -> bool {
    (1..SECONDS_LIMIT).contains(&ts)
}

/// The Meta rules `p` breaks, given the run's `now` (unix seconds).
pub fn meta(p: &MetaPurchase, now: i64, out: &mut Vec<Rule>) {
    if p.event_name.trim().is_empty() {
        out.push(Rule::MetaEventNameMissing);
    }
    // Deduplication against the Pixel needs the event's own, stable id.
    if p.event_id.trim().is_empty() {
        out.push(Rule::MetaEventIdMissing);
    }
    if !unix_seconds(p.event_time) {
        out.push(Rule::MetaEventTimeNotUnixSeconds);
    } else if now - p.event_time > META_MAX_AGE_SECS {
        out.push(Rule::MetaEventTimeOlderThan7Days);
    }
    if p.action_source.trim().is_empty() {
        out.push(Rule::MetaActionSourceMissing);
    }
    let u = &p.user_data;
    let hashed = u.hashed();
    let identified =
        hashed.iter().any(|(_, v)| !v.is_empty()) || u.fbc.is_some() || u.fbp.is_some();
    if !identified {
        out.push(Rule::MetaUserDataWithoutIdentifier);
    }
    if hashed
        .iter()
        .any(|(_, v)| v.iter().any(|h| !is_sha256_hex(h)))
    {
        out.push(Rule::MetaUserDataNotHashed);
    }
    if p.action_source == "website" {
        if u.client_user_agent
            .as_deref()
            .is_none_or(|ua| ua.trim().is_empty())
        {
            out.push(Rule::MetaWebsiteWithoutClientUserAgent);
        }
        if p.event_source_url
            .as_deref()
            .is_none_or(|url| url.trim().is_empty())
        {
            out.push(Rule::MetaWebsiteWithoutEventSourceUrl);
        }
    }
}

/// The Google rules `g` breaks, given the run's `now` (unix seconds).
pub fn google(g: &GoogleConversion, now: i64, out: &mut Vec<Rule>) {
    if g.order_id.trim().is_empty() {
        out.push(Rule::GoogleOrderIdMissing);
    }
    if !unix_seconds(g.conversion_date_time) {
        out.push(Rule::GoogleConversionTimeNotUnixSeconds);
    } else if now - g.conversion_date_time > GOOGLE_MAX_AGE_SECS {
        out.push(Rule::GoogleUploadLaterThan24H);
    }
    match g.user_identifiers.len() {
        0 => out.push(Rule::GoogleNoUserIdentifier),
        n if n > GOOGLE_MAX_IDENTIFIERS => out.push(Rule::GoogleMoreThan5UserIdentifiers),
        _ => {}
    }
    let unhashed = g.user_identifiers.iter().any(|i| match i {
        UserIdentifier::HashedEmail(h) | UserIdentifier::HashedPhoneNumber(h) => !is_sha256_hex(h),
        UserIdentifier::AddressInfo(a) => {
            !is_sha256_hex(&a.hashed_first_name)
                || !is_sha256_hex(&a.hashed_last_name)
                || a.hashed_street_address
                    .as_deref()
                    .is_some_and(|s| !is_sha256_hex(s))
        }
    });
    if unhashed {
        out.push(Rule::GoogleIdentifierNotHashed);
    }
}

#[cfg(test)]
mod tests {
    use super::super::meta::{MetaCustomData, MetaUserData};
    use super::*;
    use compact_str::CompactString;

    const NOW: i64 = 1_800_000_000;

    /// A rule and how to break it alone.
    type Case<T> = (Rule, fn(&mut T));

    fn good_meta() -> MetaPurchase {
        MetaPurchase {
            event_id: "e1".into(),
            event_name: "Purchase".into(),
            event_time: NOW - 60,
            action_source: "website".into(),
            event_source_url: Some("https://shop.example/thanks".into()),
            user_data: MetaUserData {
                em: vec![super::super::normalise::sha256_hex("a@b.c")],
                client_user_agent: Some("Mozilla/5.0".into()),
                ..MetaUserData::default()
            },
            custom_data: MetaCustomData::default(),
        }
    }

    fn good_google() -> GoogleConversion {
        GoogleConversion {
            order_id: "o1".into(),
            adjustment_type: "ENHANCEMENT".into(),
            conversion_date_time: NOW - 60,
            currency_code: "EUR".into(),
            conversion_value_minor: 100,
            gclid: None,
            user_identifiers: vec![UserIdentifier::HashedEmail(
                super::super::normalise::sha256_hex("a@b.c"),
            )],
        }
    }

    fn meta_rules(p: &MetaPurchase) -> Vec<Rule> {
        let mut v = Vec::new();
        meta(p, NOW, &mut v);
        v
    }

    fn google_rules(g: &GoogleConversion) -> Vec<Rule> {
        let mut v = Vec::new();
        google(g, NOW, &mut v);
        v
    }

    /// Each Meta rule, broken alone, is found alone.
    #[test]
    fn each_meta_rule_is_found() {
        assert_eq!(meta_rules(&good_meta()), []);
        let cases: [Case<MetaPurchase>; 9] = [
            (Rule::MetaEventNameMissing, |p| p.event_name = "".into()),
            (Rule::MetaEventIdMissing, |p| p.event_id = " ".into()),
            (Rule::MetaEventTimeNotUnixSeconds, |p| p.event_time *= 1000),
            (Rule::MetaEventTimeOlderThan7Days, |p| {
                p.event_time = NOW - META_MAX_AGE_SECS - 1
            }),
            (Rule::MetaActionSourceMissing, |p| {
                p.action_source = "".into()
            }),
            (Rule::MetaUserDataWithoutIdentifier, |p| {
                p.user_data.em.clear()
            }),
            (Rule::MetaWebsiteWithoutClientUserAgent, |p| {
                p.user_data.client_user_agent = None
            }),
            (Rule::MetaWebsiteWithoutEventSourceUrl, |p| {
                p.event_source_url = Some("".into())
            }),
            (Rule::MetaUserDataNotHashed, |p| {
                p.user_data.ln = vec!["smith".into()]
            }),
        ];
        for (rule, breaks) in cases {
            let mut p = good_meta();
            breaks(&mut p);
            assert_eq!(meta_rules(&p), [rule], "{}", rule.key());
        }
        // Exactly 7 days old is still accepted ("up to 7 days").
        let mut p = good_meta();
        p.event_time = NOW - META_MAX_AGE_SECS;
        assert_eq!(meta_rules(&p), []);
    }

    #[test]
    fn each_google_rule_is_found() {
        assert_eq!(google_rules(&good_google()), []);
        let cases: [Case<GoogleConversion>; 6] = [
            (Rule::GoogleOrderIdMissing, |g| {
                g.order_id = CompactString::default()
            }),
            (Rule::GoogleConversionTimeNotUnixSeconds, |g| {
                g.conversion_date_time = 0
            }),
            (Rule::GoogleUploadLaterThan24H, |g| {
                g.conversion_date_time = NOW - GOOGLE_MAX_AGE_SECS - 1
            }),
            (Rule::GoogleNoUserIdentifier, |g| g.user_identifiers.clear()),
            (Rule::GoogleMoreThan5UserIdentifiers, |g| {
                let one = g.user_identifiers[0].clone();
                g.user_identifiers = vec![one; 6]
            }),
            (Rule::GoogleIdentifierNotHashed, |g| {
                g.user_identifiers = vec![UserIdentifier::HashedEmail("a@b.c".into())]
            }),
        ];
        for (rule, breaks) in cases {
            let mut g = good_google();
            breaks(&mut g);
            assert_eq!(google_rules(&g), [rule], "{}", rule.key());
        }
        let mut g = good_google();
        g.user_identifiers = vec![g.user_identifiers[0].clone(); 5];
        g.conversion_date_time = NOW - GOOGLE_MAX_AGE_SECS;
        assert_eq!(google_rules(&g), [], "5 identifiers, 24 h: accepted");
    }

    #[test]
    fn rule_keys_are_unique_and_name_their_destination() {
        let mut keys: Vec<String> = Rule::ALL.iter().map(|r| r.key()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), Rule::ALL.len());
        for r in Rule::ALL {
            let variant = format!("{r:?}").to_lowercase();
            assert!(variant.starts_with(r.destination()), "{r:?}");
            assert!(r.source().starts_with("https://"));
        }
    }
}
