//! How each personal value is normalised before it is hashed (or, for
//! Google's address fields, before it is sent in clear text), following the
//! platforms' published rules. A match needs the platform's hash of the same
//! normalised value, so every function here is pure and idempotent: a
//! normalised value normalises to itself (the property tests check it).
//!
//! Each returns `None` for a value that normalises to nothing usable (empty,
//! or a phone number whose country code cannot be known): such a value is
//! left out of the payloads, never sent as a hash of garbage.
//!
//! Sources: Meta, "Customer Information Parameters"
//! (developers.facebook.com/docs/marketing-api/conversions-api/parameters/customer-information-parameters);
//! Google Ads API, "Manage online click conversions" → "Normalize and hash
//! user-provided data" (developers.google.com/google-ads/api/docs/conversions/upload-online),
//! and googleads/google-ads-php#1119 and #1167 for e-mail and name details.

use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

use super::countries::{self, US_STATES};

/// The hex SHA-256 of `s` (lower-case hex, as both platforms expect).
///
/// ```
/// use mable_pipeline::dataflows::conversions::normalise::sha256_hex;
/// assert_eq!(
///     sha256_hex("john_smith@gmail.com"),
///     "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
/// );
/// ```
pub fn sha256_hex(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(b"0123456789abcdef"[(b >> 4) as usize]));
        out.push(char::from(b"0123456789abcdef"[(b & 15) as usize]));
    }
    out
}

/// True for a string that looks like [`sha256_hex`]'s output.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// Unicode lower case in composed form (NFC). Composing after lowering
/// makes `Vale\u{301}ry` and `Valéry` hash alike; UTF-8 is kept, never
/// folded to ASCII (Meta: `Valéry` → `valéry`).
fn lower_nfc(s: &str) -> String {
    s.trim().to_lowercase().nfc().collect()
}

/// Punctuation as Meta means it for names and places: ASCII punctuation
/// and the Unicode punctuation customers type (typographic quotes and
/// dashes, inverted marks, guillemets, CJK full stops). Letters, digits and
/// combining marks of any script stay.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(c,
            '\u{00A1}' | '\u{00AB}' | '\u{00B7}' | '\u{00BB}' | '\u{00BF}'
            | '\u{2010}'..='\u{2027}'
            | '\u{2030}'..='\u{205E}'
            | '\u{3001}'..='\u{3003}'
            | '\u{30FB}')
}

/// Meta `em`: trimmed, lower-cased.
///
/// ```
/// use mable_pipeline::dataflows::conversions::normalise::meta_email;
/// assert_eq!(meta_email(" John_Smith@gmail.com ").as_deref(), Some("john_smith@gmail.com"));
/// ```
pub fn meta_email(raw: &str) -> Option<String> {
    non_empty(raw.trim().to_lowercase())
}

/// How Google's e-mail normalisation treats dots and `+suffix` in the part
/// before `@`. Google's documentation and its own code samples disagree
/// (googleads/google-ads-php#1119).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GoogleEmailRule {
    /// What the official samples (`normalizeAndHashEmailAddress`) do, and
    /// the default: dots removed only for `gmail.com` and `googlemail.com`
    /// addresses, `+suffix` kept.
    #[default]
    Samples,
    /// What the documentation's text says: every address loses its dots and
    /// its `+suffix` before `@`.
    Docs,
}

