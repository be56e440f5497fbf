//! STIX timestamps: RFC 3339, UTC, ending in `Z`.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Why a string is not a STIX timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// Not of the form `YYYY-MM-DDTHH:MM:SS[.fraction]Z`.
    #[error("timestamp must have the form YYYY-MM-DDTHH:MM:SS[.s+]Z (RFC 3339, UTC)")]
    Format,
    /// The date or time fields are out of range (e.g. February 30th).
    #[error("timestamp is not a valid date and time")]
    Range,
}

/// A STIX timestamp (`YYYY-MM-DDTHH:MM:SS[.s+]Z`).
///
/// It keeps the string exactly as written (STIX objects are stored as
/// posted) and the instant it denotes, with up to nanosecond precision;
/// digits past the ninth are kept in the string but do not affect the
/// instant. Equality, ordering and hashing are by instant, so
/// `2016-01-01T00:00:00Z` equals `2016-01-01T00:00:00.000Z`. A leap second
/// (`:60`) is accepted and denotes the same instant as the following `:00`.
#[derive(Clone)]
pub struct Timestamp {
    text: String,
    instant: OffsetDateTime,
    fraction_digits: usize,
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
}

impl Timestamp {
    /// Parses a STIX timestamp. Only upper-case `T` and `Z` are accepted, as
    /// in the STIX JSON schema.
    pub fn parse(s: &str) -> Result<Self, TimestampError> {
        let b = s.as_bytes();
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
            || b[b.len() - 1] != b'Z'
        {
            return Err(TimestampError::Format);
        }
        let field = |r: std::ops::Range<usize>| digits(&b[r]).ok_or(TimestampError::Format);
        let year = field(0..4)?;
        let month = field(5..7)?;
        let day = field(8..10)?;
        let hour = field(11..13)?;
        let minute = field(14..16)?;
        let second = field(17..19)?;
        let frac = &b[19..b.len() - 1];
        let (nanos, fraction_digits) = if frac.is_empty() {
            (0, 0)
        } else {
            if frac[0] != b'.' || frac.len() < 2 || !frac[1..].iter().all(u8::is_ascii_digit) {
                return Err(TimestampError::Format);
            }
            let ds = &frac[1..];
            let mut n = 0u32;
            for i in 0..9 {
                n = n * 10 + ds.get(i).map_or(0, |d| u32::from(d - b'0'));
            }
            (n, ds.len())
        };
        let month_u8 = u8::try_from(month).map_err(|_| TimestampError::Range)?;
        let month = Month::try_from(month_u8).map_err(|_| TimestampError::Range)?;
        let year = i32::try_from(year).map_err(|_| TimestampError::Range)?;
        let day = u8::try_from(day).map_err(|_| TimestampError::Range)?;
        let date = Date::from_calendar_date(year, month, day).map_err(|_| TimestampError::Range)?;
        let (second, leap) = if second == 60 {
            (59, true)
        } else {
            (second, false)
        };
        let to_u8 = |v: u32| u8::try_from(v).map_err(|_| TimestampError::Range);
        let t = Time::from_hms_nano(to_u8(hour)?, to_u8(minute)?, to_u8(second)?, nanos)
            .map_err(|_| TimestampError::Range)?;
        let mut instant = PrimitiveDateTime::new(date, t).assume_utc();
        if leap {
            instant = instant
                .checked_add(Duration::SECOND)
                .ok_or(TimestampError::Range)?;
        }
        Ok(Self {
            text: s.to_owned(),
            instant,
            fraction_digits,
        })
    }

