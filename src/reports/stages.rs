//! Stage analytics: how long the steps of each workflow state take, in working days, and how
//! often they run past their norm (SLA).
//!
//! Percentiles follow PostgreSQL's `percentile_cont` (see [`percentile_cont`]), so a report
//! computed here and one computed in SQL agree to the last bit:
//!
//! ```sql
//! SELECT workflow, state, count(*),
//!        percentile_cont(0.5) WITHIN GROUP (ORDER BY working_days),
//!        percentile_cont(0.9) WITHIN GROUP (ORDER BY working_days),
//!        min(sla), max(sla), count(sla),
//!        count(*) FILTER (WHERE working_days > sla)
//! FROM steps GROUP BY workflow, state ORDER BY workflow COLLATE "C", state COLLATE "C";
//! ```
//!
//! Each group counts how many steps took each number of working days (an ordered map), so a
//! database `GROUP BY` row adds in one call ([`StageAccumulator::push_many`]) and the
//! percentiles are read off the cumulative counts: exact for any value, in memory bounded by
//! the distinct durations rather than the steps.

use std::collections::BTreeMap;

/// One finished step of a case: the time it spent in a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Workflow id, e.g. `periodic_accreditation`.
    pub workflow: String,
    /// The state the step was spent in, e.g. `under_review`.
    pub state: String,
    /// Working days the step took (as `service::cases::history` counts them).
    pub working_days: i64,
    /// The norm that applied to this step, if any. It may differ within one state: a
    /// decision after revision is due in 3 working days, a first review in 10.
    pub sla_working_days: Option<u32>,
}

/// The smallest and largest norm seen in a stage (equal when one norm applies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaRange {
    /// Smallest norm, in working days.
    pub min: u32,
    /// Largest norm, in working days.
    pub max: u32,
}

impl SlaRange {
    fn widen(range: Option<Self>, sla: u32) -> Self {
        match range {
            Some(r) => Self {
                min: r.min.min(sla),
                max: r.max.max(sla),
            },
            None => Self { min: sla, max: sla },
        }
    }
}

/// Statistics of one (workflow, state).
#[derive(Debug, Clone, PartialEq)]
pub struct StageStats {
    /// Workflow id.
    pub workflow: String,
    /// State.
    pub state: String,
    /// Finished steps observed.
    pub count: u64,
    /// Median duration in working days (`percentile_cont(0.5)`).
    pub median: f64,
    /// 90th percentile duration in working days (`percentile_cont(0.9)`).
    pub p90: f64,
    /// The norms that applied; `None` when no step had one.
    pub sla: Option<SlaRange>,
    /// Steps that had a norm.
    pub with_sla: u64,
    /// Steps that took longer than their own norm (`working_days > sla`).
    pub breached: u64,
}

impl StageStats {
    /// Share of the steps with a norm that breached it, in 0..=1; `None` without norms.
    pub fn breached_share(&self) -> Option<f64> {
        (self.with_sla > 0).then(|| self.breached as f64 / self.with_sla as f64)
    }
}

#[derive(Debug, Default)]
struct Group {
    /// How many steps took each number of working days.
    days: BTreeMap<i64, u64>,
    steps: u64,
    sla: Option<SlaRange>,
    with_sla: u64,
    breached: u64,
}

/// Collects steps one at a time (e.g. from a database cursor); [`StageAccumulator::finish`]
/// computes the statistics.
#[derive(Debug, Default)]
pub struct StageAccumulator {
    groups: BTreeMap<(String, String), Group>,
}

impl StageAccumulator {
    /// Adds one step; its strings become the group's key or are dropped.
    pub fn push(&mut self, step: Step) {
        self.push_many(step, 1);
    }

    /// Adds `n` steps like `step` (a row of a `GROUP BY` over stored steps).
    pub fn push_many(&mut self, step: Step, n: u64) {
        if n == 0 {
            return;
        }
        let group = self.groups.entry((step.workflow, step.state)).or_default();
        *group.days.entry(step.working_days).or_default() += n;
        group.steps += n;
        if let Some(sla) = step.sla_working_days {
            group.sla = Some(SlaRange::widen(group.sla, sla));
            group.with_sla += n;
            if step.working_days > i64::from(sla) {
                group.breached += n;
            }
        }
    }

