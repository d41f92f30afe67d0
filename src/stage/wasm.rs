//! A sandboxed WebAssembly plugin: one compiled module, a fresh instance per call, bounded
//! CPU work, memory and waiting time. A pure module: it moves bytes in and out; the stage
//! that uses it does the JSON.
//!
//! # The plugin ABI (the contract a plugin author writes against)
//!
//! The module imports nothing (a module with any import fails [`Plugin::load`], naming the
//! import) and exports:
//!
//! - `memory`: its linear memory (32-bit);
//! - `alloc(len: i32) -> i32`: returns the address of a buffer of `len` bytes; the gateway
//!   writes the input there;
//! - `handle(ptr: i32, len: i32) -> i64`: processes the input at `ptr..ptr+len` and returns
//!   `(out_ptr << 32) | out_len`, both unsigned 32-bit, locating the output in `memory`.
//!
//! The gateway copies the output out, bounds-checked: an output outside the memory, or over
//! [`MAX_OUTPUT_BYTES`] (16 MiB), is [`PluginError::Abi`]. Every call instantiates the
//! module afresh (globals, data and heap start from the module's initial state), so no state
//! is shared between requests or tenants and a plugin needs no `free`: a bump allocator is
//! enough. A `start` function, if any, runs on every instantiation under the same limits.
//!
//! Input and output are UTF-8 JSON. The input is an envelope whose last member is the
//! request, `{"phase":"request","stage":"tagger","model":"m","key_id":"k","request":{...}}`
//! (the request in the OpenAI chat-completion shape); the output is one of
//! `{"action":"allow"}`, `{"action":"modify","request":{...}}` or
//! `{"action":"deny","message":"...","status":403}`. `plugins/tagger/` is a worked example.
//!
//! # Limits
//!
//! - **CPU work: fuel.** Every call gets [`Limits::fuel`] units (about one per executed Wasm
//!   instruction, more for bulk memory operations), counted deterministically: the same input
//!   stops at the same instruction on every machine. A plugin that loops forever ends with
//!   [`PluginError::OutOfFuel`]. Instantiation (data segments, a `start` function) draws on
//!   the same budget.
//! - **Memory: [`Limits::max_memory_bytes`].** A store limiter caps linear-memory (and table)
//!   growth; a `memory.grow` past the cap traps instead of returning -1, and the call ends
//!   with [`PluginError::Memory`]. A module whose *initial* memory is already over the cap is
//!   refused at load. An input that cannot fit under the cap is [`PluginError::Memory`]
//!   before the plugin runs.
//! - **Time: [`Limits::timeout`].** wasmi is an interpreter that cannot be interrupted from
//!   outside, so wall time is not what stops a plugin: [`Plugin::call`] runs the plugin on
//!   tokio's blocking pool and stops *waiting* after the timeout ([`PluginError::Timeout`]),
//!   while the blocking thread itself goes on until the plugin returns or its fuel runs out.
//!   Size the fuel so that it runs out in a bounded time on the slowest host: fuel bounds
//!   the work, the timeout bounds how long a request waits for it.
//!
//! [`Plugin::call_blocking`] runs on the current thread with fuel and memory limits only (for
//! benches and tests).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use wasmi::{
    CompilationMode, Config, Engine, ExternType, Instance, Module, Store, StoreLimits,
    StoreLimitsBuilder, TrapCode, ValType,
};

/// The largest output a plugin may return.
pub const MAX_OUTPUT_BYTES: usize = 16 * 1024 * 1024;

/// The size of a Wasm page.
const WASM_PAGE: u64 = 65536;

/// Table elements a plugin's tables may hold in all (indirect calls of C function pointers
/// need a few).
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// What one call may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory, in bytes (a Wasm page is 64 KiB).
    pub max_memory_bytes: usize,
    /// Fuel of one call, instantiation included (about one unit per Wasm instruction).
    pub fuel: u64,
    /// How long [`Plugin::call`] waits for the plugin.
    pub timeout: Duration,
}

