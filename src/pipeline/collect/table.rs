//! `Collect::table`: each record of a container becomes a row of a table,
//! shipped through the run's sidecar.

use std::io::Write;
use std::sync::Arc;

use crate::base::Epoch;
use crate::failure::{Failure, Supervisor};
use crate::metrics::stage::RowContext;
use crate::pipeline::BuildContext;
use crate::table::{Rows, Shipper, Table};

/// Renders one record's row after the given context prefix.
pub(super) type RowFn<R> =
    Arc<dyn Fn(&R, &[u8], &mut Rows) -> serde_json::Result<()> + Send + Sync>;

/// Erases the row type: the stage only ever needs the rendered line.
pub(super) fn row_fn<R: 'static, T: serde::Serialize + 'static>(row: fn(&R) -> T) -> RowFn<R> {
    Arc::new(move |r, prefix, rows| rows.push_with(prefix, &row(r)))
}

/// One worker's writer for one `collect` stage's table.
pub(super) struct TableWriter<R> {
    shipper: Arc<dyn Shipper>,
    rows: RowContext,
    table: Table,
    row: RowFn<R>,
    supervisor: Supervisor,
    /// The context columns as JSON up to the batch: `"run_id":…,"dataflow":…,
    /// "stage_path":…,` — rendered once per stage, not per record.
    labels: Vec<u8>,
    stage: String,
}

impl<R> TableWriter<R> {
    /// `None` when the run has no sink: there is nowhere to keep records.
    pub(super) fn new(
        ctx: &BuildContext,
        name: &str,
        table: Table,
        row: RowFn<R>,
    ) -> Option<TableWriter<R>> {
        let (shipper, rows) = ctx.shipper.clone()?;
        let stage = ctx.path(name);
        let mut labels = Vec::new();
        for (key, value) in [
            ("run_id", rows.run_id.as_str()),
            ("dataflow", rows.dataflow.as_str()),
            ("stage_path", stage.as_str()),
        ] {
            // Writing strings into a Vec cannot fail.
            let _ = write!(labels, "\"{key}\":");
            let _ = serde_json::to_writer(&mut labels, value);
            labels.push(b',');
        }
        Some(TableWriter {
            shipper,
            rows,
            table,
            row,
            supervisor: ctx.supervisor.clone(),
            labels,
            stage,
        })
    }

    /// Ships `records` of batch `epoch` as one message. A record whose row
    /// cannot be written as JSON ends the run: an empty row in its place
    /// would be silent loss.
    pub(super) fn write(&self, epoch: Epoch, records: &[R]) {
        if records.is_empty() {
            return;
        }
        let timestamp = self.rows.clock.now_us() / 1_000_000;
        let mut prefix = self.labels.clone();
        let _ = write!(
            prefix,
            "\"batch_id\":{},\"worker_id\":{},\"process_id\":{},\"timestamp\":{timestamp}",
            epoch as u32, self.rows.worker_id, self.rows.process_id
        );
        let mut rows = Rows::new(&self.table);
        for r in records {
            if let Err(e) = (self.row)(r, &prefix, &mut rows) {
                // The error names the row type's problem, never a value.
                self.supervisor.fail(Failure::Output {
                    path: format!("table {}", self.table.name()),
                    reason: format!(
                        "a record of stage `{}` cannot be written as a row: {e}",
                        self.stage
                    ),
                });
                return;
            }
        }
        self.shipper.ship(rows);
    }
}