/// Google e-mail: trimmed, lower-cased, then dots and `+suffix` as `rule` says.
///
/// ```
/// use mable_pipeline::dataflows::conversions::normalise::{google_email, GoogleEmailRule};
/// assert_eq!(google_email("Jane.Doe+x@gmail.com", GoogleEmailRule::Samples).as_deref(), Some("janedoe+x@gmail.com"));
/// assert_eq!(google_email("jane.doe+x@example.com", GoogleEmailRule::Samples).as_deref(), Some("jane.doe+x@example.com"));
/// assert_eq!(google_email("jane.doe+x@example.com", GoogleEmailRule::Docs).as_deref(), Some("janedoe@example.com"));
/// ```
pub fn google_email(raw: &str, rule: GoogleEmailRule) -> Option<String> {
    let e = raw.trim().to_lowercase();
    let Some((local, domain)) = e.rsplit_once('@') else {
        return non_empty(e);
    };
    let local = match rule {
        GoogleEmailRule::Samples if matches!(domain, "gmail.com" | "googlemail.com") => {
            local.replace('.', "")
        }
        GoogleEmailRule::Samples => local.to_string(),
        GoogleEmailRule::Docs => {
            let base = local.split_once('+').map_or(local, |(b, _)| b);
            base.replace('.', "")
        }
    };
    Some(format!("{local}@{domain}"))
}

/// A phone number in E.164 (`+` and 7 to 15 digits, no leading zero), the
/// form both platforms want: Meta hashes its digits without the `+`
/// (`16505551212`), Google hashes it with the `+`.
///
/// The country code rule: a number written internationally (starting with
/// `+` or `00`) keeps its own code. A number in national form gets the
/// calling code of `country`, the event's country (`cdas.cc`), after its
/// trunk prefix is dropped (`0421 …` in Germany → `+49 421 …`); a North
/// American number of 11 digits starting with 1 already has its code. With
/// no country, or one not in [`countries::COUNTRIES`], a national number
/// cannot be completed and is left out (`None`): a guessed code would
/// match someone else.
///
/// ```
/// use mable_pipeline::dataflows::conversions::normalise::e164;
/// assert_eq!(e164("(650)555-1212", Some("us")).as_deref(), Some("+16505551212"));
/// assert_eq!(e164("0421 1234567", Some("de")).as_deref(), Some("+494211234567"));
/// assert_eq!(e164("+44 20 7946 0000", Some("de")).as_deref(), Some("+442079460000"));
/// assert_eq!(e164("0421 1234567", None), None);
/// ```
pub fn e164(raw: &str, country: Option<&str>) -> Option<String> {
    let raw = raw.trim();
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    let international = if raw.starts_with('+') {
        Some(digits.trim_start_matches('0').to_string())
    } else {
        digits
            .strip_prefix("00")
            .map(|d| d.trim_start_matches('0').to_string())
    };
    let full = match international {
        Some(d) => d,
        None => {
            let c = countries::by_alpha2(country?)?;
            if c.trunk == "1" && digits.len() == 11 && digits.starts_with('1') {
                digits
            } else {
                let national = if c.trunk.is_empty() || c.trunk == "1" {
                    digits.as_str()
                } else {
                    digits.strip_prefix(c.trunk).unwrap_or(&digits)
                };
                format!("{}{}", c.calling_code, national)
            }
        }
    };
    let ok = (7..=15).contains(&full.len()) && !full.starts_with('0');
    ok.then(|| format!("+{full}"))
}

/// Meta `ph`: the E.164 number's digits, without the `+`.
pub fn meta_phone(raw: &str, country: Option<&str>) -> Option<String> {
    e164(raw, country).map(|e| e[1..].to_string())
}

/// Meta `fn`/`ln`: lower case, punctuation removed, UTF-8 kept.
///
/// ```
/// use mable_pipeline::dataflows::conversions::normalise::meta_name;
/// assert_eq!(meta_name("Valéry").as_deref(), Some("valéry"));
/// assert_eq!(meta_name("O'Brien-Smith").as_deref(), Some("obriensmith"));
/// ```
pub fn meta_name(raw: &str) -> Option<String> {
    clean(raw, |c| !is_punctuation(c))
}

/// Composed (NFC), lower case, `keep`'s characters only, composed again:
/// first, as composing can turn a character into punctuation (U+0387 is
/// U+00B7), and after the filter, as removing a character can bring a
/// letter and an accent together.
fn clean(raw: &str, keep: impl Fn(char) -> bool) -> Option<String> {
    let composed: String = raw.trim().nfc().collect();
    let s: String = composed
        .to_lowercase()
        .chars()
        .filter(|&c| keep(c))
        .nfc()
        .collect();
    non_empty(s.trim().to_string())
}

