//! The asyncio tutorial's second lesson: a blocking call (`requests.get`) inside a coroutine
//! blocks the event loop; the async client (`aiohttp`) does not.
//!
//! A tiny HTTP server on 127.0.0.1 answers every request after 200 ms. Three requests are sent
//! concurrently, first with a blocking `std::net::TcpStream` (like `requests`), then with
//! `tokio::net::TcpStream` (like `aiohttp`). The blocking version takes ~3 × 200 ms and every
//! request is reported as a slow poll; the async one takes ~200 ms and nothing is reported.
//!
//! ```text
//! cargo run --example blocking_io
//! ```

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pollwatch::async_timed;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

const RESPONSE_DELAY: Duration = Duration::from_millis(200);
const REQUEST: &[u8] = b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";

/// Answers each connection with `200 OK` after `RESPONSE_DELAY`.
async fn serve(listener: TcpListener) -> std::io::Result<()> {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            tokio::time::sleep(RESPONSE_DELAY).await;
            let _ = socket
                .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .await;
        });
    }
}

fn status_of(response: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(response);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Like `requests.get(url)`: blocks the thread until the response arrives.
#[async_timed]
async fn get_status_blocking(addr: SocketAddr) -> std::io::Result<u16> {
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.write_all(REQUEST)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    Ok(status_of(&response))
}

/// Like `session.get(url)` with aiohttp: waits without holding the thread.
#[async_timed]
async fn get_status(addr: SocketAddr) -> std::io::Result<u16> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(REQUEST).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    Ok(status_of(&response))
}

/// Three requests at once, like `asyncio.gather(*[requests_get(url) for _ in range(3)])`.
/// Each blocking poll is reported with the chain `blocking_client > get_status_blocking`.
#[async_timed]
async fn blocking_client(addr: SocketAddr) -> std::io::Result<[u16; 3]> {
    let (a, b, c) = tokio::join!(
        get_status_blocking(addr),
        get_status_blocking(addr),
        get_status_blocking(addr)
    );
    Ok([a?, b?, c?])
}

#[async_timed]
async fn async_client(addr: SocketAddr) -> std::io::Result<[u16; 3]> {
    let (a, b, c) = tokio::join!(get_status(addr), get_status(addr), get_status(addr));
    Ok([a?, b?, c?])
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    pollwatch::init();
    // The server runs on its own thread and runtime, so the blocking client cannot starve it.
    // (Its listener must be registered with *that* runtime: one created here would depend on
    // this runtime's I/O driver, which the blocking client stalls — a deadlock.)
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async { serve(TcpListener::from_std(listener)?).await })
    });

    let start = Instant::now();
    let statuses = blocking_client(addr).await?;
    println!(
        "blocking client: 3 concurrent requests -> {statuses:?} in {:.2?}",
        start.elapsed()
    );

    let start = Instant::now();
    let statuses = async_client(addr).await?;
    println!(
        "async client:    3 concurrent requests -> {statuses:?} in {:.2?}",
        start.elapsed()
    );
    // Writes what POLLWATCH_HTML / POLLWATCH_TRACE / POLLWATCH_REPORT ask for, and says where.
    pollwatch::write_reports();
    Ok(())
}
