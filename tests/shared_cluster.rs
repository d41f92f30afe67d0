//! Several gateway instances sharing a real three-node Redis Cluster (`redis.cluster`): the
//! request limit is exact across instances and counted in the cluster, and the cascade cache
//! makes one vision call for an image asked on every instance at once. The scenarios are the
//! single-node ones (tests/common/instances.rs).

mod common;

use common::instances::{
    assert_no_fallback, cascade_config, cascade_shared, config, rpm_burst, three,
};
use common::mock::Mock;
use common::redis_cluster::RedisCluster;

fn nodes(cluster: &RedisCluster) -> String {
    format!("cluster: {}", cluster.yaml_list())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rpm_holds_across_three_instances_on_a_cluster() {
    let mock = Mock::start(false);
    let cluster = RedisCluster::start();
    let gws = three(&config(&mock, &nodes(&cluster), "rpm: 60", ""));
    let ok = rpm_burst(&mock, &gws).await;
    // Counted in the cluster, not by the per-instance fallback (which would also give 3 × 20):
    // the window's key is on one node, and `redis-cli -c` reads it through any node.
    let keys = cluster.scan("*k:team:rm:*");
    assert!(!keys.is_empty(), "the rpm window is in the cluster");
    let counted: u64 = keys
        .iter()
        .map(|k| cluster.cli(&["GET", k]).parse::<u64>().unwrap_or(0))
        .sum();
    assert_eq!(
        counted, ok,
        "the cluster counted every admitted request: {keys:?}"
    );
    for k in &keys {
        assert!(k.starts_with("{llm-relay:limits}:"), "one hash tag: {k}");
    }
    assert_no_fallback(&gws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cascade_cache_is_shared_on_a_cluster() {
    let mock = Mock::start(true);
    let cluster = RedisCluster::start();
    let gws = three(&cascade_config(&mock, &nodes(&cluster)));
    cascade_shared(&mock, &gws).await;
    // Both descriptions are in the cluster, each under its image's own hash tag.
    let values = cluster.scan("{llm-relay:img:*}:v");
    assert_eq!(values.len(), 2, "{values:?}");
    assert_no_fallback(&gws).await;
}
