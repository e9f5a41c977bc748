//! The tier editor: every offered tier as a row of inputs (add, edit, archive by
//! unticking "offered"), saved through the same service as `/create-products`,
//! with each tier's Stripe price shown after the sync.

use std::collections::BTreeMap;

use askama::Template;
use dream_core::{
    CoreError, Dream, Interval, MeterReset, MeterSpec, Money, Tier, TierConfig, TierKind,
    UsageLimit, DEFAULT_ALERTS,
};

use crate::{
    access::AppAccess,
    chrome::{app_href, Chrome, Flash, Section},
    error::PageError,
    format,
};

#[derive(Template)]
#[template(path = "tiers.html")]
struct TiersPage {
    chrome: Chrome,
    action: String,
    rows: Vec<TierRow>,
    archived: Vec<String>,
    stripe_connected: bool,
    /// An empty row after the others, so a tier can be added without the script.
    blank: TierRow,
    /// The row the script copies for "Add a tier".
    template_row: TierRow,
}

/// One row of the editor, as text (what was stored, or what was just submitted).
#[derive(Debug, Clone, Default)]
pub(crate) struct TierRow {
    /// The position in the form, as the field names carry it (`__INDEX__` in the
    /// script's template row).
    key: String,
    index: usize,
    name: String,
    display_name: String,
    price: String,
    currency: String,
    billing: String,
    limit: String,
    rate: String,
    features: String,
    flags: String,
    alerts: String,
    meters: String,
    inventory: String,
    offered: bool,
    price_id: String,
    error: Option<String>,
}

impl TierRow {
    fn from_tier(index: usize, tier: &Tier, price_id: Option<&String>) -> Self {
        let (billing, inventory) = match tier.kind {
            TierKind::Recurring {
                interval: Interval::Month,
            } => ("month", String::new()),
            TierKind::Recurring {
                interval: Interval::Year,
            } => ("year", String::new()),
            TierKind::OneTime { inventory } => (
                "one_time",
                inventory.map(|n| n.to_string()).unwrap_or_default(),
            ),
        };
        Self {
            key: index.to_string(),
            index,
            name: tier.name.clone(),
            display_name: tier.display_name.clone(),
            price: format!("{}", tier.price.major()),
            currency: tier.price.currency.clone(),
            billing: billing.to_owned(),
            limit: tier
                .limit
                .as_option()
                .map(|l| l.to_string())
                .unwrap_or_default(),
            rate: tier
                .rate_limit_per_minute
                .map(|r| r.to_string())
                .unwrap_or_default(),
            features: tier.features.join(", "),
            flags: tier.flags.join(", "),
            alerts: tier
                .alerts
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            meters: tier
                .meters
                .iter()
                .map(|(name, m)| {
                    let limit = m
                        .limit
                        .as_option()
                        .map_or_else(|| "unlimited".to_owned(), |l| l.to_string());
                    format!("{name}={limit}/{}", m.reset.as_str())
                })
                .collect::<Vec<_>>()
                .join(", "),
            inventory,
            offered: true,
            price_id: price_id.cloned().unwrap_or_default(),
            error: None,
        }
    }

    /// A row as submitted: field `{field}_{index}`.
    fn from_form(index: usize, fields: &BTreeMap<String, String>) -> Self {
        let get = |field: &str| {
            fields
                .get(&format!("{field}_{index}"))
                .map(|v| v.trim().to_owned())
                .unwrap_or_default()
        };
        Self {
            key: index.to_string(),
            index,
            name: get("name"),
            display_name: get("display"),
            price: get("price"),
            currency: get("currency"),
            billing: get("billing"),
            limit: get("limit"),
            rate: get("rate"),
            features: get("features"),
            flags: get("flags"),
            // A form without the field (posted by a page older than alerts)
            // keeps the default rather than turning alerts off.
            alerts: if fields.contains_key(&format!("alerts_{index}")) {
                get("alerts")
            } else {
                "80, 100".to_owned()
            },
            meters: get("meters"),
            inventory: get("inventory"),
            offered: fields.contains_key(&format!("offered_{index}")),
            price_id: String::new(),
            error: None,
        }
    }

    fn blank(key: String, index: usize) -> Self {
        Self {
            key,
            index,
            offered: true,
            // New tiers start with the API's default thresholds; clearing the
            // field turns alerts off.
            alerts: "80, 100".to_owned(),
            ..Self::default()
        }
    }

    fn is_blank(&self) -> bool {
        self.name.is_empty() && self.price.is_empty() && self.display_name.is_empty()
    }

