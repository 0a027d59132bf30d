//! `Collect::table`: each record of a container becomes a row of a record
//! table, shipped through the run's sidecar with the stage's metric rows.

use std::sync::Arc;

use crate::base::Epoch;
use crate::failure::{Failure, Supervisor};
use crate::metrics::rows::{RecordRow, Table};
use crate::metrics::stage::RowContext;
use crate::pipeline::BuildContext;
use crate::record::Record;
use crate::sink::sidecar::MetricsSender;

/// One worker's writer for one `collect` stage's table.
pub(super) struct TableWriter<R> {
    sender: MetricsSender,
    rows: RowContext,
    table: Table,
    id: fn(&R) -> String,
    supervisor: Supervisor,
    /// Labels every row of the stage shares: one allocation per stage, not
    /// three per record.
    run_id: Arc<str>,
    dataflow: Arc<str>,
    stage: Arc<str>,
}

impl<R: Record> TableWriter<R> {
    /// `None` with `--metrics off`: there is nowhere to keep records.
    pub(super) fn new(
        ctx: &BuildContext,
        name: &str,
        table: Table,
        id: fn(&R) -> String,
    ) -> Option<TableWriter<R>> {
        let (sender, rows) = ctx.shipper.clone()?;
        Some(TableWriter {
            run_id: rows.run_id.as_str().into(),
            dataflow: rows.dataflow.as_str().into(),
            stage: ctx.path(name).into(),
            sender,
            rows,
            table,
            id,
            supervisor: ctx.supervisor.clone(),
        })
    }

    /// Ships `records` of batch `epoch` as one message. A record that cannot
    /// be written as JSON ends the run: an empty row in its place would be
    /// silent loss.
    pub(super) fn write(&self, epoch: Epoch, records: &[R]) {
        let timestamp = (self.rows.clock.now_us() / 1_000_000) as u32;
        let rows: Result<Vec<RecordRow>, serde_json::Error> = records
            .iter()
            .map(|r| {
                Ok(RecordRow {
                    run_id: self.run_id.clone(),
                    dataflow: self.dataflow.clone(),
                    stage_path: self.stage.clone(),
                    batch_id: epoch as u32,
                    worker_id: self.rows.worker_id,
                    process_id: self.rows.process_id,
                    record_id: (self.id)(r),
                    record: serde_json::to_string(r)?,
                    timestamp,
                    insert_id: String::new(),
                })
            })
            .collect();
        match rows {
            Ok(rows) => self.sender.send(self.table.rows(rows)),
            Err(e) => self.supervisor.fail(Failure::Output {
                path: format!("table {}", self.table.name()),
                reason: format!(
                    "a record of stage `{}` cannot be written as JSON: {e}",
                    self.stage
                ),
            }),
        }
    }
}
