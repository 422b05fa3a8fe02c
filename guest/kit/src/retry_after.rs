//! `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP date.

/// Parses a `Retry-After` value into milliseconds from `now_unix_secs`; a date in the past is 0.
pub fn parse(value: &str, now_unix_secs: u64) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs.saturating_mul(1000));
    }
    let at = parse_http_date(value)?;
    Some(at.saturating_sub(now_unix_secs).saturating_mul(1000))
}

/// Parses an IMF-fixdate such as `Sun, 06 Nov 1994 08:49:37 GMT` into Unix seconds; a date
/// before 1970 is 0 (it is in the past either way).
pub fn parse_http_date(s: &str) -> Option<u64> {
    let rest = s.split_once(", ")?.1;
    let parts: Vec<&str> = rest.split(' ').collect();
    if parts.len() != 5 || parts[4] != "GMT" {
        return None;
    }
    let day: u64 = parts[0].parse().ok()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == parts[1])? as u64 + 1;
    let year: u64 = parts[2].parse().ok()?;
    let hms: Vec<u64> = parts[3]
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if hms.len() != 3 || hms[0] > 23 || hms[1] > 59 || hms[2] > 60 || !(1..=31).contains(&day) {
        return None;
    }
    if year > 9999 {
        return None;
    }
    let secs = days_from_civil(year as i64, month as i64, day as i64) * 86_400
        + (hms[0] * 3600 + hms[1] * 60 + hms[2]) as i64;
    Some(secs.max(0) as u64)
}

/// Days since 1970-01-01 (negative before) of a proleptic Gregorian date (Howard Hinnant's
/// algorithm), in signed arithmetic so that early dates cannot wrap around.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_dates() {
        assert_eq!(parse("120", 0), Some(120_000));
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_770),
            Some(7_000)
        );
        assert_eq!(parse("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_800), Some(0));
        assert_eq!(parse("soon", 0), None);
        // Regression (issue 11): a date before 1970 wrapped around into an endless wait.
        assert_eq!(
            parse("Thu, 01 Jan 1960 00:00:00 GMT", 1_700_000_000),
            Some(0)
        );
        assert_eq!(
            parse("Sat, 01 Jan 0000 00:00:00 GMT", 1_700_000_000),
            Some(0)
        );
        assert_eq!(parse("Thu, 01 Jan 1970 00:00:00 GMT", 0), Some(0));
        assert_eq!(parse("Sun, 06 Nov 1994 08:49:37 UTC", 0), None);
    }
}