/// Why a call did not produce an output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    #[error("the plugin trapped: {0}")]
    Trap(String),
    #[error("the plugin ran out of fuel")]
    OutOfFuel,
    #[error("the plugin took longer than {0} ms")]
    Timeout(u64),
    #[error("the plugin went over its memory limit")]
    Memory,
    #[error("the plugin broke the ABI: {0}")]
    Abi(String),
}

impl PluginError {
    /// A short label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            PluginError::Trap(_) => "trap",
            PluginError::OutOfFuel => "fuel",
            PluginError::Timeout(_) => "timeout",
            PluginError::Memory => "memory",
            PluginError::Abi(_) => "abi",
        }
    }
}

/// A compiled plugin: cheap to clone and to share (`Arc` inside), `Send + Sync`.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    module: Module,
    limits: Limits,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// Reads and compiles the module at `path` (see [`Plugin::from_bytes`]).
    pub fn load(path: &Path, limits: Limits) -> Result<Plugin, String> {
        let wasm = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Plugin::from_bytes(&wasm, limits).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Validates and translates the module once, and checks it against the ABI: no imports,
    /// the three exports with the right types, an initial memory within the limit.
    pub fn from_bytes(wasm: &[u8], limits: Limits) -> Result<Plugin, String> {
        let mut config = Config::default();
        config
            .consume_fuel(true)
            // 64 KiB pages only: the initial-memory check at load counts in them.
            .wasm_custom_page_sizes(false)
            .compilation_mode(CompilationMode::Eager);
        let engine = Engine::new(&config);
        let module =
            Module::new(&engine, wasm).map_err(|e| format!("not a valid Wasm module: {e}"))?;
        check_abi(&module, &limits)?;
        Ok(Plugin {
            inner: Arc::new(Inner {
                engine,
                module,
                limits,
            }),
        })
    }

    /// The limits the plugin was loaded with.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// One call in a fresh instance, on tokio's blocking pool, awaited for at most
    /// `limits.timeout` (the thread itself ends when the plugin returns or runs out of fuel).
    pub async fn call(&self, input: &[u8]) -> Result<Vec<u8>, PluginError> {
        let inner = Arc::clone(&self.inner);
        let input = input.to_vec();
        let timeout = inner.limits.timeout;
        let task = tokio::task::spawn_blocking(move || inner.run(&input));
        match tokio::time::timeout(timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(PluginError::Trap(format!(
                "the plugin's thread did not finish: {join}"
            ))),
            Err(_) => Err(PluginError::Timeout(
                u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            )),
        }
    }

    /// One call in a fresh instance, on the current thread (fuel and memory limits only).
    pub fn call_blocking(&self, input: &[u8]) -> Result<Vec<u8>, PluginError> {
        self.inner.run(input)
    }
}

