//! The contact limit is atomic: 20 messages sent at once from one sender
//! store exactly the hourly allowance, on SQLite and on PostgreSQL when
//! `DATABASE_URL` names one.

mod common;

use std::sync::Arc;

use fittrack_user::domain::{
    accounts::{Accounts, ContactMessage, CONTACT_MESSAGES_PER_HOUR},
    error::UserError,
};

async fn parallel_messages_store_exactly_the_allowance(accounts: Arc<Accounts>) {
    let sender = format!("10.88.{}.{}", rand::random::<u8>(), rand::random::<u8>());
    let sends: Vec<_> = (0..20)
        .map(|n| {
            let (accounts, sender) = (accounts.clone(), sender.clone());
            tokio::spawn(async move {
                accounts
                    .submit_contact_message(
                        ContactMessage {
                            name: "Ada".into(),
                            email: "ada@example.com".into(),
                            subject: format!("Hello {n}"),
                            message: "Hi".into(),
                        },
                        None,
                        Some(sender),
                    )
                    .await
            })
        })
        .collect();
    let mut stored = 0;
    for send in sends {
        match send.await.expect("task") {
            Ok(()) => stored += 1,
            Err(UserError::RateLimited) => {}
            Err(other) => panic!("{:?}", fittrack_kit::ApiError::from(other)),
        }
    }
    assert_eq!(stored, CONTACT_MESSAGES_PER_HOUR);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_contact_limit_is_atomic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("user.db").display());
    let db = fittrack_user::storage::connect(&url)
        .await
        .expect("database");
    parallel_messages_store_exactly_the_allowance(Arc::new(common::accounts(db))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_contact_limit_is_atomic() {
    let Some(url) = std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
    else {
        eprintln!("postgres: DATABASE_URL not set; skipped");
        return;
    };
    let db = fittrack_user::storage::connect(&url)
        .await
        .expect("database");
    parallel_messages_store_exactly_the_allowance(Arc::new(common::accounts(db))).await;
}
