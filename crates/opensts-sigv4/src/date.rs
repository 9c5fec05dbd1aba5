//! Dates without a clock and without allocation-heavy parsing: the SigV4 basic format
//! (`20150830T123600Z`) and the RFC 1123 / RFC 2822 `Date` header fallback.

/// Smallest timestamp we format (0001-01-01T00:00:00Z).
const MIN_UNIX: i64 = -62_135_596_800;
/// Largest timestamp we format (9999-12-31T23:59:59Z).
const MAX_UNIX: i64 = 253_402_300_799;

/// Days since 1970-01-01 of a proleptic Gregorian date (`m` 1..=12, `d` 1..=31).
pub(crate) const fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
pub(crate) const fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

const fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

const fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Unix seconds of a validated calendar date and time of day.
fn to_unix(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59
    {
        return None;
    }
    Some(
        days_from_civil(y, mo, d) * 86_400
            + i64::from(h) * 3600
            + i64::from(mi) * 60
            + i64::from(s),
    )
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() {
        return None;
    }
    let mut v: u32 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u32::from(c - b'0'))?;
    }
    Some(v)
}

/// Parse `YYYYMMDDTHHMMSSZ` (the only form SigV4 signers emit) into unix seconds.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let y = digits(&b[0..4])?;
    let mo = digits(&b[4..6])?;
    let d = digits(&b[6..8])?;
    let h = digits(&b[9..11])?;
    let mi = digits(&b[11..13])?;
    let sec = digits(&b[13..15])?;
    to_unix(i64::from(y), mo, d, h, mi, sec)
}

/// Format unix seconds as `YYYYMMDDTHHMMSSZ` (clamped to years 1..=9999).
pub fn format_amz_date(unix: i64) -> String {
    let t = unix.clamp(MIN_UNIX, MAX_UNIX);
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        y,
        m,
        d,
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// Parse an HTTP `Date` header: RFC 1123 / RFC 2822 (`Sun, 06 Nov 1994 08:49:37 GMT`,
/// botocore's `Thu, 15 Jan 2026 09:30:00 -0000`); the day-of-week is optional and not checked.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let rest = match s.find(',') {
        Some(i) => &s[i + 1..],
        None => s,
    };
    let mut it = rest.split_ascii_whitespace();
    let (day, mon, year, hms, zone) = (it.next()?, it.next()?, it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || day.len() > 2 || year.len() != 4 {
        return None;
    }
    let d = digits(day.as_bytes())?;
    let mo = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(mon))
        .and_then(|i| u32::try_from(i + 1).ok())?;
    let y = digits(year.as_bytes())?;
    let hb = hms.as_bytes();
    if hb.len() != 8 || hb[2] != b':' || hb[5] != b':' {
        return None;
    }
    let h = digits(&hb[0..2])?;
    let mi = digits(&hb[3..5])?;
    let sec = digits(&hb[6..8])?;
    let offset = match zone {
        "GMT" | "UT" | "UTC" | "Z" => 0,
        z => {
            let zb = z.as_bytes();
            if zb.len() != 5 {
                return None;
            }
            let sign = match zb[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let zh = digits(&zb[1..3])?;
            let zm = digits(&zb[3..5])?;
            if zm > 59 {
                return None;
            }
            sign * (i64::from(zh) * 3600 + i64::from(zm) * 60)
        }
    };
    Some(to_unix(i64::from(y), mo, d, h, mi, sec)? - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_date_round_trip() {
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(format_amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(format_amz_date(0), "19700101T000000Z");
        assert_eq!(parse_amz_date("20000229T235959Z"), Some(951_868_799));
        assert_eq!(format_amz_date(-1), "19691231T235959Z");
        for t in [-86_401_i64, 0, 1, 951_868_799, 1_768_469_400, 4_102_444_800] {
            assert_eq!(parse_amz_date(&format_amz_date(t)), Some(t));
        }
    }

    #[test]
    fn amz_date_rejects() {
        for bad in [
            "",
            "20150830T123600",
            "20150830 123600Z",
            "2015-08-30T12:36:00Z",
            "20150230T123600Z",
            "20190229T000000Z",
            "20151301T000000Z",
            "20150830T243600Z",
            "20150830T126000Z",
            "20150830T123660Z",
            "2015083OT123600Z",
            "+0150830T123600Z",
            "20150830T123600z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn clamps() {
        assert_eq!(format_amz_date(i64::MAX), "99991231T235959Z");
        assert_eq!(format_amz_date(i64::MIN), "00010101T000000Z");
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT"),
            Some(1_440_938_160)
        );
        assert_eq!(
            parse_http_date("Sun, 30 Aug 2015 12:36:00 -0000"),
            Some(1_440_938_160)
        );
        assert_eq!(
            parse_http_date("30 Aug 2015 14:36:00 +0200"),
            Some(1_440_938_160)
        );
        assert_eq!(
            parse_http_date("Sun, 6 Nov 1994 08:49:37 UTC"),
            Some(784_111_777)
        );
        for bad in [
            "",
            "Sun, 30 Aug 2015 12:36:00",
            "Sun, 30 Foo 2015 12:36:00 GMT",
            "Sun, 31 Sep 2015 12:36:00 GMT",
            "Sun, 30 Aug 15 12:36:00 GMT",
            "Sun, 30 Aug 2015 12:36 GMT",
            "Sun, 30 Aug 2015 12:36:00 EST",
            "Sun, 30 Aug 2015 12:36:00 GMT extra",
            "20150830T123600Z",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }
}
