//! `mock-upstream --listen 127.0.0.1:9000 [--strict] [--threads N]`; prints
//! `mock-upstream listening on <addr>` once bound (port 0 picks a free port and prints it).

use std::io::Write;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "mock-upstream", about = "OpenAI-compatible mock upstream")]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: String,
    /// Enforce Hunyuan's request rules on every chat request (400 + code "1001" on violation).
    #[arg(long)]
    strict: bool,
    /// Tokio worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() {
    // Warnings only by default: per-request logging would dominate benchmark profiles.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = cli.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = rt.build().expect("cannot build the tokio runtime");
    rt.block_on(run(cli));
}

async fn run(cli: Cli) {
    let listener = match tokio::net::TcpListener::bind(&cli.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mock-upstream: cannot listen on {}: {e}", cli.listen);
            std::process::exit(1);
        }
    };
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    let mut out = std::io::stdout().lock();
    // Scripts and tests wait for this exact line.
    writeln!(out, "mock-upstream listening on {addr}").expect("stdout");
    out.flush().expect("stdout");
    drop(out);
    if let Err(e) = mock_upstream::serve(listener, cli.strict).await {
        eprintln!("mock-upstream: server error: {e}");
        std::process::exit(1);
    }
}
