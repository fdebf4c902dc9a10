//! Working days by the Russian production calendar, in Moscow time.
//!
//! The official calendar (government decrees 1993–2027: holidays, transferred days off,
//! working Saturdays, shortened pre-holiday days) comes from the `holidays-ru` crate; a year
//! past its last decree is computed by the Labour Code rules (Art. 112) and every answer that
//! depends on such a day is marked provisional. An operator's override (an extraordinary day
//! off, or a working day) wins over both. Pure: the overrides are handed in.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use holidays_ru::{Federal, Resolved};
use std::collections::BTreeMap;

/// What kind of day a date is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayKind {
    /// A working day of full length.
    Working,
    /// A working day one hour shorter (the day before a holiday).
    Shortened,
    /// A weekend day (Saturday or Sunday) that is a day off.
    Weekend,
    /// A non-working public holiday.
    Holiday,
    /// A weekday off by a transfer decree.
    Transferred,
    /// A weekend day that is a working day by a transfer decree.
    WorkingWeekend,
    /// A day off set by an operator.
    OverrideDayOff,
    /// A working day set by an operator.
    OverrideWorking,
}

impl DayKind {
    /// Stable code, for listings.
    pub fn code(self) -> &'static str {
        match self {
            Self::Working => "working",
            Self::Shortened => "shortened",
            Self::Weekend => "weekend",
            Self::Holiday => "holiday",
            Self::Transferred => "transferred_day_off",
            Self::WorkingWeekend => "working_weekend",
            Self::OverrideDayOff => "override_day_off",
            Self::OverrideWorking => "override_working",
        }
    }

    /// How the cabinet says it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Working => "рабочий день",
            Self::Shortened => "сокращённый рабочий день",
            Self::Weekend => "выходной день",
            Self::Holiday => "нерабочий праздничный день",
            Self::Transferred => "перенесённый выходной день",
            Self::WorkingWeekend => "рабочий выходной день (перенос)",
            Self::OverrideDayOff => "нерабочий день (решение оператора)",
            Self::OverrideWorking => "рабочий день (решение оператора)",
        }
    }
}

/// One date of the calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day {
    /// The date (Moscow).
    pub date: NaiveDate,
    /// Its kind.
    pub kind: DayKind,
    /// A working day one hour shorter (also a working weekend day can be one).
    pub shortened: bool,
    /// Computed by the Labour Code rules, not from a decree: may change when one is published.
    pub provisional: bool,
}

impl Day {
    /// Whether people work on it.
    pub fn is_working(&self) -> bool {
        matches!(
            self.kind,
            DayKind::Working
                | DayKind::Shortened
                | DayKind::WorkingWeekend
                | DayKind::OverrideWorking
        )
    }
}

/// An operator's decision about one date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// Working (`true`) or a day off.
    pub working: bool,
    /// Why, as the operator wrote it.
    pub reason: String,
}

/// Intake hours of a full working day, Moscow time; a shortened day ends an hour earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    /// Opening.
    pub start: NaiveTime,
    /// Closing on a full day.
    pub end: NaiveTime,
}

impl Default for Hours {
    fn default() -> Self {
        Self {
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or(NaiveTime::MIN),
            end: NaiveTime::from_hms_opt(18, 0, 0).unwrap_or(NaiveTime::MIN),
        }
    }
}

/// A result that may rest on provisional days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dated<T> {
    /// The value.
    pub value: T,
    /// Some day it rests on is provisional.
    pub provisional: bool,
}

/// Moscow is UTC+3 all year (no daylight saving since 2014).
const MOSCOW_OFFSET_HOURS: i64 = 3;

/// Moscow local time of an instant.
pub fn moscow(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc() + Duration::hours(MOSCOW_OFFSET_HOURS)
}

/// The instant of a Moscow local time.
pub fn from_moscow(local: NaiveDateTime) -> DateTime<Utc> {
    (local - Duration::hours(MOSCOW_OFFSET_HOURS)).and_utc()
}

/// The production calendar with an operator's overrides and the intake hours.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    overrides: BTreeMap<NaiveDate, Override>,
    hours: Hours,
}

impl Calendar {
    /// The calendar with these overrides and hours.
    pub fn new(overrides: BTreeMap<NaiveDate, Override>, hours: Hours) -> Self {
        Self { overrides, hours }
    }

