//! The docs are run, so they cannot rot: every ```sh block of the README and `docs/*.md` is
//! executed line by line, in order, one temporary directory per file, with `roster` (and a
//! `cargo run -p roster-cli --` line) being this build's binary and `roster sim … &` started in the
//! background on free ports; a line's `# exit N` comment is the exit code it must end with (0
//! otherwise). Every ```toml block that declares providers or resources is a roster file: written
//! out (with the CSV block after it, when it names one), granted and validated. A block that
//! cannot run here says why on the line above it: `<!-- not run: REASON -->` (the README's
//! Terraform session, say, is run by tests/terraform.rs with its main.tf).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROSTER: &str = env!("CARGO_BIN_EXE_roster");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The documents whose blocks are run.
fn documents() -> Vec<PathBuf> {
    let mut docs = vec![root().join("README.md")];
    let mut more: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    more.sort();
    docs.extend(more);
    docs
}

#[derive(Debug)]
struct Block {
    /// `README.md:12`
    at: String,
    lang: String,
    text: String,
    not_run: Option<String>,
}

fn blocks(path: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path
        .strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if let Some(lang) = lines[i].strip_prefix("```").filter(|l| !l.is_empty()) {
            let not_run = i
                .checked_sub(1)
                .and_then(|p| lines[p].trim().strip_prefix("<!-- not run:"))
                .map(|r| r.trim_end_matches("-->").trim().to_string());
            let start = i + 1;
            let mut end = start;
            while end < lines.len() && !lines[end].starts_with("```") {
                end += 1;
            }
            out.push(Block {
                at: format!("{name}:{}", i + 1),
                lang: lang.trim().to_string(),
                text: lines[start..end].join("\n") + "\n",
                not_run,
            });
            i = end + 1;
        } else {
            i += 1;
        }
    }
    out
}

fn free_port() -> String {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string()
}

