//! The SMS gateway for residents' one-time codes. The built-in gateway logs that a message went to a
//! masked number (never its text, which holds the code) and, when `sms_webhook` is set, POSTs it as JSON (`{"phone", "text"}`) to that address: a
//! test harness, or a small relay to the county's SMS provider, plugs in there.

use crate::error::ApiError;
use huanxin_domain::reason;
use std::time::Duration;

/// Where text messages go.
#[derive(Clone)]
pub struct SmsGateway {
    webhook: Option<String>,
    http: reqwest::Client,
}

impl SmsGateway {
    /// The gateway for a webhook address (empty: log only).
    pub fn new(webhook: &str) -> SmsGateway {
        let webhook = Some(webhook.trim().to_string()).filter(|w| !w.is_empty());
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        SmsGateway { webhook, http }
    }

    /// Sends one message; a webhook that fails is an error the caller reports (503), so a resident
    /// is never told a code went out when it did not.
    pub async fn send(&self, phone: &str, text: &str) -> Result<(), ApiError> {
        // The text carries a one-time code: it never reaches the log, only that a message went out.
        tracing::info!(phone = %huanxin_domain::estates::mask_phone(phone), chars = text.chars().count(), "SMS sent");
        if let Some(url) = &self.webhook {
            let res = self
                .http
                .post(url)
                .json(&serde_json::json!({"phone": phone, "text": text}))
                .send()
                .await
                .map_err(|e| ApiError::Unavailable(reason!("sms.gateway_unreachable", e = e)))?;
            if !res.status().is_success() {
                return Err(ApiError::Unavailable(reason!("sms.gateway_refused", status = res.status())));
            }
        }
        Ok(())
    }
}
