//! Small helpers: medians, formatting, CPU time, peak RSS, child processes.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The median (mean of the middle two for an even count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    quantile(values, 0.5)
}

/// The `q` quantile by linear interpolation; NaN when empty.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// Seconds as `1.23 s`, `45.6 ms` or `789 µs`.
pub fn secs(s: f64) -> String {
    if !s.is_finite() {
        "n/a".into()
    } else if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

/// Microseconds with one decimal.
pub fn micros(s: f64) -> String {
    format!("{:.1} µs", s * 1e6)
}

/// Bytes as KB (1000) with the exact count.
pub fn bytes(n: u64) -> String {
    format!("{:.0} KB ({n} B)", n as f64 / 1000.0)
}

/// KiB of RSS as MB.
pub fn rss(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 * 1024.0 / 1e6)
}

/// A ratio like `1.07×`.
pub fn ratio(r: f64) -> String {
    if r.is_finite() {
        format!("{r:.2}×")
    } else {
        "n/a".into()
    }
}

/// Available CPUs.
pub fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// User + system CPU time of this process (all threads), in seconds.
pub fn cpu_self() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// User + system CPU time of another process, in seconds (from /proc, clock-tick resolution).
pub fn cpu_of(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // Fields after the `(comm)`: state is field 3; utime and stime are fields 14 and 15.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return f64::NAN;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i - 3)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(14) + ticks(15)) / hz
}

/// This process's peak resident set (VmHWM), in KiB.
pub fn vmhwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// How a child process ended, with its wall time and peak RSS.
pub struct Finished {
    /// Exit code (None: killed by a signal).
    pub code: Option<i32>,
    /// From spawn to exit.
    pub wall: Duration,
    /// Peak RSS (ru_maxrss), KiB.
    pub maxrss_kib: u64,
}

/// Runs `cmd` to completion (stdout and stderr to a file in `log_dir`) and measures it.
///
/// The command is started by a small launcher process (`roster-bench __measure`), which times
/// it and reaps it with wait4: `ru_maxrss` of a child spawned straight from this (large)
/// process would include this process's own peak, since Linux records the memory a child
/// leaves at exec, and std spawns with vfork.
pub fn run_measured(cmd: Command, log_dir: &Path, name: &str) -> Result<(Finished, String)> {
    let out_path = log_dir.join(format!("{name}.out"));
    let mut launcher = Command::new(std::env::current_exe()?);
    launcher
        .arg("__measure")
        .arg(&out_path)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => launcher.env(k, v),
            None => launcher.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        launcher.current_dir(dir);
    }
    let output = launcher
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("starting {cmd:?}"))?;
    let report = String::from_utf8_lossy(&output.stdout);
    let v: serde_json::Value = serde_json::from_str(report.trim()).with_context(|| {
        format!(
            "launcher said {report:?} {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    let finished = Finished {
        code: v["code"].as_i64().map(|c| c as i32),
        wall: Duration::from_secs_f64(v["wall_s"].as_f64().unwrap_or(f64::NAN)),
        maxrss_kib: v["maxrss_kib"].as_u64().unwrap_or(0),
    };
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    Ok((finished, text))
}

/// `roster-bench __measure OUT PROGRAM ARGS…`: runs PROGRAM (output to OUT) and prints
/// `{code, wall_s, maxrss_kib}` as JSON.
pub fn measure_main(mut args: impl Iterator<Item = String>) -> Result<()> {
    let out_path = args.next().context("__measure OUT PROGRAM ARGS…")?;
    let program = args.next().context("__measure OUT PROGRAM ARGS…")?;
    let out = std::fs::File::create(&out_path)?;
    let err = out.try_clone()?;
    let mut cmd = Command::new(&program);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err);
    let started = Instant::now();
    let child = cmd.spawn().with_context(|| format!("starting {program}"))?;
    let f = wait4(child, started)?;
    println!(
        "{}",
        serde_json::json!({ "code": f.code, "wall_s": f.wall.as_secs_f64(), "maxrss_kib": f.maxrss_kib })
    );
    Ok(())
}

/// Reaps `child` with wait4 (the std `Child` is not waited again).
pub fn wait4(child: Child, started: Instant) -> Result<Finished> {
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own child; status and usage are ours to write.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            bail!("wait4({pid}): {e}");
        }
    }
    let wall = started.elapsed();
    std::mem::forget(child);
    let code = if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else {
        None
    };
    Ok(Finished {
        code,
        wall,
        maxrss_kib: usage.ru_maxrss as u64,
    })
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("host/bench is two levels down")
        .to_path_buf()
}

/// The first `.cwasm` file in `dir` not in `known`, with its size.
pub fn new_cache_file(dir: &Path, known: &[PathBuf]) -> Option<(PathBuf, u64)> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm") && !known.contains(p))
        .find_map(|p| std::fs::metadata(&p).ok().map(|m| (p.clone(), m.len())))
}

/// Opens a workspace of `file` with the built-in components, granted what they ask for (as a
/// user who ran `roster grant` would have), as `roster plan` and `roster apply` open theirs.
pub async fn open_builtins(
    file: roster_engine::rosterfile::RosterFile,
    runtime: &roster_runtime::Runtime,
) -> Result<roster_engine::workspace::Workspace> {
    let builtins: Vec<_> = roster_components::BUILTINS
        .iter()
        .map(|b| (b.name, b.wasm))
        .collect();
    let lock = roster_engine::workspace::Workspace::wanted_grants(&file, runtime, &builtins)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    roster_engine::workspace::Workspace::open(file, runtime, &builtins, &lock)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}
