//! A local three-node Redis Cluster (no replicas) of real `redis-server`s on free loopback
//! ports, made with `redis-cli --cluster create`; every node is killed on drop.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct RedisCluster {
    pub ports: Vec<u16>,
    children: Vec<Child>,
    dir: PathBuf,
}

/// A free port whose cluster bus port (port + 10000) is free as well.
fn cluster_port() -> u16 {
    loop {
        let p = super::gateway::free_port();
        if p < 55000 && TcpListener::bind(("127.0.0.1", p + 10000)).is_ok() {
            return p;
        }
    }
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        for _ in 0..3 {
            if let Some(c) = Self::try_start() {
                return c;
            }
        }
        panic!("the Redis Cluster did not come up (apt-get install redis-server redis-tools)");
    }

    fn try_start() -> Option<RedisCluster> {
        let dir = super::gateway::scratch("redis-cluster");
        let mut c = RedisCluster {
            ports: Vec::new(),
            children: Vec::new(),
            dir,
        };
        for _ in 0..3 {
            let port = cluster_port();
            let conf = c.dir.join(format!("nodes-{port}.conf"));
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--cluster-enabled", "yes"])
                .arg("--cluster-config-file")
                .arg(&conf)
                .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
                .args(["--protected-mode", "no", "--dir"])
                .arg(&c.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server (apt-get install redis-server)");
            c.ports.push(port);
            c.children.push(child);
        }
        let all_up = c.ports.clone().into_iter().all(|p| {
            super::gateway::wait_until_blocking(Duration::from_secs(10), || {
                c.node_cli(p, &["PING"]) == "PONG"
            })
        });
        if !all_up {
            return None;
        }
        let nodes: Vec<String> = c.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !created {
            return None;
        }
        // Every node agrees the cluster is up (the gateway may ask any of them for slots).
        let ok = super::gateway::wait_until_blocking(Duration::from_secs(20), || {
            c.ports.iter().all(|&p| {
                c.node_cli(p, &["CLUSTER", "INFO"])
                    .contains("cluster_state:ok")
            })
        });
        ok.then_some(c)
    }

    /// The node URLs for `redis.cluster`, as a YAML flow list.
    pub fn yaml_list(&self) -> String {
        let urls: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("\"redis://127.0.0.1:{p}\""))
            .collect();
        format!("[{}]", urls.join(", "))
    }

    fn node_cli(&self, port: u16, args: &[&str]) -> String {
        Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    }

    /// `redis-cli -c` (follows MOVED redirections) against the first node; its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-c", "-p", &self.ports[0].to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The keys matching `pattern` on every node (`SCAN` is per node in a cluster).
    pub fn scan(&self, pattern: &str) -> Vec<String> {
        self.ports
            .iter()
            .flat_map(|&p| {
                self.node_cli(p, &["--scan", "--pattern", pattern])
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
