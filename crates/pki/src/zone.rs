//! The system's local time zone, read from TZif data (`$TZ` or
//! `/etc/localtime`), for list outputs printed in local time.

use std::path::Path;
use std::sync::OnceLock;

use crate::error::{PkiError, Result};
use crate::time::UnixTime;

/// UTC offsets of a time zone over time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneInfo {
    /// Transition times and the UTC offset (seconds east) from then on, ascending.
    transitions: Vec<(i64, i64)>,
    /// The offset before the first transition.
    initial: i64,
    /// The footer's POSIX TZ rule for times after the last transition.
    rule: Option<PosixRule>,
}

/// A POSIX TZ string such as `CET-1CEST,M3.5.0,M10.5.0/3`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PosixRule {
    std_offset: i64,
    dst: Option<DstRule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct DstRule {
    offset: i64,
    start: (RuleDate, i64),
    end: (RuleDate, i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleDate {
    /// `Jn`: day 1..=365, February 29 never counted.
    Julian1(i64),
    /// `n`: day 0..=365, February 29 counted.
    Julian0(i64),
    /// `Mm.w.d`: day d (0 = Sunday) of week w (5 = last) of month m.
    MonthWeekDay(u32, u32, u32),
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 31,
    }
}

impl RuleDate {
    /// Seconds from the start of `year` (local) to 00:00 of the rule's day.
    fn secs_in_year(self, year: i64) -> i64 {
        let jan1 = UnixTime::from_civil(year, 1, 1, 0, 0, 0).secs();
        let day = match self {
            RuleDate::Julian1(n) => {
                let leap_shift = i64::from(is_leap(year) && n >= 60);
                n - 1 + leap_shift
            }
            RuleDate::Julian0(n) => n,
            RuleDate::MonthWeekDay(m, w, d) => {
                let first = UnixTime::from_civil(year, m, 1, 0, 0, 0);
                let wd_first = first.civil(0).weekday;
                let mut mday = 1 + (d + 7 - wd_first) % 7 + (w.saturating_sub(1)) * 7;
                while mday > days_in_month(year, m) {
                    mday -= 7;
                }
                return first.secs() - jan1 + i64::from(mday - 1) * 86_400;
            }
        };
        day * 86_400
    }
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }
    fn bump(&mut self) -> Option<u8> {
        let (c, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*c)
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.0 = self.0.get(1..).unwrap_or_default();
            true
        } else {
            false
        }
    }
    fn num(&mut self) -> Option<i64> {
        let mut n: Option<i64> = None;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            self.bump();
            n = Some(
                n.unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(i64::from(c - b'0'))?,
            );
        }
        n
    }
    fn name(&mut self) -> Option<()> {
        if self.eat(b'<') {
            while self.bump()? != b'>' {}
            return Some(());
        }
        let mut len = 0;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.bump();
            len += 1;
        }
        (len >= 3).then_some(())
    }
    /// `[+-]hh[:mm[:ss]]` as seconds.
    fn hms(&mut self) -> Option<i64> {
        let sign = if self.eat(b'-') {
            -1
        } else {
            self.eat(b'+');
            1
        };
        // RFC 8536 allows hours up to 167; anything larger is malformed.
        let hours = self.num().filter(|h| *h <= 167)?;
        let mut secs = hours * 3600;
        if self.eat(b':') {
            secs += self.num().filter(|m| *m <= 59)? * 60;
            if self.eat(b':') {
                secs += self.num().filter(|s| *s <= 59)?;
            }
        }
        Some(sign * secs)
    }
    fn date(&mut self) -> Option<(RuleDate, i64)> {
        let d = if self.eat(b'J') {
            RuleDate::Julian1(self.num()?)
        } else if self.eat(b'M') {
            let m = u32::try_from(self.num()?)
                .ok()
                .filter(|m| (1..=12).contains(m))?;
            self.eat(b'.').then_some(())?;
            let w = u32::try_from(self.num()?)
                .ok()
                .filter(|w| (1..=5).contains(w))?;
            self.eat(b'.').then_some(())?;
            let d = u32::try_from(self.num()?).ok().filter(|d| *d <= 6)?;
            RuleDate::MonthWeekDay(m, w, d)
        } else {
            RuleDate::Julian0(self.num()?)
        };
        let time = if self.eat(b'/') { self.hms()? } else { 7200 };
        Some((d, time))
    }
}

