//! End-to-end benchmarks of the `sessions` binary, each against a baseline measured in the same
//! run on the same machine (see `benches/README.md`).
//!
//!     cargo bench --bench cli -- [SCENARIO…] [--quick]
//!
//! Cargo builds the release binary before running this, and `CARGO_BIN_EXE_sessions` points at
//! it; nothing here compiles the crate. Every scenario is a function returning a [`Report`]
//! (rows plus notes); add one by writing the function and a line in [`SCENARIOS`].
//! Results are printed as Markdown tables and merged into `target/bench-results.json`.

#[path = "support/gen.rs"]
mod generate;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use nix::sys::resource::{UsageWho, getrusage};
use serde_json::{Value, json};

use generate::Corpus;

/// Seed of every generated corpus: change it and all numbers move.
const SEED: u64 = 0x5E55_1025;

struct Scenario {
    name: &'static str,
    about: &'static str,
    run: fn(&mut Bench) -> Result<Report>,
}

/// The scenarios, in the order they run when none is named.
const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "validate",
        about: "`sessions validate --format json` over N files vs `cat` of the same files",
        run: validate,
    },
    Scenario {
        name: "rss",
        about: "peak RSS of `sessions validate` at 10,000 and 100,000 files",
        run: rss,
    },
    Scenario {
        name: "startup",
        about: "`sessions --version` vs a C hello-world and `true`",
        run: startup,
    },
    Scenario {
        name: "hook",
        about: "`sessions hook session-start` with 0, 5 and 100 sessions vs `true`",
        run: hook,
    },
    Scenario {
        name: "edit",
        about: "`sessions update --state` and `sessions log` on a 30 KB file vs `true`",
        run: edit,
    },
    Scenario {
        name: "watch",
        about: "`sessions watch --json`: write-to-event latency and idle CPU, 20 sessions",
        run: watch,
    },
    Scenario {
        name: "scale",
        about: "issue 14: hook, list, references and watch at 1,000 and 10,000 sessions; update/log on 1 MB",
        run: scale,
    },
    Scenario {
        name: "runs",
        about: "issue 14: `agents --all --json` at 10,000 run records (time, RSS, instructions); `spawn` vs `pueue add`",
        run: runs,
    },
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(RSS_PROBE) {
        return rss_probe(&args[1..]);
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> String {
    let mut s =
        String::from("usage: cargo bench --bench cli -- [SCENARIO…] [--quick]\n\nscenarios:\n");
    for sc in SCENARIOS {
        let _ = writeln!(s, "  {:<10} {}", sc.name, sc.about);
    }
    s.push_str("\n--quick  smaller corpora and fewer runs (a smoke test, not a measurement)\n");
    s.push_str(
        "SESSIONS_BENCH_TMP=DIR  where corpora are generated (default: the system temp dir)\n",
    );
    s.push_str(
        "SESSIONS_BENCH_KEEP=1   keep the generated corpora (e.g. to profile against them)\n",
    );
    s
}

fn run(args: Vec<String>) -> Result<()> {
    let mut quick = false;
    let mut selected: Vec<&Scenario> = Vec::new();
    for arg in &args {
        match arg.as_str() {
            "--quick" => quick = true,
            // cargo passes --bench to harness = false targets.
            "--bench" => {}
            "-h" | "--help" | "--list" => {
                print!("{}", usage());
                return Ok(());
            }
            name => match SCENARIOS.iter().find(|s| s.name == name) {
                Some(sc) => selected.push(sc),
                None => bail!("unknown scenario or option `{name}`\n\n{}", usage()),
            },
        }
    }
    if selected.is_empty() {
        selected = SCENARIOS.iter().collect();
    }
    let mut bench = Bench::new(quick)?;
    println!(
        "## sessions CLI benchmarks{}\n\n`{}` at {}, {} CPUs\n",
        if quick { " (--quick)" } else { "" },
        bench.bin.display(),
        bench.commit,
        bench.cpus
    );
    for sc in selected {
        eprintln!("bench: running `{}`", sc.name);
        let watch = CpuWatch::start();
        let mut report = (sc.run)(&mut bench).with_context(|| format!("scenario `{}`", sc.name))?;
        report.other_load = watch.and_then(|w| w.other_load());
        if let Some(other) = report.other_load.filter(|&l| l > 0.2) {
            report.notes.push(format!(
                "**busy machine**: other processes used {other:.2} of the {} CPUs on average while \
                 this scenario ran; rerun on a quiet machine before trusting the numbers",
                bench.cpus
            ));
        }
        print!("{}", report.markdown(sc.name));
        bench.save(sc.name, &report)?;
    }
    println!("Results merged into `{}`.", bench.results_path().display());
    Ok(())
}

/// Shared state: the binary under test, the scratch directory and corpora already generated.
struct Bench {
    bin: PathBuf,
    quick: bool,
    cpus: usize,
    commit: String,
    work: tempfile::TempDir,
    corpora: HashMap<usize, Corpus>,
}

impl Bench {
    fn new(quick: bool) -> Result<Bench> {
        // Set by cargo for benches and integration tests: the binary it just built for us.
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_sessions"));
        ensure!(
            bin.is_file(),
            "{} does not exist; run `cargo build --release` first",
            bin.display()
        );
        let tmp =
            std::env::var_os("SESSIONS_BENCH_TMP").map_or_else(std::env::temp_dir, PathBuf::from);
        let mut work = tempfile::Builder::new()
            .prefix("sessions-bench-")
            .tempdir_in(&tmp)
            .with_context(|| format!("creating a scratch directory in {}", tmp.display()))?;
        if std::env::var_os("SESSIONS_BENCH_KEEP").is_some() {
            work.disable_cleanup(true);
            eprintln!("bench: keeping corpora in {}", work.path().display());
        }
        let commit = Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map_or_else(
                || "unknown commit".into(),
                |o| String::from_utf8_lossy(&o.stdout).trim().to_string(),
            );
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Bench {
            bin,
            quick,
            cpus,
            commit,
            work,
            corpora: HashMap::new(),
        })
    }

    /// The repository with `n` generated sessions (files `0..n` of the seeded corpus).
    fn corpus(&mut self, n: usize) -> Result<Corpus> {
        if let Some(c) = self.corpora.get(&n) {
            return Ok(c.clone());
        }
        let started = Instant::now();
        let root = self.work.path().join(format!("repo-{n}"));
        let corpus = generate::populate(&root, n, SEED).context("generating sessions")?;
        eprintln!(
            "bench: generated {} files ({}) in {:.1} s",
            thousands(n),
            mb(corpus.bytes),
            started.elapsed().as_secs_f64()
        );
        self.corpora.insert(n, corpus.clone());
        Ok(corpus)
    }

    fn sessions(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args).current_dir(dir).stdout(Stdio::null());
        cmd
    }

    /// `target/`, found from the binary's path (`target/release/sessions`).
    fn results_path(&self) -> PathBuf {
        let target = self
            .bin
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("target"));
        target.join("bench-results.json")
    }

    /// Merges this scenario's results into `target/bench-results.json` (quick runs under
    /// their own key, so they never overwrite a full measurement).
    fn save(&self, name: &str, report: &Report) -> Result<()> {
        let path = self.results_path();
        let mut all: serde_json::Map<String, Value> = fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let key = if self.quick {
            format!("{name} --quick")
        } else {
            name.to_string()
        };
        let rows: Vec<Value> = report.rows.iter().map(Row::json).collect();
        all.insert(
            key,
            json!({
                "recorded": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "quick": self.quick,
                "commit": self.commit,
                "cpus": self.cpus,
                "other_cpu_load": report.other_load,
                "rows": rows,
                "notes": report.notes,
            }),
        );
        let text = serde_json::to_string_pretty(&Value::Object(all))?;
        fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))
    }
}

// ---------------------------------------------------------------------------------------------
// Reports

#[derive(Debug, Clone, Copy)]
enum Unit {
    Ms,
    MiB,
    /// CPU milliseconds per wall-clock second.
    MsPerSec,
    /// Millions of instructions (callgrind).
    MInstr,
}

/// How a row is compared with its baseline.
#[derive(Debug, Clone, Copy)]
enum Compare {
    Ratio,
    Diff,
}

#[derive(Debug, Clone, Copy)]
enum Target {
    /// median / baseline ≤ x
    Ratio(f64),
    /// median − baseline ≤ x
    Diff(f64),
    /// median ≤ x
    Max(f64),
    None,
}

