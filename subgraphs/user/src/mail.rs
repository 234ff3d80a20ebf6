//! Where mail goes: an SMTP server when `SMTP_URL` is set, else `.eml` files
//! in the data directory's outbox (the embedded default: nothing to install,
//! and the launcher says where to look).

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context as _;
use async_trait::async_trait;
use lettre::{
    message::{header::ContentType, Mailbox},
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};

use crate::{
    config::MailConfig,
    domain::password_reset::{Mailer, OutgoingMail},
};

/// The mailer the configuration asks for.
pub fn from_config(
    config: &MailConfig,
    data_dir: &std::path::Path,
) -> anyhow::Result<Arc<dyn Mailer>> {
    let from: Mailbox = config
        .from
        .parse()
        .with_context(|| format!("mail.from {:?} is not a mailbox", config.from))?;
    Ok(match &config.smtp_url {
        Some(url) => Arc::new(SmtpMailer::new(url.expose(), from)?),
        None => Arc::new(OutboxMailer {
            dir: config.outbox_dir(data_dir),
            from,
        }),
    })
}

fn message(from: &Mailbox, mail: OutgoingMail) -> anyhow::Result<Message> {
    Message::builder()
        .from(from.clone())
        .to(mail
            .to
            .parse()
            .with_context(|| format!("{:?} is not a mailbox", mail.to))?)
        .subject(mail.subject)
        .header(ContentType::TEXT_PLAIN)
        .body(mail.text)
        .context("building a mail")
}

/// Sends through an SMTP relay: `smtp://host:port` (plain, for a local relay),
/// `smtp://…?tls=required` (STARTTLS) or `smtps://…` (TLS), with credentials
/// in the URL when needed.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(url: &str, from: Mailbox) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .context("SMTP_URL is not a valid smtp:// or smtps:// URL")?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        Ok(Self { transport, from })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: OutgoingMail) -> anyhow::Result<()> {
        let message = message(&self.from, mail)?;
        self.transport
            .send(message)
            .await
            .context("sending a mail over SMTP")?;
        Ok(())
    }
}

/// Writes each mail as an `.eml` file, readable by its owner only (reset
/// links are secrets).
pub struct OutboxMailer {
    pub dir: PathBuf,
    from: Mailbox,
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, mail: OutgoingMail) -> anyhow::Result<()> {
        let bytes = message(&self.from, mail)?.formatted();
        let path = self.dir.join(format!(
            "{}-{}.eml",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            uuid::Uuid::new_v4()
        ));
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            fittrack_kit::files::create_private_dir(&dir)?;
            fittrack_kit::files::write_private(&path, &bytes)
        })
        .await
        .context("writing to the outbox")??;
        Ok(())
    }
}
