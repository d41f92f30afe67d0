//! The fuzzing loop: corpus replay, generation and mutation, one input at a time under
//! `catch_unwind`, with a watchdog for hangs. No coverage feedback (stable toolchain, no
//! instrumentation): instead each target reports an *outcome* (an error message with its
//! digits removed, a shape of the answer), and an input with an outcome not seen before joins
//! the in-memory pool that mutation draws from, so inputs that got past a check breed.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// SplitMix64: tiny, fast, and the same sequence on every platform and crate version, so a
/// seed printed by one run reproduces it anywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// True with probability `1/n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A length: mostly small, sometimes large (the sizes where super-linear code shows).
    pub fn len(&mut self, small: usize, large: usize) -> usize {
        match self.below(20) {
            0 => large / 2 + self.below(large / 2 + 1),
            1..=3 => self.below(large + 1),
            _ => self.below(small + 1),
        }
    }
}

/// FNV-1a: names crasher files and derives per-input choices (chunkings) from the input
/// itself, so a saved input replays exactly.
pub fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Run settings, from the environment.
pub struct Config {
    /// Generated and mutated inputs per target (after the corpus).
    pub cases: u64,
    /// Stop a target after this long, whatever `cases` says.
    pub seconds: Option<u64>,
    pub seed: u64,
    /// Write failing inputs into the corpus directory.
    pub save: bool,
    /// A single input slower than this fails the run (a hang or a super-linear blow-up).
    pub slow: Duration,
    /// Longer generated or mutated inputs are dropped (the gateway caps bodies too; a few MB
    /// are where quadratic code shows).
    pub max_len: usize,
}

impl Config {
    pub fn from_env() -> Config {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let num = |k: &str| var(k).and_then(|v| v.parse::<u64>().ok());
        let seed = match var("FUZZ_SEED").as_deref() {
            None => 0x5EED_2026,
            Some("random") => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64),
            Some(s) => s.parse().unwrap_or_else(|_| hash(s.as_bytes())),
        };
        // Debug builds are ~20x slower than optimised ones: the defaults suit CI's debug run
        // (2 busy cores); scripts/fuzz.sh sets tighter ones for its optimised build (whose
        // debug assertions are on, so `cfg!` cannot tell the two apart).
        let slow_default = if cfg!(debug_assertions) {
            20_000
        } else {
            2_000
        };
        Config {
            cases: num("FUZZ_CASES").unwrap_or(DEFAULT_CASES),
            seconds: num("FUZZ_SECONDS"),
            seed,
            save: var("FUZZ_SAVE").is_some_and(|v| v != "0"),
            slow: Duration::from_millis(num("FUZZ_SLOW_MS").unwrap_or(slow_default)),
            max_len: num("FUZZ_MAX_LEN").map_or(MAX_LEN, |n| n as usize),
        }
    }
}

/// The CI run: a few seconds per target in a debug build.
const DEFAULT_CASES: u64 = 250;
const MAX_LEN: usize = if cfg!(debug_assertions) {
    1 << 20
} else {
    4 << 20
};

/// One thing under test.
pub struct Target {
    /// Also the corpus directory's name: `tests/fuzz-corpus/<name>/`.
    pub name: &'static str,
    /// Runs one input through the code under test, asserting its invariants (a panic or a
    /// failed assertion is a finding); returns the outcome used for novelty.
    pub check: fn(&[u8]) -> String,
    /// A fresh structured input.
    pub generate: fn(&mut Rng, &Pool) -> Vec<u8>,
    /// A mutation of a pool entry (structure-aware for JSON targets).
    pub mutate: fn(&mut Rng, &Pool, &[u8]) -> Vec<u8>,
}

/// The inputs mutation starts from: the corpus, then inputs with new outcomes.
pub struct Pool {
    pub entries: Vec<Vec<u8>>,
    pub seeds: usize,
    /// Words for mutation: protocol names and the corpus's keys and short strings.
    pub dict: Vec<String>,
}

