//! The ceiling the redirect benchmark compares attrib against: the same framework and the
//! same number of workers (actix-web's default, one per core, unless BARE_WORKERS is set),
//! answering every `GET /{slug}` with a fixed `302` and no other work.

use actix_web::{http::header, web, App, HttpResponse, HttpServer};

async fn redirect(_slug: web::Path<String>) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, "https://shop.example.com/p?x=1"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::var("BARE_LISTEN").unwrap_or_else(|_| "127.0.0.1:18091".into());
    let workers: usize = std::env::var("BARE_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(0);
    let mut server = HttpServer::new(|| App::new().route("/{slug}", web::get().to(redirect)))
        .bind(listen.as_str())?;
    if workers > 0 {
        server = server.workers(workers);
    }
    server.run().await
}