#[derive(Debug, Clone)]
struct Row {
    case: String,
    unit: Unit,
    median: f64,
    min: f64,
    runs: usize,
    baseline: Option<(String, f64)>,
    compare: Compare,
    target: Target,
    /// More numbers for the JSON file (not printed).
    extra: Value,
}

impl Row {
    fn new(case: impl Into<String>, unit: Unit, samples: &[f64]) -> Row {
        Row {
            case: case.into(),
            unit,
            median: median(samples),
            min: samples.iter().copied().fold(f64::INFINITY, f64::min),
            runs: samples.len(),
            baseline: None,
            compare: Compare::Ratio,
            target: Target::None,
            extra: Value::Null,
        }
    }

    fn against(mut self, name: impl Into<String>, baseline_median: f64, compare: Compare) -> Row {
        self.baseline = Some((name.into(), baseline_median));
        self.compare = compare;
        self
    }

    fn target(mut self, target: Target) -> Row {
        self.target = target;
        self
    }

    fn extra(mut self, extra: Value) -> Row {
        self.extra = extra;
        self
    }

    fn ratio(&self) -> Option<f64> {
        self.baseline.as_ref().map(|(_, b)| self.median / b)
    }

    fn diff(&self) -> Option<f64> {
        self.baseline.as_ref().map(|(_, b)| self.median - b)
    }

    fn met(&self) -> Option<bool> {
        match self.target {
            Target::Ratio(t) => self.ratio().map(|r| r <= t),
            Target::Diff(t) => self.diff().map(|d| d <= t),
            Target::Max(t) => Some(self.median <= t),
            Target::None => None,
        }
    }

    fn value(&self, v: f64) -> String {
        match self.unit {
            Unit::Ms if v.abs() < 10.0 => format!("{v:.2} ms"),
            Unit::Ms => format!("{v:.1} ms"),
            Unit::MiB => format!("{v:.1} MiB"),
            Unit::MsPerSec => format!("{v:.2} ms/s"),
            Unit::MInstr => format!("{v:.1} M instr"),
        }
    }

    fn comparison(&self) -> String {
        match (self.compare, self.ratio(), self.diff()) {
            (Compare::Ratio, Some(r), _) => format!("{r:.2}×"),
            (Compare::Diff, _, Some(d)) => {
                let sign = if d >= 0.0 { "+" } else { "−" };
                format!("{sign}{}", self.value(d.abs()))
            }
            _ => "—".into(),
        }
    }

    fn target_text(&self) -> String {
        match self.target {
            Target::Ratio(t) => format!("≤ {t}×"),
            Target::Diff(t) => format!("≤ +{}", self.value(t)),
            Target::Max(t) => format!("≤ {}", self.value(t)),
            Target::None => "—".into(),
        }
    }

    fn json(&self) -> Value {
        let unit = match self.unit {
            Unit::Ms => "ms",
            Unit::MiB => "MiB",
            Unit::MsPerSec => "ms/s",
            Unit::MInstr => "M instructions",
        };
        let (target_kind, target_value) = match self.target {
            Target::Ratio(t) => ("ratio", Some(t)),
            Target::Diff(t) => ("diff", Some(t)),
            Target::Max(t) => ("max", Some(t)),
            Target::None => ("none", None),
        };
        json!({
            "case": self.case,
            "unit": unit,
            "median": self.median,
            "min": self.min,
            "runs": self.runs,
            "baseline": self.baseline.as_ref().map(|(n, _)| n),
            "baseline_median": self.baseline.as_ref().map(|(_, m)| m),
            "ratio": self.ratio(),
            "diff": self.diff(),
            "target": {"kind": target_kind, "value": target_value},
            "met": self.met(),
            "extra": self.extra,
        })
    }
}

struct Report {
    rows: Vec<Row>,
    notes: Vec<String>,
    /// CPUs kept busy by other processes while the scenario ran (set by the runner).
    other_load: Option<f64>,
}

impl Report {
    fn new(rows: Vec<Row>, notes: Vec<String>) -> Report {
        Report {
            rows,
            notes,
            other_load: None,
        }
    }