/// A shell line without its trailing comment, and the exit code the comment asks for.
fn command_of(line: &str) -> (String, i32) {
    let (cmd, comment) = match line.find(" #") {
        Some(i) if line[..i].matches('\'').count().is_multiple_of(2) => {
            (&line[..i], &line[i + 2..])
        }
        _ => (line, ""),
    };
    let expect = comment
        .trim()
        .strip_prefix("exit ")
        .and_then(|n| n.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    (cmd.trim().to_string(), expect)
}

struct Session {
    dir: tempfile::TempDir,
    bin: tempfile::TempDir,
    cache: PathBuf,
    nimbus: String,
    symbee: String,
    sim: Option<Child>,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(mut c) = self.sim.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Session {
    fn new(cache: &Path) -> Session {
        let bin = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(ROSTER, bin.path().join("roster")).unwrap();
        Session {
            dir: tempfile::tempdir().unwrap(),
            bin,
            cache: cache.to_path_buf(),
            nimbus: free_port(),
            symbee: free_port(),
            sim: None,
        }
    }

    fn shell(&self, cmd: &str) -> Command {
        let path = format!(
            "{}:{}",
            self.bin.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut c = Command::new("bash");
        c.arg("-c")
            .arg(cmd)
            .current_dir(self.dir.path())
            .env("PATH", path)
            .env("ROSTER_CACHE_DIR", &self.cache)
            .env("NO_COLOR", "1")
            .env("CHECKPOINT_DISABLE", "1")
            .stdin(Stdio::null());
        c
    }

    fn run_line(&mut self, at: &str, line: &str) {
        let (cmd, expect) = command_of(line);
        let cmd = match cmd.strip_prefix("cargo run -p roster-cli --") {
            Some(rest) => format!("roster{rest}"),
            None => cmd,
        };
        let cmd = cmd
            .replace("127.0.0.1:8781", &self.nimbus)
            .replace("127.0.0.1:8782", &self.symbee);
        if let Some(sim) = cmd
            .strip_suffix('&')
            .map(str::trim)
            .filter(|c| c.starts_with("roster sim"))
        {
            if let Some(mut old) = self.sim.take() {
                let _ = old.kill();
                let _ = old.wait();
            }
            let full = format!("{sim} --nimbus {} --symbee {}", self.nimbus, self.symbee);
            let writes = sim
                .split_whitespace()
                .skip_while(|w| *w != "--write-roster")
                .nth(1)
                .map(|f| self.dir.path().join(f).with_file_name("roster.lock"));
            let _ = writes.as_ref().map(std::fs::remove_file);
            let mut child = self
                .shell(&format!("exec {full}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                assert!(child.try_wait().unwrap().is_none(), "{at}: `{full}` exited");
                let up = std::net::TcpStream::connect(&self.nimbus).is_ok()
                    && writes.as_ref().is_none_or(|l| l.exists());
                if up {
                    break;
                }
                assert!(Instant::now() < deadline, "{at}: `{full}` did not come up");
                std::thread::sleep(Duration::from_millis(50));
            }
            self.sim = Some(child);
            return;
        }
        let o = self.shell(&cmd).output().unwrap();
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            o.status.code(),
            Some(expect),
            "{at}: `{cmd}` should exit {expect}:\n{out}"
        );
    }
}

fn cache() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Every shell block of every document runs as written.
#[test]
fn every_shell_block_runs() {
    let cache = cache();
    let mut ran = 0;
    let mut skipped = Vec::new();
    for doc in documents() {
        let mut session = Session::new(cache.path());
        for b in blocks(&doc).into_iter().filter(|b| b.lang == "sh") {
            if let Some(reason) = &b.not_run {
                assert!(reason.len() > 10, "{}: say why the block is not run", b.at);
                skipped.push(b.at.clone());
                continue;
            }
            let mut pending = String::new();
            for line in b.text.lines() {
                let line = line.trim_end();
                if let Some(cont) = line.strip_suffix('\\') {
                    pending.push_str(cont);
                    continue;
                }
                let whole = format!("{pending}{line}");
                pending.clear();
                if whole.trim().is_empty() || whole.trim_start().starts_with('#') {
                    continue;
                }
                session.run_line(&b.at, &whole);
                ran += 1;
            }
        }
    }
    println!(
        "ran {ran} documented commands; blocks run elsewhere (each says where): {}",
        skipped.join(", ")
    );
    assert!(ran >= 20, "the docs hold runnable sessions");
}

/// Every roster file in the docs is granted and validated by the binary.
#[test]
fn every_roster_file_is_valid() {
    let cache = cache();
    let mut checked = 0;
    for doc in documents() {
        let all = blocks(&doc);
        for (i, b) in all
            .iter()
            .enumerate()
            .filter(|(_, b)| b.lang == "toml" && b.not_run.is_none())
        {
            if !["[provider.", "[resource.", "[rows."]
                .iter()
                .any(|k| b.text.contains(k))
            {
                continue;
            }
            let dir = tempfile::tempdir().unwrap();
            let mut text = b.text.clone();
            if !text.contains("[provider.") {
                // A fragment: the providers it needs, as the simulators' sample declares them.
                text = format!(
                    "[provider.nimbus]\nconfig = {{ cluster = \"ch-01\", tenant_id = \"{}\", client_id = \"{}\" }}\nsecrets = {{ client_secret = \"env:NIMBUS_CLIENT_SECRET\" }}\n\n{text}",
                    nimbus_tenant(),
                    nimbus_client()
                );
            }
            std::fs::write(dir.path().join("roster.toml"), &text).unwrap();
            if let Some(csv) = all.get(i + 1).filter(|n| n.lang == "csv") {
                let name = text
                    .split("csv = \"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .unwrap_or("agents.csv");
                std::fs::write(dir.path().join(name), &csv.text).unwrap();
            }
            let run = |args: &[&str]| {
                Command::new(ROSTER)
                    .current_dir(dir.path())
                    .args(args)
                    .env("ROSTER_CACHE_DIR", cache.path())
                    .env("NIMBUS_TENANT_ID", nimbus_tenant())
                    .env("NIMBUS_CLIENT_ID", nimbus_client())
                    .env("NO_COLOR", "1")
                    .output()
                    .unwrap()
            };
            for args in [&["grant"][..], &["validate"]] {
                let o = run(args);
                assert!(
                    o.status.success(),
                    "{}: `roster {}`:\n{}{}\n{text}",
                    b.at,
                    args[0],
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 3, "roster files in the docs: {checked}");
}

fn nimbus_tenant() -> &'static str {
    roster_sim::nimbus::demo::TENANT_ID
}

fn nimbus_client() -> &'static str {
    roster_sim::nimbus::demo::CLIENT_ID
}

#[test]
fn command_lines_and_their_exit_codes() {
    assert_eq!(
        command_of("roster plan   # what would change"),
        ("roster plan".to_string(), 0)
    );
    assert_eq!(
        command_of("roster import --csv ids.csv   # exit 1: one is missing"),
        ("roster import --csv ids.csv".to_string(), 1)
    );
    assert_eq!(
        command_of("printf 'a # b' > x"),
        ("printf 'a # b' > x".to_string(), 0)
    );
}