impl PosixRule {
    fn parse(s: &str) -> Option<PosixRule> {
        let mut c = Cursor(s.as_bytes());
        c.name()?;
        let std_offset = -c.hms()?;
        if c.peek().is_none() {
            return Some(PosixRule {
                std_offset,
                dst: None,
            });
        }
        c.name()?;
        let offset = if c.peek().is_some_and(|ch| ch != b',') {
            -c.hms()?
        } else {
            std_offset + 3600
        };
        c.eat(b',').then_some(())?;
        let start = c.date()?;
        c.eat(b',').then_some(())?;
        let end = c.date()?;
        c.peek().is_none().then_some(())?;
        Some(PosixRule {
            std_offset,
            dst: Some(DstRule { offset, start, end }),
        })
    }

    fn offset_at(&self, t: i64) -> i64 {
        let Some(dst) = &self.dst else {
            return self.std_offset;
        };
        let year = UnixTime(t + self.std_offset).civil(0).year;
        let jan1 = UnixTime::from_civil(year, 1, 1, 0, 0, 0).secs();
        let start = jan1 + dst.start.0.secs_in_year(year) + dst.start.1 - self.std_offset;
        let end = jan1 + dst.end.0.secs_in_year(year) + dst.end.1 - dst.offset;
        let in_dst = if start < end {
            start <= t && t < end
        } else {
            !(end <= t && t < start)
        };
        if in_dst {
            dst.offset
        } else {
            self.std_offset
        }
    }
}

fn be32(d: &[u8], at: usize) -> Option<i64> {
    let b: [u8; 4] = d.get(at..at + 4)?.try_into().ok()?;
    Some(i64::from(i32::from_be_bytes(b)))
}

fn be64(d: &[u8], at: usize) -> Option<i64> {
    let b: [u8; 8] = d.get(at..at + 8)?.try_into().ok()?;
    Some(i64::from_be_bytes(b))
}

impl ZoneInfo {
    /// UTC itself.
    pub fn utc() -> Self {
        ZoneInfo {
            transitions: Vec::new(),
            initial: 0,
            rule: None,
        }
    }

    /// Parses TZif data (RFC 8536), using the 64-bit section when present.
    /// Times after the last transition follow the footer's POSIX TZ rule.
    pub fn from_tzif(data: &[u8]) -> Result<Self> {
        let bad = || PkiError::parse("TZif data", "truncated or malformed");
        if data.get(..4) != Some(b"TZif") {
            return Err(bad());
        }
        let version = *data.get(4).ok_or_else(bad)?;
        let counts = |d: &[u8], base: usize| -> Option<[usize; 6]> {
            let mut c = [0usize; 6];
            for (i, v) in c.iter_mut().enumerate() {
                *v = usize::try_from(be32(d, base + 20 + 4 * i)?).ok()?;
            }
            Some(c)
        };
        let [isut, isstd, leap, time, typ, chars] = counts(data, 0).ok_or_else(bad)?;
        let v1_len = time * 5 + typ * 6 + chars + leap * 8 + isstd + isut;
        let (base, tsize, [isut2, isstd2, leap2, time, typ, chars2]) = if version >= b'2' {
            let b2 = 44 + v1_len;
            (b2, 8, counts(data, b2).ok_or_else(bad)?)
        } else {
            (0, 4, [isut, isstd, leap, time, typ, chars])
        };
        let times_at = base + 44;
        let idx_at = times_at + time * tsize;
        let types_at = idx_at + time;
        let utoff = |t: usize| -> Option<i64> {
            if t >= typ {
                return None;
            }
            be32(data, types_at + 6 * t)
        };
        let mut transitions = Vec::with_capacity(time);
        for i in 0..time {
            let at = if tsize == 8 {
                be64(data, times_at + 8 * i)
            } else {
                be32(data, times_at + 4 * i)
            }
            .ok_or_else(bad)?;
            let t = usize::from(*data.get(idx_at + i).ok_or_else(bad)?);
            transitions.push((at, utoff(t).ok_or_else(bad)?));
        }
        // Before the first transition: the first standard-time type (RFC 8536 3.2).
        let initial = (0..typ)
            .find(|&t| data.get(types_at + 6 * t + 4) == Some(&0))
            .and_then(utoff)
            .or_else(|| utoff(0))
            .ok_or_else(bad)?;
        // The v2+ footer: "\n<POSIX TZ>\n" after the 64-bit data.
        let rule = if version >= b'2' {
            let end = types_at + typ * 6 + chars2 + leap2 * 12 + isstd2 + isut2;
            data.get(end..)
                .and_then(|f| f.strip_prefix(b"\n"))
                .and_then(|f| f.split(|&b| b == b'\n').next())
                .and_then(|f| std::str::from_utf8(f).ok())
                .and_then(PosixRule::parse)
        } else {
            None
        };
        Ok(ZoneInfo {
            transitions,
            initial,
            rule,
        })
    }

