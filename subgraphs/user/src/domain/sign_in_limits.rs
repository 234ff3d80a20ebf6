//! How many password guesses anyone gets, and why nobody can lock out a user.
//!
//! Every check that takes a password (`login`, `reactivateMyAccount`,
//! `deleteMyAccount`) counts one attempt *before* the password is verified,
//! against three limits ([`SignInLimits::admit`]):
//!
//! 1. **per client address**, whatever the account: one address cannot spray
//!    passwords over many accounts (aliases count: each aliased `login` is an
//!    attempt);
//! 2. **per (account, address)** in two tiers (a short burst, then a daily
//!    allowance), so one address guessing one account slows down more and more;
//!    a successful sign-in clears it, so the owner never accumulates anything;
//! 3. **per account**, over all addresses: a ceiling far above what a person
//!    reaches, against distributed guessing.
//!
//! Limits 1 and 2 refuse only the guessing address (`RATE_LIMITED`): the owner,
//! signing in from anywhere else, is not affected. Limit 3 refuses every
//! *unknown* device (`ACCOUNT_LOCKED`, with a retry time), and reaching it
//! takes many addresses; a device the account signed in from before
//! (`domain::devices`, OWASP's device cookies) or a session of the account
//! skips limits 2 and 3 and is limited on its own instead (`per_device`), so a
//! distributed attack never locks the owner out of a device they know.
//!
//! Counting first and verifying after means parallel wrong attempts can never
//! get more guesses than the quota between them (the check is atomic).
//!
//! Emails and client addresses appear in limiter keys and log lines only as
//! pseudonyms (`kit::privacy`): a Redis dump or a log says nothing about who
//! tried to sign in, or from where.

use std::sync::Arc;

use fittrack_kit::{
    privacy::Pseudonyms,
    ratelimit::{Quota, RateLimiter},
};
use serde::{Deserialize, Serialize};

use super::error::{UserError, UserResult};

/// The configured quotas (`[user.sign_in]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SignInLimitsConfig {
    pub per_address: Quota,
    pub per_account_address: Quota,
    pub per_account_address_daily: Quota,
    pub per_account: Quota,
    /// Attempts from one known device (or signed-in session) of the account,
    /// in place of the per-(account, address) and per-account limits.
    pub per_known_device: Quota,
    /// New accounts per client address (each costs an argon2 hash and a row).
    pub sign_ups_per_address: Quota,
    /// Password-reset requests per client address, and per email address
    /// (known or not, so the refusal says nothing about the account): no
    /// one's mailbox is flooded.
    pub reset_requests_per_address: Quota,
    pub reset_requests_per_email: Quota,
}

impl Default for SignInLimitsConfig {
    fn default() -> Self {
        Self {
            per_address: Quota::per_minute(20),
            per_account_address: Quota {
                limit: 10,
                period: std::time::Duration::from_secs(15 * 60),
            },
            per_account_address_daily: Quota::per_day(30),
            per_account: Quota::per_hour(200),
            per_known_device: Quota {
                limit: 10,
                period: std::time::Duration::from_secs(15 * 60),
            },
            sign_ups_per_address: Quota::per_hour(20),
            reset_requests_per_address: Quota::per_hour(10),
            reset_requests_per_email: Quota::per_hour(3),
        }
    }
}

#[derive(Clone)]
pub struct SignInLimits {
    limiter: Arc<dyn RateLimiter>,
    config: SignInLimitsConfig,
    pseudonyms: Pseudonyms,
}

impl SignInLimits {
    pub fn new(
        limiter: Arc<dyn RateLimiter>,
        config: SignInLimitsConfig,
        pseudonyms: Pseudonyms,
    ) -> Self {
        Self {
            limiter,
            config,
            pseudonyms,
        }
    }

    /// The deployment's keyed hash (device tokens are signed with it too).
    pub fn pseudonyms(&self) -> &Pseudonyms {
        &self.pseudonyms
    }

