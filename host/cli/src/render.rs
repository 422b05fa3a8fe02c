//! Plans and results as text, in Terraform's shape.

use roster_engine::apply::Summary;
use roster_engine::plan::{ActionKind, Plan};
use serde_json::Value;

/// ANSI colours, or none.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    /// Use colours.
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "(unset)".into(),
        other => other.to_string(),
    }
}

/// The plan as Terraform would print it.
pub fn plan(p: &Plan, style: Style) -> String {
    let mut out = String::new();
    if !p.drift.is_empty() {
        out.push_str(&style.bold("Objects have changed outside of Roster:\n\n"));
        for d in &p.drift {
            out.push_str(&format!(
                "  {} {}: {}\n",
                style.yellow("~"),
                d.address,
                d.note
            ));
        }
        out.push('\n');
    }
    if p.refresh_only && p.actions.is_empty() {
        if p.drift.is_empty() && p.refreshed.is_empty() {
            out.push_str("No changes. The state matches the vendors.\n");
        } else {
            out.push_str(&format!(
                "A refresh-only apply would record {} refreshed object(s) in the state.\n",
                p.refreshed.len() + p.drift.len()
            ));
        }
        return out;
    }
    if p.actions.is_empty() {
        out.push_str(&style.green("No changes. The vendors match the roster file.\n"));
        return out;
    }
    if p.refresh_only {
        out.push_str("A refresh-only apply would change only the state (nothing is sent to the vendors):\n\n");
    } else {
        out.push_str("Roster will perform the following actions:\n\n");
    }
    for a in &p.actions {
        let (symbol, headline) = match a.kind {
            ActionKind::Create => (style.green("  +"), "will be created".to_string()),
            ActionKind::Delete => (style.red("  -"), "will be deleted".to_string()),
            ActionKind::Replace => (
                format!("{}{}", style.red("-"), style.green("/+")),
                "must be replaced".to_string(),
            ),
            ActionKind::Adopt => (
                style.green("  ="),
                "will be adopted into the state".to_string(),
            ),
            ActionKind::Forget => (
                style.yellow("  ~"),
                "will be removed from the state".to_string(),
            ),
            ActionKind::Move => (
                style.yellow("  >"),
                "has moved (same id; nothing is sent to the vendor)".to_string(),
            ),
        };
        if let Some(from) = &a.moved_from {
            out.push_str(&format!(
                "  # {} has moved to {}\n",
                style.bold(from),
                style.bold(&a.address)
            ));
            if a.kind == ActionKind::Move {
                continue;
            }
        }
        let why = a
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        out.push_str(&format!("  # {} {headline}{why}\n", style.bold(&a.address)));
        out.push_str(&format!("{symbol} {} \"{}\" {{\n", a.type_name, a.id));
        let width = a
            .desired
            .keys()
            .chain(a.changes.iter().map(|c| &c.attribute))
            .map(String::len)
            .max()
            .unwrap_or(0);
        match a.kind {
            ActionKind::Create | ActionKind::Adopt => {
                for (k, v) in &a.desired {
                    out.push_str(&format!(
                        "      {} {k:<width$} = {}\n",
                        style.green("+"),
                        show(v)
                    ));
                }
            }
            ActionKind::Replace => {
                for c in &a.changes {
                    let forces = if c.forces_replacement {
                        style.red(" # forces replacement")
                    } else {
                        String::new()
                    };
                    out.push_str(&format!(
                        "      {} {:<width$} = {} -> {}{forces}\n",
                        style.yellow("~"),
                        c.attribute,
                        show(&c.from),
                        show(&c.to)
                    ));
                }
            }
            ActionKind::Delete | ActionKind::Forget | ActionKind::Move => {}
        }
        out.push_str("    }\n");
        if let Some(w) = &a.warning {
            out.push_str(&format!("    {} {w}\n", style.yellow("! replacing it:")));
        }
        out.push('\n');
    }
    let (add, change, destroy) = p.counts();
    let mut extra = String::new();
    for (kind, what) in [
        (ActionKind::Move, "to move"),
        (ActionKind::Forget, "to forget"),
    ] {
        let n = p.count(kind);
        if n > 0 {
            extra.push_str(&format!(", {n} {what}"));
        }
    }
    out.push_str(&style.bold(&format!(
        "Plan: {} to add, {} to replace, {} to destroy{extra}.\n",
        add, change, destroy
    )));
    out
}

/// The end-of-apply summary.
pub fn summary(s: &Summary, style: Style) -> String {
    let mut out = String::new();
    let failed = s.failed();
    for f in &failed {
        out.push_str(&format!(
            "{} {}: {}\n",
            style.red("Error:"),
            f.address,
            f.result.as_ref().err().map(String::as_str).unwrap_or("")
        ));
    }
    let line = format!(
        "Apply {}! Resources: {} added, {} replaced, {} destroyed, {} adopted, {} moved, {} forgotten, {} failed.",
        if failed.is_empty() { "complete" } else { "finished with errors" },
        s.count(ActionKind::Create),
        s.count(ActionKind::Replace),
        s.count(ActionKind::Delete),
        s.count(ActionKind::Adopt),
        s.count(ActionKind::Move),
        s.count(ActionKind::Forget),
        failed.len()
    );
    out.push_str(&if failed.is_empty() {
        style.green(&line)
    } else {
        style.red(&line)
    });
    out.push('\n');
    let rl = s.rate_limited();
    if rl > 0 {
        out.push_str(&format!(
            "({rl} rate-limited answers were waited out and retried.)\n"
        ));
    }
    out
}
