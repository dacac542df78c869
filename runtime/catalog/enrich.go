package catalog

// UnknownCategory is the category of a line whose product is not in the
// catalog, or whose product has no category.
const UnknownCategory = "unknown"

// Line is one order line to enrich.
type Line struct {
	ProductID string
	Quantity  int64
	// UnitPrice is in the transaction's currency.
	UnitPrice float64
}

// CategoryShare is the part of a transaction in one category.
type CategoryShare struct {
	Category string
	// Revenue is the sum of quantity*unit price of the category's lines.
	Revenue float64
	Units   int64
	// Margin is the sum of quantity*(unit price - cost) over the category's
	// lines whose cost is known.
	Margin float64
}

// Enrichment is what the catalog adds to a transaction.
//
// A line whose product is unknown (never seen, or deleted) is counted in
// UnknownProducts and in Stats.UnknownLines, falls into the category
// "unknown", adds no brand and no margin (its cost is unknown, and counting
// it as zero cost would inflate the margin); its revenue and units still
// count in its category share.
type Enrichment struct {
	// Categories are the distinct categories of the lines, sorted.
	Categories []string
	// Brands are the distinct non-empty brands of the known products,
	// sorted.
	Brands []string
	// Shares has one entry per category, in the order of Categories.
	Shares []CategoryShare
	// Margin is the sum of quantity*(unit price - cost) over the lines whose
	// product and cost are known.
	Margin float64
	// UnknownProducts is the number of lines whose product is unknown.
	UnknownProducts int
	// ForeignCostLines is the number of lines left out of the margin because
	// the product's cost is in another currency than the transaction (only
	// checked by EnrichInto with a currency).
	ForeignCostLines int
	// PlainNames tells that JSON output (encoding/json) writes every name
	// in Categories and Brands as it is, between quotes
	// (events.PlainJSONString).
	PlainNames bool
}

// Enrich looks every line's product up. Product costs are taken to be in
// the transaction's currency; EnrichInto can check that.
func (c *Catalog) Enrich(lines []Line) Enrichment {
	var e Enrichment
	c.EnrichInto(&e, "", lines)
	return e
}

// EnrichInto is Enrich reusing e's slices. With a non-empty currency, a
// known product whose Currency is set and differs contributes no margin and
// is counted in ForeignCostLines.
//
// It runs once per transaction, over a handful of lines: the products are
// read in place, and categories and brands are kept sorted as they are
// added (insertion into short lists) rather than searched and sorted with
// closures.
func (c *Catalog) EnrichInto(e *Enrichment, currency string, lines []Line) {
	c.EnrichWith(nil, e, currency, lines)
}

// EnrichWith is EnrichInto looking the products up through k, the caller's
// Cache; nil looks them up in the catalog alone.
func (c *Catalog) EnrichWith(k *Cache, e *Enrichment, currency string, lines []Line) {
	*e = Enrichment{Categories: e.Categories[:0], Brands: e.Brands[:0], Shares: e.Shares[:0]}
	if k != nil {
		k.sync(c)
	}
	unknown, plain := 0, true
	for i := range lines {
		l := &lines[i]
		var p *Product
		if k != nil {
			p = k.product(c, l.ProductID)
		} else {
			p = c.lookup(l.ProductID)
		}
		category := UnknownCategory
		if p != nil {
			plain = plain && p.plainNames
			if p.Category != "" {
				category = p.Category
			}
		}
		var margin float64
		switch {
		case p == nil:
			unknown++
		case currency != "" && p.Currency != "" && p.Currency != currency:
			e.ForeignCostLines++
		default:
			margin = float64(l.Quantity) * (l.UnitPrice - p.Cost)
			e.Margin += margin
		}
		if p != nil && p.Brand != "" {
			e.Brands = insertSorted(e.Brands, p.Brand)
		}
		s := e.share(category)
		s.Revenue += float64(l.Quantity) * l.UnitPrice
		s.Units += l.Quantity
		s.Margin += margin
	}
	if unknown > 0 {
		e.UnknownProducts = unknown
		c.unknownLines.Add(uint64(unknown))
	}
	for i := range e.Shares {
		e.Categories = append(e.Categories, e.Shares[i].Category)
	}
	e.PlainNames = plain
}

// share returns the share of category, adding it in sorted place if new.
func (e *Enrichment) share(category string) *CategoryShare {
	i := 0
	for ; i < len(e.Shares); i++ {
		if c := e.Shares[i].Category; c >= category {
			if c == category {
				return &e.Shares[i]
			}
			break
		}
	}
	// slices.Insert is general enough to cost several times this. Most
	// shares go last (one category per transaction): no copy then, as a
	// copy of pointers costs a call even for nothing.
	e.Shares = append(e.Shares, CategoryShare{})
	if i < len(e.Shares)-1 {
		copy(e.Shares[i+1:], e.Shares[i:])
	}
	e.Shares[i] = CategoryShare{Category: category}
	return &e.Shares[i]
}

// insertSorted adds v to the sorted list unless it holds it already.
func insertSorted(list []string, v string) []string {
	i := 0
	for ; i < len(list); i++ {
		if x := list[i]; x >= v {
			if x == v {
				return list
			}
			break
		}
	}
	list = append(list, "")
	if i < len(list)-1 {
		copy(list[i+1:], list[i:])
	}
	list[i] = v
	return list
}