    /// What `date` is.
    pub fn day(&self, date: NaiveDate) -> Day {
        if let Some(o) = self.overrides.get(&date) {
            let kind = if o.working {
                DayKind::OverrideWorking
            } else {
                DayKind::OverrideDayOff
            };
            return Day {
                date,
                kind,
                shortened: false,
                provisional: false,
            };
        }
        let weekend = date.weekday().number_from_monday() >= 6;
        let month = u8::try_from(date.month()).unwrap_or(1);
        let dom = u8::try_from(date.day()).unwrap_or(1);
        let (flags, provisional) = match holidays_ru::flags_ymd::<Federal>(date.year(), month, dom)
        {
            Some(Resolved::Fact(f)) => (Some(f), false),
            Some(Resolved::Predict(f)) => (Some(f), true),
            None => (None, true),
        };
        let kind = match flags {
            // Outside the crate's range (before 1900 or after 2100): the five-day week.
            None if weekend => DayKind::Weekend,
            None => DayKind::Working,
            Some(f) if f.is_working_day() && weekend => DayKind::WorkingWeekend,
            Some(f) if f.is_working_day() && f.is_short_day() => DayKind::Shortened,
            Some(f) if f.is_working_day() => DayKind::Working,
            Some(f) if f.is_holiday() => DayKind::Holiday,
            Some(_) if weekend => DayKind::Weekend,
            Some(_) => DayKind::Transferred,
        };
        Day {
            date,
            kind,
            shortened: flags.is_some_and(|f| f.is_working_day() && f.is_short_day()),
            provisional,
        }
    }

