//! OpenAI-compatible mock upstream: the demo's upstream, the tests' upstream and a benchmark
//! target. Hot paths avoid logging, locks and needless copies; see `app.rs` for the stats design.
//!
//! `mock-upstream --listen 127.0.0.1:9000 [--strict] [--threads N]`; prints
//! `mock-upstream listening on <addr>` once bound (port 0 picks a free port and prints it).

mod admin;
mod app;
mod chat;
mod knobs;
mod media;
mod stream;

use std::io::Write;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use clap::Parser;

use app::App;

/// Largest request body accepted (vision requests carry base64 images, audio carries files).
pub const BODY_LIMIT: usize = 64 * 1024 * 1024;

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

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat::chat))
        .route("/v1/embeddings", post(media::embeddings))
        .route("/v1/images/generations", post(media::image_generations))
        .route("/v1/images/edits", post(media::image_multipart))
        .route("/v1/images/variations", post(media::image_multipart))
        .route("/v1/audio/transcriptions", post(media::transcriptions))
        .route("/v1/audio/translations", post(media::translations))
        .route("/v1/audio/speech", post(media::speech))
        .route("/v1/models", get(media::models))
        .route("/_stats", get(admin::stats))
        .route("/_stats/reset", post(admin::reset))
        .route(
            "/_control",
            get(admin::control_get).post(admin::control_set),
        )
        .fallback(admin::not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app)
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
    rt.block_on(serve(cli));
}

async fn serve(cli: Cli) {
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
    // SSE events are small writes that must leave at once.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    if let Err(e) = axum::serve(listener, router(Arc::new(App::new(cli.strict)))).await {
        eprintln!("mock-upstream: server error: {e}");
        std::process::exit(1);
    }
}
