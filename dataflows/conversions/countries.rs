//! Countries as the conversion APIs want them: ISO 3166-1 alpha-2 codes,
//! the telephone country calling code that completes a national phone
//! number, and the US states' 2-letter codes.
//!
//! Meta matches phone numbers only with their country code ("the number 1
//! must precede a phone number in the United States") and Google wants
//! E.164, so a number a customer typed in national form, `(650)555-1212`,
//! needs its country's calling code in front. The country comes from the
//! event itself (`cdas.cc`); this table says which code belongs to it and
//! which trunk prefix a national number starts with (the `0` of `0421 …`
//! in Germany), which the international form leaves out.
//!
//! The table covers the countries the shops in the test data sell to and
//! their neighbours, not all of ISO 3166. A phone number in national form
//! from a country missing here is left out of the payloads rather than
//! sent with a guessed code (see `normalise::phone_digits`).

/// One country: its alpha-2 code (lower case), calling code, the trunk
/// prefix of its national numbers, and names customers write for it
/// (normalised: lower case, letters only).
pub struct Country {
    pub alpha2: &'static str,
    pub calling_code: &'static str,
    /// What a national number starts with and the international form drops:
    /// `"0"` in most countries, `"8"` in some former Soviet ones, `"06"` in
    /// Hungary, `"1"` in the North American plan; `""` where the leading 0
    /// is part of the number (Italy, San Marino, the Vatican).
    pub trunk: &'static str,
    pub names: &'static [&'static str],
}

const fn c(
    alpha2: &'static str,
    calling_code: &'static str,
    trunk: &'static str,
    names: &'static [&'static str],
) -> Country {
    Country {
        alpha2,
        calling_code,
        trunk,
        names,
    }
}

/// The countries known here.
pub static COUNTRIES: &[Country] = &[
    c("ad", "376", "", &["andorra"]),
    c("ae", "971", "0", &["unitedarabemirates", "uae"]),
    c("al", "355", "0", &["albania"]),
    c("ar", "54", "0", &["argentina"]),
    c("at", "43", "0", &["austria", "österreich", "osterreich"]),
    c("au", "61", "0", &["australia"]),
    c("ba", "387", "0", &["bosniaandherzegovina"]),
    c(
        "be",
        "32",
        "0",
        &["belgium", "belgique", "belgië", "belgie", "belgien"],
    ),
    c("bg", "359", "0", &["bulgaria"]),
    c("br", "55", "0", &["brazil", "brasil"]),
    c("by", "375", "8", &["belarus"]),
    c("ca", "1", "1", &["canada"]),
    c(
        "ch",
        "41",
        "0",
        &["switzerland", "schweiz", "suisse", "svizzera"],
    ),
    c("cl", "56", "", &["chile"]),
    c("cn", "86", "0", &["china"]),
    c("co", "57", "", &["colombia"]),
    c("cy", "357", "", &["cyprus"]),
    c(
        "cz",
        "420",
        "",
        &["czechia", "czechrepublic", "česko", "cesko"],
    ),
    c("de", "49", "0", &["germany", "deutschland"]),
    c("dk", "45", "", &["denmark", "danmark"]),
    c("ee", "372", "", &["estonia", "eesti"]),
    c("eg", "20", "0", &["egypt"]),
    c("es", "34", "", &["spain", "españa", "espana"]),
    c("fi", "358", "0", &["finland", "suomi"]),
    c("fr", "33", "0", &["france"]),
    c(
        "gb",
        "44",
        "0",
        &[
            "unitedkingdom",
            "greatbritain",
            "uk",
            "england",
            "scotland",
            "wales",
            "northernireland",
        ],
    ),
    c("gr", "30", "", &["greece"]),
    c("hk", "852", "", &["hongkong"]),
    c("hr", "385", "0", &["croatia", "hrvatska"]),
    c(
        "hu",
        "36",
        "06",
        &["hungary", "magyarország", "magyarorszag"],
    ),
    c("id", "62", "0", &["indonesia"]),
    c("ie", "353", "0", &["ireland", "éire", "eire"]),
    c("il", "972", "0", &["israel"]),
    c("in", "91", "0", &["india"]),
    c("is", "354", "", &["iceland", "ísland"]),
    c("it", "39", "", &["italy", "italia"]),
    c("jp", "81", "0", &["japan"]),
    c("kr", "82", "0", &["southkorea", "korea", "republicofkorea"]),
    c("kz", "7", "8", &["kazakhstan"]),
    c("li", "423", "", &["liechtenstein"]),
    c("lt", "370", "8", &["lithuania", "lietuva"]),
    c("lu", "352", "", &["luxembourg", "luxemburg"]),
    c("lv", "371", "", &["latvia", "latvija"]),
    c("ma", "212", "0", &["morocco"]),
    c("mc", "377", "", &["monaco"]),
    c("md", "373", "0", &["moldova"]),
    c("me", "382", "0", &["montenegro"]),
    c("mk", "389", "0", &["northmacedonia", "macedonia"]),
    c("mt", "356", "", &["malta"]),
    c("mx", "52", "", &["mexico", "méxico"]),
    c("my", "60", "0", &["malaysia"]),
    c("ng", "234", "0", &["nigeria"]),
    c(
        "nl",
        "31",
        "0",
        &["netherlands", "thenetherlands", "nederland", "holland"],
    ),
    c("no", "47", "", &["norway", "norge"]),
    c("nz", "64", "0", &["newzealand"]),
    c("ph", "63", "0", &["philippines"]),
    c("pk", "92", "0", &["pakistan"]),
    c("pl", "48", "", &["poland", "polska"]),
    c("pr", "1", "1", &["puertorico"]),
    c("pt", "351", "", &["portugal"]),
    c("ro", "40", "0", &["romania", "românia"]),
    c("rs", "381", "0", &["serbia", "srbija"]),
    c("ru", "7", "8", &["russia", "russianfederation"]),
    c("sa", "966", "0", &["saudiarabia"]),
    c("se", "46", "0", &["sweden", "sverige"]),
    c("sg", "65", "", &["singapore"]),
    c("si", "386", "0", &["slovenia", "slovenija"]),
    c("sk", "421", "0", &["slovakia", "slovensko"]),
    c("sm", "378", "", &["sanmarino"]),
    c("th", "66", "0", &["thailand"]),
    c("tr", "90", "0", &["turkey", "türkiye", "turkiye"]),
    c("tw", "886", "0", &["taiwan"]),
    c("ua", "380", "0", &["ukraine"]),
    c(
        "us",
        "1",
        "1",
        &["unitedstates", "unitedstatesofamerica", "usa", "america"],
    ),
    c("va", "39", "", &["vaticancity", "holysee"]),
    c("vn", "84", "0", &["vietnam"]),
    c("za", "27", "0", &["southafrica"]),
];