impl Inner {
    fn run(&self, input: &[u8]) -> Result<Vec<u8>, PluginError> {
        // The input has to fit in memory next to whatever the plugin keeps there.
        if input.len() > self.limits.max_memory_bytes {
            return Err(PluginError::Memory);
        }
        let len = i32::try_from(input.len()).map_err(|_| PluginError::Memory)?;

        let limiter = StoreLimitsBuilder::new()
            .memory_size(self.limits.max_memory_bytes)
            .table_elements(MAX_TABLE_ELEMENTS)
            .instances(1)
            .memories(1)
            .tables(1)
            .trap_on_grow_failure(true)
            .build();
        let mut store: Store<StoreLimits> = Store::new(&self.engine, limiter);
        store.limiter(|limits| limits);
        store
            .set_fuel(self.limits.fuel)
            .map_err(|e| PluginError::Trap(format!("setting the fuel: {e}")))?;

        let instance = Instance::new(&mut store, &self.module, &[]).map_err(instantiation_error)?;
        let memory = instance
            .get_memory(&store, "memory")
            .ok_or_else(|| PluginError::Abi("no exported memory".into()))?;
        let alloc = instance
            .get_typed_func::<i32, i32>(&store, "alloc")
            .map_err(|e| PluginError::Abi(format!("alloc: {e}")))?;
        let handle = instance
            .get_typed_func::<(i32, i32), i64>(&store, "handle")
            .map_err(|e| PluginError::Abi(format!("handle: {e}")))?;

        let ptr = alloc.call(&mut store, len).map_err(call_error)?;
        let in_range = (ptr as u32 as usize)
            .checked_add(input.len())
            .is_some_and(|end| end <= memory.data_size(&store));
        if !in_range {
            return Err(PluginError::Abi(format!(
                "alloc({}) returned {:#x}, outside the memory",
                input.len(),
                ptr as u32
            )));
        }
        memory
            .write(&mut store, ptr as u32 as usize, input)
            .map_err(|e| PluginError::Abi(format!("writing the input: {e}")))?;

        let packed = handle.call(&mut store, (ptr, len)).map_err(call_error)? as u64;
        let out_ptr = (packed >> 32) as usize;
        let out_len = (packed & 0xffff_ffff) as usize;
        if out_len > MAX_OUTPUT_BYTES {
            return Err(PluginError::Abi(format!(
                "an output of {out_len} bytes is over the {MAX_OUTPUT_BYTES}-byte limit"
            )));
        }
        out_ptr
            .checked_add(out_len)
            .and_then(|end| memory.data(&store).get(out_ptr..end))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| {
                PluginError::Abi(format!(
                    "the output {out_ptr:#x}+{out_len} is outside the memory ({} bytes)",
                    memory.data_size(&store)
                ))
            })
    }
}

/// Maps an error of a running plugin.
fn call_error(error: wasmi::Error) -> PluginError {
    match error.as_trap_code() {
        Some(TrapCode::OutOfFuel) => PluginError::OutOfFuel,
        Some(TrapCode::GrowthOperationLimited) => PluginError::Memory,
        Some(code) => PluginError::Trap(code.to_string()),
        None => PluginError::Trap(error.to_string()),
    }
}

/// Maps an error of instantiation: the `start` function's traps and fuel as for a call, a
/// memory or table the limiter refused as [`PluginError::Memory`].
fn instantiation_error(error: wasmi::Error) -> PluginError {
    match error.kind() {
        wasmi::errors::ErrorKind::Memory(_) | wasmi::errors::ErrorKind::Table(_)
            if error.as_trap_code().is_none() =>
        {
            PluginError::Memory
        }
        _ => call_error(error),
    }
}

/// Checks the module against the ABI (module doc).
fn check_abi(module: &Module, limits: &Limits) -> Result<(), String> {
    let imports: Vec<String> = module
        .imports()
        .map(|i| format!("{}.{}", i.module(), i.name()))
        .collect();
    if !imports.is_empty() {
        return Err(format!(
            "the plugin imports {} but the gateway provides no imports",
            imports.join(", ")
        ));
    }
    match module.get_export("memory") {
        Some(ExternType::Memory(ty)) => {
            if ty.is_64() {
                return Err("the exported memory is 64-bit; the ABI is wasm32".into());
            }
            let initial = ty.minimum().saturating_mul(WASM_PAGE);
            if initial > limits.max_memory_bytes as u64 {
                return Err(format!(
                    "the plugin's initial memory ({initial} bytes) is over the limit of {} bytes",
                    limits.max_memory_bytes
                ));
            }
        }
        Some(_) => return Err("the export `memory` is not a memory".into()),
        None => return Err("the plugin exports no `memory`".into()),
    }
    check_func(module, "alloc", &[ValType::I32], &[ValType::I32])?;
    check_func(
        module,
        "handle",
        &[ValType::I32, ValType::I32],
        &[ValType::I64],
    )?;
    Ok(())
}