    /// The statistics, ordered by workflow, then state (byte order, as `COLLATE "C"`).
    pub fn finish(self) -> Vec<StageStats> {
        self.groups
            .into_iter()
            .filter_map(|((workflow, state), g)| {
                Some(StageStats {
                    workflow,
                    state,
                    count: g.steps,
                    median: percentile_cont_counted(&g.days, g.steps, 0.5)?,
                    p90: percentile_cont_counted(&g.days, g.steps, 0.9)?,
                    sla: g.sla,
                    with_sla: g.with_sla,
                    breached: g.breached,
                })
            })
            .collect()
    }
}

/// Statistics per (workflow, state) of finished steps, ordered by workflow, then state.
pub fn stage_stats(steps: impl IntoIterator<Item = Step>) -> Vec<StageStats> {
    let mut acc = StageAccumulator::default();
    for step in steps {
        acc.push(step);
    }
    acc.finish()
}

/// [`percentile_cont`] of `total` values given as how many times each occurs.
fn percentile_cont_counted(counts: &BTreeMap<i64, u64>, total: u64, fraction: f64) -> Option<f64> {
    if total == 0 || !(0.0..=1.0).contains(&fraction) {
        return None;
    }
    let pos = fraction * (total - 1) as f64;
    let first = pos.floor();
    let (lo_rank, hi_rank) = (first as u64, pos.ceil() as u64);
    let (mut lo, mut hi) = (None, None);
    let mut seen = 0u64;
    for (&value, &n) in counts {
        seen += n;
        if lo.is_none() && lo_rank < seen {
            lo = Some(value as f64);
        }
        if hi_rank < seen {
            hi = Some(value as f64);
            break;
        }
    }
    let (lo, hi) = (lo?, hi?);
    Some(lo + (hi - lo) * (pos - first))
}

