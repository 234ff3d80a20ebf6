//! Contact messages to the team, limited per sender.

use chrono::{Duration, Utc};
use uuid::Uuid;

use super::Accounts;
use crate::domain::{
    error::{UserError, UserResult},
    ports::NewContactMessage,
    validation::normalize_email,
};

/// Contact messages one sender may send per hour.
pub const CONTACT_MESSAGES_PER_HOUR: u64 = 5;

pub struct ContactMessage {
    pub name: String,
    pub email: String,
    pub subject: String,
    pub message: String,
}

impl Accounts {
    /// Stores a message for the team: 5 per hour per signed-in user, or per
    /// client address for anonymous senders.
    pub async fn submit_contact_message(
        &self,
        message: ContactMessage,
        sender: Option<Uuid>,
        client_ip: Option<String>,
    ) -> UserResult<()> {
        let text = |raw: &str, field: &'static str, max: usize| -> UserResult<String> {
            let value = raw.trim();
            if value.is_empty() || value.chars().count() > max {
                return Err(UserError::invalid(
                    field,
                    format!("must be 1 to {max} characters"),
                ));
            }
            Ok(value.to_owned())
        };
        let now = Utc::now();
        let row = NewContactMessage {
            user_id: sender,
            name: text(&message.name, "name", 100)?,
            email: normalize_email(&message.email)?,
            subject: text(&message.subject, "subject", 200)?,
            message: text(&message.message, "message", 5_000)?,
            sender_key: match (sender, client_ip) {
                (Some(user), _) => format!("user:{user}"),
                (None, Some(ip)) => format!("ip:{ip}"),
                (None, None) => "ip:unknown".to_owned(),
            },
            created_at: now,
        };
        let stored = self
            .store
            .insert_contact_message(row, now - Duration::hours(1), CONTACT_MESSAGES_PER_HOUR)
            .await?;
        if !stored {
            return Err(UserError::RateLimited);
        }
        Ok(())
    }
}
