//! Customers as RFC 4180 CSV, streamed page by page so exports of any size use
//! constant memory.

use dream_core::{Customer, CustomerId, Dream, PageRequest, Period, Tenant};
use futures::Stream;

const HEADER: &str =
    "id,externalId,email,firstName,lastName,plan,usageCount,createdAt,updatedAt,metadata\r\n";

/// Quotes a field when needed and defuses spreadsheet formulas (a cell starting with
/// `=`, `+`, `-`, `@`, tab or CR is prefixed with `'`, as OWASP advises).
pub fn field(value: &str) -> String {
    let defused = match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_owned(),
    };
    if defused.contains([',', '"', '\r', '\n'])
        || defused.starts_with(' ')
        || defused.ends_with(' ')
    {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

fn row(c: &Customer, usage: u64) -> String {
    let opt = |v: &Option<String>| field(v.as_deref().unwrap_or(""));
    let metadata = if c.metadata.is_empty() {
        String::new()
    } else {
        serde_json::to_string(&c.metadata).unwrap_or_default()
    };
    format!(
        "{},{},{},{},{},{},{},{},{},{}\r\n",
        field(c.id.as_str()),
        opt(&c.external_id),
        opt(&c.email),
        opt(&c.first_name),
        opt(&c.last_name),
        field(&c.plan),
        usage,
        c.created_at.to_rfc3339(),
        c.updated_at.to_rfc3339(),
        field(&metadata),
    )
}

enum Cursor {
    Header,
    After(Option<CustomerId>),
    Done,
}

/// The tenant's customers, newest first, one chunk per page of 100.
pub fn customers_csv(
    dream: Dream,
    tenant: Tenant,
) -> impl Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    let period = Period::calendar_month(dream.now());
    futures::stream::unfold(Cursor::Header, move |cursor| {
        let dream = dream.clone();
        let tenant = tenant.clone();
        async move {
            match cursor {
                Cursor::Header => Some((Ok(HEADER.as_bytes().to_vec()), Cursor::After(None))),
                Cursor::Done => None,
                Cursor::After(after) => {
                    let page = PageRequest {
                        limit: PageRequest::<CustomerId>::MAX_LIMIT,
                        starting_after: after,
                    };
                    match page_rows(&dream, &tenant, &period, &page).await {
                        Ok((chunk, next)) => Some((Ok(chunk), next)),
                        Err(err) => {
                            tracing::error!(error = %err, "customer export failed mid-stream");
                            Some((Err(std::io::Error::other("export failed")), Cursor::Done))
                        }
                    }
                }
            }
        }
    })
}

async fn page_rows(
    dream: &Dream,
    tenant: &Tenant,
    period: &Period,
    page: &PageRequest<CustomerId>,
) -> Result<(Vec<u8>, Cursor), dream_core::CoreError> {
    let page = dream.list_customers(tenant, page).await?;
    let mut chunk = String::new();
    for c in &page.data {
        let usage = dream
            .stores()
            .usage
            .get_usage(tenant, &c.id, period)
            .await?;
        chunk.push_str(&row(c, usage));
    }
    let next = match page.data.last() {
        Some(last) if page.has_more => Cursor::After(Some(last.id.clone())),
        _ => Cursor::Done,
    };
    Ok((chunk.into_bytes(), next))
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn quoting_and_formula_defusing() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(field("-1,2"), "\"'-1,2\"");
        assert_eq!(field(" padded"), "\" padded\"");
    }
}