/// Meta `ct`: lower case, no punctuation, no spaces (`New York` → `newyork`).
pub fn meta_city(raw: &str) -> Option<String> {
    clean(raw, |c| !is_punctuation(c) && !c.is_whitespace())
}

/// Meta `st`: the 2-letter ANSI code in lower case for a US state (a full
/// name is looked up), else lower case with no punctuation or spaces.
pub fn meta_state(raw: &str, country: Option<&str>) -> Option<String> {
    let s = meta_city(raw)?;
    if country == Some("us")
        && let Some((_, code)) = US_STATES.iter().find(|(name, _)| *name == s)
    {
        return Some(code.to_string());
    }
    Some(s)
}

/// Meta `zp`: lower case without spaces or dashes; a US code keeps its
/// first 5 digits (`94035-1234` → `94035`). UK codes stay whole (`m11ae`).
pub fn meta_zip(raw: &str, country: Option<&str>) -> Option<String> {
    let s: String = raw
        .trim()
        .to_lowercase()
        .chars()
        .filter(|&c| !c.is_whitespace() && c != '-')
        .collect();
    if country == Some("us") && s.len() >= 5 && s.bytes().take(5).all(|b| b.is_ascii_digit()) {
        return Some(s[..5].to_string());
    }
    non_empty(s)
}

/// The ISO 3166-1 alpha-2 code, lower case, of a country written as a code
/// (`US`) or a name (`United States`). Meta hashes it (`us`); Google sends
/// it in clear text, upper case.
///
/// ```
/// use mable_pipeline::dataflows::conversions::normalise::country;
/// assert_eq!(country("United States").as_deref(), Some("us"));
/// assert_eq!(country(" FR ").as_deref(), Some("fr"));
/// assert_eq!(country("Atlantis"), None);
/// ```
pub fn country(raw: &str) -> Option<String> {
    let t = raw.trim();
    if t.len() == 2 && t.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Some(t.to_ascii_lowercase());
    }
    countries::by_name(t).map(|c| c.alpha2.to_string())
}

/// Meta `db`: `YYYYMMDD`, from `YYYYMMDD`, `YYYY-MM-DD` (or `/`, `.`) or the
/// US `M/D/YYYY` of Meta's example (`2/16/1997` → `19970216`).
pub fn date_of_birth(raw: &str) -> Option<String> {
    let parts: Vec<&str> = raw
        .trim()
        .split(['-', '/', '.'])
        .filter(|p| !p.is_empty())
        .collect();
    let (y, m, d) = match parts.as_slice() {
        [one] if one.len() == 8 && one.is_ascii() => (&one[..4], &one[4..6], &one[6..]),
        [y, m, d] if y.len() == 4 => (*y, *m, *d),
        [m, d, y] if y.len() == 4 => (*y, *m, *d),
        _ => return None,
    };
    let num = |s: &str| {
        s.parse::<u32>()
            .ok()
            .filter(|_| s.bytes().all(|b| b.is_ascii_digit()))
    };
    let (y, m, d) = (num(y)?, num(m)?, num(d)?);
    ((1900..=9999).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d))
        .then(|| format!("{y:04}{m:02}{d:02}"))
}

/// Meta `ge`: `f` or `m`, from any word starting with one of them.
pub fn gender(raw: &str) -> Option<String> {
    match raw.trim().chars().next()?.to_ascii_lowercase() {
        c @ ('f' | 'm') => Some(c.to_string()),
        _ => None,
    }
}

/// `external_id`: trimmed only. It is the shop's own id and must hash as
/// the Pixel's `external_id` does, so its case is kept.
pub fn external_id(raw: &str) -> Option<String> {
    non_empty(raw.trim().to_string())
}

/// Google first name, last name and street: trimmed and lower-cased in
/// UTF-8 NFC; inner spaces, punctuation, digits and accents kept (Google's
/// answer in googleads/google-ads-php#1167).
pub fn google_text(raw: &str) -> Option<String> {
    non_empty(lower_nfc(raw))
}

