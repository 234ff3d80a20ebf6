//! A database that cannot be reached fails within its bound and is reported
//! as `SERVICE_UNAVAILABLE` (with a retry hint), not as an internal error
//! after the client's own timeout. (A port nothing listens on stands in for
//! a stopped server; `subgraphs/ai/tests/redis_restart.rs` kills a real one.)

use std::time::{Duration, Instant};

use fittrack_kit::{ApiError, ErrorCode};

fn closed_port() -> u16 {
    // Bound then released: nothing listens there now.
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a port")
}

#[tokio::test]
async fn an_unreachable_postgresql_is_service_unavailable_within_seconds() {
    let started = Instant::now();
    let error = fittrack_kit::sqlite::connect_relational(
        &format!("postgres://postgres@127.0.0.1:{}/fittrack", closed_port()),
        "user database",
    )
    .await
    .expect_err("nothing listens there");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(ApiError::from(error).code(), ErrorCode::ServiceUnavailable);
}

#[tokio::test]
async fn an_unreachable_mongodb_is_service_unavailable_within_seconds() {
    use mongodb::bson::doc;
    let client = fittrack_kit::mongo::client(&format!("mongodb://127.0.0.1:{}", closed_port()))
        .await
        .expect("a client (connections are opened lazily)");
    let started = Instant::now();
    let error = client
        .database("fittrack")
        .run_command(doc! {"ping": 1})
        .await
        .expect_err("nothing listens there");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "{took:?}");
    assert_eq!(
        ApiError::from(anyhow::Error::new(error).context("reading activities")).code(),
        ErrorCode::ServiceUnavailable
    );
}
