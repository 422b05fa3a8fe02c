//! Logs for Terraform: one hclog JSON object per line on stderr (`@level`, `@message`,
//! `@module`, `@timestamp`), which go-plugin turns into TF_LOG output at that level. Every line
//! passes the runtime's redactor first: no secret value reaches Terraform's logs.

use roster_runtime::redact::Redactor;
use std::io::Write;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Writes Roster's own events (not the gRPC and HTTP libraries') as hclog JSON lines to stderr,
/// redacted, up to a level.
pub struct HclogLayer {
    redactor: Redactor,
    max: Level,
}

impl HclogLayer {
    /// A layer redacting with `redactor` (the runtime's: every secret it handed out), writing
    /// events up to `max` (more verbose ones are never formatted).
    pub fn new(redactor: Redactor, max: Level) -> HclogLayer {
        HclogLayer { redactor, max }
    }
}

/// The most verbose level worth writing, from the TF_LOG Terraform passes to its plugins
/// (`TF_LOG_PROVIDER` first): Terraform drops a provider's lines below its own level anyway.
pub fn level_from_env(provider: Option<&str>, general: Option<&str>) -> Level {
    match provider
        .or(general)
        .map(|l| l.trim().to_ascii_uppercase())
        .as_deref()
    {
        Some("TRACE") | Some("JSON") => Level::TRACE,
        Some("DEBUG") => Level::DEBUG,
        Some("INFO") => Level::INFO,
        Some("ERROR") => Level::ERROR,
        _ => Level::WARN,
    }
}

/// Whether an event is Roster's own and verbose enough.
fn wanted(target: &str, level: &Level, max: &Level) -> bool {
    target.starts_with("roster") && level <= max
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
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        wanted(metadata.target(), metadata.level(), &self.max)
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if !wanted(
            event.metadata().target(),
            event.metadata().level(),
            &self.max,
        ) {
            return;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let text = line(
            event.metadata().level(),
            &self.redactor.redact(&message.0),
            &now,
        );
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_roster_events_up_to_tf_logs_level() {
        assert_eq!(level_from_env(None, None), Level::WARN);
        assert_eq!(level_from_env(None, Some("trace")), Level::TRACE);
        assert_eq!(
            level_from_env(Some("INFO"), Some("TRACE")),
            Level::INFO,
            "TF_LOG_PROVIDER wins"
        );
        assert!(wanted(
            "roster_terraform::server",
            &Level::INFO,
            &Level::INFO
        ));
        assert!(!wanted(
            "roster_terraform::server",
            &Level::DEBUG,
            &Level::INFO
        ));
        assert!(
            !wanted("h2::proto::connection", &Level::ERROR, &Level::TRACE),
            "library internals never"
        );
    }

    #[test]
    fn lines_are_hclog_json_and_redacted() {
        let r = Redactor::default();
        r.add("s3cr3t-value");
        let l = line(
            &Level::WARN,
            &r.redact("token s3cr3t-value refused"),
            "2026-12-04T00:00:00Z",
        );
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["@level"], "warn");
        assert_eq!(v["@module"], "roster");
        assert!(
            !l.contains("s3cr3t-value") && l.contains("[redacted]"),
            "{l}"
        );
    }
}
