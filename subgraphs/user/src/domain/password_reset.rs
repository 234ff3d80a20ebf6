//! Password reset by email: what the link is and what the mail says. The
//! flows themselves are `Accounts::request_password_reset` and
//! `Accounts::reset_password`; the mail goes out through a [`Mailer`]
//! (the `mail` module: SMTP, or files in the data directory's outbox).
//!
//! A link carries 256 random bits; only their SHA-256 is stored, so a leaked
//! database holds no usable link. It works once and for [`RESET_LINK_TTL`].

use async_trait::async_trait;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use rand::RngCore;

/// How long a reset link works.
pub const RESET_LINK_TTL: chrono::Duration = chrono::Duration::minutes(30);

/// One plain-text email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// Sends mail. The domain owns the trait; the `mail` module implements it.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, mail: OutgoingMail) -> anyhow::Result<()>;
}

/// A new reset token: the value goes into the link, only the hash is stored.
pub struct ResetToken {
    pub token: String,
    pub hash: String,
}

impl ResetToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        Self {
            hash: super::tokens::hash_token(&token),
            token,
        }
    }
}

/// The link in the mail: the web app with the token in the fragment, which
/// browsers never send to a server (no access logs, no `Referer`).
pub fn reset_link(web_app_url: &str, token: &str) -> String {
    format!(
        "{}#reset-password={token}",
        web_app_url.trim_end_matches('#')
    )
}

/// The mail for a reset link.
pub fn reset_mail(to: &str, link: &str) -> OutgoingMail {
    let minutes = RESET_LINK_TTL.num_minutes();
    OutgoingMail {
        to: to.to_owned(),
        subject: "Reset your FitTrack password".to_owned(),
        text: format!(
            "Someone (hopefully you) asked to reset the password of your FitTrack account.\n\
             \n\
             Choose a new password here (the link works once, for {minutes} minutes):\n\
             \n\
             {link}\n\
             \n\
             Every device signed in to your account will be signed out.\n\
             If you did not ask for this, ignore this mail: your password stays as it is.\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let (a, b) = (ResetToken::generate(), ResetToken::generate());
        assert_ne!(a.token, b.token);
        assert_eq!(a.token.len(), 43);
        assert_ne!(a.hash, a.token);
    }

    #[test]
    fn the_link_keeps_the_token_in_the_fragment() {
        assert_eq!(
            reset_link("http://127.0.0.1:4080/", "abc"),
            "http://127.0.0.1:4080/#reset-password=abc"
        );
        let mail = reset_mail("ada@example.com", "http://x/#reset-password=abc");
        assert!(mail.text.contains("http://x/#reset-password=abc"));
        assert!(mail.text.contains("30 minutes"));
    }
}
