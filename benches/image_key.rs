//! Cache-key hashing of data-URL images. `data_url`: the canonical key (base64 decode +
//! SHA-256; goal ≥ 500 MB/s). `fast_key`: the first-level key of the URL text (XXH3-128), all a
//! cache hit pays since the alias map; `alias_hit`: fast key + alias lookup.
use base64::Engine;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use llm_relay::chat::image_key::{fast_key, image_key};
use llm_relay::state::image_cache::DescriptionCache;
use std::time::Duration;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("image_key");
    let cache = DescriptionCache::new(1000, 1 << 20, Duration::from_secs(60));
    for mb in [1usize, 5] {
        let raw: Vec<u8> = (0..mb * 1024 * 1024).map(|i| (i * 7 % 251) as u8).collect();
        let url = format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&raw)
        );
        // Throughput in decoded image bytes, the unit of the goal.
        g.throughput(Throughput::Bytes(raw.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("data_url", format!("{mb}MB")),
            &url,
            |b, u| b.iter(|| image_key(u, "hunyuan-vision", "v1")),
        );
        g.bench_with_input(
            BenchmarkId::new("fast_key", format!("{mb}MB")),
            &url,
            |b, u| b.iter(|| fast_key(u.as_bytes(), "hunyuan-vision", "v1")),
        );
        g.bench_with_input(
            BenchmarkId::new("alias_hit", format!("{mb}MB")),
            &url,
            |b, u| {
                b.iter(|| {
                    cache.key_for(fast_key(u.as_bytes(), "hunyuan-vision", "v1"), || {
                        Ok::<_, ()>(image_key(u, "hunyuan-vision", "v1"))
                    })
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
