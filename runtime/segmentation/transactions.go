package segmentation

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Transaction is one purchase.
type Transaction struct {
	// CustomerID identifies the buyer.
	CustomerID string
	// Time is when the purchase happened.
	Time time.Time
	// Amount is the purchase value, >= 0.
	Amount float64
}

// ParseError is a rejected input line.
type ParseError struct {
	// Line is the 1-based line number.
	Line int
	// Field names the offending field; empty when the line as a whole is
	// malformed.
	Field string
	// Err says what is wrong.
	Err error
}

func (e *ParseError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("line %d: field %s: %v", e.Line, e.Field, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// Input column and field names.
const (
	fieldCustomerID = "customer_id"
	fieldEventTime  = "event_time"
	fieldTimestamp  = "timestamp"
	fieldAmount     = "amount"
)

// ReadTransactions reads every transaction from r; see ScanTransactions.
func ReadTransactions(r io.Reader) ([]Transaction, error) {
	var out []Transaction
	err := ScanTransactions(r, func(t Transaction) error {
		out = append(out, t)
		return nil
	})
	return out, err
}

// ScanTransactions reads transactions from r and calls fn for each, in
// input order, stopping at the first error. The format is detected from the
// first byte that is not white space (after an optional UTF-8 byte order
// mark):
//
//   - '{': NDJSON, one transaction event per line with customer_id (a
//     non-empty string), event_time (an RFC 3339 string) and amount (a
//     number >= 0); other fields are ignored, blank lines skipped.
//   - anything else: CSV whose header names at least customer_id, timestamp
//     (or event_time) and amount, in any order and case; other columns are
//     ignored. A timestamp is RFC 3339 or a date YYYY-MM-DD (midnight UTC).
//
// A bad line stops the scan with a *ParseError naming its line number and
// field. Empty input yields no transactions.
func ScanTransactions(r io.Reader, fn func(Transaction) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		br.Discard(3)
	}
	first, skipped, err := skipSpace(br)
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to read transactions: %w", err)
	}
	if first == '{' {
		return scanNDJSON(br, skipped, fn)
	}
	return scanCSV(br, skipped, fn)
}

// skipSpace consumes leading ASCII white space and returns the first other
// byte, left unread, and the number of newlines consumed.
func skipSpace(br *bufio.Reader) (first byte, lines int, err error) {
	for {
		c, err := br.ReadByte()
		if err != nil {
			return 0, lines, err
		}
		switch c {
		case '\n':
			lines++
		case ' ', '\t', '\r', '\v', '\f':
		default:
			return c, lines, br.UnreadByte()
		}
	}
}

// event is the part of a transaction event that matters here. The fields
// stay raw so that each can be checked with a clear message.
type event struct {
	CustomerID json.RawMessage `json:"customer_id"`
	EventTime  json.RawMessage `json:"event_time"`
	Amount     json.RawMessage `json:"amount"`
}

// scanNDJSON reads NDJSON whose first line is line skipped+1 of the input.
func scanNDJSON(br *bufio.Reader, skipped int, fn func(Transaction) error) error {
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for line := skipped + 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var ev event
		if err := json.Unmarshal(b, &ev); err != nil {
			return &ParseError{Line: line, Err: fmt.Errorf("not a JSON object: %w", err)}
		}
		tx, err := decodeEvent(&ev)
		if err != nil {
			err.Line = line
			return err
		}
		if err := fn(tx); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("failed to read NDJSON transactions: %w", err)
	}
	return nil
}

