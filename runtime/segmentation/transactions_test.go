package segmentation

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestReadTransactionsNDJSON(t *testing.T) {
	in := "\n  {\"event_id\":\"e1\",\"customer_id\":\"c1\",\"event_time\":\"2024-01-02T10:00:00Z\",\"amount\":12.5,\"currency\":\"EUR\",\"lines\":[{\"sku\":\"x\"}]}\n" +
		"\n" +
		"{\"customer_id\":\"c2\",\"event_time\":\"2024-01-03T23:30:00.123+02:00\",\"amount\":0}\r\n"
	got, err := ReadTransactions(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Transaction{
		{CustomerID: "c1", Time: time.Date(2024, 1, 2, 10, 0, 0, 0, time.UTC), Amount: 12.5},
		{CustomerID: "c2", Time: time.Date(2024, 1, 3, 21, 30, 0, 123e6, time.UTC), Amount: 0},
	}
	assertTransactions(t, got, want)
}

func TestReadTransactionsCSV(t *testing.T) {
	in := "\xef\xbb\xbfCustomer_ID, Amount,channel,timestamp\n" +
		"c1,12.5,web,2024-01-02T10:00:00Z\n" +
		"\"c,2\",3,\"multi\nline\",2024-01-03\n" +
		"c3,1e2,app,2024-01-04T00:00:00-01:00\n"
	got, err := ReadTransactions(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Transaction{
		{CustomerID: "c1", Time: time.Date(2024, 1, 2, 10, 0, 0, 0, time.UTC), Amount: 12.5},
		{CustomerID: "c,2", Time: time.Date(2024, 1, 3, 0, 0, 0, 0, time.UTC), Amount: 3},
		{CustomerID: "c3", Time: time.Date(2024, 1, 4, 1, 0, 0, 0, time.UTC), Amount: 100},
	}
	assertTransactions(t, got, want)

	// event_time is accepted as the time column too.
	got, err = ReadTransactions(strings.NewReader("customer_id,event_time,amount\nc,2024-05-01,1\n"))
	if err != nil || len(got) != 1 {
		t.Errorf("event_time header: %v, %v", got, err)
	}
	if got, err := ReadTransactions(strings.NewReader(" \n\t")); err != nil || len(got) != 0 {
		t.Errorf("blank input: %v, %v", got, err)
	}
	// More leading white space than the detection buffer holds.
	pad := strings.Repeat(" \n", 100_000)
	got, err = ReadTransactions(strings.NewReader(pad + "customer_id,timestamp,amount\nc,2024-05-01,1\n"))
	if err != nil || len(got) != 1 {
		t.Errorf("padded CSV: %v, %v", got, err)
	}
}

func assertTransactions(t *testing.T, got, want []Transaction) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d transactions, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].CustomerID != want[i].CustomerID || !got[i].Time.Equal(want[i].Time) || got[i].Amount != want[i].Amount {
			t.Errorf("transaction %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestReadTransactionsRejectsBadLines(t *testing.T) {
	const ok = `{"customer_id":"c","event_time":"2024-01-02T10:00:00Z","amount":1}` + "\n"
	const hdr = "customer_id,timestamp,amount\n"
	for _, c := range []struct {
		name, in string
		line     int
		field    string
	}{
		{"json syntax", ok + "{\"customer_id\":\n", 2, ""},
		{"json not object", ok + "\n[1,2]\n", 3, ""},
		{"missing customer", ok + `{"event_time":"2024-01-02T10:00:00Z","amount":1}`, 2, "customer_id"},
		{"numeric customer", `{"customer_id":17,"event_time":"2024-01-02T10:00:00Z","amount":1}`, 1, "customer_id"},
		{"empty customer", `{"customer_id":"","event_time":"2024-01-02T10:00:00Z","amount":1}`, 1, "customer_id"},
		{"missing time", ok + ok + `{"customer_id":"c","amount":1}`, 3, "event_time"},
		{"bad time", `{"customer_id":"c","event_time":"2024-01-02 10:00","amount":1}`, 1, "event_time"},
		{"time not string", `{"customer_id":"c","event_time":1704189600,"amount":1}`, 1, "event_time"},
		{"missing amount", `{"customer_id":"c","event_time":"2024-01-02T10:00:00Z"}`, 1, "amount"},
		{"string amount", `{"customer_id":"c","event_time":"2024-01-02T10:00:00Z","amount":"1"}`, 1, "amount"},
		{"negative amount", ok + `{"customer_id":"c","event_time":"2024-01-02T10:00:00Z","amount":-3}`, 2, "amount"},
		{"csv header", "customer,timestamp,amount\nc,2024-01-01,1\n", 1, ""},
		{"csv field count", hdr + "c,2024-01-01,1\nc,2024-01-01\n", 3, ""},
		{"csv empty customer", hdr + "c,2024-01-01,1\n ,2024-01-01,1\n", 3, "customer_id"},
		{"csv bad time", hdr + "c,01/02/2024,1\n", 2, "timestamp"},
		{"csv bad amount", hdr + "c,2024-01-01,1\nc,2024-01-01,1\nc,2024-01-01,abc\n", 4, "amount"},
		{"csv NaN amount", hdr + "c,2024-01-01,NaN\n", 2, "amount"},
		{"csv negative amount", hdr + "c,2024-01-01,-1\n", 2, "amount"},
		{"csv line after quoted newline", hdr + "\"c\n1\",2024-01-01,1\nc,2024-01-01,x\n", 4, "amount"},
		{"csv bare quote", hdr + "c\"x,2024-01-01,1\n", 2, ""},
		{"csv after blank lines", "\n \n\t" + hdr + "c,2024-01-01,1\nc,bad,1\n", 5, "timestamp"},
		{"csv header after blank lines", "\n\ncustomer_id,amount\n", 3, ""},
		{"csv quote after blank lines", "\n\n" + hdr + "c\"x,2024-01-01,1\n", 4, ""},
		{"json after blank lines", "\n\n" + ok + "\n" + `{"customer_id":"c","amount":1}`, 5, "event_time"},
	} {
		_, err := ReadTransactions(strings.NewReader(c.in))
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%s: error %v, want a *ParseError", c.name, err)
			continue
		}
		if pe.Line != c.line || pe.Field != c.field {
			t.Errorf("%s: %q: line %d field %q, want line %d field %q", c.name, err, pe.Line, pe.Field, c.line, c.field)
		}
		if want := "line "; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: message %q does not start with the line", c.name, err)
		}
	}
}