    /// Whether people work on `date`.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        self.day(date).is_working()
    }

    /// The `n`-th working day after `date` (`n = 0`: `date` itself if it is a working day,
    /// else the next one).
    pub fn add_working_days(&self, date: NaiveDate, n: u32) -> Dated<NaiveDate> {
        let mut provisional = false;
        let mut d = date;
        let mut left = n;
        if n == 0 {
            loop {
                let day = self.day(d);
                provisional |= day.provisional;
                if day.is_working() {
                    return Dated {
                        value: d,
                        provisional,
                    };
                }
                d += Duration::days(1);
            }
        }
        while left > 0 {
            d += Duration::days(1);
            let day = self.day(d);
            provisional |= day.provisional;
            if day.is_working() {
                left -= 1;
            }
        }
        Dated {
            value: d,
            provisional,
        }
    }

    /// Working days in `[from, to)` (negative when `to` is before `from`).
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> Dated<i64> {
        let (a, b, sign) = if from <= to {
            (from, to, 1)
        } else {
            (to, from, -1)
        };
        let mut provisional = false;
        let mut count = 0;
        let mut d = a;
        while d < b {
            let day = self.day(d);
            provisional |= day.provisional;
            if day.is_working() {
                count += 1;
            }
            d += Duration::days(1);
        }
        Dated {
            value: sign * count,
            provisional,
        }
    }

    /// The intake hours of `date` (Moscow), none on a day off; a shortened day closes an hour
    /// earlier.
    pub fn working_hours(&self, date: NaiveDate) -> Option<(NaiveTime, NaiveTime)> {
        let day = self.day(date);
        if !day.is_working() {
            return None;
        }
        let end = if day.shortened {
            self.hours.end - Duration::hours(1)
        } else {
            self.hours.end
        };
        Some((self.hours.start, end))
    }

    /// `at` itself when it falls within the intake hours of a working day, else the opening of
    /// the next working day (Moscow).
    pub fn next_working_moment(&self, at: DateTime<Utc>) -> Dated<DateTime<Utc>> {
        let local = moscow(at);
        let mut date = local.date();
        let mut provisional = false;
        loop {
            provisional |= self.day(date).provisional;
            if let Some((open, close)) = self.working_hours(date) {
                let (opens, closes) = (date.and_time(open), date.and_time(close));
                if local < opens {
                    return Dated {
                        value: from_moscow(opens),
                        provisional,
                    };
                }
                if local < closes {
                    return Dated {
                        value: at,
                        provisional,
                    };
                }
            }
            date += Duration::days(1);
        }
    }

    /// The moment `minutes` of working time (the intake hours of working days, Moscow) have
    /// passed since `at`: a deadline in working hours. Time outside the hours does not count,
    /// so a request at 17:55 on a Friday before a holiday with an hour to go is due at 09:55
    /// on the next working day; a deadline that falls on a closing is that closing.
    pub fn add_working_minutes(&self, at: DateTime<Utc>, minutes: u32) -> Dated<DateTime<Utc>> {
        let start = self.next_working_moment(at);
        let mut provisional = start.provisional;
        let mut local = moscow(start.value);
        let mut left = Duration::minutes(i64::from(minutes));
        loop {
            let date = local.date();
            let day = self.day(date);
            provisional |= day.provisional;
            if let Some((open, close)) = self.working_hours(date) {
                let (opens, closes) = (date.and_time(open), date.and_time(close));
                let from = local.max(opens);
                if from < closes {
                    let room = closes - from;
                    if left <= room {
                        return Dated {
                            value: from_moscow(from + left),
                            provisional,
                        };
                    }
                    left -= room;
                }
            }
            local = (date + Duration::days(1)).and_time(NaiveTime::MIN);
        }
    }

    /// Working minutes (within the intake hours of working days, Moscow) in `[from, to)`;
    /// zero when `to` is not after `from`.
    pub fn working_minutes_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Dated<i64> {
        let (a, b) = (moscow(from), moscow(to));
        let mut provisional = false;
        let mut total = Duration::zero();
        let mut date = a.date();
        while date <= b.date() {
            provisional |= self.day(date).provisional;
            if let Some((open, close)) = self.working_hours(date) {
                let lo = a.max(date.and_time(open));
                let hi = b.min(date.and_time(close));
                if lo < hi {
                    total += hi - lo;
                }
            }
            date += Duration::days(1);
        }
        Dated {
            value: total.num_minutes(),
            provisional,
        }
    }

    /// Every day of `year` that is not an ordinary full working day or an ordinary weekend:
    /// holidays, transferred days off, working weekend days, shortened days, overrides.
    pub fn special_days(&self, year: i32) -> Vec<Day> {
        let (Some(first), Some(next)) = (
            NaiveDate::from_ymd_opt(year, 1, 1),
            NaiveDate::from_ymd_opt(year + 1, 1, 1),
        ) else {
            return Vec::new();
        };
        first
            .iter_days()
            .take_while(|d| *d < next)
            .map(|d| self.day(d))
            .filter(|d| !matches!(d.kind, DayKind::Working | DayKind::Weekend))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn an_override_wins_and_intake_moves_to_the_next_opening() {
        let mut overrides = BTreeMap::new();
        overrides.insert(
            date(2026, 12, 2),
            Override {
                working: false,
                reason: "день траура".into(),
            },
        );
        let cal = Calendar::new(overrides, Hours::default());
        assert_eq!(cal.day(date(2026, 12, 2)).kind, DayKind::OverrideDayOff);
        // Tuesday 1 December 2026, 21:09 Moscow (18:09 UTC): registered Thursday 09:00.
        let at = from_moscow(date(2026, 12, 1).and_hms_opt(21, 9, 0).unwrap_or_default());
        assert_eq!(
            moscow(cal.next_working_moment(at).value),
            date(2026, 12, 3).and_hms_opt(9, 0, 0).unwrap_or_default()
        );
        let inside = from_moscow(date(2026, 12, 1).and_hms_opt(17, 59, 0).unwrap_or_default());
        assert_eq!(cal.next_working_moment(inside).value, inside);
    }

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        from_moscow(date(y, m, d).and_hms_opt(h, min, 0).unwrap_or_default())
    }

    #[test]
    fn working_hours_skip_nights_weekends_holidays_and_short_days() {
        let cal = Calendar::new(BTreeMap::new(), Hours::default());
        let add = |t, minutes| cal.add_working_minutes(t, minutes).value;
        // Friday 20 February 2026, 17:55, before Monday 23 February (Defender of the
        // Fatherland Day): five minutes on Friday, the other 55 on Tuesday.
        let friday = at(2026, 2, 20, 17, 55);
        assert_eq!(add(friday, 60), at(2026, 2, 24, 9, 55));
        assert_eq!(add(friday, 15), at(2026, 2, 24, 9, 10));
        assert_eq!(add(friday, 5), at(2026, 2, 20, 18, 0));
        // Friday 8 May 2026 is shortened (closes at 17:00) before 9–11 May: a request at
        // 17:55 is counted from Tuesday 12 May.
        assert_eq!(add(at(2026, 5, 8, 17, 55), 60), at(2026, 5, 12, 10, 0));
        assert_eq!(add(at(2026, 5, 8, 16, 30), 60), at(2026, 5, 12, 9, 30));
        // At night, from the next opening; a whole working day is nine hours.
        assert_eq!(add(at(2026, 3, 10, 23, 0), 9 * 60), at(2026, 3, 11, 18, 0));
        assert_eq!(
            add(at(2026, 3, 10, 23, 0), 9 * 60 + 1),
            at(2026, 3, 12, 9, 1)
        );
        // Across the New Year holidays: 31 December 2026 to 11 January 2027.
        assert_eq!(add(at(2026, 12, 30, 17, 0), 120), at(2027, 1, 11, 10, 0));

        let between = |a, b| cal.working_minutes_between(a, b).value;
        assert_eq!(between(friday, at(2026, 2, 24, 9, 55)), 60);
        assert_eq!(between(at(2026, 5, 8, 16, 30), at(2026, 5, 12, 9, 30)), 60);
        assert_eq!(
            between(at(2026, 3, 11, 0, 0), at(2026, 3, 12, 0, 0)),
            9 * 60
        );
        assert_eq!(between(at(2026, 3, 12, 0, 0), at(2026, 3, 11, 0, 0)), 0);
        // Each deadline, measured back, is exactly its working minutes.
        for minutes in [1, 15, 59, 60, 540, 541, 24 * 60, 5 * 540] {
            for start in [friday, at(2026, 5, 8, 16, 59), at(2026, 12, 30, 8, 0)] {
                let due = add(start, minutes);
                assert_eq!(
                    between(start, due),
                    i64::from(minutes),
                    "{start} +{minutes}"
                );
            }
        }
    }
}
