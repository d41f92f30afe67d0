//! `pingora-baseline -c PINGORA_YAML LISTEN UPSTREAM`: forwards every request unchanged to
//! UPSTREAM (host:port) with Pingora's defaults (upstream keep-alive pool, streaming bodies).
//! The smallest ProxyHttp there is; scripts/bench.sh runs it beside nginx and llm-relay.

use async_trait::async_trait;
use pingora::proxy::{http_proxy_service, ProxyHttp, Session};
use pingora::server::configuration::Opt;
use pingora::server::Server;
use pingora::upstreams::peer::HttpPeer;
use pingora::Result;

struct Plain {
    upstream: String,
}

#[async_trait]
impl ProxyHttp for Plain {
    type CTX = ();
    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(
            self.upstream.as_str(),
            false,
            String::new(),
        )))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 || args[1] != "-c" {
        eprintln!("usage: pingora-baseline -c PINGORA_YAML LISTEN UPSTREAM");
        std::process::exit(2);
    }
    let opt = Opt {
        upgrade: false,
        daemon: false,
        nocapture: false,
        test: false,
        conf: Some(args[2].clone()),
    };
    let mut server = Server::new(Some(opt)).expect("pingora configuration");
    server.bootstrap();
    let mut proxy = http_proxy_service(
        &server.configuration,
        Plain {
            upstream: args[4].clone(),
        },
    );
    proxy.add_tcp(&args[3]);
    server.add_service(proxy);
    server.run_forever();
}
