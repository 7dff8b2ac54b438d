//! Slow clients cannot take the server down: hundreds of connections that
//! trickle a webhook body (with a well-formed signature header) or never
//! finish their headers are cut off by the deadlines or turned away by the
//! cap on unauthenticated bodies, while `/healthz` and SCIM keep answering.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::*;

const SLOW_BODIES: usize = 300;
const SLOW_HEADERS: usize = 50;

/// Read what the server answers, until it closes or `limit` passes.
async fn answer_of(mut s: TcpStream, limit: Duration) -> Option<String> {
    let mut buf = vec![0u8; 2048];
    match tokio::time::timeout(limit, s.read(&mut buf)).await {
        Ok(Ok(0)) => Some(String::new()),
        Ok(Ok(n)) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        Ok(Err(_)) => Some(String::new()),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_bodies_and_headers_do_not_starve_health_and_scim() {
    let fake = fake_snyk().await;
    let db = Db::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().expect("dir");
    let cfg = BridgeConfig {
        webhook_secret: Some("slow-client-test-secret-0123456789abcdef".into()),
        ..BridgeConfig::default()
    };
    let b = Bridge::start(dir.path(), &cfg, &db, &fake).await;
    let addr = format!("127.0.0.1:{}", b.port);
    let now = chrono::Utc::now().timestamp();
    let mut slow = Vec::new();
    for _ in 0..SLOW_BODIES {
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        let head = format!(
            "POST /webhooks/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: 100000\r\nX-Bridge-Signature: t={now},v1={}\r\n\r\n{{",
            "ab".repeat(32)
        );
        s.write_all(head.as_bytes()).await.expect("write");
        slow.push(s);
    }
    let mut half = Vec::new();
    for _ in 0..SLOW_HEADERS {
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .expect("write");
        half.push(s);
    }
    // While they hang on: health and SCIM answer promptly.
    for _ in 0..5 {
        let started = Instant::now();
        let r = b
            .http
            .get(format!("http://{addr}/healthz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .expect("/healthz answers");
        assert_eq!(r.status(), 200);
        let (status, _) = b.scim("GET", "/Users?count=1", None).await;
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Every slow connection is answered (503 at once past the cap, 408 at the
    // body deadline) or closed (the header deadline) within the deadlines.
    let limit = Duration::from_secs(15);
    let mut by_status = std::collections::BTreeMap::<String, usize>::new();
    let answers =
        futures_util::future::join_all(slow.into_iter().chain(half).map(|s| answer_of(s, limit)))
            .await;
    for a in answers {
        let a = a.expect("the server ends every slow connection within 15 s");
        let key = a
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("closed")
            .to_owned();
        *by_status.entry(key).or_default() += 1;
    }
    eprintln!("slow clients: {by_status:?}");
    assert!(
        by_status.get("503").copied().unwrap_or(0) >= SLOW_BODIES - 64 - 5,
        "{by_status:?}"
    );
    assert!(
        by_status.get("408").copied().unwrap_or(0) > 0,
        "{by_status:?}"
    );
    // And the server is fine afterwards.
    let (status, _) = b.scim("GET", "/Users?count=1", None).await;
    assert_eq!(status, 200);
}