/// Google's clear-text address fields (city, region, postal code): trimmed
/// only. They are sent as the customer wrote them, never hashed.
pub fn google_clear(raw: &str) -> Option<String> {
    non_empty(raw.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every vector of Meta's "Customer Information Parameters" page: input,
    /// normalised form, SHA-256.
    #[test]
    fn meta_published_test_vectors() {
        let cases: [(&str, Option<String>, &str); 7] = [
            (
                "em",
                meta_email("John_Smith@gmail.com"),
                "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f",
            ),
            (
                "ph",
                meta_phone("(650)555-1212", Some("us")),
                "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176",
            ),
            (
                "fn Mary",
                meta_name("Mary"),
                "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec",
            ),
            (
                "fn 정",
                meta_name("정"),
                "8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14",
            ),
            (
                "fn Valéry",
                meta_name("Valéry"),
                "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c",
            ),
            (
                "db",
                date_of_birth("2/16/1997"),
                "01acdbf6ec7b4f478a225f1a246e5d6767eeab1a7ffa17f025265b5b94f40f0c",
            ),
            (
                "country",
                country("United States"),
                "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621",
            ),
        ];
        let normalised = [
            "john_smith@gmail.com",
            "16505551212",
            "mary",
            "정",
            "valéry",
            "19970216",
            "us",
        ];
        for ((field, got, hash), want) in cases.iter().zip(normalised) {
            assert_eq!(got.as_deref(), Some(want), "{field}");
            assert_eq!(sha256_hex(want), *hash, "{field}");
        }
        // The examples given without a hash.
        assert_eq!(meta_city("New York").as_deref(), Some("newyork"));
        assert_eq!(meta_city("Paris").as_deref(), Some("paris"));
        assert_eq!(meta_state("CA", Some("us")).as_deref(), Some("ca"));
        assert_eq!(meta_state("Arizona", Some("us")).as_deref(), Some("az"));
        assert_eq!(meta_zip("94035", Some("us")).as_deref(), Some("94035"));
        assert_eq!(meta_zip("94035-1234", Some("us")).as_deref(), Some("94035"));
        assert_eq!(meta_zip("1987", Some("au")).as_deref(), Some("1987"));
        assert_eq!(meta_zip("75018", Some("fr")).as_deref(), Some("75018"));
        assert_eq!(meta_zip("M1 1AE", Some("gb")).as_deref(), Some("m11ae"));
        assert_eq!(gender("Female").as_deref(), Some("f"));
    }

    /// A decomposed accent (e + U+0301) hashes as the composed one.
    #[test]
    fn names_are_composed_before_hashing() {
        assert_eq!(meta_name("Vale\u{301}ry"), meta_name("Valéry"));
        assert_eq!(google_text(" Vale\u{301}ry "), google_text("valéry"));
    }

    /// Found by the idempotence property: U+0387 composes to U+00B7, a
    /// punctuation mark, so the filter must see the composed form.
    #[test]
    fn a_character_that_composes_into_punctuation_is_removed() {
        assert_eq!(meta_name("\u{387}"), None);
        assert_eq!(meta_name("a\u{387}b").as_deref(), Some("ab"));
    }

    #[test]
    fn phone_country_code_rule() {
        let p = |raw, cc| e164(raw, cc);
        assert_eq!(
            p("+1 (650) 555-1212", None).as_deref(),
            Some("+16505551212")
        );
        assert_eq!(
            p("1-650-555-1212", Some("us")).as_deref(),
            Some("+16505551212")
        );
        assert_eq!(
            p("0049 421 1234567", None).as_deref(),
            Some("+494211234567")
        );
        assert_eq!(
            p("06 1 234 5678", Some("hu")).as_deref(),
            Some("+3612345678")
        );
        assert_eq!(
            p("06 1234 5678", Some("it")).as_deref(),
            Some("+390612345678")
        );
        assert_eq!(
            p("8 912 345 67 89", Some("ru")).as_deref(),
            Some("+79123456789")
        );
        assert_eq!(
            p("020 7946 0000", Some("gb")).as_deref(),
            Some("+442079460000")
        );
        assert_eq!(p("555-1212", Some("zz")), None, "unknown country");
        assert_eq!(p("12", Some("us")), None, "too short");
        assert_eq!(p("+1234567890123456", None), None, "too long for E.164");
        assert_eq!(p("", Some("us")), None);
    }

    #[test]
    fn google_keeps_punctuation_and_inner_spaces_meta_removes_them() {
        assert_eq!(
            google_text(" O'Connor-Smith 2 ").as_deref(),
            Some("o'connor-smith 2")
        );
        assert_eq!(
            meta_name(" O'Connor-Smith 2 ").as_deref(),
            Some("oconnorsmith 2")
        );
        assert_eq!(google_clear(" 69002 ").as_deref(), Some("69002"));
    }

    #[test]
    fn empty_values_are_left_out() {
        for f in [
            meta_email,
            meta_name,
            meta_city,
            external_id,
            google_text,
            google_clear,
        ] {
            assert_eq!(f("  "), None);
        }
        assert_eq!(meta_zip(" - ", None), None);
        assert_eq!(date_of_birth("16/02/97"), None);
        assert_eq!(date_of_birth("1997-13-01"), None);
    }

    proptest! {
        #[test]
        fn normalising_is_idempotent(s in "\\PC{0,24}", cc in prop::sample::select(vec!["us", "de", "gb", "it", "hu", "zz"])) {
            let cc = Some(cc);
            type F = fn(&str) -> Option<String>;
            let plain: [(&str, F); 9] = [
                ("meta_email", meta_email),
                ("meta_name", meta_name),
                ("meta_city", meta_city),
                ("country", country),
                ("date_of_birth", date_of_birth),
                ("gender", gender),
                ("external_id", external_id),
                ("google_text", google_text),
                ("google_clear", google_clear),
            ];
            for (name, f) in plain {
                if let Some(once) = f(&s) {
                    prop_assert_eq!(f(&once), Some(once.clone()), "{}", name);
                }
            }
            for rule in [GoogleEmailRule::Samples, GoogleEmailRule::Docs] {
                if let Some(once) = google_email(&s, rule) {
                    prop_assert_eq!(google_email(&once, rule), Some(once.clone()));
                }
            }
            if let Some(once) = e164(&s, cc) {
                prop_assert_eq!(e164(&once, cc), Some(once.clone()));
            }
            if let Some(once) = meta_state(&s, cc) {
                prop_assert_eq!(meta_state(&once, cc), Some(once.clone()));
            }
            if let Some(once) = meta_zip(&s, cc) {
                prop_assert_eq!(meta_zip(&once, cc), Some(once.clone()));
            }
        }

        #[test]
        fn phone_numbers_normalise_idempotently(digits in "[0-9 ()+-]{0,20}", cc in prop::sample::select(vec!["us", "de", "gb", "it", "hu", "ru"])) {
            if let Some(once) = e164(&digits, Some(cc)) {
                prop_assert!(once.starts_with('+'));
                prop_assert_eq!(e164(&once, Some(cc)), Some(once.clone()));
                prop_assert_eq!(e164(&once, None), Some(once.clone()));
            }
        }

        #[test]
        fn hashing_a_normalised_value_twice_gives_the_same_hex(s in "\\PC{0,24}") {
            if let Some(n) = meta_name(&s) {
                let (a, b) = (sha256_hex(&n), sha256_hex(&meta_name(&n).unwrap()));
                prop_assert_eq!(&a, &b);
                prop_assert!(is_sha256_hex(&a));
            }
            if let Some(n) = meta_email(&s) {
                prop_assert_eq!(sha256_hex(&n), sha256_hex(&meta_email(&n).unwrap()));
            }
        }
    }
}
