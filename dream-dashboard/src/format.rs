//! Numbers, money and times as the pages show them.

use chrono::{DateTime, Utc};

/// `1234567` → `1,234,567`.
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Minor units of a currency: `(129900, "usd")` → `$1,299.00`; other currencies
/// keep their code (`1,299.00 EUR`). Zero-decimal currencies (JPY…) have no cents.
pub(crate) fn money(amount_minor: i64, currency: &str) -> String {
    let code = currency.to_ascii_uppercase();
    let decimals = if ZERO_DECIMAL.contains(&code.as_str()) {
        0
    } else {
        2
    };
    let sign = if amount_minor < 0 { "-" } else { "" };
    let abs = amount_minor.unsigned_abs();
    let scale = 10u64.pow(decimals);
    let whole = count(abs / scale);
    let amount = if decimals == 0 {
        whole
    } else {
        format!("{whole}.{:02}", abs % scale)
    };
    match code.as_str() {
        "USD" => format!("{sign}${amount}"),
        "GBP" => format!("{sign}£{amount}"),
        "EUR" => format!("{sign}€{amount}"),
        _ => format!("{sign}{amount} {code}"),
    }
}

const ZERO_DECIMAL: [&str; 16] = [
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];

/// `0.1234` → `12.3%`.
pub(crate) fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

/// A UTC time to the minute, as the API's timestamps are UTC.
pub(crate) fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A date.
pub(crate) fn date(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_group_thousands() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1234567), "1,234,567");
    }

    #[test]
    fn money_uses_the_currency_decimals() {
        assert_eq!(money(129900, "usd"), "$1,299.00");
        assert_eq!(money(5, "eur"), "€0.05");
        assert_eq!(money(1500, "jpy"), "1,500 JPY");
        assert_eq!(money(-250, "cad"), "-2.50 CAD");
    }

    #[test]
    fn percent_has_one_decimal() {
        assert_eq!(percent(0.1234), "12.3%");
        assert_eq!(percent(0.0), "0.0%");
    }
}