impl Pool {
    pub fn any<'a>(&'a self, rng: &mut Rng) -> &'a [u8] {
        if self.entries.is_empty() {
            return b"";
        }
        // Half the time a checked-in seed: the pool can fill with near-duplicates.
        if self.seeds > 0 && rng.one_in(2) {
            return &self.entries[rng.below(self.seeds)];
        }
        &self.entries[rng.below(self.entries.len())]
    }
}

const POOL_CAP: usize = 2_000;

pub fn corpus_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-corpus")
        .join(name)
}

/// The corpus files of a target, sorted by name (replay order is stable).
pub fn load_corpus(name: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(corpus_dir(name))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_file())
        .filter_map(|e| {
            let bytes = std::fs::read(e.path()).ok()?;
            Some((e.file_name().to_string_lossy().into_owned(), bytes))
        })
        .collect();
    out.sort();
    out
}

thread_local! {
    /// Set while an input runs: its panic is a finding, reported with the input, so the hook
    /// only records where it happened (no backtrace per input, which `RUST_BACKTRACE` would
    /// make slow and noisy).
    static IN_CASE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static WHERE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn install_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_CASE.with(|c| c.get()) {
                let at = info.location().map(|l| l.to_string()).unwrap_or_default();
                WHERE.with(|w| *w.borrow_mut() = at);
            } else {
                default(info);
            }
        }));
    });
}

/// The input being checked, for the watchdog.
struct Current {
    started_ms: AtomicU64,
    busy: AtomicBool,
    input: Mutex<Vec<u8>>,
}

/// Aborts the process, printing (and saving) the input, when one input runs past `limit`: a
/// hang cannot be caught like a panic.
fn watchdog(name: &'static str, cur: Arc<Current>, limit: Duration, save: bool, epoch: Instant) {
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(200));
        if Arc::strong_count(&cur) == 1 {
            return;
        }
        if !cur.busy.load(Ordering::Acquire) {
            continue;
        }
        let now = epoch.elapsed().as_millis() as u64;
        let started = cur.started_ms.load(Ordering::Acquire);
        if now.saturating_sub(started) > limit.as_millis() as u64 * 3 {
            let input = cur.input.lock().map(|i| i.clone()).unwrap_or_default();
            eprintln!(
                "fuzz {name}: one input ran {} ms (hang?):\n{}",
                now - started,
                show(&input)
            );
            if save {
                save_crasher(name, "hang", &input);
            }
            std::process::exit(101);
        }
    });
}

/// An input for a failure message: as text when it is, escaped, cut at 4 KB.
pub fn show(input: &[u8]) -> String {
    let cut = &input[..input.len().min(4096)];
    let mut s = String::from_utf8_lossy(cut).escape_debug().to_string();
    if cut.len() < input.len() {
        s.push_str(&format!("… ({} bytes in all)", input.len()));
    }
    s
}

fn save_crasher(name: &str, kind: &str, input: &[u8]) -> Option<PathBuf> {
    let dir = corpus_dir(name);
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join(format!("{kind}-{:016x}", hash(input)));
    std::fs::write(&path, input).ok()?;
    Some(path)
}

/// A failing input and what went wrong.
struct Finding {
    what: String,
    input: Vec<u8>,
}