/// The `fraction` percentile of ascending `sorted` values, by linear interpolation between
/// the two nearest ranks: PostgreSQL's `percentile_cont`, operation for operation.
///
/// With `n` values and `pos = fraction × (n − 1)` (a 0-based rank), the result is
/// `v[⌊pos⌋] + (v[⌈pos⌉] − v[⌊pos⌋]) × (pos − ⌊pos⌋)`. For `[1, 2, 3, 4, 10]` and 0.9:
/// `pos = 3.6`, so `4 + (10 − 4) × 0.6 = 7.6`. `None` for no values or a fraction outside
/// 0..=1 (where PostgreSQL raises an error).
pub fn percentile_cont(sorted: &[i64], fraction: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=1.0).contains(&fraction) {
        return None;
    }
    let pos = fraction * (sorted.len() - 1) as f64;
    let first = pos.floor();
    let lo = *sorted.get(first as usize)? as f64;
    let hi = *sorted.get(pos.ceil() as usize)? as f64;
    Some(lo + (hi - lo) * (pos - first))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(workflow: &str, state: &str, working_days: i64, sla: Option<u32>) -> Step {
        Step {
            workflow: workflow.to_owned(),
            state: state.to_owned(),
            working_days,
            sla_working_days: sla,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn hand_computed_stage() {
        // Durations 1, 2, 3, 4, 10 (given out of order) with a norm of 3 working days.
        // Median: pos = 0.5 × 4 = 2 → v[2] = 3.
        // p90: pos = 0.9 × 4 = 3.6 → v[3] + (v[4] − v[3]) × 0.6 = 4 + 6 × 0.6 = 7.6.
        // Breached: 4 > 3 and 10 > 3, so 2 of 5.
        let stats = stage_stats(
            [10, 1, 4, 2, 3].map(|d| step("periodic_accreditation", "under_review", d, Some(3))),
        );
        assert_eq!(stats.len(), 1);
        let s = &stats[0];
        assert_eq!(
            (s.workflow.as_str(), s.state.as_str()),
            ("periodic_accreditation", "under_review")
        );
        assert_eq!(s.count, 5);
        assert_eq!(s.median, 3.0);
        assert!(close(s.p90, 7.6), "{}", s.p90);
        assert_eq!(s.sla, Some(SlaRange { min: 3, max: 3 }));
        assert_eq!((s.with_sla, s.breached), (5, 2));
        assert_eq!(s.breached_share(), Some(0.4));
    }

    #[test]
    fn percentile_cont_like_postgresql() {
        // Even count [1, 2, 3, 4]: median pos = 1.5 → 2 + 1 × 0.5 = 2.5;
        // p90 pos = 2.7 → 3 + 1 × 0.7 = 3.7 (PostgreSQL: 3.7, and 2.5).
        let v = [1, 2, 3, 4];
        assert_eq!(percentile_cont(&v, 0.5), Some(2.5));
        assert!(close(percentile_cont(&v, 0.9).unwrap(), 3.7));
        assert_eq!(percentile_cont(&v, 0.0), Some(1.0));
        assert_eq!(percentile_cont(&v, 1.0), Some(4.0));
        assert_eq!(percentile_cont(&[5], 0.9), Some(5.0));
        assert_eq!(percentile_cont(&[], 0.5), None);
        assert_eq!(percentile_cont(&v, 1.5), None);
        assert_eq!(percentile_cont(&v, f64::NAN), None);
        // Exactly PostgreSQL's double arithmetic: lo + pct × (hi − lo).
        let pos: f64 = 0.9 * 4.0;
        assert_eq!(
            percentile_cont(&[1, 2, 3, 4, 10], 0.9),
            Some(4.0 + (pos - pos.floor()) * 6.0)
        );
    }

    #[test]
    fn groups_ordered_and_norms_per_step() {
        let stats = stage_stats([
            step("support_request", "in_progress", 1, None),
            step("periodic_accreditation", "under_review", 5, Some(10)),
            // After a revision the decision is due in 3 working days.
            step("periodic_accreditation", "under_review", 5, Some(3)),
            step("periodic_accreditation", "under_review", 2, None),
            step("periodic_accreditation", "submitted", 6, Some(5)),
        ]);
        let keys: Vec<(&str, &str)> = stats
            .iter()
            .map(|s| (s.workflow.as_str(), s.state.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("periodic_accreditation", "submitted"),
                ("periodic_accreditation", "under_review"),
                ("support_request", "in_progress"),
            ]
        );
        let review = &stats[1];
        assert_eq!(review.count, 3);
        assert_eq!(review.median, 5.0);
        assert_eq!(review.sla, Some(SlaRange { min: 3, max: 10 }));
        // Only the step held to 3 days breached; the one without a norm is not counted.
        assert_eq!((review.with_sla, review.breached), (2, 1));
        assert_eq!(review.breached_share(), Some(0.5));
        let support = &stats[2];
        assert_eq!((support.sla, support.breached_share()), (None, None));
        assert_eq!(stats[0].breached_share(), Some(1.0));
    }

    #[test]
    fn counted_steps_equal_single_ones() {
        let single = stage_stats([1, 1, 1, 2, 7, 7, 30].map(|d| step("w", "s", d, Some(5))));
        let mut acc = StageAccumulator::default();
        for (d, n) in [(7, 2), (1, 3), (30, 1), (2, 1), (4, 0)] {
            acc.push_many(step("w", "s", d, Some(5)), n);
        }
        let counted = acc.finish();
        assert_eq!(counted, single);
        // [1, 1, 1, 2, 7, 7, 30]: median v[3] = 2; p90 pos 5.4 → 7 + 23 × 0.4 = 16.2.
        assert_eq!(counted[0].median, 2.0);
        assert!(close(counted[0].p90, 16.2), "{}", counted[0].p90);
        assert_eq!((counted[0].with_sla, counted[0].breached), (7, 3));
    }

    #[test]
    fn a_million_steps() {
        // Five workflows, 200,000 steps each; in each, the durations 0..=9 occur 20,000 times
        // apiece, so the sorted group holds v[j] = j / 20,000.
        // Median: pos = 0.5 × 199,999 = 99,999.5 → v[99,999] = 4, v[100,000] = 5 → 4.5.
        // p90: pos = 0.9 × 199,999 = 179,999.1 → 8 + (9 − 8) × 0.1 = 8.1.
        // Norm 7: the 8s and 9s breach, 40,000 of 200,000 = 0.2.
        const N: usize = 1_000_000;
        let workflows = ["w0", "w1", "w2", "w3", "w4"];
        let started = std::time::Instant::now();
        let stats = stage_stats((0..N).map(|i| Step {
            workflow: workflows[i % 5].to_owned(),
            state: "under_review".to_owned(),
            working_days: ((i / 5) % 10) as i64,
            sla_working_days: Some(7),
        }));
        let took = started.elapsed();
        eprintln!("stage_stats of {N} steps (with their strings made): {took:?}");
        assert_eq!(stats.len(), 5);
        for (s, w) in stats.iter().zip(workflows) {
            assert_eq!(s.workflow, w);
            assert_eq!(s.count, 200_000);
            assert_eq!(s.median, 4.5);
            assert!(close(s.p90, 8.1), "{}", s.p90);
            assert_eq!((s.with_sla, s.breached), (200_000, 40_000));
            assert_eq!(s.breached_share(), Some(0.2));
        }
        // Not a benchmark: a guard against a quadratic slip, loose enough for a debug build
        // on a busy machine.
        assert!(took.as_secs() < 30, "{took:?}");
    }
}