    fn markdown(&self, scenario: &str) -> String {
        let mut s = format!("### {scenario}\n\n");
        s.push_str("| scenario | case | median | min | runs | baseline | baseline median | ratio / diff | target | met |\n");
        s.push_str("|---|---|--:|--:|--:|---|--:|--:|--:|:-:|\n");
        for r in &self.rows {
            let (bname, bmedian) = match &r.baseline {
                Some((n, m)) => (n.clone(), r.value(*m)),
                None => ("—".into(), "—".into()),
            };
            let met = match r.met() {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "—",
            };
            let _ = writeln!(
                s,
                "| {scenario} | {} | {} | {} | {} | {bname} | {bmedian} | {} | {} | {met} |",
                r.case,
                r.value(r.median),
                r.value(r.min),
                r.runs,
                r.comparison(),
                r.target_text(),
            );
        }
        s.push('\n');
        for n in &self.notes {
            let _ = writeln!(s, "- {n}");
        }
        if !self.notes.is_empty() {
            s.push('\n');
        }
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Measuring

/// CPU time used by the whole machine (from `/proc/stat`) versus by this process and its
/// children, to tell whether something else was competing for the cores during a scenario.
struct CpuWatch {
    machine_ms: f64,
    ours_ms: f64,
    started: Instant,
}

impl CpuWatch {
    fn start() -> Option<CpuWatch> {
        Some(CpuWatch {
            machine_ms: machine_busy_ms()?,
            ours_ms: our_cpu_ms(),
            started: Instant::now(),
        })
    }

    /// How many CPUs other processes kept busy on average since `start`.
    fn other_load(&self) -> Option<f64> {
        let machine = machine_busy_ms()? - self.machine_ms;
        let ours = our_cpu_ms() - self.ours_ms;
        let wall = self.started.elapsed().as_secs_f64() * 1e3;
        Some(((machine - ours) / wall).max(0.0))
    }
}

/// Busy (non-idle, non-iowait) CPU time of the machine since boot, in ms (Linux).
fn machine_busy_ms() -> Option<f64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(8) // user nice system idle iowait irq softirq steal
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    let idle = fields.get(3)? + fields.get(4)?;
    // Kernel ticks are USER_HZ = 100 per second on every Linux architecture we run on.
    Some((fields.iter().sum::<f64>() - idle) * 10.0)
}

/// CPU time of this process plus all its waited-for descendants, in ms.
fn our_cpu_ms() -> f64 {
    let own = getrusage(UsageWho::RUSAGE_SELF).map_or(0.0, |u| {
        timeval_ms(u.user_time()) + timeval_ms(u.system_time())
    });
    own + children_cpu_ms()
}

fn timeval_ms(t: nix::sys::time::TimeVal) -> f64 {
    t.tv_sec() as f64 * 1e3 + t.tv_usec() as f64 / 1e3
}

fn median(samples: &[f64]) -> f64 {
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// User + system CPU time of all waited-for children so far, in ms.
fn children_cpu_ms() -> f64 {
    getrusage(UsageWho::RUSAGE_CHILDREN).map_or(0.0, |u| {
        timeval_ms(u.user_time()) + timeval_ms(u.system_time())
    })
}

/// One thing to time: a sequence of commands run one after another (usually just one).
struct Case<'a> {
    name: &'a str,
    commands: Box<dyn Fn() -> Vec<Command> + 'a>,
    /// Exit codes that count as success (`validate` exits 1 when it finds errors).
    ok: &'a [i32],
}

#[derive(Debug, Default, Clone)]
struct Samples {
    /// Wall-clock time per run, ms.
    wall: Vec<f64>,
    /// User + system CPU time per run, ms.
    cpu: Vec<f64>,
}

/// Runs each case `warmup` times untimed, then `runs` times, interleaved round-robin (starting
/// with a different case each round) so drift in machine load hits all cases alike.
fn measure(cases: &[Case], runs: usize, warmup: usize) -> Result<Vec<Samples>> {
    for _ in 0..warmup {
        for case in cases {
            run_case(case)?;
        }
    }
    let mut out = vec![Samples::default(); cases.len()];
    for round in 0..runs {
        for k in 0..cases.len() {
            let i = (round + k) % cases.len();
            let (wall, cpu) = run_case(&cases[i])?;
            out[i].wall.push(wall);
            out[i].cpu.push(cpu);
        }
    }
    Ok(out)
}

fn run_case(case: &Case) -> Result<(f64, f64)> {
    let mut commands = (case.commands)();
    let cpu = children_cpu_ms();
    let started = Instant::now();
    for cmd in &mut commands {
        let status = cmd
            .status()
            .with_context(|| format!("starting {}", case.name))?;
        let code = status.code().unwrap_or(-1);
        ensure!(
            case.ok.contains(&code),
            "{} exited with {status}",
            case.name
        );
    }
    let wall = started.elapsed().as_secs_f64() * 1e3;
    Ok((wall, children_cpu_ms() - cpu))
}

/// `cat` over the corpus, with the names as arguments in batches below the argv limit.
fn cat_commands(corpus: &Corpus) -> Vec<Command> {
    const ARG_BYTES: usize = 512 * 1024;
    let mut out = Vec::new();
    let mut batch: Vec<&str> = Vec::new();
    let mut size = 0;
    let mut flush = |batch: &mut Vec<&str>| {
        let mut cmd = Command::new("cat");
        cmd.args(batch.drain(..))
            .current_dir(&corpus.dir)
            .stdout(Stdio::null());
        out.push(cmd);
    };
    for name in &corpus.names {
        if size + name.len() + 1 > ARG_BYTES && !batch.is_empty() {
            flush(&mut batch);
            size = 0;
        }
        size += name.len() + 1;
        batch.push(name);
    }
    if !batch.is_empty() {
        flush(&mut batch);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Scenarios

fn validate(b: &mut Bench) -> Result<Report> {
    let (n, runs) = if b.quick { (1_000, 5) } else { (10_000, 11) };
    let corpus = b.corpus(n)?;

    // One untimed run to check the corpus is what we think it is (and warm the cache).
    let out = Command::new(&b.bin)
        .args(["validate", "--format", "json"])
        .current_dir(&corpus.root)
        .output()
        .context("running sessions validate")?;
    ensure!(
        matches!(out.status.code(), Some(0 | 1)),
        "sessions validate exited with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).context("parsing validate's JSON")?;
    let count = |k: &str| summary[k].as_u64().unwrap_or(0);
    ensure!(
        count("files") == n as u64,
        "validate checked {} files, expected {n}",
        count("files")
    );

    let cases = [
        Case {
            name: "sessions validate",
            commands: Box::new(|| {
                vec![b.sessions(&corpus.root, &["validate", "--format", "json"])]
            }),
            ok: &[0, 1],
        },
        Case {
            name: "cat",
            commands: Box::new(|| cat_commands(&corpus)),
            ok: &[0],
        },
    ];
    let samples = measure(&cases, runs, 2)?;
    let (v, cat) = (&samples[0], &samples[1]);
    let cat_median = median(&cat.wall);
    let row = Row::new(
        format!("`validate --format json`, {} files", thousands(n)),
        Unit::Ms,
        &v.wall,
    )
    .against("`cat` of the same files", cat_median, Compare::Ratio)
    .target(Target::Ratio(1.0))
    .extra(json!({
        "files": n,
        "bytes": corpus.bytes,
        "crlf_files": corpus.crlf,
        "defective_files": corpus.defective,
        "errors": count("errors"),
        "warnings": count("warnings"),
        "cpu_ms_median": median(&v.cpu),
        "baseline_cpu_ms_median": median(&cat.cpu),
        "baseline_min": cat.wall.iter().copied().fold(f64::INFINITY, f64::min),
        "cat_processes": cat_commands(&corpus).len(),
    }));
    let notes = vec![
        format!(
            "corpus: {} files, {}, {} with CRLF, {} with a planted defect; validate reported {} errors, {} warnings",
            thousands(n),
            mb(corpus.bytes),
            thousands(corpus.crlf),
            thousands(corpus.defective),
            thousands(count("errors") as usize),
            thousands(count("warnings") as usize),
        ),
        format!(
            "CPU time (user+sys, median): validate {:.1} ms on {} CPUs, cat {:.1} ms; throughput {:.0} MB/s vs {:.0} MB/s",
            median(&v.cpu),
            b.cpus,
            median(&cat.cpu),
            corpus.bytes as f64 / 1e3 / row.median,
            corpus.bytes as f64 / 1e3 / cat_median,
        ),
    ];
    Ok(Report::new(vec![row], notes))
}

/// Hidden mode of this binary: `cli --rss-probe DIR PROGRAM ARGS…` runs PROGRAM in DIR, waits
/// for it and prints `<peak RSS in KiB> <exit code>`. Measuring from a fresh, small process
/// matters: `ru_maxrss` of RUSAGE_CHILDREN is a maximum over all children ever waited for, and
/// a child started with vfork/posix_spawn inherits its parent's high-water mark until it execs.
const RSS_PROBE: &str = "--rss-probe";

fn rss_probe(args: &[String]) -> ExitCode {
    let [dir, program, rest @ ..] = args else {
        eprintln!("usage: {RSS_PROBE} DIR PROGRAM [ARGS…]");
        return ExitCode::from(2);
    };
    let status = Command::new(program)
        .args(rest)
        .current_dir(dir)
        .stdout(Stdio::null())
        .status();
    let code = match status {
        Ok(s) => s.code().unwrap_or(-1),
        Err(e) => {
            eprintln!("{RSS_PROBE}: cannot run {program}: {e}");
            return ExitCode::from(2);
        }
    };
    match getrusage(UsageWho::RUSAGE_CHILDREN) {
        Ok(u) => {
            println!("{} {code}", u.max_rss());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{RSS_PROBE}: getrusage: {e}");
            ExitCode::from(2)
        }
    }
}

/// Peak RSS in MiB of `program args` run in `dir`, measured through the probe.
fn peak_rss(dir: &Path, program: &Path, args: &[&str], ok: &[i32]) -> Result<f64> {
    let out = Command::new(std::env::current_exe()?)
        .arg(RSS_PROBE)
        .arg(dir)
        .arg(program)
        .args(args)
        .output()
        .context("running the RSS probe")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(str::parse::<i64>);
    match (out.status.success(), it.next(), it.next()) {
        (true, Some(Ok(kib)), Some(Ok(code))) => {
            ensure!(
                ok.contains(&(code as i32)),
                "{} exited with {code}",
                program.display()
            );
            Ok(kib as f64 / 1024.0)
        }
        _ => bail!(
            "RSS probe failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn true_path() -> PathBuf {
    ["/bin/true", "/usr/bin/true"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("true"))
}

fn rss(b: &mut Bench) -> Result<Report> {
    let (small_n, big_n, runs) = if b.quick {
        (1_000, 10_000, 3)
    } else {
        (10_000, 100_000, 3)
    };
    let small = b.corpus(small_n)?;
    let big = b.corpus(big_n)?;
    let truth = true_path();
    let (mut floor, mut at_small, mut at_big) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        floor.push(peak_rss(&small.root, &truth, &[], &[0])?);
        at_small.push(peak_rss(&small.root, &b.bin, &["validate"], &[0, 1])?);
        at_big.push(peak_rss(&big.root, &b.bin, &["validate"], &[0, 1])?);
    }
    let small_row = Row::new(
        format!(
            "`validate`, {} files ({})",
            thousands(small_n),
            mb(small.bytes)
        ),
        Unit::MiB,
        &at_small,
    )
    .against("`true` (measurement floor)", median(&floor), Compare::Diff)
    .target(Target::Max(32.0))
    .extra(json!({"files": small_n, "bytes": small.bytes}));
    let big_row = Row::new(
        format!("`validate`, {} files ({})", thousands(big_n), mb(big.bytes)),
        Unit::MiB,
        &at_big,
    )
    .against(
        format!("`validate` at {} files", thousands(small_n)),
        small_row.median,
        Compare::Diff,
    )
    .target(Target::Max(32.0))
    .extra(json!({"files": big_n, "bytes": big.bytes}));
    let growth = (big_row.median - small_row.median) * 1024.0 / (big_n - small_n) as f64;
    let notes = vec![format!(
        "{}× the files and bytes cost {:+.1} MiB ({:.2} KiB per extra file); peak RSS via getrusage(RUSAGE_CHILDREN) in a fresh probe process",
        big_n / small_n,
        big_row.median - small_row.median,
        growth
    )];
    Ok(Report::new(vec![small_row, big_row], notes))
}

fn startup(b: &mut Bench) -> Result<Report> {
    let runs = if b.quick { 50 } else { 200 };
    let dir = b.work.path().to_path_buf();
    let hello = dir.join("hello");
    fs::write(
        dir.join("hello.c"),
        "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n",
    )?;
    let compiled = Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(&hello)
        .arg(dir.join("hello.c"))
        .status()
        .is_ok_and(|s| s.success());
    let truth = true_path();
    let run = |program: &Path, args: &'static [&'static str]| {
        let dir = dir.clone();
        let program = program.to_path_buf();
        Box::new(move || {
            let mut cmd = Command::new(&program);
            cmd.args(args).current_dir(&dir).stdout(Stdio::null());
            vec![cmd]
        }) as Box<dyn Fn() -> Vec<Command>>
    };
    let mut cases = vec![
        Case {
            name: "sessions --version",
            commands: run(&b.bin, &["--version"]),
            ok: &[0],
        },
        Case {
            name: "true",
            commands: run(&truth, &[]),
            ok: &[0],
        },
    ];
    if compiled {
        cases.push(Case {
            name: "hello",
            commands: run(&hello, &[]),
            ok: &[0],
        });
    }
    let samples = measure(&cases, runs, 10)?;
    let ours = &samples[0].wall;
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    if compiled {
        rows.push(
            Row::new("`sessions --version`", Unit::Ms, ours)
                .against(
                    "C hello-world (`gcc -O2`)",
                    median(&samples[2].wall),
                    Compare::Diff,
                )
                .target(Target::Diff(1.0)),
        );
    } else {
        notes.push("gcc is not available: no hello-world baseline, only `true`".to_string());
    }
    rows.push(Row::new("`sessions --version`", Unit::Ms, ours).against(
        format!("`{}`", truth.display()),
        median(&samples[1].wall),
        Compare::Diff,
    ));
    notes.push("wall time from spawn to exit, stdout to /dev/null, runs interleaved".to_string());
    Ok(Report::new(rows, notes))
}

/// A command reading `stdin_file` on its standard input, run in `dir`.
fn with_stdin(
    program: &Path,
    args: Vec<String>,
    dir: &Path,
    stdin_file: Option<&Path>,
) -> Box<dyn Fn() -> Vec<Command>> {
    let (program, dir, stdin_file) = (
        program.to_path_buf(),
        dir.to_path_buf(),
        stdin_file.map(Path::to_path_buf),
    );
    Box::new(move || {
        let mut cmd = Command::new(&program);
        cmd.args(&args)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match &stdin_file {
            Some(f) => cmd.stdin(fs::File::open(f).expect("hook input file")),
            None => cmd.stdin(Stdio::null()),
        };
        vec![cmd]
    })
}

fn hook(b: &mut Bench) -> Result<Report> {
    let runs = if b.quick { 30 } else { 200 };
    let truth = true_path();
    let mut rows = Vec::new();
    for (n, target) in [(0usize, 2.0), (5, 2.0), (100, 10.0)] {
        let root = b.work.path().join(format!("hook-{n}"));
        fs::create_dir_all(root.join(".git"))?;
        generate::populate(&root, n, SEED)?;
        let input = root.join("hook.json");
        fs::write(
            &input,
            format!(
                r#"{{"session_id":"bench-conversation","transcript_path":"/tmp/t.jsonl","cwd":"{}","hook_event_name":"SessionStart","source":"startup"}}"#,
                root.display()
            ),
        )?;
        let cases = [
            Case {
                name: "hook session-start",
                commands: with_stdin(
                    &b.bin,
                    vec!["hook".into(), "session-start".into()],
                    &root,
                    Some(&input),
                ),
                ok: &[0],
            },
            Case {
                name: "true",
                commands: with_stdin(&truth, Vec::new(), &root, Some(&input)),
                ok: &[0],
            },
        ];
        let samples = measure(&cases, runs, 10)?;
        rows.push(
            Row::new(format!("{n} sessions"), Unit::Ms, &samples[0].wall)
                .against("`true`", median(&samples[1].wall), Compare::Diff)
                .target(Target::Diff(target)),
        );
        if n == 0 {
            // What recording the agent process (binding/proctree.rs) adds to every hook.
            let plain = with_stdin(
                &b.bin,
                vec!["hook".into(), "session-start".into()],
                &root,
                Some(&input),
            );
            let off = Case {
                name: "hook session-start, SESSIONS_PROCESS_TREE=off",
                commands: Box::new(move || {
                    let mut cmds = plain();
                    for c in &mut cmds {
                        c.env("SESSIONS_PROCESS_TREE", "off");
                    }
                    cmds
                }),
                ok: &[0],
            };
            let off = measure(&[off], runs, 10)?;
            rows.push(
                Row::new(
                    "0 sessions, recording the agent process",
                    Unit::Ms,
                    &samples[0].wall,
                )
                .against(
                    "SESSIONS_PROCESS_TREE=off",
                    median(&off[0].wall),
                    Compare::Diff,
                )
                .target(Target::Diff(1.0)),
            );
        }
    }
    let notes = vec![
        "stdin is a recorded SessionStart(startup) payload; output to /dev/null".to_string(),
        "the bench process is the hook's parent, so the process-tree rows record it (unchanged after the first run)".to_string(),
    ];
    Ok(Report::new(rows, notes))
}

fn edit(b: &mut Bench) -> Result<Report> {
    let runs = if b.quick { 30 } else { 200 };
    let truth = true_path();
    let root = b.work.path().join("edit");
    let dir = root.join(".agents/sessions");
    fs::create_dir_all(&dir)?;
    fs::create_dir_all(root.join(".git"))?;
    let file = generate::session_of_size(SEED, 30 * 1024, false);
    let path = dir.join(&file.name);
    fs::write(&path, &file.text)?;
    let stem = file.name.trim_end_matches(".md").to_string();
    // Alternate two states so every update really writes (a no-op would write nothing).
    let counter = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let update = {
        let (bin, root, stem, counter) =
            (b.bin.clone(), root.clone(), stem.clone(), counter.clone());
        Box::new(move || {
            counter.set(counter.get() + 1);
            let mut cmd = Command::new(&bin);
            cmd.args([
                "update",
                &stem,
                "--state",
                &format!("state {}", counter.get()),
            ])
            .current_dir(&root)
            .stdout(Stdio::null());
            vec![cmd]
        }) as Box<dyn Fn() -> Vec<Command>>
    };
    let log = with_stdin(
        &b.bin,
        vec!["log".into(), stem.clone(), "benchmark entry".into()],
        &root,
        None,
    );
    let cases = [
        Case {
            name: "update --state",
            commands: update,
            ok: &[0],
        },
        Case {
            name: "log",
            commands: log,
            ok: &[0],
        },
        Case {
            name: "true",
            commands: with_stdin(&truth, Vec::new(), &root, None),
            ok: &[0],
        },
    ];
    let samples = measure(&cases, runs, 5)?;
    let base = median(&samples[2].wall);
    let size = fs::metadata(&path)?.len();
    let rows = vec![
        Row::new("update --state (30 KB)", Unit::Ms, &samples[0].wall)
            .against("`true`", base, Compare::Diff)
            .target(Target::Diff(5.0)),
        Row::new("log (30 KB, growing)", Unit::Ms, &samples[1].wall)
            .against("`true`", base, Compare::Diff)
            .target(Target::Diff(5.0)),
    ];
    let notes = vec![format!(
        "lock, re-read, edit, temp file, fsync, rename and directory fsync included; the file grew to {} bytes",
        size
    )];
    Ok(Report::new(rows, notes))
}

/// A running `sessions watch --json` whose stdout lines arrive, stamped with the time they
/// were read, on a channel. Killed when dropped.
struct WatchProcess {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<(Instant, String)>,
}

impl WatchProcess {
    fn start(bin: &Path, root: &Path) -> Result<WatchProcess> {
        use std::io::BufRead;
        let mut child = Command::new(bin)
            .args(["watch", "--json"])
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting sessions watch --json")?;
        let stdout = child.stdout.take().context("watch stdout")?;
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = std::io::BufReader::new(stdout);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                if tx
                    .send((Instant::now(), std::mem::take(&mut line)))
                    .is_err()
                {
                    break;
                }
            }
        });
        Ok(WatchProcess { child, lines })
    }

    /// The first event named `event` (for `session`, if given) within `timeout`, with the
    /// time it was read. Other lines are skipped.
    fn wait_for(
        &self,
        event: &str,
        session: Option<&str>,
        timeout: std::time::Duration,
    ) -> Result<(Instant, Value)> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, line) = self
                .lines
                .recv_timeout(left)
                .with_context(|| format!("no `{event}` event within {timeout:?}"))?;
            let v: Value = serde_json::from_str(&line)
                .with_context(|| format!("watch printed a line that is not JSON: {line}"))?;
            if v["event"] == event && session.is_none_or(|s| v["session"] == s) {
                return Ok((at, v));
            }
        }
    }
}