/// The country with alpha-2 code `alpha2` (lower case).
///
/// ```
/// use mable_pipeline::dataflows::conversions::countries::by_alpha2;
/// assert_eq!(by_alpha2("de").unwrap().calling_code, "49");
/// ```
pub fn by_alpha2(alpha2: &str) -> Option<&'static Country> {
    COUNTRIES.iter().find(|c| c.alpha2 == alpha2)
}

/// The country called `name`, compared in lower case with everything but
/// letters removed (`United States` → `unitedstates`).
pub fn by_name(name: &str) -> Option<&'static Country> {
    let key: String = name
        .chars()
        .filter(|c| c.is_alphabetic())
        .flat_map(char::to_lowercase)
        .collect();
    COUNTRIES.iter().find(|c| c.names.contains(&key.as_str()))
}

/// The US states, DC and the territories with their 2-letter ANSI codes, by
/// name normalised as in [`by_name`]. Meta wants `st` as the code.
pub static US_STATES: &[(&str, &str)] = &[
    ("alabama", "al"),
    ("alaska", "ak"),
    ("arizona", "az"),
    ("arkansas", "ar"),
    ("california", "ca"),
    ("colorado", "co"),
    ("connecticut", "ct"),
    ("delaware", "de"),
    ("districtofcolumbia", "dc"),
    ("florida", "fl"),
    ("georgia", "ga"),
    ("hawaii", "hi"),
    ("idaho", "id"),
    ("illinois", "il"),
    ("indiana", "in"),
    ("iowa", "ia"),
    ("kansas", "ks"),
    ("kentucky", "ky"),
    ("louisiana", "la"),
    ("maine", "me"),
    ("maryland", "md"),
    ("massachusetts", "ma"),
    ("michigan", "mi"),
    ("minnesota", "mn"),
    ("mississippi", "ms"),
    ("missouri", "mo"),
    ("montana", "mt"),
    ("nebraska", "ne"),
    ("nevada", "nv"),
    ("newhampshire", "nh"),
    ("newjersey", "nj"),
    ("newmexico", "nm"),
    ("newyork", "ny"),
    ("northcarolina", "nc"),
    ("northdakota", "nd"),
    ("ohio", "oh"),
    ("oklahoma", "ok"),
    ("oregon", "or"),
    ("pennsylvania", "pa"),
    ("rhodeisland", "ri"),
    ("southcarolina", "sc"),
    ("southdakota", "sd"),
    ("tennessee", "tn"),
    ("texas", "tx"),
    ("utah", "ut"),
    ("vermont", "vt"),
    ("virginia", "va"),
    ("washington", "wa"),
    ("westvirginia", "wv"),
    ("wisconsin", "wi"),
    ("wyoming", "wy"),
    ("americansamoa", "as"),
    ("guam", "gu"),
    ("northernmarianaislands", "mp"),
    ("puertorico", "pr"),
    ("virginislands", "vi"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_are_unique_and_well_formed() {
        let mut codes: Vec<&str> = COUNTRIES.iter().map(|c| c.alpha2).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), COUNTRIES.len(), "an alpha-2 code twice");
        let mut names: Vec<&str> = COUNTRIES
            .iter()
            .flat_map(|c| c.names.iter().copied())
            .collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "a country name twice");
        for c in COUNTRIES {
            assert!(c.alpha2.len() == 2 && c.alpha2.chars().all(|x| x.is_ascii_lowercase()));
            assert!(
                !c.calling_code.is_empty() && c.calling_code.chars().all(|x| x.is_ascii_digit())
            );
            assert!(!c.calling_code.starts_with('0'));
            for n in c.names {
                assert_eq!(by_name(n).map(|x| x.alpha2), Some(c.alpha2), "{n}");
            }
        }
        for (name, code) in US_STATES {
            assert_eq!(code.len(), 2);
            assert!(name.chars().all(char::is_alphabetic));
        }
    }

    #[test]
    fn names_are_found_as_customers_write_them() {
        assert_eq!(by_name("United States").unwrap().alpha2, "us");
        assert_eq!(by_name(" united-kingdom ").unwrap().alpha2, "gb");
        assert_eq!(by_name("Österreich").unwrap().alpha2, "at");
        assert!(by_name("Atlantis").is_none());
    }
}
