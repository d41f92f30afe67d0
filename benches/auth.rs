//! Authentication of a key managed at run time against a key from the config file (issue 22):
//! both are one SHA-256 of the presented key and one hash-map lookup, the managed one in the
//! in-memory map the store's changes swap (no storage read per request).
//!
//! Run: `cargo bench --bench auth -- --warm-up-time 1 --measurement-time 3`
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http::HeaderMap;
use llm_relay::config::file::AuthSection;
use llm_relay::policy::auth::{hash_key, Keys};
use llm_relay::policy::managed::record::KeyFields;
use llm_relay::policy::managed::ManagedKeys;

fn bench(c: &mut Criterion) {
    let config_key = "sk-relay-config-key-000000000000000000000000000000";
    let yaml = format!(
        "keys:\n  - {{id: cfg, sha256: \"{}\"}}\nstore: {{path: unused}}\n",
        hex::encode(hash_key(config_key))
    );
    let section: AuthSection = serde_yaml::from_str(&yaml).expect("auth");
    let keys = Keys::try_from(&section).expect("keys");
    let dir = std::env::temp_dir().join(format!("llm-relay-bench-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let managed = rt
        .block_on(ManagedKeys::open(&dir.join("keys.db")))
        .expect("store");
    let mut secret = String::new();
    for i in 0..1000 {
        let (_, s) = rt
            .block_on(managed.create_key(KeyFields::default(), format!("k{i}")))
            .expect("create");
        secret = s;
    }
    let header = |k: &str| {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            format!("Bearer {k}").parse().expect("header"),
        );
        h
    };
    let (cfg, man) = (header(config_key), header(&secret));
    let mut g = c.benchmark_group("auth");
    g.bench_function("config_key", |b| {
        b.iter(|| keys.authenticate_in(black_box(&cfg), None, Some(&managed)))
    });
    g.bench_function("managed_key_of_1000", |b| {
        b.iter(|| keys.authenticate_in(black_box(&man), None, Some(&managed)))
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