impl Drop for WatchProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time (user + system, all threads) of process `pid` from `/proc/<pid>/stat`, in ms
/// (USER_HZ = 100: 10 ms resolution).
fn proc_cpu_ms(pid: u32) -> Result<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the `(comm)`: state is field 3, utime 14 and stime 15.
    let rest = stat.rsplit_once(')').context("malformed /proc/pid/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks * 10.0)
}

/// On-CPU time of all threads of `pid` from `/proc/<pid>/task/*/schedstat`, in ms
/// (nanosecond resolution), when the kernel has schedstats.
fn proc_sched_ms(pid: u32) -> Option<f64> {
    let mut ns = 0u64;
    for task in fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let text = fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        ns += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(ns as f64 / 1e6)
}

fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    // Nearest rank.
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

fn watch(b: &mut Bench) -> Result<Report> {
    use notify::Watcher as _;
    use std::time::Duration;

    let (edits, idle_secs) = if b.quick { (20, 2) } else { (50, 5) };
    // Its own repository: the edits below change the files.
    let root = b.work.path().join("watch");
    fs::create_dir_all(root.join(".git"))?;
    let corpus = generate::populate(&root, 20, SEED)?;
    let stems: Vec<String> = corpus
        .names
        .iter()
        .map(|n| n.trim_end_matches(".md").to_string())
        .collect();

    // Baseline: a bare notify watcher on the same directory, in this process. The same write
    // is timed to its first event here and to `session-updated` from `sessions watch`.
    let (ntx, nrx) = std::sync::mpsc::channel::<(Instant, PathBuf)>();
    let mut bare = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res
            && matches!(
                ev.kind,
                notify::EventKind::Modify(_) | notify::EventKind::Create(_)
            )
        {
            let at = Instant::now();
            for p in ev.paths {
                let _ = ntx.send((at, p));
            }
        }
    })?;
    bare.watch(&corpus.dir, notify::RecursiveMode::Recursive)?;

    let w = WatchProcess::start(&b.bin, &root)?;
    let (_, ready) = w.wait_for("watching", None, Duration::from_secs(10))?;
    ensure!(
        ready["sessions"] == 20,
        "watch sees {} sessions, expected 20",
        ready["sessions"]
    );

    let mut latency = Vec::new();
    let mut baseline = Vec::new();
    // Two untimed edits first (page cache, lazy initialisation), as the other scenarios warm up.
    for i in 0..edits + 2 {
        let k = i % corpus.names.len();
        let path = corpus.dir.join(&corpus.names[k]);
        while nrx.try_recv().is_ok() {}
        let started = Instant::now();
        {
            use std::io::Write as _;
            let mut f = fs::OpenOptions::new().append(true).open(&path)?;
            f.write_all(format!("- [ ] bench edit {i}\n").as_bytes())?;
        }
        let (at, _) = w.wait_for("session-updated", Some(&stems[k]), Duration::from_secs(5))?;
        let bare_at = loop {
            let (t, p) = nrx
                .recv_timeout(Duration::from_secs(5))
                .context("no event from the bare notify watcher")?;
            if p == path {
                break t;
            }
        };
        if i >= 2 {
            latency.push((at - started).as_secs_f64() * 1e3);
            baseline.push((bare_at - started).as_secs_f64() * 1e3);
        }
        // Let each change stand alone (the watcher debounces bursts into one look).
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(bare);

    // Idle: nothing changes; a sleeping process is the floor of the measurement.
    let mut floor = Command::new("sleep")
        .arg((idle_secs + 30).to_string())
        .spawn()
        .context("starting sleep")?;
    std::thread::sleep(Duration::from_secs(1));
    let pid = w.child.id();
    let (cpu0, sched0) = (proc_cpu_ms(pid)?, proc_sched_ms(pid));
    let (floor0, floor_sched0) = (proc_cpu_ms(floor.id())?, proc_sched_ms(floor.id()));
    let idle_started = Instant::now();
    std::thread::sleep(Duration::from_secs(idle_secs));
    let secs = idle_started.elapsed().as_secs_f64();
    let idle = (proc_cpu_ms(pid)? - cpu0) / secs;
    let floor_idle = (proc_cpu_ms(floor.id())? - floor0) / secs;
    let sched = sched0.zip(proc_sched_ms(pid)).map(|(a, b)| (b - a) / secs);
    let floor_sched = floor_sched0
        .zip(proc_sched_ms(floor.id()))
        .map(|(a, b)| (b - a) / secs);
    let _ = floor.kill();
    let _ = floor.wait();
    ensure!(
        w.lines.try_recv().is_err(),
        "watch printed something while nothing changed"
    );

    let n = latency.len();
    let p95 = percentile(&latency, 95.0);
    let bare_median = median(&baseline);
    let min = latency.iter().copied().fold(f64::INFINITY, f64::min);
    let mut p95_row = Row::new(format!("event latency, p95 of {n}"), Unit::Ms, &[p95])
        .against(
            "bare notify event, p95",
            percentile(&baseline, 95.0),
            Compare::Diff,
        )
        .target(Target::Max(200.0));
    p95_row.runs = n;
    p95_row.min = min;
    let rows = vec![
        Row::new(
            "event latency (write → `session-updated`)",
            Unit::Ms,
            &latency,
        )
        .against("bare notify event (same write)", bare_median, Compare::Diff)
        .target(Target::Max(200.0))
        .extra(json!({
            "p95": p95,
            "max": latency.iter().copied().fold(0.0, f64::max),
            "baseline_p95": percentile(&baseline, 95.0),
            "sessions": 20,
            "samples": latency,
        })),
        p95_row,
        Row::new(
            format!("idle CPU (utime+stime over {secs:.1} s)"),
            Unit::MsPerSec,
            &[idle],
        )
        .against("`sleep` (measurement floor)", floor_idle, Compare::Diff)
        .target(Target::Max(1.0))
        .extra(json!({"schedstat_ms_per_s": sched, "floor_schedstat_ms_per_s": floor_sched})),
    ];
    let mut notes = vec![
        format!(
            "20 generated sessions; each edit appends a line to one file with a plain write; latency runs from just before the write to reading the event line; {n} edits 100 ms apart after 2 untimed ones; watch debounces for 40 ms before it looks"
        ),
        format!(
            "latency median {:.1} ms, p95 {:.1} ms, max {:.1} ms; the bare notify watcher saw the same writes after {bare_median:.2} ms (median)",
            median(&latency),
            p95,
            latency.iter().copied().fold(0.0, f64::max),
        ),
    ];
    notes.push(match sched {
        Some(ms) => format!(
            "idle CPU from /proc/<pid>/stat has 10 ms ticks (a {secs:.0} s window resolves {:.1} ms/s); on-CPU time from schedstat (ns): {ms:.4} ms/s (`sleep`: {:.4} ms/s)",
            10.0 / secs,
            floor_sched.unwrap_or(f64::NAN)
        ),
        None => format!(
            "idle CPU from /proc/<pid>/stat has 10 ms ticks: a {secs:.0} s window resolves {:.1} ms/s",
            10.0 / secs
        ),
    });
    Ok(Report::new(rows, notes))
}

