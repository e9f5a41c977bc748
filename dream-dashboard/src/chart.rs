//! Server-drawn SVG bar charts: no script, no library, readable by a screen
//! reader through the table the chart sits beside.

use chrono::NaiveDate;

/// Width and height of the drawing in SVG units (it scales to the container).
pub(crate) const WIDTH: u32 = 600;
pub(crate) const HEIGHT: u32 = 160;
const AXIS: u32 = 18;

/// One bar, positioned.
pub(crate) struct Bar {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub title: String,
}

/// A daily series as bars, tallest = full height; labels for the first and last
/// day, and the peak.
pub(crate) struct DailyChart {
    pub bars: Vec<Bar>,
    pub first_label: String,
    pub last_label: String,
    pub peak_label: String,
    pub total: u64,
}

impl DailyChart {
    pub(crate) fn new(series: &[(NaiveDate, u64)]) -> Self {
        let peak = series.iter().map(|(_, n)| *n).max().unwrap_or(0);
        let slots = series.len().max(1) as u32;
        let slot = WIDTH / slots;
        let plot = HEIGHT - AXIS;
        let bars = series
            .iter()
            .enumerate()
            .map(|(i, (day, amount))| {
                let height = if peak == 0 {
                    0
                } else {
                    // At least one unit tall when there was any use, so a quiet day
                    // is visible next to a busy one.
                    ((u128::from(*amount) * u128::from(plot) / u128::from(peak)) as u32)
                        .max(u32::from(*amount > 0))
                };
                Bar {
                    x: i as u32 * slot + 1,
                    y: plot - height,
                    width: slot.saturating_sub(2).max(1),
                    height,
                    title: format!("{day}: {}", crate::format::count(*amount)),
                }
            })
            .collect();
        let label = |i: usize| {
            series
                .get(i)
                .map(|(d, _)| d.format("%b %-d").to_string())
                .unwrap_or_default()
        };
        Self {
            bars,
            first_label: label(0),
            last_label: label(series.len().saturating_sub(1)),
            peak_label: crate::format::count(peak),
            total: series.iter().map(|(_, n)| *n).sum(),
        }
    }

    /// The y of the axis line and labels.
    pub(crate) fn axis_y(&self) -> u32 {
        HEIGHT - AXIS
    }

    pub(crate) fn label_y(&self) -> u32 {
        HEIGHT - 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_peak_and_quiet_days_stay_visible() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).expect("date");
        let chart = DailyChart::new(&[(day(1), 0), (day(2), 1), (day(3), 1000)]);
        assert_eq!(chart.bars[0].height, 0);
        assert_eq!(chart.bars[1].height, 1, "one call is still a visible bar");
        assert_eq!(chart.bars[2].height, HEIGHT - AXIS);
        assert_eq!(chart.bars[2].y, 0);
        assert_eq!(chart.total, 1001);
        assert_eq!(chart.first_label, "Dec 1");
        assert_eq!(chart.last_label, "Dec 3");
    }

    #[test]
    fn an_empty_series_draws_nothing() {
        let chart = DailyChart::new(&[]);
        assert!(chart.bars.is_empty());
        assert_eq!(chart.total, 0);
    }
}
