//! Local time zones from the system's TZif files, checked against date(1).

mod common;

use std::path::Path;

use pki::{UnixTime, ZoneInfo};

#[test]
fn offsets_match_date() {
    let dir = common::fresh_dir("zone");
    for zone in [
        "Europe/Paris",
        "America/New_York",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
        "Pacific/Auckland",
        "America/Sao_Paulo",
    ] {
        let z = ZoneInfo::from_file(&Path::new("/usr/share/zoneinfo").join(zone)).unwrap();
        // Winter and summer of several years, including times past 2038.
        for t in [
            0i64,
            1_000_000_000,
            1_767_225_600,
            1_783_000_000,
            2_200_000_000,
            2_250_000_000,
            2_500_000_000,
        ] {
            let out = common::run(&dir, &format!("TZ={zone} date -d @{t} +%z"));
            let s = out.trim();
            let sign = if s.starts_with('-') { -1 } else { 1 };
            let h: i64 = s[1..3].parse().unwrap();
            let m: i64 = s[3..5].parse().unwrap();
            assert_eq!(
                z.offset_at(UnixTime(t)),
                sign * (h * 3600 + m * 60),
                "{zone} at {t}"
            );
        }
    }
}