/// Issue 14's table: the hot paths at 1,000 and 10,000 sessions, each against a baseline run
/// interleaved with it (`true`, a path reference, `dd conv=fsync`, the same watch at 100
/// sessions). `validate` against `cat` is the `validate` scenario; `spawn` and `agents` are in
/// the `runs` scenario.
fn scale(b: &mut Bench) -> Result<Report> {
    let (small, large, runs) = if b.quick {
        (300, 3_000, 11)
    } else {
        (1_000, 10_000, 31)
    };
    let truth = true_path();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for (n, target) in [(small, 10.0), (large, 100.0)] {
        let corpus = b.corpus(n)?;
        let input = corpus.root.join("hook.json");
        fs::write(
            &input,
            format!(
                r#"{{"session_id":"bench-conversation","transcript_path":"/tmp/t.jsonl","cwd":"{}","hook_event_name":"SessionStart","source":"startup"}}"#,
                corpus.root.display()
            ),
        )?;
        fs::create_dir_all(corpus.root.join(".git"))?;
        let mut cases = vec![
            Case {
                name: "hook session-start",
                commands: with_stdin(
                    &b.bin,
                    vec!["hook".into(), "session-start".into()],
                    &corpus.root,
                    Some(&input),
                ),
                ok: &[0],
            },
            Case {
                name: "true",
                commands: with_stdin(&truth, Vec::new(), &corpus.root, Some(&input)),
                ok: &[0],
            },
        ];
        if n == small {
            cases.push(Case {
                name: "list --json",
                commands: with_stdin(
                    &b.bin,
                    vec!["list".into(), "--json".into()],
                    &corpus.root,
                    None,
                ),
                ok: &[0],
            });
        }
        let last = corpus.names.last().context("empty corpus")?.clone();
        let stem = last.trim_end_matches(".md").to_string();
        // Unique to one stem and in no file's text: every other title has to be looked at.
        let needle = stem[1..].to_string();
        if n == large {
            for (name, reference) in [
                ("show by path", format!(".agents/sessions/{last}")),
                ("show by stem", stem.clone()),
                ("show by substring", needle.clone()),
            ] {
                cases.push(Case {
                    name: Box::leak(name.to_string().into_boxed_str()),
                    commands: with_stdin(
                        &b.bin,
                        vec!["show".into(), reference],
                        &corpus.root,
                        None,
                    ),
                    ok: &[0],
                });
            }
        }
        // As in a repository in daily use, the files are older than the summary cache's
        // trust margin (2 s after their last change, ctime included, which cannot be set
        // back) and one listing has run since: what the hook meets on a conversation start.
        // A just-written corpus would time the cold path (every head parsed) on most runs.
        std::thread::sleep(std::time::Duration::from_millis(2_100));
        let mut prime = Command::new(&b.bin);
        prime
            .args(["list", "--json"])
            .current_dir(&corpus.root)
            .stdout(Stdio::null());
        prime.status()?;
        let samples = measure(&cases, runs, 3)?;
        let base = median(&samples[1].wall);
        rows.push(
            Row::new(
                format!("hook session-start, {} sessions", thousands(n)),
                Unit::Ms,
                &samples[0].wall,
            )
            .against("`true`", base, Compare::Diff)
            .target(Target::Diff(target)),
        );
        spread(
            &mut notes,
            &format!("hook, {} sessions", thousands(n)),
            &samples[0],
        );
        spread(
            &mut notes,
            &format!("`true` ({} sessions run)", thousands(n)),
            &samples[1],
        );
        if n == small {
            rows.push(
                Row::new(
                    format!("list --json, {} sessions", thousands(n)),
                    Unit::Ms,
                    &samples[2].wall,
                )
                .against("`true`", base, Compare::Diff)
                .target(Target::Diff(15.0)),
            );
            spread(&mut notes, "list --json", &samples[2]);
        } else {
            let path = median(&samples[2].wall);
            rows.push(
                Row::new(
                    format!("show by stem, {} sessions", thousands(n)),
                    Unit::Ms,
                    &samples[3].wall,
                )
                .against("show by path", path, Compare::Diff)
                .target(Target::Diff(3.0)),
            );
            rows.push(
                Row::new(
                    format!("show by substring, {} sessions", thousands(n)),
                    Unit::Ms,
                    &samples[4].wall,
                )
                .against("`true`", base, Compare::Diff)
                .target(Target::Diff(60.0)),
            );
            spread(&mut notes, "show by path", &samples[2]);
            spread(&mut notes, "show by stem", &samples[3]);
            spread(&mut notes, "show by substring", &samples[4]);
        }
        // Instruction counts: what the wall times above mean when the machine is busy.
        let count = |args: &[&str], stdin: Option<&Path>| {
            instructions_with(&corpus.root, &b.bin, args, stdin)
        };
        let mut counts = vec![format!(
            "`hook session-start` {:.1}",
            count(&["hook", "session-start"], Some(&input))?.unwrap_or(f64::NAN)
        )];
        if n == small {
            counts.push(format!(
                "`list --json` {:.1}",
                count(&["list", "--json"], None)?.unwrap_or(f64::NAN)
            ));
        } else {
            for (name, reference) in [
                ("`show` by path", format!(".agents/sessions/{last}")),
                ("`show` by stem", stem.clone()),
                ("`show` by substring", needle.clone()),
            ] {
                counts.push(format!(
                    "{name} {:.1}",
                    count(&["show", &reference], None)?.unwrap_or(f64::NAN)
                ));
            }
        }
        if has_program("valgrind") {
            notes.push(format!(
                "callgrind, {} sessions, M instructions: {}; `true` {:.2}",
                thousands(n),
                counts.join(", "),
                instructions_with(&corpus.root, &truth, &[], None)?.unwrap_or(f64::NAN)
            ));
        }
    }

    // watch: write → event at `small` sessions, and CPU per change at `small` vs 100 sessions.
    let mut per_change = Vec::new();
    for n in [100, small] {
        let root = b.work.path().join(format!("scale-watch-{n}"));
        fs::create_dir_all(root.join(".git"))?;
        let corpus = generate::populate(&root, n, SEED)?;
        let (latency, cpu) = watch_changes(&b.bin, &corpus, if b.quick { 10 } else { 30 })?;
        per_change.push((n, latency, cpu));
    }
    let (_, base_latency, base_cpu) = &per_change[0];
    let (n, latency, cpu) = &per_change[1];
    rows.push(
        Row::new(
            format!("watch write → event, {} sessions", thousands(*n)),
            Unit::Ms,
            latency,
        )
        .against("same at 100 sessions", median(base_latency), Compare::Diff)
        .target(Target::Max(60.0)),
    );
    rows.push(
        Row::new(
            format!("watch CPU per change, {} sessions", thousands(*n)),
            Unit::Ms,
            cpu,
        )
        .against("same at 100 sessions", median(base_cpu), Compare::Ratio)
        .target(Target::Ratio(1.5)),
    );
    notes.push(format!(
        "watch: each change appends a line to one file, 150 ms apart; CPU per change is the watch process's on-CPU time (schedstat, else 10 ms ticks) from one write to the next, median of {} changes: {:.3} vs {:.3} ms (min–max {:.3}–{:.3} vs {:.3}–{:.3})",
        cpu.len(),
        median(cpu),
        median(base_cpu),
        cpu.iter().copied().fold(f64::INFINITY, f64::min),
        cpu.iter().copied().fold(0.0, f64::max),
        base_cpu.iter().copied().fold(f64::INFINITY, f64::min),
        base_cpu.iter().copied().fold(0.0, f64::max),
    ));

    // update / log on a 1 MB file vs dd conv=fsync of the same bytes.
    let root = b.work.path().join("scale-edit");
    let dir = root.join(".agents/sessions");
    fs::create_dir_all(&dir)?;
    fs::create_dir_all(root.join(".git"))?;
    let file = generate::session_of_size(SEED, 1024 * 1024, false);
    let path = dir.join(&file.name);
    fs::write(&path, &file.text)?;
    let copy = root.join("copy.md");
    fs::write(&copy, &file.text)?;
    let stem = file.name.trim_end_matches(".md").to_string();
    let counter = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let update = {
        let (bin, root, stem, counter) =
            (b.bin.clone(), root.clone(), stem.clone(), counter.clone());
        Box::new(move || {
            counter.set(counter.get() + 1);
            let mut cmd = Command::new(&bin);
            cmd.args([
                "update",
                &stem,
                "--state",
                &format!("state {}", counter.get()),
            ])
            .current_dir(&root)
            .stdout(Stdio::null());
            vec![cmd]
        }) as Box<dyn Fn() -> Vec<Command>>
    };
    let dd = {
        let root = root.clone();
        Box::new(move || {
            let mut cmd = Command::new("dd");
            cmd.args(["if=copy.md", "of=copy.out", "bs=1M", "conv=fsync"])
                .current_dir(&root)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            vec![cmd]
        }) as Box<dyn Fn() -> Vec<Command>>
    };
    let cases = [
        Case {
            name: "update --state (1 MB)",
            commands: update,
            ok: &[0],
        },
        Case {
            name: "log (1 MB)",
            commands: with_stdin(
                &b.bin,
                vec!["log".into(), stem.clone(), "benchmark entry".into()],
                &root,
                None,
            ),
            ok: &[0],
        },
        Case {
            name: "dd conv=fsync",
            commands: dd,
            ok: &[0],
        },
    ];
    let samples = measure(&cases, if b.quick { 5 } else { 21 }, 2)?;
    let dd_median = median(&samples[2].wall);
    rows.push(
        Row::new("update --state, 1 MB file", Unit::Ms, &samples[0].wall)
            .against("`dd conv=fsync` of the file", dd_median, Compare::Ratio)
            .target(Target::Ratio(2.0)),
    );
    rows.push(
        Row::new("log, 1 MB file", Unit::Ms, &samples[1].wall)
            .against("`dd conv=fsync` of the file", dd_median, Compare::Ratio)
            .target(Target::Ratio(2.0)),
    );
    spread(&mut notes, "update 1 MB", &samples[0]);
    spread(&mut notes, "log 1 MB", &samples[1]);
    spread(&mut notes, "dd conv=fsync 1 MB", &samples[2]);
    notes.push(
        "`validate` against `cat` is the `validate` scenario; `spawn` against `pueue add` / `setsid -f true` and `agents --all --json` with many records are the `runs` scenario"
            .into(),
    );
    Ok(Report::new(rows, notes))
}