    /// Counts one attempt on `account` (a normalised email, known or not) from
    /// `address`, by `known_device` when the attempt proved one of the
    /// account's devices or sessions (its key); refuses it when any limit is
    /// spent.
    pub async fn admit(
        &self,
        account: &str,
        address: &str,
        known_device: Option<&str>,
    ) -> UserResult<()> {
        let (account, address) = (&self.pseudonyms.of(account), &self.pseudonyms.of(address));
        if let Some(device) = known_device {
            let checks = [
                (format!("signin:ip:{address}"), self.config.per_address),
                (
                    format!("signin:device:{device}"),
                    self.config.per_known_device,
                ),
            ];
            for (key, quota) in checks {
                let decision = self.limiter.check(&key, quota, 1).await?;
                if !decision.allowed {
                    tracing::warn!(key, "sign-in attempts refused: rate limit");
                    return Err(UserError::SignInThrottled(decision.retry_after_secs()));
                }
            }
            return Ok(());
        }
        let checks = [
            (format!("signin:ip:{address}"), self.config.per_address),
            (
                format!("signin:pair:{account}:{address}"),
                self.config.per_account_address,
            ),
            (
                format!("signin:pair-day:{account}:{address}"),
                self.config.per_account_address_daily,
            ),
        ];
        for (key, quota) in checks {
            let decision = self.limiter.check(&key, quota, 1).await?;
            if !decision.allowed {
                tracing::warn!(key, "sign-in attempts refused: rate limit");
                return Err(UserError::SignInThrottled(decision.retry_after_secs()));
            }
        }
        let decision = self
            .limiter
            .check(
                &format!("signin:account:{account}"),
                self.config.per_account,
                1,
            )
            .await?;
        if !decision.allowed {
            tracing::warn!(
                account,
                "sign-in refused for everyone: account ceiling reached"
            );
            return Err(UserError::AccountLocked(decision.retry_after_secs()));
        }
        Ok(())
    }

    /// Counts one sign-up from `address`.
    pub async fn admit_sign_up(&self, address: &str) -> UserResult<()> {
        let address = &self.pseudonyms.of(address);
        let decision = self
            .limiter
            .check(
                &format!("signup:ip:{address}"),
                self.config.sign_ups_per_address,
                1,
            )
            .await?;
        if !decision.allowed {
            return Err(UserError::SignInThrottled(decision.retry_after_secs()));
        }
        Ok(())
    }

    /// Counts one password-reset request for `email` from `address`.
    pub async fn admit_reset_request(&self, email: &str, address: &str) -> UserResult<()> {
        let (email, address) = (&self.pseudonyms.of(email), &self.pseudonyms.of(address));
        for (key, quota) in [
            (
                format!("reset:ip:{address}"),
                self.config.reset_requests_per_address,
            ),
            (
                format!("reset:email:{email}"),
                self.config.reset_requests_per_email,
            ),
        ] {
            let decision = self.limiter.check(&key, quota, 1).await?;
            if !decision.allowed {
                return Err(UserError::ResetThrottled(decision.retry_after_secs()));
            }
        }
        Ok(())
    }

    /// The right password: this address's (and this device's) failures on
    /// the account are forgiven.
    pub async fn succeeded(
        &self,
        account: &str,
        address: &str,
        known_device: Option<&str>,
    ) -> UserResult<()> {
        if let Some(device) = known_device {
            self.limiter
                .reset(
                    &format!("signin:device:{device}"),
                    self.config.per_known_device,
                )
                .await?;
        }
        let (account, address) = (&self.pseudonyms.of(account), &self.pseudonyms.of(address));
        self.limiter
            .reset(
                &format!("signin:pair:{account}:{address}"),
                self.config.per_account_address,
            )
            .await?;
        self.limiter
            .reset(
                &format!("signin:pair-day:{account}:{address}"),
                self.config.per_account_address_daily,
            )
            .await?;
        Ok(())
    }
}
