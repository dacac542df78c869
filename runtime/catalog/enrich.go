package catalog

import (
	"slices"
	"strings"
)

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
func (c *Catalog) EnrichInto(e *Enrichment, currency string, lines []Line) {
	*e = Enrichment{Categories: e.Categories[:0], Brands: e.Brands[:0], Shares: e.Shares[:0]}
	for _, l := range lines {
		p, ok := c.Lookup(l.ProductID)
		category := p.Category
		if !ok || category == "" {
			category = UnknownCategory
		}
		revenue := float64(l.Quantity) * l.UnitPrice
		var margin float64
		switch {
		case !ok:
			e.UnknownProducts++
			c.unknownLines.Add(1)
		case currency != "" && p.Currency != "" && p.Currency != currency:
			e.ForeignCostLines++
		default:
			margin = float64(l.Quantity) * (l.UnitPrice - p.Cost)
			e.Margin += margin
		}
		if ok && p.Brand != "" && !slices.Contains(e.Brands, p.Brand) {
			e.Brands = append(e.Brands, p.Brand)
		}
		i := slices.IndexFunc(e.Shares, func(s CategoryShare) bool { return s.Category == category })
		if i < 0 {
			e.Shares = append(e.Shares, CategoryShare{Category: category})
			i = len(e.Shares) - 1
		}
		s := &e.Shares[i]
		s.Revenue += revenue
		s.Units += l.Quantity
		s.Margin += margin
	}
	slices.SortFunc(e.Shares, func(a, b CategoryShare) int { return strings.Compare(a.Category, b.Category) })
	for _, s := range e.Shares {
		e.Categories = append(e.Categories, s.Category)
	}
	slices.Sort(e.Brands)
}
