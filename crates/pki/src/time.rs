//! Points in time as seconds since the Unix epoch, and their rendering the way
//! Libreswan prints them.

use std::fmt;

/// A point in time, in seconds since 1970-01-01 00:00:00 UTC.
///
/// The `pki` crate never reads the system clock itself: validation and listing
/// functions take the current time as a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub i64);

impl UnixTime {
    /// The current system time.
    pub fn now() -> Self {
        let secs = match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
        };
        UnixTime(secs)
    }

    /// The time of a UTC calendar date and time of day (proleptic Gregorian).
    pub fn from_civil(
        year: i64,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
    ) -> Self {
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(month);
        let mp = if m > 2 { m - 3 } else { m + 9 };
        let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        UnixTime(
            days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second),
        )
    }

    /// Parses an ASN.1 GeneralizedTime (`YYYYMMDDHHMMSS[.fff]Z`).
    pub fn from_generalized_time(s: &str) -> Option<Self> {
        let s = s.strip_suffix('Z')?;
        let s = s.split('.').next()?;
        if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n = |a: usize, b: usize| s.get(a..b).and_then(|v| v.parse::<u32>().ok());
        let (mo, d, h, mi, se) = (n(4, 6)?, n(6, 8)?, n(8, 10)?, n(10, 12)?, n(12, 14)?);
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
            return None;
        }
        Some(Self::from_civil(i64::from(n(0, 4)?), mo, d, h, mi, se))
    }

    /// Seconds since the epoch.
    pub fn secs(self) -> i64 {
        self.0
    }

    /// This time plus `secs` seconds (saturating).
    pub fn add_secs(self, secs: i64) -> Self {
        UnixTime(self.0.saturating_add(secs))
    }

    /// Broken-down calendar fields of this time shifted by `offset_secs`.
    pub fn civil(self, offset_secs: i64) -> Civil {
        let t = self.0.saturating_add(offset_secs);
        let days = t.div_euclid(86_400);
        let sod = t.rem_euclid(86_400);
        // Howard Hinnant's days-from-civil inverse.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = if m <= 2 { y + 1 } else { y };
        // 1970-01-01 was a Thursday (weekday 4, Sunday = 0).
        let weekday = (days + 4).rem_euclid(7);
        Civil {
            year,
            month: m as u32,
            day: d as u32,
            hour: (sod / 3600) as u32,
            minute: ((sod / 60) % 60) as u32,
            second: (sod % 60) as u32,
            weekday: weekday as u32,
        }
    }

    /// The C `asctime` style used by Libreswan's certificate listings,
    /// `"%a %b %d %H:%M:%S %Y"`, e.g. `Wed May 15 23:03:00 2019`.
    pub fn asctime(self, zone: TimeZone) -> String {
        let c = self.civil(zone.offset_at(self));
        format!(
            "{} {} {:02} {:02}:{:02}:{:02} {}",
            WEEKDAYS.get(c.weekday as usize).copied().unwrap_or("???"),
            MONTHS
                .get(c.month.saturating_sub(1) as usize)
                .copied()
                .unwrap_or("???"),
            c.day,
            c.hour,
            c.minute,
            c.second,
            c.year
        )
    }

    /// Libreswan's `jam_realtime` format used by `--listpubkeys`:
    /// `May 15 23:03:00 2019` in local time, `May 15 23:03:00 UTC 2019` in UTC.
    pub fn realtime(self, zone: TimeZone) -> String {
        let c = self.civil(zone.offset_at(self));
        format!(
            "{} {:02} {:02}:{:02}:{:02}{}{:04}",
            MONTHS
                .get(c.month.saturating_sub(1) as usize)
                .copied()
                .unwrap_or("???"),
            c.day,
            c.hour,
            c.minute,
            c.second,
            zone.separator(),
            c.year
        )
    }

    /// [`UnixTime::realtime`] of an optional time; `None` (never) prints as
    /// `--- -- --:--:-- ----`.
    pub fn realtime_opt(t: Option<UnixTime>, zone: TimeZone) -> String {
        match t {
            Some(t) => t.realtime(zone),
            None => format!("--- -- --:--:--{}----", zone.separator()),
        }
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.civil(0);
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        )
    }
}

/// Calendar fields of a [`UnixTime`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Year, e.g. 2026.
    pub year: i64,
    /// Month 1..=12.
    pub month: u32,
    /// Day of the month 1..=31.
    pub day: u32,
    /// Hour 0..=23.
    pub hour: u32,
    /// Minute 0..=59.
    pub minute: u32,
    /// Second 0..=59.
    pub second: u32,
    /// Day of the week, Sunday = 0.
    pub weekday: u32,
}

/// The zone in which list outputs print times (`--utc` selects [`TimeZone::Utc`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeZone {
    /// Coordinated Universal Time.
    Utc,
    /// A fixed offset from UTC in seconds (east positive).
    Local {
        /// Seconds east of UTC.
        offset_secs: i64,
    },
    /// The system's local time (`$TZ` or `/etc/localtime`), with the offset
    /// in force at each time printed.
    System,
}

impl TimeZone {
    fn separator(self) -> &'static str {
        match self {
            TimeZone::Utc => " UTC ",
            TimeZone::Local { .. } | TimeZone::System => " ",
        }
    }

    fn offset_at(self, t: UnixTime) -> i64 {
        match self {
            TimeZone::Utc => 0,
            TimeZone::Local { offset_secs } => offset_secs,
            TimeZone::System => crate::zone::system_zone().offset_at(t),
        }
    }
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_roundtrip() {
        for t in [0i64, 951_782_400, 1_557_961_380, 4_102_444_800, -86_400] {
            let c = UnixTime(t).civil(0);
            assert_eq!(
                UnixTime::from_civil(c.year, c.month, c.day, c.hour, c.minute, c.second),
                UnixTime(t)
            );
        }
        assert_eq!(
            UnixTime::from_generalized_time("20190515230300Z"),
            Some(UnixTime(1_557_961_380))
        );
        assert_eq!(
            UnixTime::from_generalized_time("20190515230300.123Z"),
            Some(UnixTime(1_557_961_380))
        );
        assert_eq!(UnixTime::from_generalized_time("2019051523Z"), None);
    }

    #[test]
    fn asctime_matches_c() {
        // 2019-05-15 23:03:00 UTC, a Wednesday.
        assert_eq!(
            UnixTime(1_557_961_380).asctime(TimeZone::Utc),
            "Wed May 15 23:03:00 2019"
        );
        assert_eq!(
            UnixTime(0).asctime(TimeZone::Utc),
            "Thu Jan 01 00:00:00 1970"
        );
        assert_eq!(
            UnixTime(0).asctime(TimeZone::Local { offset_secs: -3600 }),
            "Wed Dec 31 23:00:00 1969"
        );
        assert_eq!(
            UnixTime(1_557_961_380).realtime(TimeZone::Utc),
            "May 15 23:03:00 UTC 2019"
        );
        assert_eq!(
            UnixTime::realtime_opt(None, TimeZone::Local { offset_secs: 0 }),
            "--- -- --:--:-- ----"
        );
    }
}