func decodeEvent(ev *event) (Transaction, *ParseError) {
	var tx Transaction
	if len(ev.CustomerID) == 0 || string(ev.CustomerID) == "null" {
		return tx, &ParseError{Field: fieldCustomerID, Err: errors.New("missing")}
	}
	if err := json.Unmarshal(ev.CustomerID, &tx.CustomerID); err != nil || tx.CustomerID == "" {
		return tx, &ParseError{Field: fieldCustomerID, Err: fmt.Errorf("want a non-empty string, got %s", ev.CustomerID)}
	}
	if len(ev.EventTime) == 0 || string(ev.EventTime) == "null" {
		return tx, &ParseError{Field: fieldEventTime, Err: errors.New("missing")}
	}
	var ts string
	if err := json.Unmarshal(ev.EventTime, &ts); err != nil {
		return tx, &ParseError{Field: fieldEventTime, Err: fmt.Errorf("want an RFC 3339 string, got %s", ev.EventTime)}
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return tx, &ParseError{Field: fieldEventTime, Err: fmt.Errorf("want an RFC 3339 time, got %q", ts)}
	}
	tx.Time = t
	if len(ev.Amount) == 0 || string(ev.Amount) == "null" {
		return tx, &ParseError{Field: fieldAmount, Err: errors.New("missing")}
	}
	if ev.Amount[0] == '"' {
		return tx, &ParseError{Field: fieldAmount, Err: fmt.Errorf("want a number, got the string %s", ev.Amount)}
	}
	if err := json.Unmarshal(ev.Amount, &tx.Amount); err != nil {
		return tx, &ParseError{Field: fieldAmount, Err: fmt.Errorf("want a number, got %s", ev.Amount)}
	}
	if tx.Amount < 0 {
		return tx, &ParseError{Field: fieldAmount, Err: fmt.Errorf("must be >= 0, got %v", tx.Amount)}
	}
	return tx, nil
}

// scanCSV reads CSV whose header is on line skipped+1 of the input.
func scanCSV(br *bufio.Reader, skipped int, fn func(Transaction) error) error {
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		return csvError(err, skipped)
	}
	idCol, timeCol, amountCol := -1, -1, -1
	for i, h := range header {
		switch strings.ToLower(strings.TrimSpace(h)) {
		case fieldCustomerID:
			idCol = i
		case fieldTimestamp, fieldEventTime:
			timeCol = i
		case fieldAmount:
			amountCol = i
		}
	}
	for _, c := range []struct {
		col  int
		name string
	}{{idCol, fieldCustomerID}, {timeCol, fieldTimestamp}, {amountCol, fieldAmount}} {
		if c.col < 0 {
			return &ParseError{Line: skipped + 1, Err: fmt.Errorf("CSV header %q lacks the column %s", strings.Join(header, ","), c.name)}
		}
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return csvError(err, skipped)
		}
		line, _ := cr.FieldPos(0)
		line += skipped
		tx, perr := decodeCSVRecord(rec, idCol, timeCol, amountCol)
		if perr != nil {
			perr.Line = line
			return perr
		}
		if err := fn(tx); err != nil {
			return err
		}
	}
}

// csvError turns a csv package error into a ParseError carrying its line
// in the input, skipped lines before the CSV data.
func csvError(err error, skipped int) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ParseError{Line: pe.Line + skipped, Err: pe.Err}
	}
	return fmt.Errorf("failed to read CSV transactions: %w", err)
}

func decodeCSVRecord(rec []string, idCol, timeCol, amountCol int) (Transaction, *ParseError) {
	var tx Transaction
	tx.CustomerID = strings.TrimSpace(rec[idCol])
	if tx.CustomerID == "" {
		return tx, &ParseError{Field: fieldCustomerID, Err: errors.New("empty")}
	}
	ts := strings.TrimSpace(rec[timeCol])
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		if t, err = time.Parse(time.DateOnly, ts); err != nil {
			return tx, &ParseError{Field: fieldTimestamp, Err: fmt.Errorf("want RFC 3339 or YYYY-MM-DD, got %q", ts)}
		}
	}
	tx.Time = t
	as := strings.TrimSpace(rec[amountCol])
	amount, err := strconv.ParseFloat(as, 64)
	if err != nil || math.IsNaN(amount) || math.IsInf(amount, 0) {
		return tx, &ParseError{Field: fieldAmount, Err: fmt.Errorf("want a number, got %q", as)}
	}
	if amount < 0 {
		return tx, &ParseError{Field: fieldAmount, Err: fmt.Errorf("must be >= 0, got %v", amount)}
	}
	tx.Amount = amount
	return tx, nil
}
