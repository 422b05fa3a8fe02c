//! `${NAME}` interpolation of environment variables in roster file strings.

/// Expands `${NAME}` from the environment (`$${` is a literal `${`).
pub fn expand_env(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(r) = rest.strip_prefix("$${") {
            out.push_str("${");
            rest = r;
        } else if let Some(r) = rest.strip_prefix("${") {
            let end = r
                .find('}')
                .ok_or_else(|| format!("unclosed `${{` in `{s}`"))?;
            let name = &r[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("`${{{name}}}` is not an environment variable name"));
            }
            out.push_str(
                &std::env::var(name)
                    .map_err(|_| format!("environment variable {name} is not set"))?,
            );
            rest = &r[end + 1..];
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::expand_env;

    #[test]
    fn a_doubled_dollar_is_a_literal_and_a_lone_dollar_stays() {
        assert_eq!(expand_env("a $${X} $5 $").as_deref(), Ok("a ${X} $5 $"));
    }

    #[test]
    fn unclosed_bad_and_unset_names_are_errors() {
        assert_eq!(expand_env("${A").unwrap_err(), "unclosed `${` in `${A`");
        assert_eq!(
            expand_env("${A-B}").unwrap_err(),
            "`${A-B}` is not an environment variable name"
        );
        assert_eq!(
            expand_env("${}").unwrap_err(),
            "`${}` is not an environment variable name"
        );
        assert_eq!(
            expand_env("x${ROSTER_TEST_SURELY_UNSET}").unwrap_err(),
            "environment variable ROSTER_TEST_SURELY_UNSET is not set"
        );
    }
}
