//! `http_load ADDR CONNS SECS PATH [EVERY_MS SLOW_PATH]`: keep-alive HTTP/1.1 GETs of PATH from
//! CONNS connections for SECS seconds; prints requests per second. With EVERY_MS, one more
//! connection GETs SLOW_PATH every EVERY_MS. The load of BENCHMARKS.md's "pollwatch watch: cost
//! to the target" (a server's requests per second, watched and not).
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn get(s: &mut TcpStream, path: &str, buf: &mut Vec<u8>) -> std::io::Result<()> {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await?;
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok(());
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (addr, conns, secs, path) = (
        a[1].clone(),
        a[2].parse::<usize>().unwrap(),
        a[3].parse::<f64>().unwrap(),
        a[4].clone(),
    );
    let count = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (addr, path, count) = (addr.clone(), path.clone(), count.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&addr).await.unwrap();
            let mut buf = Vec::new();
            while Instant::now() < end {
                get(&mut s, &path, &mut buf).await.unwrap();
                count.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    if a.len() > 6 {
        let (every, slow) = (Duration::from_millis(a[5].parse().unwrap()), a[6].clone());
        let addr = addr.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&addr).await.unwrap();
            let mut buf = Vec::new();
            while Instant::now() < end {
                get(&mut s, &slow, &mut buf).await.unwrap();
                tokio::time::sleep(every).await;
            }
        }));
    }
    let start = Instant::now();
    for t in tasks {
        t.await.unwrap();
    }
    let n = count.load(Ordering::Relaxed);
    println!(
        "{:.0} req/s ({n} in {:.2}s)",
        n as f64 / start.elapsed().as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
}
