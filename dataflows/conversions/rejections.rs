//! Payloads the validator stopped: the rejection output, and the row type
//! of the `conversions_rejections` table that keeps them (its statement is in
//! `ops/clickhouse/schema.sql`).
//!
//! A rejection names the event, the destination and the rule, never a
//! personal value: what was wrong is the rule, not the data.

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use super::validate::Rule;

/// One broken rule of one event's payload for one destination, in place
/// of the payload (which is not sent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    /// `meta` or `google`.
    pub platform: CompactString,
    /// The rule's name within its platform (`event_time_older_than_7_days`).
    pub rule: CompactString,
    pub event_id: CompactString,
}

impl Rejected {
    pub fn new(rule: Rule, event_id: &CompactString) -> Rejected {
        Rejected {
            platform: CompactString::const_new(rule.destination()),
            rule: CompactString::const_new(rule.name()),
            event_id: event_id.clone(),
        }
    }

    /// `platform/rule`, the key of the per-rule counts.
    pub fn key(&self) -> String {
        format!("{}/{}", self.platform, self.rule)
    }
}

/// A row of `conversions_rejections` (the engine adds run, stage, batch,
/// worker, process, timestamp and insert id, as for every table).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    pub destination: CompactString,
    pub rule: CompactString,
    pub event_id: CompactString,
    pub count: u64,
}

impl From<&Rejected> for Rejection {
    fn from(r: &Rejected) -> Rejection {
        Rejection {
            destination: r.platform.clone(),
            rule: r.rule.clone(),
            event_id: r.event_id.clone(),
            count: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejection_row_holds_ids_and_the_rule_only() {
        let r = Rejected::new(Rule::MetaEventTimeOlderThan7Days, &"e1".into());
        assert_eq!(r.key(), "meta/event_time_older_than_7_days");
        let row = serde_json::to_value(Rejection::from(&r)).unwrap();
        assert_eq!(
            row,
            serde_json::json!({"destination": "meta", "rule": "event_time_older_than_7_days", "event_id": "e1", "count": 1})
        );
        // Every column of the row is a column of the table.
        for col in row.as_object().unwrap().keys() {
            assert!(
                super::super::rejections_table()
                    .ddl_template()
                    .contains(&format!("\n    {col} ")),
                "{col}"
            );
        }
    }
}