    /// The tier this row describes; errors name the row's field.
    fn to_tier(&self) -> Result<Tier, String> {
        let number = |text: &str, what: &str| -> Result<Option<u64>, String> {
            if text.is_empty() {
                Ok(None)
            } else {
                text.replace([',', '_'], "")
                    .parse::<u64>()
                    .map(Some)
                    .map_err(|_| format!("{what} must be a whole number ≥ 0, or empty"))
            }
        };
        let major: f64 = self
            .price
            .parse()
            .map_err(|_| "Price must be a number, e.g. 29 or 9.99".to_owned())?;
        let currency = if self.currency.is_empty() {
            "usd"
        } else {
            &self.currency
        };
        let price = Money::from_major(major, currency).map_err(|e| match e {
            CoreError::InvalidInput { field, reason } => format!("{field}: {reason}"),
            other => other.to_string(),
        })?;
        let kind = match self.billing.as_str() {
            "year" => TierKind::Recurring {
                interval: Interval::Year,
            },
            "one_time" => TierKind::OneTime {
                inventory: number(&self.inventory, "Stock")?,
            },
            _ => TierKind::Recurring {
                interval: Interval::Month,
            },
        };
        let alerts = comma_list(&self.alerts)
            .map(|p| {
                p.parse::<u8>()
                    .ok()
                    .filter(|p| (1..=100).contains(p))
                    .ok_or_else(|| format!("Alert \"{p}\" must be a percentage between 1 and 100"))
            })
            .collect::<Result<Vec<u8>, String>>()?;
        let rate = number(&self.rate, "Rate limit")?
            .map(|r| u32::try_from(r).map_err(|_| "Rate limit is too large".to_owned()))
            .transpose()?;
        Ok(Tier {
            name: self.name.clone(),
            display_name: if self.display_name.is_empty() {
                self.name.clone()
            } else {
                self.display_name.clone()
            },
            price,
            kind,
            limit: number(&self.limit, "Limit")?.map_or(UsageLimit::Unlimited, UsageLimit::Limited),
            rate_limit_per_minute: rate,
            features: comma_list(&self.features).map(str::to_owned).collect(),
            flags: comma_list(&self.flags).map(str::to_owned).collect(),
            alerts,
            meters: parse_meters(&self.meters)?,
            // Not edited here: restored from the stored tier (`keep_stored_extras`).
            grants: None,
            archived: false,
        })
    }
}

/// The non-empty items of a comma-separated field.
/// Meters as the editor writes them: `exports=50/day, seats=5/never`, a limit of
/// `unlimited` for none. Alerts are the defaults; [`keep_stored_extras`] restores
/// the stored ones.
fn parse_meters(text: &str) -> Result<BTreeMap<String, MeterSpec>, String> {
    comma_list(text)
        .map(|entry| {
            let shape = || format!("Meter \"{entry}\" must look like exports=50/day");
            let (name, rule) = entry.split_once('=').ok_or_else(shape)?;
            let (limit, reset) = rule.split_once('/').ok_or_else(shape)?;
            let limit = match limit.trim() {
                "unlimited" | "" => UsageLimit::Unlimited,
                n => UsageLimit::Limited(n.replace([',', '_'], "").parse().map_err(|_| {
                    format!(
                        "Meter \"{}\": the limit must be a whole number or unlimited",
                        name.trim()
                    )
                })?),
            };
            let reset = MeterReset::parse(reset.trim()).ok_or_else(|| {
                format!(
                    "Meter \"{}\": the reset must be day, week, month, year or never",
                    name.trim()
                )
            })?;
            let spec = MeterSpec {
                limit,
                reset,
                alerts: DEFAULT_ALERTS.to_vec(),
            };
            Ok((name.trim().to_owned(), spec))
        })
        .collect()
}

/// The editor shows no per-meter alerts and no product grants: a saved tier
/// keeps the alerts its meters of the same name had, and its grants.
fn keep_stored_extras(tiers: &mut [Tier], stored: &TierConfig) {
    for tier in tiers {
        let Some(old) = stored.find(&tier.name) else {
            continue;
        };
        if !tier.is_plan() {
            tier.grants = old.grants.clone();
        }
        for (name, spec) in &mut tier.meters {
            if let Some(old_spec) = old.meters.get(name) {
                spec.alerts = old_spec.alerts.clone();
            }
        }
    }
}

fn comma_list(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|f| !f.is_empty())
}