    /// Formats an instant with exactly `fraction_digits` (0 to 9) fractional
    /// digits, truncating, after converting it to UTC.
    pub fn from_datetime(dt: OffsetDateTime, fraction_digits: usize) -> Self {
        let dt = dt.to_offset(UtcOffset::UTC);
        let fraction_digits = fraction_digits.min(9);
        let mut text = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        );
        let mut nanos = dt.nanosecond();
        if fraction_digits > 0 {
            let all = format!("{nanos:09}");
            text.push('.');
            text.push_str(&all[..fraction_digits]);
            let unit = 10u32.pow(u32::try_from(9 - fraction_digits).unwrap_or(0));
            nanos -= nanos % unit;
        } else {
            nanos = 0;
        }
        text.push('Z');
        let instant = dt.replace_nanosecond(nanos).unwrap_or(dt);
        Self {
            text,
            instant,
            fraction_digits,
        }
    }

    /// Millisecond precision, the minimum STIX requires for `created` and
    /// `modified`.
    pub fn from_datetime_millis(dt: OffsetDateTime) -> Self {
        Self::from_datetime(dt, 3)
    }

    /// Microsecond precision, as TAXII 2.1 uses for `date_added` and friends.
    pub fn from_datetime_micros(dt: OffsetDateTime) -> Self {
        Self::from_datetime(dt, 6)
    }

    /// The timestamp exactly as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The instant denoted (UTC).
    pub fn instant(&self) -> OffsetDateTime {
        self.instant
    }

    /// How many fractional-second digits were written (0 for none).
    pub fn fraction_digits(&self) -> usize {
        self.fraction_digits
    }

    /// Whether at least millisecond precision was written, as STIX requires
    /// for `created` and `modified`.
    pub fn has_millisecond_precision(&self) -> bool {
        self.fraction_digits >= 3
    }

    /// The instant re-formatted with microsecond precision (TAXII style).
    pub fn to_micros_string(&self) -> String {
        Self::from_datetime_micros(self.instant).text
    }

    /// Nanoseconds since the Unix epoch.
    pub fn unix_nanos(&self) -> i128 {
        self.instant.unix_timestamp_nanos()
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.text)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for Timestamp {
    fn eq(&self, other: &Self) -> bool {
        self.instant == other.instant
    }
}

impl Eq for Timestamp {}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> Ordering {
        self.instant.cmp(&other.instant)
    }
}

impl Hash for Timestamp {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.unix_nanos().hash(state);
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn parses_and_keeps_text() {
        let t = ts("2016-05-12T08:17:27.000Z");
        assert_eq!(t.as_str(), "2016-05-12T08:17:27.000Z");
        assert_eq!(t.to_string(), "2016-05-12T08:17:27.000Z");
        assert_eq!(t.fraction_digits(), 3);
        assert!(t.has_millisecond_precision());
        assert!(!ts("2016-05-12T08:17:27Z").has_millisecond_precision());
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2016-05-12T08:17:27.000Z\""
        );
    }

    #[test]
    fn orders_by_instant_with_sub_microsecond_precision() {
        assert_eq!(ts("2016-01-01T00:00:00Z"), ts("2016-01-01T00:00:00.000Z"));
        assert!(ts("2016-01-01T00:00:00.0000001Z") > ts("2016-01-01T00:00:00.000000Z"));
        assert!(ts("2016-01-01T00:00:00.000000001Z") > ts("2016-01-01T00:00:00Z"));
        assert!(ts("2015-12-31T23:59:59.999Z") < ts("2016-01-01T00:00:00Z"));
        assert_eq!(ts("2016-12-31T23:59:60Z"), ts("2017-01-01T00:00:00Z"));
        let mut v = [ts("2020-01-01T00:00:00.5Z"), ts("2019-01-01T00:00:00Z")];
        v.sort();
        assert_eq!(v[0].as_str(), "2019-01-01T00:00:00Z");
    }

    #[test]
    fn rejects_bad_timestamps() {
        for bad in [
            "",
            "2016-05-12",
            "2016-05-12T08:17:27",
            "2016-05-12T08:17:27+00:00",
            "2016-05-12t08:17:27Z",
            "2016-05-12T08:17:27z",
            "2016-05-12 08:17:27Z",
            "2016-05-12T08:17:27.Z",
            "2016-05-12T08:17:27,000Z",
            "2016-13-12T08:17:27Z",
            "2016-02-30T08:17:27Z",
            "2016-05-12T24:00:00Z",
            "2016-05-12T08:60:00Z",
            "2016-05-12T08:17:61Z",
            "+2016-05-12T08:17:27Z",
            "2016-05-12T08:17:27.12a4Z",
            "２016-05-12T08:17:27Z",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn formats_from_datetime() {
        let t = ts("2021-03-04T05:06:07.123456789Z");
        assert_eq!(
            Timestamp::from_datetime_millis(t.instant()).as_str(),
            "2021-03-04T05:06:07.123Z"
        );
        assert_eq!(t.to_micros_string(), "2021-03-04T05:06:07.123456Z");
        assert_eq!(
            Timestamp::from_datetime(t.instant(), 0).as_str(),
            "2021-03-04T05:06:07Z"
        );
        assert_eq!(
            Timestamp::from_datetime_millis(t.instant()),
            ts("2021-03-04T05:06:07.123Z")
        );
    }
}
