//! The production calendar against the official one (`../shared/production-calendar-2025-2027.md`,
//! from the government decrees), written out here by hand: not read from the crate it checks.

use accredo::domain::calendar::{Calendar, DayKind, from_moscow, moscow};
use chrono::{Datelike, NaiveDate, Weekday};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%d.%m.%Y").expect("date")
}

fn dates(year: i32, list: &str) -> Vec<NaiveDate> {
    list.split(", ")
        .map(|dm| d(&format!("{dm}.{year}")))
        .collect()
}

struct Official {
    year: i32,
    weekdays_off: &'static str,
    working_weekend: &'static str,
    shortened: &'static str,
    working_days: i64,
}

const OFFICIAL: &[Official] = &[
    Official {
        year: 2025,
        weekdays_off: "01.01, 02.01, 03.01, 06.01, 07.01, 08.01, 01.05, 02.05, 08.05, 09.05, 12.06, 13.06, 03.11, 04.11, 31.12",
        working_weekend: "01.11",
        shortened: "07.03, 30.04, 11.06, 01.11",
        working_days: 247,
    },
    Official {
        year: 2026,
        weekdays_off: "01.01, 02.01, 05.01, 06.01, 07.01, 08.01, 09.01, 23.02, 09.03, 01.05, 11.05, 12.06, 04.11, 31.12",
        working_weekend: "",
        shortened: "30.04, 08.05, 11.06, 03.11",
        working_days: 247,
    },
    Official {
        year: 2027,
        weekdays_off: "01.01, 04.01, 05.01, 06.01, 07.01, 08.01, 22.02, 23.02, 08.03, 03.05, 10.05, 14.06, 04.11, 05.11, 31.12",
        working_weekend: "20.02",
        shortened: "20.02, 30.04, 11.06, 03.11",
        working_days: 247,
    },
];

fn listed(year: i32, list: &str) -> Vec<NaiveDate> {
    if list.is_empty() {
        Vec::new()
    } else {
        dates(year, list)
    }
}

#[test]
fn the_calendars_of_2025_to_2027_are_the_official_ones() {
    let cal = Calendar::default();
    for o in OFFICIAL {
        let first = NaiveDate::from_ymd_opt(o.year, 1, 1).expect("first");
        let days: Vec<NaiveDate> = first
            .iter_days()
            .take_while(|x| x.year() == o.year)
            .collect();
        let weekend = |x: &NaiveDate| matches!(x.weekday(), Weekday::Sat | Weekday::Sun);
        let weekdays_off: Vec<NaiveDate> = days
            .iter()
            .copied()
            .filter(|x| !weekend(x) && !cal.is_working_day(*x))
            .collect();
        assert_eq!(
            weekdays_off,
            listed(o.year, o.weekdays_off),
            "{} weekdays off",
            o.year
        );
        let working_weekend: Vec<NaiveDate> = days
            .iter()
            .copied()
            .filter(|x| weekend(x) && cal.is_working_day(*x))
            .collect();
        assert_eq!(
            working_weekend,
            listed(o.year, o.working_weekend),
            "{} working weekend days",
            o.year
        );
        let shortened: Vec<NaiveDate> = days
            .iter()
            .copied()
            .filter(|x| {
                cal.working_hours(*x)
                    .is_some_and(|(_, end)| end.format("%H").to_string() == "17")
            })
            .collect();
        assert_eq!(
            shortened,
            listed(o.year, o.shortened),
            "{} shortened days",
            o.year
        );
        let next = NaiveDate::from_ymd_opt(o.year + 1, 1, 1).expect("next");
        let count = cal.working_days_between(first, next);
        assert_eq!(
            (count.value, count.provisional),
            (o.working_days, false),
            "{}",
            o.year
        );
        for fixed in [
            "01.01", "02.01", "03.01", "04.01", "05.01", "06.01", "07.01", "08.01", "23.02",
            "08.03", "01.05", "09.05", "12.06", "04.11",
        ] {
            let day = d(&format!("{fixed}.{}", o.year));
            assert!(!cal.is_working_day(day), "{day} is a holiday");
        }
        for day in listed(o.year, o.weekdays_off) {
            assert!(
                matches!(cal.day(day).kind, DayKind::Holiday | DayKind::Transferred),
                "{day}: {:?}",
                cal.day(day).kind
            );
        }
    }
}

#[test]
fn deadlines_run_across_the_new_year_holidays_and_the_may_transfers() {
    let cal = Calendar::default();
    let add = |from: &str, n: u32| {
        let r = cal.add_working_days(d(from), n);
        (r.value.format("%d.%m.%Y").to_string(), r.provisional)
    };
    // 31.12.2025 and 1–11.01.2026 are off: the next working day after 30.12.2025 is 12.01.2026.
    assert_eq!(add("30.12.2025", 1), ("12.01.2026".into(), false));
    assert_eq!(add("29.12.2025", 5), ("15.01.2026".into(), false));
    // 1–4 and 8–11 May 2025 are off.
    assert_eq!(add("30.04.2025", 1), ("05.05.2025".into(), false));
    assert_eq!(add("30.04.2025", 4), ("12.05.2025".into(), false));
    // 2027: 20.02 (Saturday) is worked, 22–23.02 are off.
    assert_eq!(add("19.02.2027", 1), ("20.02.2027".into(), false));
    assert_eq!(add("20.02.2027", 1), ("24.02.2027".into(), false));
    // Past the last decree the answer is provisional.
    assert_eq!(
        add("28.12.2027", 2),
        ("30.12.2027".into(), false),
        "31.12.2027 is off"
    );
    assert!(add("28.12.2027", 5).1, "runs into 2028: provisional");
    assert!(cal.day(d("01.06.2028")).provisional);
    assert_eq!(
        cal.working_days_between(d("12.01.2026"), d("19.01.2026"))
            .value,
        5
    );
}

#[test]
fn a_submission_after_hours_is_registered_at_the_next_opening() {
    let cal = Calendar::default();
    let at = |s: &str| {
        from_moscow(chrono::NaiveDateTime::parse_from_str(s, "%d.%m.%Y %H:%M").expect("time"))
    };
    let registered = |s: &str| {
        moscow(cal.next_working_moment(at(s)).value)
            .format("%d.%m.%Y %H:%M")
            .to_string()
    };
    // Friday 08.05.2026 is shortened (until 17:00); 09–11.05 are off.
    assert_eq!(registered("08.05.2026 16:59"), "08.05.2026 16:59");
    assert_eq!(registered("08.05.2026 17:30"), "12.05.2026 09:00");
    // Tuesday evening, Wednesday morning.
    assert_eq!(registered("01.12.2026 21:09"), "02.12.2026 09:00");
    assert_eq!(registered("02.12.2026 08:59"), "02.12.2026 09:00");
    assert_eq!(registered("02.12.2026 09:00"), "02.12.2026 09:00");
    // Friday evening before the New Year holidays of 2027.
    assert_eq!(registered("30.12.2026 18:00"), "11.01.2027 09:00");
}
