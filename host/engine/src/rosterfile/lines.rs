//! Line bookkeeping: dotted keys (`resource.nimbus_user.alice.o365_id`) and the lines they are
//! on, so that every error names its line.

use std::collections::HashMap;

/// The line of a dotted key (or of its closest parent) in `lines`; 0 when unknown.
pub(super) fn line_in(lines: &HashMap<String, usize>, key: &str) -> usize {
    let mut k = key;
    loop {
        if let Some(l) = lines.get(k) {
            return *l;
        }
        match crate::address::last_dot(k) {
            Some(i) => k = &k[..i],
            None => return 0,
        }
    }
}

/// Byte offset → 1-based line, by binary search over the newline offsets.
pub(super) struct LineIndex(Vec<usize>);

impl LineIndex {
    pub(super) fn new(text: &str) -> LineIndex {
        LineIndex(text.match_indices('\n').map(|(i, _)| i).collect())
    }

    pub(super) fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&nl| nl < offset) + 1
    }
}

/// The dotted key of `key` in `prefix`; a key that is not a bare name is quoted, so a resource
/// named `a.b@example.com` is `resource.TYPE."a.b@example.com"`, not four segments.
pub(super) fn join(prefix: &str, key: &str) -> String {
    let key = crate::address::segment(key);
    if prefix.is_empty() {
        key
    } else {
        format!("{prefix}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_one_based_lines() {
        let index = LineIndex::new("a\nbc\n\nd");
        let lines: Vec<usize> = [0, 1, 2, 4, 5, 6].iter().map(|&o| index.line(o)).collect();
        assert_eq!(lines, [1, 1, 2, 2, 3, 4]);
    }

    #[test]
    fn a_key_takes_the_line_of_its_closest_parent() {
        let quoted = join("resource.nimbus_user", "a.b@example.com");
        assert_eq!(quoted, "resource.nimbus_user.\"a.b@example.com\"");
        let lines = HashMap::from([("provider.nimbus".to_string(), 3), (quoted.clone(), 7)]);
        assert_eq!(line_in(&lines, "provider.nimbus.config.tenant_id"), 3);
        assert_eq!(line_in(&lines, &join(&quoted, "o365_id")), 7);
        assert_eq!(line_in(&lines, "settings.state"), 0);
    }
}