/// Adds "name: median, min–max" of `s`'s wall times to `notes`.
fn spread(notes: &mut Vec<String>, name: &str, s: &Samples) {
    let mut v = s.wall.clone();
    v.sort_by(f64::total_cmp);
    notes.push(format!(
        "{name}: median {:.1} ms, min–max {:.1}–{:.1} ms",
        median(&v),
        v[0],
        v[v.len() - 1]
    ));
}

/// Write → `session-updated` latencies (ms) of `changes` appends in a running `watch --json`
/// over `corpus`, and its CPU time per change (ms).
/// Write → event latencies, and the watch process's CPU per change: one sample per change,
/// from just before its write to just before the next one (the event, anything after it, and
/// the idle wait between), so the row is a median, not one total.
fn watch_changes(bin: &Path, corpus: &Corpus, changes: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    use std::time::Duration;
    let w = WatchProcess::start(bin, &corpus.root)?;
    w.wait_for("watching", None, Duration::from_secs(60))?;
    let pid = w.child.id();
    let mut latency = Vec::new();
    let mut cpu_at = Vec::new();
    for i in 0..changes + 2 {
        if i >= 2 {
            cpu_at.push(cpu_ms(pid)?);
        }
        let k = (i * 7919) % corpus.names.len();
        let path = corpus.dir.join(&corpus.names[k]);
        let stem = corpus.names[k].trim_end_matches(".md");
        let started = Instant::now();
        {
            use std::io::Write as _;
            let mut f = fs::OpenOptions::new().append(true).open(&path)?;
            f.write_all(format!("- [ ] bench edit {i}\n").as_bytes())?;
        }
        let (at, _) = w.wait_for("session-updated", Some(stem), Duration::from_secs(10))?;
        if i >= 2 {
            latency.push((at - started).as_secs_f64() * 1e3);
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    cpu_at.push(cpu_ms(pid)?);
    let cpu = cpu_at.windows(2).map(|w| w[1] - w[0]).collect();
    Ok((latency, cpu))
}

/// On-CPU time of `pid` in ms: from schedstat (ns) when the kernel has it, else from
/// `/proc/<pid>/stat` (10 ms ticks).
fn cpu_ms(pid: u32) -> Result<f64> {
    match proc_sched_ms(pid) {
        Some(ms) => Ok(ms),
        None => proc_cpu_ms(pid),
    }
}

// ---------------------------------------------------------------------------------------------
// Formatting

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mb(bytes: u64) -> String {
    if bytes >= 1_000_000_000 {
        format!("{:.2} GB", bytes as f64 / 1e9)
    } else {
        format!("{:.1} MB", bytes as f64 / 1e6)
    }
}

// ---------------------------------------------------------------------------------------------
// Run records and spawn (issue 14's last two rows)

/// Instructions (millions) `program args` executes in `dir`, user space, under
/// `valgrind --tool=callgrind` (one run: the count hardly moves with machine load). `None`
/// without valgrind.
fn instructions(dir: &Path, program: &Path, args: &[&str]) -> Result<Option<f64>> {
    instructions_with(dir, program, args, None)
}

/// [`instructions`] with `stdin` on standard input.
fn instructions_with(
    dir: &Path,
    program: &Path,
    args: &[&str],
    stdin: Option<&Path>,
) -> Result<Option<f64>> {
    if !has_program("valgrind") {
        return Ok(None);
    }
    let out = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(program)
        .args(args)
        .current_dir(dir)
        .stdin(match stdin {
            Some(f) => Stdio::from(fs::File::open(f)?),
            None => Stdio::null(),
        })
        .stdout(Stdio::null())
        .output()
        .context("running valgrind")?;
    let err = String::from_utf8_lossy(&out.stderr);
    let n = err
        .lines()
        .find_map(|l| l.split("Collected :").nth(1))
        .and_then(|n| n.trim().parse::<f64>().ok());
    Ok(n.map(|n| n / 1e6))
}

fn has_program(name: &str) -> bool {
    find_program(name).is_some()
}

/// `name` on PATH, or in `~/.cargo/bin` (where `cargo install` puts pueue).
fn find_program(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// An initialised repository with a no-op agent (`true`), for spawns.
fn agents_repo(bin: &Path, root: &Path) -> Result<()> {
    fs::create_dir_all(root.join(".git"))?;
    let st = Command::new(bin)
        .arg("init")
        .current_dir(root)
        .stdout(Stdio::null())
        .status()?;
    ensure!(st.success(), "sessions init failed");
    let config = root.join(".agents/config.yaml");
    let text = fs::read_to_string(&config)?;
    fs::write(
        &config,
        text.replacen(
            "agents:\n",
            "agents:\n  noop:\n    command: [\"true\"]\n",
            1,
        ),
    )?;
    Ok(())
}

/// `n` finished, written-back run records over 100 sessions (files gone), as loose files: the
/// layout before compaction. Deterministic.
fn add_run_records(root: &Path, n: usize) -> Result<()> {
    let root_s = root.display().to_string();
    for i in 0..n {
        let session = format!("20250101-000000-old-{:02}", i % 100);
        let id = format!("{i:08x}");
        let rec = json!({
            "version": 2, "id": id, "session": session,
            "agent": if i.is_multiple_of(3) { "codex" } else { "claude" },
            "task": format!("an old task {i} with a realistic length of some words"),
            "conversation_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
            "argv": ["claude", "-p", "a prompt naming the session file and the task"],
            "env": [], "cwd": root_s, "root": root_s,
            "log": format!(".agents/logs/{session}/claude-{id}.log"),
            "log_cap": 52428800, "log_keep": 26214400, "runner": {"kind": "process"},
            "supervisor_argv": ["/usr/bin/sessions", "__supervise"],
            "supervisor_pid": 4_000_000, "supervisor_start": 1, "pid": 4_000_001,
            "pid_start": 2, "pgid": 4_000_001,
            "started_at": format!("2025-01-{:02}T{:02}:{:02}:00.000Z", 1 + i / 1440 % 28, i / 60 % 24, i % 60),
            "ended_at": "2025-02-01T00:05:00.000Z",
            "exit_code": if i.is_multiple_of(10) { 1 } else { 0 },
            "status": if i.is_multiple_of(10) { "failed" } else { "completed" },
            "summary": "did the thing, tests pass", "cost_usd": 0.42,
            "tokens": {"input": 12000, "output": 800}, "turns": 7,
            "cancel_requested": false, "written_back": true
        });
        let path = root.join(format!(".agents/state/runs/{session}/{id}.json"));
        fs::create_dir_all(path.parent().context("record path")?)?;
        fs::write(path, serde_json::to_vec_pretty(&rec)?)?;
    }
    Ok(())
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A private pueue daemon (own config, directories and socket in a temp dir), killed on drop.
struct Pueue {
    client: PathBuf,
    config: PathBuf,
    daemon: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Pueue {
    fn start(work: &Path) -> Result<Option<Pueue>> {
        let (Some(client), Some(daemon)) = (find_program("pueue"), find_program("pueued")) else {
            return Ok(None);
        };
        let dir = tempfile::Builder::new().prefix("pueue-").tempdir_in(work)?;
        let d = dir.path();
        let config = d.join("pueue.yml");
        fs::write(
            &config,
            format!(
                "shared:\n  pueue_directory: {0}/data\n  runtime_directory: {0}/run\n  use_unix_socket: true\n  unix_socket_path: {0}/run/pueue.socket\n",
                d.display()
            ),
        )?;
        fs::create_dir_all(d.join("data"))?;
        fs::create_dir_all(d.join("run"))?;
        let child = Command::new(&daemon)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(d.join("pueued.log"))?)
            .spawn()
            .context("starting pueued")?;
        let p = Pueue {
            client,
            config,
            daemon: child,
            _dir: dir,
        };
        let deadline = Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if p.cmd(&["status", "--json"]).status()?.success() {
                return Ok(Some(p));
            }
            ensure!(
                Instant::now() < deadline,
                "pueued did not answer within 20 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.client);
        c.arg("-c")
            .arg(&self.config)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }
}

impl Drop for Pueue {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

fn timed(mut cmd: Command) -> Result<f64> {
    let started = Instant::now();
    let st = cmd.status()?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    ensure!(st.success(), "{cmd:?} exited with {st}");
    Ok(ms)
}

/// Issue 14's rows for run records and spawn.
fn runs(b: &mut Bench) -> Result<Report> {
    let (small, large, rounds) = if b.quick {
        (300, 3_000, 11)
    } else {
        (1_000, 10_000, 31)
    };
    let truth = true_path();
    let mut rows = Vec::new();
    let mut notes = vec![format!("load average at the start: {}", load_average())];

    // agents --all --json over many records.
    let mut repos = Vec::new();
    for n in [small, large] {
        let root = b.work.path().join(format!("runs-{n}"));
        agents_repo(&b.bin, &root)?;
        add_run_records(&root, n)?;
        Command::new("sync").status()?;
        // The first listing compacts the loose records (the upgrade from the old layout).
        let started = Instant::now();
        let rss = peak_rss(&root, &b.bin, &["agents", "--all", "--json"], &[0])?;
        notes.push(format!(
            "first `agents --all --json` over {} loose records (compacting them into finished.jsonl): {:.0} ms, peak RSS {rss:.1} MiB (once)",
            thousands(n),
            started.elapsed().as_secs_f64() * 1e3
        ));
        repos.push(root);
    }
    let listing = |root: &Path| {
        with_stdin(
            &b.bin,
            vec!["agents".into(), "--all".into(), "--json".into()],
            root,
            None,
        )
    };
    let cases = [
        Case {
            name: "agents --all --json (large)",
            commands: listing(&repos[1]),
            ok: &[0],
        },
        Case {
            name: "agents --all --json (small)",
            commands: listing(&repos[0]),
            ok: &[0],
        },
        Case {
            name: "true",
            commands: with_stdin(&truth, Vec::new(), &repos[1], None),
            ok: &[0],
        },
    ];
    let samples = measure(&cases, rounds, 3)?;
    let base = median(&samples[2].wall);
    rows.push(
        Row::new(
            format!("agents --all --json, {} records", thousands(large)),
            Unit::Ms,
            &samples[0].wall,
        )
        .against("`true`", base, Compare::Diff)
        .target(Target::Max(50.0)),
    );
    rows.push(
        Row::new(
            format!("agents --all --json, {} records", thousands(small)),
            Unit::Ms,
            &samples[1].wall,
        )
        .against("`true`", base, Compare::Diff),
    );
    spread(
        &mut notes,
        &format!("agents --all --json, {} records", thousands(large)),
        &samples[0],
    );
    spread(
        &mut notes,
        &format!("agents --all --json, {} records", thousands(small)),
        &samples[1],
    );
    spread(&mut notes, "`true`", &samples[2]);
    let (mut rss_small, mut rss_large) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        rss_small.push(peak_rss(
            &repos[0],
            &b.bin,
            &["agents", "--all", "--json"],
            &[0],
        )?);
        rss_large.push(peak_rss(
            &repos[1],
            &b.bin,
            &["agents", "--all", "--json"],
            &[0],
        )?);
    }
    rows.push(
        Row::new(
            format!("agents --all --json peak RSS, {} records", thousands(large)),
            Unit::MiB,
            &rss_large,
        )
        .against(
            format!("the same at {} records", thousands(small)),
            median(&rss_small),
            Compare::Diff,
        )
        .target(Target::Diff(1.0)),
    );
    let args = ["agents", "--all", "--json"];
    if let (Some(l), Some(s), Some(t)) = (
        instructions(&repos[1], &b.bin, &args)?,
        instructions(&repos[0], &b.bin, &args)?,
        instructions(&repos[1], &truth, &[])?,
    ) {
        rows.push(
            Row::new(
                format!(
                    "agents --all --json instructions, {} records",
                    thousands(large)
                ),
                Unit::MInstr,
                &[l],
            )
            .against(
                format!("the same at {} records", thousands(small)),
                s,
                Compare::Ratio,
            ),
        );
        notes.push(format!(
            "callgrind: {l:.1} M instructions at {}, {s:.1} M at {} ({:.1} K per record); `true` {t:.2} M",
            thousands(large),
            thousands(small),
            (l - s) * 1e3 / (large - small) as f64
        ));
    } else {
        notes.push("valgrind is not installed: no instruction counts".into());
    }

    // spawn against pueue add and a bare detached start.
    let root = b.work.path().join("spawn");
    agents_repo(&b.bin, &root)?;
    let pueue = Pueue::start(b.work.path())?;
    let (mut spawn, mut setsid, mut add, mut status, mut agents) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds + 2 {
        let out = Command::new(&b.bin)
            .args(["new", &format!("bench {round}"), "--json"])
            .current_dir(&root)
            .output()?;
        ensure!(out.status.success(), "sessions new failed");
        let v: Value = serde_json::from_slice(&out.stdout)?;
        let stem = v["id"]
            .as_str()
            .context("new --json has an id")?
            .to_string();
        let mut cmd = Command::new(&b.bin);
        cmd.args(["spawn", &stem, "--agent", "noop", "--task", "t"])
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let t_spawn = timed(cmd)?;
        // Let the run finish before anything else is timed.
        let deadline = Instant::now() + std::time::Duration::from_secs(30);
        while fs::read_dir(root.join(format!(".agents/state/runs/{stem}/live")))
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
        {
            ensure!(Instant::now() < deadline, "the spawned run never finished");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let mut cmd = Command::new("setsid");
        cmd.args(["-f", "true"]).stdin(Stdio::null());
        let t_setsid = timed(cmd)?;
        let t_agents = timed(b.sessions(&root, &["agents", "--json"]))?;
        let pueue_times = match &pueue {
            Some(p) => Some((
                timed(p.cmd(&["add", "--", "true"]))?,
                timed(p.cmd(&["status", "--json"]))?,
            )),
            None => None,
        };
        if round >= 2 {
            spawn.push(t_spawn);
            setsid.push(t_setsid);
            agents.push(t_agents);
            if let Some((a, s)) = pueue_times {
                add.push(a);
                status.push(s);
            }
        }
    }
    let spawn_samples = Samples {
        wall: spawn.clone(),
        cpu: Vec::new(),
    };
    match &pueue {
        Some(_) => {
            rows.push(
                Row::new("spawn", Unit::Ms, &spawn)
                    .against("`pueue add -- true`", median(&add), Compare::Ratio)
                    .target(Target::Ratio(1.0)),
            );
            rows.push(
                Row::new(format!("agents --json, {rounds} runs"), Unit::Ms, &agents)
                    .against("`pueue status --json`", median(&status), Compare::Ratio),
            );
            spread(&mut notes, "`pueue add -- true`", &Samples { wall: add.clone(), cpu: Vec::new() });
            spread(&mut notes, "`pueue status --json`", &Samples { wall: status.clone(), cpu: Vec::new() });
        }
        None => notes.push(
            "pueue is not installed (`cargo install pueue --locked`): no `pueue add` / `pueue status --json` baseline"
                .into(),
        ),
    }
    rows.push(Row::new("spawn", Unit::Ms, &spawn).against(
        "`setsid -f true`",
        median(&setsid),
        Compare::Diff,
    ));
    spread(&mut notes, "spawn", &spawn_samples);
    spread(
        &mut notes,
        "`setsid -f true`",
        &Samples {
            wall: setsid,
            cpu: Vec::new(),
        },
    );
    spread(
        &mut notes,
        "agents --json (spawn repo)",
        &Samples {
            wall: agents,
            cpu: Vec::new(),
        },
    );
    notes.push(format!("load average at the end: {}", load_average()));
    Ok(Report::new(rows, notes))
}
