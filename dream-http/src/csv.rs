//! Customers as RFC 4180 CSV (written by the `csv` crate), streamed page by page so
//! exports of any size use constant memory.

use dream_core::{Customer, CustomerId, Dream, PageRequest, Period, Tenant};
use futures::Stream;

const COLUMNS: [&str; 10] = [
    "id",
    "externalId",
    "email",
    "firstName",
    "lastName",
    "plan",
    "usageCount",
    "createdAt",
    "updatedAt",
    "metadata",
];

/// Defuses spreadsheet formulas: a text cell starting with `=`, `+`, `-`, `@`, tab
/// or CR is prefixed with `'`, as OWASP advises. The values are the tenant's end
/// users' input, and the file is opened by the developer in a spreadsheet.
fn defuse(value: &str) -> String {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_owned(),
    }
}

fn cells(c: &Customer, usage: u64) -> [String; 10] {
    let text = |v: &Option<String>| defuse(v.as_deref().unwrap_or(""));
    let metadata = if c.metadata.is_empty() {
        String::new()
    } else {
        serde_json::to_string(&c.metadata).unwrap_or_default()
    };
    [
        defuse(c.id.as_str()),
        text(&c.external_id),
        text(&c.email),
        text(&c.first_name),
        text(&c.last_name),
        defuse(&c.plan),
        usage.to_string(),
        c.created_at.to_rfc3339(),
        c.updated_at.to_rfc3339(),
        defuse(&metadata),
    ]
}

/// Encodes records as CSV with CRLF line ends (RFC 4180), quoting where needed.
fn encode<R, I>(records: R) -> Result<Vec<u8>, std::io::Error>
where
    R: IntoIterator<Item = I>,
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for record in records {
        writer.write_record(record)?;
    }
    writer
        .into_inner()
        .map_err(|err| std::io::Error::other(err.into_error()))
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
                Cursor::Header => Some((encode([COLUMNS]), Cursor::After(None))),
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

/// Why a page could not be exported.
#[derive(Debug, thiserror::Error)]
enum PageError {
    #[error(transparent)]
    Core(#[from] dream_core::CoreError),
    #[error("cannot encode CSV: {0}")]
    Encode(#[from] std::io::Error),
}

async fn page_rows(
    dream: &Dream,
    tenant: &Tenant,
    period: &Period,
    page: &PageRequest<CustomerId>,
) -> Result<(Vec<u8>, Cursor), PageError> {
    let page = dream
        .list_customers(tenant, &dream_core::CustomerQuery::default(), page)
        .await?;
    let mut records = Vec::with_capacity(page.data.len());
    for c in &page.data {
        let usage = dream
            .stores()
            .usage
            .get_usage(tenant, &c.id, period)
            .await
            .map_err(dream_core::CoreError::from)?;
        records.push(cells(c, usage));
    }
    let next = match page.data.last() {
        Some(last) if page.has_more => Cursor::After(Some(last.id.clone())),
        _ => Cursor::Done,
    };
    Ok((encode(records)?, next))
}

#[cfg(test)]
mod tests {
    use super::{defuse, encode, COLUMNS};

    #[test]
    fn tricky_values_round_trip_through_a_csv_reader() {
        let tricky = [
            "plain",
            "a,b",
            "say \"hi\"",
            "line\nbreak\r\nand more",
            "=SUM(A1)",
            "+1",
            "-1,2",
            "@cmd",
            "\tTab",
            " padded ",
            "",
            "\"",
            "ünïcødé, ✓",
        ];
        let row: Vec<String> = tricky.iter().map(|v| defuse(v)).collect();
        let header = encode([COLUMNS]).unwrap();
        assert_eq!(header, b"id,externalId,email,firstName,lastName,plan,usageCount,createdAt,updatedAt,metadata\r\n");
        let bytes = encode([row.clone(), row.clone()]).unwrap();
        assert!(bytes.ends_with(b"\r\n"), "RFC 4180 line ends");
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(bytes.as_slice());
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(
            records.len(),
            2,
            "embedded line breaks stay inside their cell"
        );
        assert_eq!(records[0].iter().collect::<Vec<_>>(), row);
        for (original, read) in tricky.iter().zip(records[0].iter()) {
            if original.starts_with(['=', '+', '-', '@', '\t']) {
                assert_eq!(read, format!("'{original}"), "formula defused");
            } else {
                assert_eq!(read, *original, "kept as is");
            }
        }
    }
}