    /// Reads a TZif file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let data = std::fs::read(path).map_err(|e| PkiError::io(path, e))?;
        Self::from_tzif(&data)
    }

    /// The system zone: `$TZ` naming a zone file (absolute, or under
    /// `/usr/share/zoneinfo`), else `/etc/localtime`, else UTC.
    pub fn system() -> Self {
        let from_tz = std::env::var("TZ").ok().and_then(|tz| {
            let tz = tz.strip_prefix(':').unwrap_or(&tz).to_string();
            if tz.is_empty() || tz == "UTC" || tz == "UTC0" {
                return Some(ZoneInfo::utc());
            }
            let p = if tz.starts_with('/') {
                Path::new(&tz).to_path_buf()
            } else {
                Path::new("/usr/share/zoneinfo").join(&tz)
            };
            ZoneInfo::from_file(&p).ok()
        });
        from_tz
            .or_else(|| ZoneInfo::from_file(Path::new("/etc/localtime")).ok())
            .unwrap_or_else(ZoneInfo::utc)
    }

    /// The UTC offset in seconds at time `t`.
    pub fn offset_at(&self, t: UnixTime) -> i64 {
        let n = self.transitions.partition_point(|(at, _)| *at <= t.secs());
        if n == self.transitions.len() {
            if let Some(rule) = &self.rule {
                return rule.offset_at(t.secs());
            }
        }
        match n {
            0 => self.initial,
            n => self.transitions.get(n - 1).map(|(_, o)| *o).unwrap_or(0),
        }
    }
}

/// The system zone, read once.
pub(crate) fn system_zone() -> &'static ZoneInfo {
    static ZONE: OnceLock<ZoneInfo> = OnceLock::new();
    ZONE.get_or_init(ZoneInfo::system)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage() {
        assert!(ZoneInfo::from_tzif(b"nope").is_err());
        assert!(ZoneInfo::from_tzif(b"TZif2\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0").is_err());
        assert_eq!(ZoneInfo::utc().offset_at(UnixTime(123)), 0);
    }

    #[test]
    fn posix_rules() {
        let paris = PosixRule::parse("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        // 2040-03-25 00:59:59 UTC is before the switch at 01:00 UTC.
        let sw = UnixTime::from_civil(2040, 3, 25, 1, 0, 0).secs();
        assert_eq!(paris.offset_at(sw - 1), 3600);
        assert_eq!(paris.offset_at(sw), 7200);
        let back = UnixTime::from_civil(2040, 10, 28, 1, 0, 0).secs();
        assert_eq!(paris.offset_at(back - 1), 7200);
        assert_eq!(paris.offset_at(back), 3600);
        let india = PosixRule::parse("IST-5:30").unwrap();
        assert_eq!(india.offset_at(0), 19_800);
        let nz = PosixRule::parse("NZST-12NZDT,M9.5.0,M4.1.0/3").unwrap();
        assert_eq!(
            nz.offset_at(UnixTime::from_civil(2040, 1, 1, 0, 0, 0).secs()),
            13 * 3600
        );
        assert_eq!(
            nz.offset_at(UnixTime::from_civil(2040, 7, 1, 0, 0, 0).secs()),
            12 * 3600
        );
        assert!(PosixRule::parse("X").is_none());
        assert!(PosixRule::parse("AAA99999999999999999999").is_none());
        assert!(PosixRule::parse("AAA-1BBB,M3.5.0/99999999999999,M10.5.0").is_none());
        assert!(PosixRule::parse("CET-1CEST,M13.5.0,M10.5.0").is_none());
    }
}
