//! Logs for Terraform: one hclog JSON object per line on stderr (`@level`, `@message`,
//! `@module`, `@timestamp`), which go-plugin turns into TF_LOG output at that level. Every line
//! passes the runtime's redactor first: no secret value reaches Terraform's logs.

use roster_runtime::redact::Redactor;
use std::io::Write;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Writes events as hclog JSON lines to stderr, redacted.
pub struct HclogLayer {
    redactor: Redactor,
}

impl HclogLayer {
    /// A layer redacting with `redactor` (the runtime's: every secret it handed out).
    pub fn new(redactor: Redactor) -> HclogLayer {
        HclogLayer { redactor }
    }
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.push_str(&format!("{value:?}"));
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

/// One log line (pure): hclog's JSON for `level` and `message`, at `timestamp`.
pub fn line(level: &Level, message: &str, timestamp: &str) -> String {
    let level = match *level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    };
    serde_json::json!({ "@level": level, "@message": message, "@module": "roster", "@timestamp": timestamp }).to_string()
}

impl<S: Subscriber> Layer<S> for HclogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        let text = line(event.metadata().level(), &self.redactor.redact(&message.0), &now);
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_hclog_json_and_redacted() {
        let r = Redactor::default();
        r.add("s3cr3t-value");
        let l = line(&Level::WARN, &r.redact("token s3cr3t-value refused"), "2026-12-04T00:00:00Z");
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["@level"], "warn");
        assert_eq!(v["@module"], "roster");
        assert!(!l.contains("s3cr3t-value") && l.contains("[redacted]"), "{l}");
    }
}
