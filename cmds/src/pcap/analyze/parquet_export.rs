//! `--export FLOWS.parquet`: the conn.log records of [`super::export`] as a Parquet
//! file, same column names (dots included) and meanings, every column optional (a
//! field the NDJSON leaves out is a null here).
//!
//! Records are buffered [`ROWS_PER_GROUP`] at a time and written as one row group
//! each, so memory stays bounded however many connections there are. Uncompressed,
//! PLAIN-encoded: the writer is built without codecs to keep netkit's build light.

use super::export::ConnRecord;
use parquet::basic::{LogicalType, Repetition, Type as Physical};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use serde_json::Value;
use std::io::{self, Write};
use std::sync::Arc;

/// Rows per row group: a few MB of buffered records.
pub const ROWS_PER_GROUP: usize = 8192;

#[derive(Clone, Copy)]
enum Kind {
    Double,
    Int,
    Text,
}

/// The columns, in the NDJSON's order.
const COLUMNS: [(&str, Kind); 24] = [
    ("ts", Kind::Double),
    ("uid", Kind::Text),
    ("id.orig_h", Kind::Text),
    ("id.orig_p", Kind::Int),
    ("id.resp_h", Kind::Text),
    ("id.resp_p", Kind::Int),
    ("proto", Kind::Text),
    ("service", Kind::Text),
    ("duration", Kind::Double),
    ("orig_bytes", Kind::Int),
    ("resp_bytes", Kind::Int),
    ("conn_state", Kind::Text),
    ("missed_bytes", Kind::Int),
    ("history", Kind::Text),
    ("orig_pkts", Kind::Int),
    ("orig_ip_bytes", Kind::Int),
    ("resp_pkts", Kind::Int),
    ("resp_ip_bytes", Kind::Int),
    ("community_id", Kind::Text),
    ("netkit.tcp_stream", Kind::Int),
    ("netkit.retransmissions", Kind::Int),
    ("netkit.dup_acks", Kind::Int),
    ("netkit.rtt_ms", Kind::Double),
    ("netkit.websocket", Kind::Text),
];

fn err(e: parquet::errors::ParquetError) -> io::Error {
    io::Error::other(e.to_string())
}

fn schema() -> Result<Type, parquet::errors::ParquetError> {
    let mut fields = Vec::new();
    for (name, kind) in COLUMNS.iter() {
        let (physical, logical) = match kind {
            Kind::Double => (Physical::DOUBLE, None),
            Kind::Int => (Physical::INT64, None),
            Kind::Text => (Physical::BYTE_ARRAY, Some(LogicalType::String)),
        };
        fields.push(Arc::new(
            Type::primitive_type_builder(name, physical)
                .with_repetition(Repetition::OPTIONAL)
                .with_logical_type(logical)
                .build()?,
        ));
    }
    Type::group_type_builder("conn").with_fields(fields).build()
}

/// A Parquet file of conn.log records being written.
pub struct ParquetConns<W: Write + Send> {
    writer: SerializedFileWriter<W>,
    rows: Vec<serde_json::Map<String, Value>>,
}

impl<W: Write + Send> ParquetConns<W> {
    pub fn new(out: W) -> io::Result<Self> {
        let props = Arc::new(WriterProperties::builder().build());
        let writer =
            SerializedFileWriter::new(out, Arc::new(schema().map_err(err)?), props).map_err(err)?;
        Ok(ParquetConns {
            writer,
            rows: Vec::new(),
        })
    }

    pub fn push(&mut self, r: &ConnRecord) -> io::Result<()> {
        match serde_json::to_value(r)? {
            Value::Object(m) => self.rows.push(m),
            _ => return Err(io::Error::other("a conn record is not an object")),
        }
        if self.rows.len() >= ROWS_PER_GROUP {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the buffered rows as one row group.
    fn flush(&mut self) -> io::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        let mut group = self.writer.next_row_group().map_err(err)?;
        let mut columns = COLUMNS.iter();
        while let Some(mut col) = group.next_column().map_err(err)? {
            let Some((name, kind)) = columns.next() else {
                return Err(io::Error::other("more Parquet columns than the schema's"));
            };
            let cell = |r: &serde_json::Map<String, Value>| r.get(*name).cloned();
            match kind {
                Kind::Double => {
                    let cells: Vec<Option<f64>> = rows.iter().map(|r| cell(r)?.as_f64()).collect();
                    let (values, defs) = split(cells);
                    col.typed::<DoubleType>()
                        .write_batch(&values, Some(&defs), None)
                        .map_err(err)?;
                }
                Kind::Int => {
                    let cells: Vec<Option<i64>> = rows.iter().map(|r| cell(r)?.as_i64()).collect();
                    let (values, defs) = split(cells);
                    col.typed::<Int64Type>()
                        .write_batch(&values, Some(&defs), None)
                        .map_err(err)?;
                }
                Kind::Text => {
                    let cells: Vec<Option<ByteArray>> = rows
                        .iter()
                        .map(|r| match cell(r)? {
                            Value::Null => None,
                            Value::String(s) => Some(ByteArray::from(s.into_bytes())),
                            other => Some(ByteArray::from(other.to_string().into_bytes())),
                        })
                        .collect();
                    let (values, defs) = split(cells);
                    col.typed::<ByteArrayType>()
                        .write_batch(&values, Some(&defs), None)
                        .map_err(err)?;
                }
            }
            col.close().map_err(err)?;
        }
        group.close().map_err(err)?;
        Ok(())
    }

    /// Writes what is buffered and the file's footer.
    pub fn finish(mut self) -> io::Result<()> {
        self.flush()?;
        self.writer.close().map_err(err)?;
        Ok(())
    }
}

/// The present values and the definition levels (1 present, 0 null) of a column.
fn split<T>(cells: Vec<Option<T>>) -> (Vec<T>, Vec<i16>) {
    let defs = cells.iter().map(|c| i16::from(c.is_some())).collect();
    (cells.into_iter().flatten().collect(), defs)
}
