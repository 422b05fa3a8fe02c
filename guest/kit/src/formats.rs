//! Format checks run before anything is sent.

/// True for a GUID in the 8-4-4-4-12 hexadecimal form (either case), as Entra ids are written.
pub fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    groups.len() == 5
        && groups
            .iter()
            .zip(lengths)
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// True for a plausible e-mail address: one `@`, a non-empty local part, a dotted domain,
/// no white space. (Deliverability is the vendor's business.)
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && s.len() <= 254
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids() {
        assert!(is_guid("9fce70af-a632-49ca-bc0d-53db5a21c5b3"));
        assert!(is_guid("9FCE70AF-A632-49CA-BC0D-53DB5A21C5B3"));
        assert!(!is_guid("9fce70af-a632-49ca-bc0d-53db5a21c5b"));
        assert!(!is_guid("9fce70af-a632-49ca-bc0d-53db5a21c5bz"));
        assert!(!is_guid("9fce70afa63249cabc0d53db5a21c5b3"));
        assert!(!is_guid(""));
    }

    #[test]
    fn emails() {
        assert!(is_email("mmars@abc-gadgets.com"));
        assert!(!is_email("mmars"));
        assert!(!is_email("@abc.com"));
        assert!(!is_email("a@b"));
        assert!(!is_email("a b@c.com"));
        assert!(!is_email("a@@c.com"));
        assert!(!is_email("a@c..com"));
    }
}
