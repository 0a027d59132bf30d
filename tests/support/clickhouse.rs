//! A private ClickHouse server for tests: free ports, its own temp dir and
//! config XML, stopped (and its files removed) on drop.
//!
//! Uses the `clickhouse-server` binary Debian installs (18.16 here); `ops/test.sh`
//! installs it when missing. Queries go through the HTTP interface with plain
//! `std::net::TcpStream`, so the harness does not depend on the code under test.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct ClickHouseServer {
    dir: tempfile::TempDir,
    child: Option<Child>,
    pub http_port: u16,
    pub tcp_port: u16,
    pub password: String,
    extra: Extra,
}

/// More configuration for a server, as an operator would drop it in:
/// files for `config.d/` (e.g. `remote_servers`) and `users.d/` (profile
/// settings), and ports chosen beforehand (so that servers can name each
/// other in `remote_servers`).
#[derive(Debug, Clone, Default)]
pub struct Extra {
    /// `(file name, XML)` for config.d/.
    pub config_d: Vec<(String, String)>,
    /// `(file name, XML)` for users.d/.
    pub users_d: Vec<(String, String)>,
    /// `(http, tcp)`; free ports when `None`.
    pub ports: Option<(u16, u16)>,
}

/// Two free ports, `(http, tcp)`, for [`Extra::ports`].
pub fn free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    let b = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .unwrap()
        .port()
}

fn server_binary() -> PathBuf {
    for p in ["/usr/bin/clickhouse-server", "/usr/sbin/clickhouse-server"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "clickhouse-server is not installed: run `bash ops/test.sh`, which installs it with apt-get"
    );
}

impl ClickHouseServer {
    /// Starts a server whose `default` user has no password.
    pub fn start() -> ClickHouseServer {
        Self::start_with_password("")
    }

    /// Starts a server whose `default` user needs `password`.
    pub fn start_with_password(password: &str) -> ClickHouseServer {
        Self::start_with(password, Extra::default())
    }

    /// Starts a server with `extra` configuration.
    pub fn start_with(password: &str, extra: Extra) -> ClickHouseServer {
        let dir = tempfile::tempdir().expect("temp dir for clickhouse");
        let (http_port, tcp_port) = extra.ports.unwrap_or_else(|| (free_port(), free_port()));
        let mut server = ClickHouseServer {
            dir,
            child: None,
            http_port,
            tcp_port,
            password: password.to_string(),
            extra,
        };
        server.write_config();
        server.launch();
        server
    }

    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    fn write_config(&self) {
        let d = self.dir.path().display();
        let config = format!(
            r#"<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/server.err.log</errorlog></logger>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
</yandex>
"#,
            http = self.http_port,
            tcp = self.tcp_port,
        );
        std::fs::write(self.dir.path().join("config.xml"), config).unwrap();
        let users = format!(
            r#"<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users><default><password>{pw}</password><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
"#,
            pw = self.password
        );
        std::fs::write(self.dir.path().join("users.xml"), users).unwrap();
        for (sub, files) in [
            ("config.d", &self.extra.config_d),
            ("users.d", &self.extra.users_d),
        ] {
            let d = self.dir.path().join(sub);
            std::fs::create_dir_all(&d).unwrap();
            for (name, xml) in files {
                std::fs::write(d.join(name), xml).unwrap();
            }
        }
    }

    fn launch(&mut self) {
        let out = std::fs::File::create(self.dir.path().join("stdout.log")).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(server_binary())
            .arg(format!(
                "--config-file={}/config.xml",
                self.dir.path().display()
            ))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn clickhouse-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self
                .try_query("SELECT 1")
                .is_ok_and(|body| body.trim() == "1")
            {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let log =
                    std::fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default();
                panic!("clickhouse-server exited early ({status}):\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("clickhouse-server did not answer within 60 s");
    }

    /// Kills the server hard (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same ports and data directory.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// Runs `sql`; returns the body (TabSeparated) or the server's error text.
    pub fn try_query(&self, sql: &str) -> Result<String, String> {
        http_post(self.http_port, &self.password, sql)
    }

    /// Runs `sql` and panics with the server's message on error.
    pub fn query(&self, sql: &str) -> String {
        self.try_query(sql)
            .unwrap_or_else(|e| panic!("query failed: {sql}\n{e}"))
    }

    /// Runs `sql` expecting a single number.
    pub fn query_u64(&self, sql: &str) -> u64 {
        let body = self.query(sql);
        body.trim()
            .parse()
            .unwrap_or_else(|_| panic!("expected a number from {sql}, got {body:?}"))
    }
}

impl Drop for ClickHouseServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn http_post(port: u16, password: &str, sql: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let auth = if password.is_empty() {
        String::new()
    } else {
        format!("X-ClickHouse-User: default\r\nX-ClickHouse-Key: {password}\r\n")
    };
    let req = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{sql}",
        sql.len()
    );
    stream
        .write_all(req.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").ok_or("malformed HTTP reply")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    if head.starts_with("HTTP/1.1 200") {
        Ok(body)
    } else {
        Err(body)
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
