package lake

import (
	"bytes"
	"fmt"
	"time"

	"github.com/parquet-go/parquet-go"
)

// EncodeRows writes rows as one Parquet file (zstd, one row group) with
// the schema of T.
func EncodeRows[T Row](rows []T) ([]byte, error) {
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf, parquet.Compression(&parquet.Zstd))
	if _, err := w.Write(rows); err != nil {
		return nil, fmt.Errorf("failed to encode %d rows: %w", len(rows), err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("failed to encode %d rows: %w", len(rows), err)
	}
	return buf.Bytes(), nil
}

// DecodeRows reads a Parquet file written with T's schema.
func DecodeRows[T Row](data []byte) ([]T, error) {
	rows, err := parquet.Read[T](bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("failed to decode a parquet file: %w", err)
	}
	for i := range rows {
		normalizeTimes(&rows[i])
	}
	return rows, nil
}

// normalizeTimes puts decoded timestamps in UTC, as they were written.
func normalizeTimes[T Row](r *T) {
	switch v := any(r).(type) {
	case *TransactionRow:
		v.EventTime = v.EventTime.UTC()
	case *UserEventRow:
		v.EventTime = v.EventTime.UTC()
	case *FraudDecisionRow:
		v.EventTime = v.EventTime.UTC()
	case *KPIRow:
		v.WindowStart, v.WindowEnd = v.WindowStart.UTC(), v.WindowEnd.UTC()
	}
}

// rawFile is a Parquet file as untyped rows, for operations that work on
// every dataset alike (compaction, erasure).
type rawFile struct {
	schema *parquet.Schema
	rows   []parquet.Row
}

func readRaw(data []byte) (*rawFile, error) {
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("failed to open a parquet file: %w", err)
	}
	r := parquet.NewReader(f)
	defer r.Close()
	out := &rawFile{schema: f.Schema()}
	buf := make([]parquet.Row, 256)
	for {
		n, err := r.ReadRows(buf)
		for i := range n {
			out.rows = append(out.rows, buf[i].Clone())
		}
		if err != nil {
			break // io.EOF; other errors surface as a short count below
		}
		if n == 0 {
			break
		}
	}
	if int64(len(out.rows)) != f.NumRows() {
		return nil, fmt.Errorf("failed to read a parquet file: %d of %d rows", len(out.rows), f.NumRows())
	}
	return out, nil
}

func writeRaw(schema *parquet.Schema, rows []parquet.Row) ([]byte, error) {
	var buf bytes.Buffer
	w := parquet.NewWriter(&buf, schema, parquet.Compression(&parquet.Zstd))
	if _, err := w.WriteRows(rows); err != nil {
		return nil, fmt.Errorf("failed to encode %d rows: %w", len(rows), err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("failed to encode %d rows: %w", len(rows), err)
	}
	return buf.Bytes(), nil
}

// columnIndex returns the leaf column index of a top-level column name, or -1.
func columnIndex(schema *parquet.Schema, name string) int {
	leaf, ok := schema.Lookup(name)
	if !ok {
		return -1
	}
	return leaf.ColumnIndex
}

// stringAt returns the value of a required string column in row.
func stringAt(row parquet.Row, col int) string {
	for _, v := range row {
		if v.Column() == col {
			return string(v.ByteArray())
		}
	}
	return ""
}

// timeBounds returns the min and max of a millisecond timestamp column.
func timeBounds(rows []parquet.Row, col int) (lo, hi time.Time) {
	for _, row := range rows {
		for _, v := range row {
			if v.Column() != col {
				continue
			}
			t := time.UnixMilli(v.Int64()).UTC()
			if lo.IsZero() || t.Before(lo) {
				lo = t
			}
			if t.After(hi) {
				hi = t
			}
		}
	}
	return lo, hi
}

// timeColumn is the column PartitionTime reads.
func timeColumn(d Dataset) string {
	if d == KPIs {
		return "window_start"
	}
	return "event_time"
}