/// `GET …/tiers`.
pub(crate) async fn render(
    dream: &Dream,
    access: &AppAccess,
    flash: Option<Flash>,
) -> Result<String, PageError> {
    let config = dream.tier_config(&access.tenant).await?;
    let prices: BTreeMap<String, String> = dream
        .price_ids(&access.tenant, &config)
        .await?
        .into_iter()
        .filter_map(|p| p.price_id.map(|id| (p.tier, id)))
        .collect();
    let rows = config
        .active()
        .enumerate()
        .map(|(i, tier)| TierRow::from_tier(i, tier, prices.get(&tier.name)))
        .collect();
    page(dream, access, flash, rows).await
}

async fn page(
    dream: &Dream,
    access: &AppAccess,
    flash: Option<Flash>,
    rows: Vec<TierRow>,
) -> Result<String, PageError> {
    let config = dream.tier_config(&access.tenant).await?;
    let page = TiersPage {
        chrome: Chrome::for_app(
            "Tiers",
            access.account_email.clone(),
            &access.platform,
            access.tenant.mode,
            Section::Tiers,
        )
        .with_flash(flash),
        action: app_href(&access.platform, access.tenant.mode, "tiers"),
        blank: TierRow::blank(rows.len().to_string(), rows.len()),
        template_row: TierRow::blank("__INDEX__".to_owned(), rows.len()),
        rows,
        archived: config
            .tiers
            .iter()
            .filter(|t| t.archived)
            .map(|t| t.name.clone())
            .collect(),
        stripe_connected: dream.billing_connection(&access.tenant).await?.is_some(),
    };
    Ok(page.render()?)
}

/// `POST …/tiers`: the whole editor, as `{field}_{index}` pairs.
pub(crate) async fn save(
    dream: &Dream,
    access: &AppAccess,
    pairs: Vec<(String, String)>,
) -> Result<String, PageError> {
    let fields: BTreeMap<String, String> = pairs.into_iter().collect();
    let count = fields
        .keys()
        .filter_map(|k| k.strip_prefix("name_")?.parse::<usize>().ok())
        .max()
        .map_or(0, |max| max + 1)
        .min(101);
    let mut rows: Vec<TierRow> = (0..count)
        .map(|i| TierRow::from_form(i, &fields))
        .filter(|row| !row.is_blank())
        .collect();
    for (i, row) in rows.iter_mut().enumerate() {
        row.index = i;
        row.key = i.to_string();
    }
    let mut tiers = Vec::new();
    let mut failed = false;
    for row in rows.iter_mut().filter(|r| r.offered) {
        match row.to_tier() {
            Ok(tier) => tiers.push(tier),
            Err(message) => {
                row.error = Some(message);
                failed = true;
            }
        }
    }
    if failed {
        let flash = Flash::error("Some tiers need fixing: see the messages below.");
        return page(dream, access, Some(flash), rows).await;
    }
    keep_stored_extras(&mut tiers, &dream.tier_config(&access.tenant).await?);
    match dream.replace_tiers(&access.tenant, tiers).await {
        Ok(config) => {
            let synced = dream.billing_connection(&access.tenant).await?.is_some();
            let flash = Flash::ok(format!(
                "Saved {} tiers{}.",
                format::count(config.active().count() as u64),
                if synced {
                    " and synced them to Stripe"
                } else {
                    ""
                }
            ));
            render(dream, access, Some(flash)).await
        }
        Err(CoreError::InvalidInput { field, reason }) => {
            // `/tiers/{i}/…` names an offered tier by its position among those sent.
            let offered: Vec<usize> = rows
                .iter()
                .enumerate()
                .filter(|(_, r)| r.offered)
                .map(|(i, _)| i)
                .collect();
            let position = field
                .strip_prefix("/tiers/")
                .and_then(|rest| rest.split('/').next())
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| offered.get(i).copied());
            // The field within the tier (`price`, `flags/1`), so a list item's
            // message says which list it is in.
            let name = field
                .strip_prefix("/tiers/")
                .and_then(|rest| rest.split_once('/'))
                .map_or_else(|| field.rsplit('/').next().unwrap_or("tiers"), |(_, f)| f);
            let message = format!("{name}: {reason}");
            match position.and_then(|i| rows.get_mut(i)) {
                Some(row) => row.error = Some(message),
                None => {
                    return page(dream, access, Some(Flash::error(message)), rows).await;
                }
            }
            let flash = Flash::error("Some tiers need fixing: see the messages below.");
            page(dream, access, Some(flash), rows).await
        }
        Err(other) => Err(other.into()),
    }
}
