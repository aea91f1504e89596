//! Scalar value types: the yes/no family, durations, byte counts, percentages.

use std::time::Duration;

/// Parses the yes/no family.
pub fn parse_yn(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "on" | "1" => Some(true),
        "no" | "n" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Parses a duration. A bare number is in `default_unit` (seconds or
/// milliseconds); suffixes `us`, `ms`, `s`, `m`, `h`, `d`, `w`; a decimal
/// fraction is allowed (`1.5s`).
pub fn parse_duration(v: &str, default_unit_ms: bool) -> Result<Duration, String> {
    let v = v.trim();
    if v.is_empty() {
        return Err("empty duration".into());
    }
    let num_end = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, suffix) = v.split_at(num_end);
    if num.is_empty() || num.starts_with('.') || num.matches('.').count() > 1 {
        return Err(format!("\"{v}\" is not a duration"));
    }
    let (whole, frac) = match num.split_once('.') {
        Some((w, f)) => (w, f),
        None => (num, ""),
    };
    let whole: u64 = whole.parse().map_err(|_| format!("\"{v}\" is too large"))?;
    let unit_us: u64 = match suffix.to_ascii_lowercase().as_str() {
        "" if default_unit_ms => 1_000,
        "" | "s" | "sec" | "secs" | "second" | "seconds" => 1_000_000,
        "us" => 1,
        "ms" => 1_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000_000,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000_000,
        "d" | "day" | "days" => 86_400_000_000,
        "w" | "week" | "weeks" => 604_800_000_000,
        _ => return Err(format!("unrecognized duration multiplier \"{suffix}\"")),
    };
    let mut us = whole
        .checked_mul(unit_us)
        .ok_or_else(|| format!("\"{v}\" is too large"))?;
    if !frac.is_empty() {
        let digits = frac.len().min(12);
        let f: u64 = frac
            .get(..digits)
            .unwrap_or("0")
            .parse()
            .map_err(|_| format!("\"{v}\" is not a duration"))?;
        let scale = 10u64.pow(u32::try_from(digits).unwrap_or(0));
        us = us.saturating_add(((u128::from(f) * u128::from(unit_us)) / u128::from(scale)) as u64);
    }
    Ok(Duration::from_micros(us))
}

/// Prints a duration the way it can be parsed back (`8h`, `500ms`, `90s`).
pub fn format_duration(d: Duration) -> String {
    let us = d.as_micros();
    if us == 0 {
        return "0s".into();
    }
    for (unit, name) in [
        (604_800_000_000u128, "w"),
        (86_400_000_000, "d"),
        (3_600_000_000, "h"),
        (60_000_000, "m"),
        (1_000_000, "s"),
        (1_000, "ms"),
    ] {
        if us.checked_rem(unit) == Some(0) {
            return format!("{}{name}", us / unit);
        }
    }
    format!("{us}us")
}

/// Parses an unsigned number (decimal, or `0x` hex).
pub fn parse_unsigned(v: &str) -> Result<u64, String> {
    let v = v.trim();
    let r = if let Some(h) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        u64::from_str_radix(h, 16)
    } else {
        v.parse::<u64>()
    };
    r.map_err(|_| format!("\"{v}\" is not an unsigned number"))
}

/// Parses a byte or packet count with optional binary suffix
/// (`KiB`, `MiB`, `GiB`, `TiB`, `PiB`, `EiB`; `2^N` too).
pub fn parse_bytes(v: &str) -> Result<u64, String> {
    let v = v.trim();
    if let Some(exp) = v.strip_prefix("2^") {
        let e: u32 = exp.parse().map_err(|_| format!("\"{v}\" invalid"))?;
        return 1u64
            .checked_shl(e)
            .filter(|_| e < 64)
            .ok_or_else(|| format!("\"{v}\" is too large"));
    }
    let end = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, suffix) = v.split_at(end);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("\"{v}\" is not a number"))?;
    let shift = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" | "kb" => 10,
        "m" | "mib" | "mb" => 20,
        "g" | "gib" | "gb" => 30,
        "t" | "tib" | "tb" => 40,
        "p" | "pib" | "pb" => 50,
        "e" | "eib" | "eb" => 60,
        other => return Err(format!("unrecognized multiplier \"{other}\"")),
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("\"{v}\" is too large"))
}

/// Parses a percentage: `100%`.
pub fn parse_percent(v: &str) -> Result<u32, String> {
    let v = v.trim();
    let Some(n) = v.strip_suffix('%') else {
        return Err(format!("\"{v}\" invalid, expecting % character"));
    };
    n.parse::<u32>()
        .map_err(|_| format!("\"{v}\" is not a percentage"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("8h", false),
            Ok(Duration::from_secs(8 * 3600))
        );
        assert_eq!(parse_duration("90", false), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500", true), Ok(Duration::from_millis(500)));
        assert_eq!(
            parse_duration("1.5s", false),
            Ok(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_duration("2w", false),
            Ok(Duration::from_secs(14 * 86400))
        );
        assert_eq!(parse_duration("10us", false), Ok(Duration::from_micros(10)));
        assert!(parse_duration("0xA", false).unwrap_err().contains("xA"));
        assert!(parse_duration("", false).is_err());
        assert!(parse_duration("99999999999999999999w", false).is_err());
        for d in ["8h", "500ms", "90s", "3m", "1d", "7us", "0s"] {
            let p = parse_duration(d, false).unwrap();
            assert_eq!(parse_duration(&format_duration(p), false).unwrap(), p);
        }
    }

    #[test]
    fn others() {
        assert_eq!(parse_yn("YES"), Some(true));
        assert_eq!(parse_yn("off"), Some(false));
        assert_eq!(parse_yn("maybe"), None);
        assert_eq!(parse_bytes("2KiB"), Ok(2048));
        assert_eq!(parse_bytes("2^10"), Ok(1024));
        assert!(parse_bytes("16EiB").is_err());
        assert_eq!(parse_percent("10%"), Ok(10));
        assert!(parse_percent("10foo").unwrap_err().contains("expecting %"));
        assert_eq!(parse_unsigned("0x10"), Ok(16));
    }
}
