//! OpenAI-compatible mock upstream: the demo's upstream, the tests' upstream and a benchmark
//! target, plus [`strict`], an independent checker of Hunyuan's request rules that the
//! gateway's tests use as a dev-dependency. Hot paths avoid logging, locks and needless copies;
//! see `app.rs` for the stats design.

mod admin;
mod agent;
pub mod anthropic;
mod app;
mod chat;
mod gemini;
pub mod hunyuan_native;
mod knobs;
mod media;
mod policy;
mod stream;
pub mod strict;

pub use hunyuan_native::{MOCK_SECRET_ID, MOCK_SECRET_KEY};

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;

use app::App;

/// Largest request body accepted (vision requests carry base64 images, audio carries files).
pub const BODY_LIMIT: usize = 64 * 1024 * 1024;

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", post(hunyuan_native::native))
        .route("/_hy_images/{name}", get(hunyuan_native::png))
        .route("/v1/chat/completions", post(chat::chat))
        .route("/v1/embeddings", post(media::embeddings))
        .route("/v1/images/generations", post(media::image_generations))
        .route("/v1/images/edits", post(media::image_multipart))
        .route("/v1/images/variations", post(media::image_multipart))
        .route("/v1/audio/transcriptions", post(media::transcriptions))
        .route("/v1/audio/translations", post(media::translations))
        .route("/v1/audio/speech", post(media::speech))
        .route("/v1/completions", post(chat::completions))
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/models", get(media::models))
        .route("/v1beta/models/{model_and_method}", post(gemini::generate))
        .route("/_policy", post(policy::policy))
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

/// Serves on `listener` until the future is dropped or the listener fails.
pub async fn serve(listener: tokio::net::TcpListener, strict: bool) -> std::io::Result<()> {
    // SSE events are small writes that must leave at once.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(Arc::new(App::new(strict)))).await
}

/// A mock running on its own thread and runtime (for tests): stops when dropped.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts a mock on `127.0.0.1:0` in this process, on a two-thread runtime of its own.
pub fn spawn(strict: bool) -> std::io::Result<Running> {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("mock-upstream".into())
        .spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else {
                    return;
                };
                tokio::select! {
                    r = serve(listener, strict) => {
                        if let Err(e) = r {
                            eprintln!("mock-upstream: server error: {e}");
                        }
                    }
                    _ = stopped => {}
                }
            });
            // Open streams end with the runtime.
            rt.shutdown_background();
        })?;
    Ok(Running {
        addr,
        stop: Some(stop),
        thread: Some(thread),
    })
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