fn check_func(
    module: &Module,
    name: &str,
    params: &[ValType],
    results: &[ValType],
) -> Result<(), String> {
    match module.get_export(name) {
        Some(ExternType::Func(ty)) if ty.params() == params && ty.results() == results => Ok(()),
        Some(ExternType::Func(ty)) => Err(format!(
            "the export `{name}` has the type {ty:?}; the ABI wants {params:?} -> {results:?}"
        )),
        Some(_) => Err(format!("the export `{name}` is not a function")),
        None => Err(format!("the plugin exports no `{name}` function")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ECHO: &str = include_str!("../../plugins/testdata-echo.wat");

    /// A module with the ABI's `memory` and `alloc`, and `handle` from `body`.
    fn with_handle(body: &str) -> String {
        format!(
            r#"(module
              (memory (export "memory") 1)
              (func (export "alloc") (param i32) (result i32) (i32.const 1024))
              (func (export "handle") (param $ptr i32) (param $len i32) (result i64) {body}))"#
        )
    }

    fn limits() -> Limits {
        Limits {
            max_memory_bytes: 4 * 1024 * 1024,
            fuel: 10_000_000,
            timeout: Duration::from_secs(5),
        }
    }

    fn plugin(wat: &str, limits: Limits) -> Plugin {
        let wasm = wat::parse_str(wat).expect("valid WAT");
        Plugin::from_bytes(&wasm, limits).expect("loads")
    }

    fn load_err(wat: &str) -> String {
        let wasm = wat::parse_str(wat).expect("valid WAT");
        Plugin::from_bytes(&wasm, limits()).expect_err("refused")
    }

    #[test]
    fn echo_returns_its_input() {
        let p = plugin(ECHO, limits());
        assert_eq!(p.call_blocking(b"hello").unwrap(), b"hello");
        assert_eq!(p.call_blocking(b"").unwrap(), b"");
        // Bigger than the initial page: alloc grows the memory.
        let big = vec![b'x'; 200_000];
        assert_eq!(p.call_blocking(&big).unwrap(), big);
    }

    #[test]
    fn an_input_over_the_memory_limit_is_a_memory_error() {
        let p = plugin(
            ECHO,
            Limits {
                max_memory_bytes: 2 * 65536,
                ..limits()
            },
        );
        assert_eq!(
            p.call_blocking(&vec![0; 3 * 65536]),
            Err(PluginError::Memory)
        );
        // Under the limit in itself, but not with the 1 KiB the module keeps below its heap.
        assert_eq!(
            p.call_blocking(&vec![0; 2 * 65536]),
            Err(PluginError::Memory)
        );
        assert_eq!(p.call_blocking(b"ok").unwrap(), b"ok");
    }

    #[test]
    fn a_trap_is_reported_and_does_not_poison_the_plugin() {
        let p = plugin(
            &with_handle(
                r#"(if (i32.eq (local.get $len) (i32.const 4)) (then unreachable))
                   (i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
                           (i64.extend_i32_u (local.get $len)))"#,
            ),
            limits(),
        );
        let err = p.call_blocking(b"trap").unwrap_err();
        assert!(matches!(err, PluginError::Trap(_)), "{err:?}");
        assert_eq!(err.label(), "trap");
        assert_eq!(p.call_blocking(b"fine").unwrap_err().label(), "trap");
        assert_eq!(p.call_blocking(b"ok").unwrap(), b"ok");
    }

    #[test]
    fn an_endless_loop_runs_out_of_fuel() {
        let p = plugin(
            &with_handle("(loop $l (br $l)) (i64.const 0)"),
            Limits {
                fuel: 100_000,
                ..limits()
            },
        );
        let err = p.call_blocking(b"x").unwrap_err();
        assert_eq!(err, PluginError::OutOfFuel);
        assert_eq!(err.label(), "fuel");
    }

    #[test]
    fn unbounded_memory_growth_is_a_memory_error() {
        // Grows one page at a time and ignores the result: without the limiter's trap this
        // would run until the fuel or the host's memory runs out.
        let p = plugin(
            &with_handle("(loop $l (drop (memory.grow (i32.const 1))) (br $l)) (i64.const 0)"),
            Limits {
                max_memory_bytes: 1024 * 1024,
                fuel: 1_000_000_000,
                ..limits()
            },
        );
        let err = p.call_blocking(b"x").unwrap_err();
        assert_eq!(err, PluginError::Memory);
        assert_eq!(err.label(), "memory");
        // One big grow past the limit is refused the same way.
        let p = plugin(
            &with_handle("(drop (memory.grow (i32.const 60000))) (i64.const 0)"),
            limits(),
        );
        assert_eq!(p.call_blocking(b"x"), Err(PluginError::Memory));
    }

    #[test]
    fn an_initial_memory_over_the_limit_is_refused_at_load() {
        let wat = ECHO.replace(
            r#"(memory (export "memory") 1)"#,
            r#"(memory (export "memory") 100)"#,
        );
        let err = load_err(&wat);
        assert!(err.contains("initial memory"), "{err}");
    }

    #[test]
    fn an_output_out_of_range_is_an_abi_error() {
        // Past the end of the one-page memory.
        let p = plugin(
            &with_handle("(i64.or (i64.shl (i64.const 65000) (i64.const 32)) (i64.const 1000))"),
            limits(),
        );
        let err = p.call_blocking(b"x").unwrap_err();
        assert!(matches!(err, PluginError::Abi(_)), "{err:?}");
        assert_eq!(err.label(), "abi");
        // 0xffffffff + 0xffffffff: over the output limit, and no overflow in the check.
        let p = plugin(&with_handle("(i64.const -1)"), limits());
        assert!(matches!(p.call_blocking(b"x"), Err(PluginError::Abi(_))));
        // A bad alloc result is caught before the write.
        let wat = ECHO.replace("(local.get $p))", "(drop (local.get $p)) (i32.const -8))");
        let p = plugin(&wat, limits());
        assert!(matches!(
            p.call_blocking(b"0123456789"),
            Err(PluginError::Abi(_))
        ));
    }

    #[test]
    fn a_module_with_an_import_is_refused_naming_it() {
        let err = load_err(
            r#"(module
              (import "env" "log" (func (param i32)))
              (memory (export "memory") 1)
              (func (export "alloc") (param i32) (result i32) (i32.const 0))
              (func (export "handle") (param i32 i32) (result i64) (i64.const 0)))"#,
        );
        assert!(err.contains("env.log"), "{err}");
    }

    #[test]
    fn a_module_without_the_abi_exports_is_refused() {
        let err = load_err(
            r#"(module
              (memory (export "memory") 1)
              (func (export "alloc") (param i32) (result i32) (i32.const 0)))"#,
        );
        assert!(err.contains("handle"), "{err}");
        let err = load_err(
            r#"(module
              (memory (export "memory") 1)
              (func (export "alloc") (param i32) (result i32) (i32.const 0))
              (func (export "handle") (param i32 i32) (result i32) (i32.const 0)))"#,
        );
        assert!(err.contains("handle") && err.contains("type"), "{err}");
        let err = load_err(
            r#"(module
              (func (export "alloc") (param i32) (result i32) (i32.const 0))
              (func (export "handle") (param i32 i32) (result i64) (i64.const 0)))"#,
        );
        assert!(err.contains("memory"), "{err}");
        let err = Plugin::from_bytes(b"not wasm", limits()).unwrap_err();
        assert!(err.contains("not a valid Wasm module"), "{err}");
        let err = Plugin::load(Path::new("/nonexistent/plugin.wasm"), limits()).unwrap_err();
        assert!(err.contains("/nonexistent/plugin.wasm"), "{err}");
    }

    #[test]
    fn calls_do_not_share_state() {
        // Counts its calls in a global and returns the count as one byte.
        let p = plugin(
            r#"(module
              (memory (export "memory") 1)
              (global $calls (mut i32) (i32.const 0))
              (func (export "alloc") (param i32) (result i32) (i32.const 1024))
              (func (export "handle") (param i32 i32) (result i64)
                (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
                (i32.store8 (i32.const 0) (global.get $calls))
                (i64.const 1)))"#,
            limits(),
        );
        assert_eq!(p.call_blocking(b"a").unwrap(), [1]);
        assert_eq!(p.call_blocking(b"b").unwrap(), [1]);
    }

    #[tokio::test]
    async fn call_runs_on_the_blocking_pool() {
        let p = plugin(ECHO, limits());
        assert_eq!(p.call(b"async").await.unwrap(), b"async");
    }

    #[tokio::test]
    async fn call_gives_up_waiting_after_the_timeout() {
        // An endless loop with fuel for far longer than the 1 ms timeout (2M units: ~0.5 s
        // in a debug build, tens of ms optimised), yet bounded: the blocking thread ends by
        // fuel soon after, and the test runtime waits for it on drop, so nothing is left
        // spinning.
        let p = plugin(
            &with_handle("(loop $l (br $l)) (i64.const 0)"),
            Limits {
                fuel: 2_000_000,
                timeout: Duration::from_millis(1),
                ..limits()
            },
        );
        let err = p.call(b"x").await.unwrap_err();
        assert_eq!(err, PluginError::Timeout(1));
        assert_eq!(err.label(), "timeout");
        assert_eq!(err.to_string(), "the plugin took longer than 1 ms");
    }

    #[test]
    fn plugin_is_send_sync_and_cheap_to_share() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<Plugin>();
        assert_send_sync::<Arc<Plugin>>();
    }

    fn tagger() -> Plugin {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/tagger.wasm");
        Plugin::load(&path, limits()).expect("plugins/tagger.wasm loads")
    }

    fn envelope(request: serde_json::Value) -> Vec<u8> {
        // The envelope's members in the order the stage writes them: the request last.
        format!(
            r#"{{"phase":"request","stage":"tagger","model":"m","key_id":"k","request":{request}}}"#
        )
        .into_bytes()
    }

    fn call_json(p: &Plugin, input: &[u8]) -> serde_json::Value {
        let out = p.call_blocking(input).expect("the tagger runs");
        serde_json::from_slice(&out).expect("the tagger's output is JSON")
    }

    #[test]
    fn tagger_denies_a_marked_request() {
        let p = tagger();
        let input = envelope(serde_json::json!({
            "model": "m",
            "messages": [{"role": "user", "content": "please #deny-by-tagger now"}]
        }));
        assert_eq!(
            call_json(&p, &input),
            serde_json::json!({
                "action": "deny",
                "status": 403,
                "message": "the tagger plugin refuses requests marked #deny-by-tagger"
            })
        );
    }

    #[test]
    fn tagger_inserts_a_system_message_first() {
        let p = tagger();
        let system =
            serde_json::json!({"role": "system", "content": "Tagged by the tagger plugin."});
        let request = serde_json::json!({
            "model": "m",
            // A nested "messages" and "request" that the scanner must not take.
            "metadata": {"messages": [1], "request": {"messages": []}},
            "messages": [
                {"role": "system", "content": "be brief, \"quoted\" ]}"},
                {"role": "user", "content": "hi"}
            ],
            "temperature": 0.5
        });
        let out = call_json(&p, &envelope(request.clone()));
        assert_eq!(out["action"], "modify");
        let mut expected = request;
        let messages = expected["messages"].as_array_mut().unwrap();
        messages.insert(0, system.clone());
        assert_eq!(out["request"], expected);

        // An empty array: the system message alone, no dangling comma.
        let out = call_json(
            &p,
            &envelope(serde_json::json!({"model": "m", "messages": []})),
        );
        assert_eq!(
            out,
            serde_json::json!({"action": "modify", "request": {"model": "m", "messages": [system]}})
        );
        let spaced = br#"{"request" : { "messages" : [ ] } }"#;
        assert_eq!(
            call_json(&p, spaced),
            serde_json::json!({"action": "modify", "request": {"messages": [system]}})
        );
    }

    #[test]
    fn tagger_allows_a_request_without_messages() {
        let p = tagger();
        let allow = serde_json::json!({"action": "allow"});
        assert_eq!(
            call_json(&p, &envelope(serde_json::json!({"model": "m"}))),
            allow
        );
        assert_eq!(call_json(&p, b"not json"), allow);
        assert_eq!(call_json(&p, b""), allow);
        assert_eq!(call_json(&p, br#"{"request":{"messages":"#), allow);
    }
}