/// Replays the corpus, then generates and mutates inputs; fails with every finding.
pub fn fuzz(t: &Target) {
    let cfg = Config::from_env();
    install_hook();
    let epoch = Instant::now();
    let cur = Arc::new(Current {
        started_ms: AtomicU64::new(0),
        busy: AtomicBool::new(false),
        input: Mutex::new(Vec::new()),
    });
    watchdog(t.name, cur.clone(), cfg.slow, cfg.save, epoch);
    let mut findings: Vec<Finding> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut slowest = (Duration::ZERO, 0usize);
    let mut run_one = |input: &[u8], findings: &mut Vec<Finding>| -> Option<String> {
        if let Ok(mut c) = cur.input.lock() {
            c.clear();
            c.extend_from_slice(input);
        }
        cur.started_ms
            .store(epoch.elapsed().as_millis() as u64, Ordering::Release);
        cur.busy.store(true, Ordering::Release);
        let start = Instant::now();
        IN_CASE.with(|c| c.set(true));
        let result = catch_unwind(AssertUnwindSafe(|| (t.check)(input)));
        IN_CASE.with(|c| c.set(false));
        let took = start.elapsed();
        cur.busy.store(false, Ordering::Release);
        if took > slowest.0 {
            slowest = (took, input.len());
        }
        match result {
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let at = WHERE.with(|w| w.borrow().clone());
                findings.push(Finding {
                    what: format!("panic at {at}: {msg}"),
                    input: input.to_vec(),
                });
                None
            }
            Ok(_) if took > cfg.slow => {
                findings.push(Finding {
                    what: format!("slow: {} ms for {} bytes", took.as_millis(), input.len()),
                    input: input.to_vec(),
                });
                None
            }
            Ok(outcome) => Some(outcome),
        }
    };

    let corpus = load_corpus(t.name);
    for (file, input) in &corpus {
        let before = findings.len();
        if let Some(o) = run_one(input, &mut findings) {
            seen.insert(o);
        }
        if let Some(f) = findings.get_mut(before) {
            f.what = format!("corpus file {file}: {}", f.what);
        }
    }
    let entries: Vec<Vec<u8>> = corpus.into_iter().map(|(_, b)| b).collect();
    let pool_dict = crate::mutate::harvest(&entries);
    let mut pool = Pool {
        seeds: entries.len(),
        entries,
        dict: pool_dict,
    };

    let mut rng = Rng::new(cfg.seed ^ hash(t.name.as_bytes()));
    let deadline = cfg.seconds.map(|s| Instant::now() + Duration::from_secs(s));
    let mut cases = 0u64;
    let (mut making, mut skipped) = (Duration::ZERO, 0u64);
    while cases < cfg.cases && deadline.is_none_or(|d| Instant::now() < d) {
        cases += 1;
        let made = Instant::now();
        let input = if pool.entries.is_empty() || rng.one_in(3) {
            (t.generate)(&mut rng, &pool)
        } else {
            let base = pool.any(&mut rng).to_vec();
            (t.mutate)(&mut rng, &pool, &base)
        };
        making += made.elapsed();
        if input.len() > cfg.max_len {
            skipped += 1;
            continue;
        }
        if let Some(o) = run_one(&input, &mut findings) {
            if seen.insert(o) && pool.entries.len() < POOL_CAP {
                pool.entries.push(input);
            }
        }
        if findings.len() >= 20 {
            break;
        }
    }
    eprintln!(
        "fuzz {}: {} corpus + {} cases ({} too long) (seed {}), {} outcomes, slowest {} ms ({} \
         bytes), {:.1} s ({:.1} s making inputs)",
        t.name,
        pool.seeds,
        cases,
        skipped,
        cfg.seed,
        seen.len(),
        slowest.0.as_millis(),
        slowest.1,
        epoch.elapsed().as_secs_f64(),
        making.as_secs_f64()
    );
    report(t.name, &cfg, &findings);
}

fn report(name: &str, cfg: &Config, findings: &[Finding]) {
    if findings.is_empty() {
        return;
    }
    let mut msg = format!("fuzz {name}: {} failing inputs\n", findings.len());
    for f in findings {
        let saved = if cfg.save && !f.what.starts_with("corpus file") {
            let kind = if f.what.contains("slow") {
                "slow"
            } else {
                "crash"
            };
            save_crasher(name, kind, &f.input)
                .map(|p| format!(" (saved as {})", p.display()))
                .unwrap_or_default()
        } else {
            String::new()
        };
        msg.push_str(&format!("--- {}{saved}\n{}\n", f.what, show(&f.input)));
    }
    msg.push_str("FUZZ_SAVE=1 writes them into the corpus (see the README, \"Fuzzing\").");
    panic!("{msg}");
}