func TestScanTransactionsStopsOnCallbackError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := ScanTransactions(strings.NewReader("customer_id,timestamp,amount\na,2024-01-01,1\nb,2024-01-01,1\n"), func(Transaction) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("err %v after %d calls, want stop after 1", err, n)
	}
}

func FuzzReadTransactions(f *testing.F) {
	f.Add(`{"customer_id":"c","event_time":"2024-01-02T10:00:00Z","amount":1}`)
	f.Add("customer_id,timestamp,amount\nc,2024-01-01,1\n")
	f.Add("\xef\xbb\xbf  customer_id,amount,timestamp\n\"a\"\"b\",2,2024-01-01T00:00:00+05:00\n")
	f.Add("{}\n{\"customer_id\":null}")
	f.Fuzz(func(t *testing.T, in string) {
		txs, err := ReadTransactions(strings.NewReader(in))
		if err != nil {
			var pe *ParseError
			if errors.As(err, &pe) && pe.Line < 1 {
				t.Errorf("error with line %d: %v", pe.Line, err)
			}
			return
		}
		for _, tx := range txs {
			if tx.CustomerID == "" || !(tx.Amount >= 0) || math.IsInf(tx.Amount, 0) {
				t.Errorf("accepted bad transaction %+v", tx)
			}
		}
	})
}
