//! The seed's ten-field benchmark struct.

use compact_str::{CompactString, format_compact};
use serde::{Deserialize, Serialize};

use mable_pipeline::record::{SourceRecord, seeded_unit};

/// The Go seed's `TestStruct`: ten fields of mixed types.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TestStruct {
    pub id: i64,
    pub name: CompactString,
    pub value: f64,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub category: CompactString,
    #[serde(default)]
    pub timestamp: i64,
    #[serde(default)]
    pub count: i64,
    #[serde(default)]
    pub tag: CompactString,
    #[serde(default)]
    pub ratio: f64,
    #[serde(default)]
    pub flag: bool,
}

impl SourceRecord for TestStruct {
    fn synthesize(template: &Self, index: u64) -> Self {
        TestStruct {
            id: index as i64,
            name: format_compact!("Item_{index}"),
            ..template.clone()
        }
    }

    /// As the seed: value random in [0, 5000), category alternating alpha/beta.
    fn generate(index: u64, seed: u64) -> Option<Self> {
        let key = index.to_le_bytes();
        Some(TestStruct {
            id: index as i64,
            name: format_compact!("Item_{index}"),
            value: seeded_unit(seed, &key) * 5000.0,
            active: index.is_multiple_of(2),
            category: CompactString::const_new(if index.is_multiple_of(2) {
                "alpha"
            } else {
                "beta"
            }),
            timestamp: 1_750_000_000 + index as i64,
            count: (index % 100) as i64,
            tag: CompactString::const_new("tag"),
            ratio: seeded_unit(seed ^ 0x5eed, &key),
            flag: index.is_multiple_of(3),
        })
    }
}
