//! Current ClickHouse for the tests: the pinned `chdb-core` (ClickHouse built
//! as a Python extension) that `bash ops/test.sh` installs into
//! target/chdb-venv, driven through tests/shipped_sql/chdb_driver.py.
//!
//! One driver process (one chDB session) per `Chdb`; statements are
//! serialised through it. There is no fallback: when the venv is missing the
//! tests fail and say how to install it.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use serde_json::{Value as Json, json};

pub struct Chdb {
    child: Child,
    pipe: Mutex<Option<(ChildStdin, BufReader<ChildStdout>)>>,
    /// chdb-core's own version (the pin in ops/test.sh).
    pub chdb_version: String,
    /// `SELECT version()`: the ClickHouse inside.
    pub server_version: String,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's Python (`MABLE_CHDB_PYTHON` overrides it).
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("MABLE_CHDB_PYTHON") {
        return PathBuf::from(p);
    }
    let p = repo().join("target/chdb-venv/bin/python");
    assert!(
        p.exists(),
        "current ClickHouse (chdb-core) is not installed: {} is missing. Run `bash ops/test.sh`, \
         which installs the pinned chdb-core into target/chdb-venv with pip",
        p.display()
    );
    p
}

/// The chdb-core version ops/test.sh pins (`CHDB_CORE_VERSION=...`).
pub fn pinned_version() -> String {
    let script = std::fs::read_to_string(repo().join("ops/test.sh")).expect("read ops/test.sh");
    script
        .lines()
        .find_map(|l| l.trim().strip_prefix("CHDB_CORE_VERSION="))
        .expect("ops/test.sh pins CHDB_CORE_VERSION")
        .trim()
        .to_string()
}

impl Chdb {
    pub fn start() -> Chdb {
        let python = python();
        let mut child = Command::new(&python)
            .arg(repo().join("tests/shipped_sql/chdb_driver.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", python.display()));
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("read from the chdb driver");
        let hello: Json = serde_json::from_str(&line).unwrap_or_else(|e| {
            let status = child.wait();
            panic!(
                "the chdb driver did not start ({e}; exit {status:?}): is chdb-core installed in the venv? \
                 Run `bash ops/test.sh`."
            )
        });
        assert_eq!(hello["ready"], true, "chdb driver said {hello}");
        Chdb {
            child,
            pipe: Mutex::new(Some((stdin, stdout))),
            chdb_version: hello["chdb"].as_str().unwrap_or("?").to_string(),
            server_version: hello["server"].as_str().unwrap_or("?").to_string(),
        }
    }

    /// Runs one statement; returns its output or ClickHouse's error text.
    pub fn try_query(&self, sql: &str) -> Result<String, String> {
        let mut pipe = self.pipe.lock().unwrap_or_else(|e| e.into_inner());
        let (stdin, stdout) = pipe.as_mut().expect("the chdb driver is open");
        let request = json!({ "sql": sql }).to_string();
        stdin
            .write_all(request.as_bytes())
            .and_then(|_| stdin.write_all(b"\n"))
            .and_then(|_| stdin.flush())
            .expect("the chdb driver is gone");
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read the chdb driver");
        let reply: Json = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the chdb driver answered {line:?}: {e}"));
        if reply["ok"] == true {
            Ok(reply["body"].as_str().unwrap_or_default().to_string())
        } else {
            Err(reply["error"].as_str().unwrap_or("?").to_string())
        }
    }
}

impl Drop for Chdb {
    fn drop(&mut self) {
        // Closing stdin ends the driver, which removes its data directory.
        let pipe = self
            .pipe
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(pipe);
        let _ = self.child.wait();
    }
}
