//! Headless Chromium (Debian's `chromium`, installed by ops/test.sh): load a
//! page from disk with networking off, read the rendered DOM and the console.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// What Chromium rendered.
pub struct Rendered {
    /// The DOM after the page's scripts ran (`--dump-dom`).
    pub dom: String,
    /// Console messages the page logged (any level). Chromium's own pages
    /// log too (e.g. about the missing network); those are left out.
    pub console: Vec<String>,
    /// Wall time of the whole browser process.
    pub wall: Duration,
}

impl Rendered {
    /// Script errors the page trapped itself (`data-errors` on `<html>`).
    pub fn page_errors(&self) -> Option<String> {
        let at = self.dom.find("data-errors=\"")?;
        let rest = &self.dom[at + 13..];
        Some(rest[..rest.find('"').unwrap_or(rest.len())].to_string())
    }

    /// An attribute of the `<html>` element.
    pub fn root_attr(&self, name: &str) -> Option<String> {
        let html = &self.dom[self.dom.find("<html")?..];
        let tag = &html[..html.find('>')?];
        let key = format!("{name}=\"");
        let at = tag.find(&key)? + key.len();
        Some(tag[at..at + tag[at..].find('"')?].to_string())
    }
}

/// The Chromium binary; panics with what to do when it is missing.
pub fn chromium() -> PathBuf {
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "the report tests need headless Chromium: `apt-get install chromium` (ops/test.sh installs it)"
    );
}

/// `unshare --net` when this user may make a network namespace: the page
/// then loads with no network at all.
fn no_network() -> Option<Vec<String>> {
    let ok = Command::new("unshare")
        .args(["--net", "true"])
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| vec!["unshare".to_string(), "--net".to_string()])
}

fn browser(extra: &[String]) -> (Command, tempfile::TempDir) {
    let profile = tempfile::tempdir().unwrap();
    let mut argv = no_network().unwrap_or_default();
    argv.push(chromium().to_string_lossy().into_owned());
    argv.extend(
        [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ]
        .map(String::from),
    );
    argv.push(format!("--user-data-dir={}", profile.path().display()));
    argv.extend(extra.iter().cloned());
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    (cmd, profile)
}

fn url(page: &Path) -> String {
    format!("file://{}", page.canonicalize().unwrap().display())
}

/// Loads `page` and returns the rendered DOM and console.
pub fn render(page: &Path) -> Rendered {
    let (mut cmd, _profile) = browser(&["--dump-dom".into(), url(page)]);
    let started = Instant::now();
    let out = cmd.output().expect("run chromium");
    let wall = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "chromium failed ({}): {stderr}",
        out.status
    );
    Rendered {
        dom: String::from_utf8_lossy(&out.stdout).into_owned(),
        console: stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE") && !l.contains("source: chrome://"))
            .map(String::from)
            .collect(),
        wall,
    }
}

/// Saves a screenshot of `page` at `size` (width, height) to `png`.
pub fn screenshot(page: &Path, png: &Path, size: (u32, u32)) {
    std::fs::create_dir_all(png.parent().unwrap()).unwrap();
    let (mut cmd, _profile) = browser(&[
        format!("--window-size={},{}", size.0, size.1),
        format!("--screenshot={}", png.display()),
        url(page),
    ]);
    let out = cmd.output().expect("run chromium");
    assert!(
        out.status.success() && png.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The text of an element: tags removed, entities decoded, words separated
/// by single spaces (and a space at each end).
pub fn text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let decoded = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    // One space between words, whatever the markup.
    let mut collapsed = String::with_capacity(decoded.len() + 2);
    collapsed.push(' ');
    for word in decoded.split_whitespace() {
        collapsed.push_str(word);
        collapsed.push(' ');
    }
    collapsed
}

/// The outer HTML of the first `tag` element whose start tag contains `marker`.
pub fn element<'a>(dom: &'a str, tag: &str, marker: &str) -> Option<&'a str> {
    let open = format!("<{tag}");
    let mut from = 0;
    while let Some(at) = dom[from..].find(&open) {
        let start = from + at;
        let end_of_tag = start + dom[start..].find('>')?;
        if dom[start..end_of_tag].contains(marker) {
            let close = format!("</{tag}>");
            let end = end_of_tag + dom[end_of_tag..].find(&close)? + close.len();
            return Some(&dom[start..end]);
        }
        from = end_of_tag;
    }
    None
}
