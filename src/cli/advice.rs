//! What to do next, in the command line's words. The library's errors say
//! what went wrong in neutral terms (a library user has no flags); the
//! command line adds the flag that changes the outcome.

use crate::failure::Failure;
use crate::input::InputError;
use crate::run::RunError;

/// `e` as the command line shows it: the library's line, then advice where
/// a flag helps.
pub fn explain(e: &RunError) -> String {
    let advice = match e {
        RunError::Failed(Failure::Input(InputError::Record { .. })) => {
            "\n  (fix the record, or run with --on-error skip --dead-letter FILE to skip and keep bad records)"
        }
        RunError::Failed(Failure::Input(InputError::NoRecords { .. })) => " for --size",
        RunError::Failed(Failure::Input(InputError::NeedsInput)) => {
            ": give INPUT, optionally with --size N"
        }
        RunError::Failed(Failure::Input(InputError::StreamInCluster { .. })) => {
            " (--size with -n > 1)"
        }
        RunError::Failed(Failure::Stalled(_)) => "; raise --stall-timeout if batches take longer",
        RunError::Failed(Failure::Relayed { message, .. }) if message.starts_with("stalled:") => {
            "; raise --stall-timeout if batches take longer"
        }
        _ => "",
    };
    format!("{e}{advice}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_line_gains_the_flag_that_helps() {
        let e = RunError::Failed(Failure::Input(InputError::Record {
            path: "in.ndjson".into(),
            line: 3,
            reason: "malformed JSON".into(),
        }));
        assert_eq!(e.to_string(), "in.ndjson:3: malformed JSON");
        assert!(
            explain(&e)
                .ends_with("--on-error skip --dead-letter FILE to skip and keep bad records)")
        );
    }
}
